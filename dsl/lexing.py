"""Token-stream plumbing between lark's lexer and parser.

* :class:`PostLexer` folds runs of newline tokens (a comment line between two
  newlines yields two ``_NL``), drops leading newlines, and records the open
  ``{`` so a missing ``}`` can be reported where the block started.
* Comments are ``%ignore``-d by the grammar but collected through lark's
  ``lexer_callbacks`` into the current :class:`ParseState`, for the formatter.

The lark parser is built once and shared, so per-parse state lives in a
:class:`~contextvars.ContextVar` set by :func:`parse_state`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from lark import Token


@dataclass(frozen=True)
class Comment:
    """A ``# ...`` comment: its text (with ``#``, trailing blanks removed),
    1-based line and column."""

    text: str
    line: int
    column: int


@dataclass
class ParseState:
    comments: list[Comment] = field(default_factory=list)
    open_braces: list[Token] = field(default_factory=list)


_state: ContextVar[ParseState | None] = ContextVar("aipol_parse_state", default=None)


@contextmanager
def parse_state() -> Iterator[ParseState]:
    state = ParseState()
    reset = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(reset)


def collect_comment(token: Token) -> Token:
    """lark ``lexer_callbacks`` hook for COMMENT tokens."""
    state = _state.get()
    if state is not None:
        assert token.line is not None and token.column is not None
        state.comments.append(Comment(str(token).rstrip(), token.line, token.column))
    return token


class PostLexer:
    """See the module docstring. ``always_accept`` makes the contextual lexer
    recognise newlines and identifiers in every parser state, so a stray word
    is reported as a whole word (``listenx``), never split into a keyword
    prefix and a remainder."""

    always_accept = ("_NL", "IDENT")

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        state = _state.get()
        after_newline = True  # drop newlines at the start of the file
        for token in stream:
            if token.type == "_NL":
                if after_newline:
                    continue
                after_newline = True
            else:
                after_newline = False
                if state is not None:
                    if token.type == "LBRACE":
                        state.open_braces.append(token)
                    elif token.type == "RBRACE" and state.open_braces:
                        state.open_braces.pop()
            yield token
