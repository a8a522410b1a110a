"""lark exceptions -> :class:`AipolError` with words a human understands.

lark reports terminal names (``STRING``, ``_NL``, ``RBRACE``); this module
turns them into "a string", "a newline", "`}`", names the block the error is
in ("unknown statement `lisen` in gateway block"), and adds hints: near
misses ("did you mean `listen`?"), unquoted strings, a `%` or `$` left out,
the line where an unclosed block started.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from aipol.dsl.ast import Span
from aipol.dsl.errors import AipolError
from aipol.dsl.lexing import ParseState
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.grammar import NonTerminal, Terminal
from lark.lexer import PatternStr

#: How terminals are named in messages. Keywords and punctuation are derived
#: from the grammar; these are the rest.
TERMINAL_WORDS: dict[str, str] = {
    "STRING": "a string",
    "IDENT": "a name",
    "INT": "a number",
    "SIZE": "a size (e.g. 4MiB)",
    "DURATION": "a duration (e.g. 5m)",
    "MONEY": "an amount (e.g. $2.50)",
    "PERCENT": "a percentage (e.g. 50%)",
    "COUNT": "a token count (e.g. 1M)",
    "ADDRESS": "an address (host:port)",
    "REGEX": "a regex (/.../)",
    "NUMBER": "a number (e.g. 1000 or 0.5)",
    "_NL": "a newline",
    "$END": "end of file",
}

_BODY_RULE = re.compile(r"_(\w+)_body\Z")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?\Z")


@dataclass(frozen=True)
class GrammarInfo:
    """What the error messages need to know about the grammar, computed once
    from the built parser: keyword spellings and, for each block, the
    keywords its statements start with."""

    literals: dict[str, str]  # terminal name -> literal text, e.g. "LISTEN" -> "listen"
    terminals: frozenset[str]  # all terminal names, plus "$END"
    blocks: dict[str, frozenset[str]]  # "gateway" -> {"LISTEN", ...}; "top-level" too

    @classmethod
    def from_parser(cls, parser: Lark) -> GrammarInfo:
        literals = {
            t.name: t.pattern.value for t in parser.terminals if isinstance(t.pattern, PatternStr)
        }
        by_origin: dict[str, list[list[object]]] = {}
        for rule in parser.rules:
            by_origin.setdefault(rule.origin.name, []).append(list(rule.expansion))

        def first(symbol: str, seen: frozenset[str] = frozenset()) -> set[str]:
            out: set[str] = set()
            for expansion in by_origin.get(symbol, []):
                if not expansion or symbol in seen:
                    continue
                head = expansion[0]
                if isinstance(head, Terminal):
                    out.add(head.name)
                elif isinstance(head, NonTerminal):
                    out |= first(head.name, seen | {symbol})
            return out

        blocks = {}
        for origin in by_origin:
            m = _BODY_RULE.match(origin)
            if m:
                name = "top-level" if m.group(1) == "toplevel" else m.group(1)
                blocks[name] = frozenset(first(origin))
        terminals = frozenset({t.name for t in parser.terminals} | {"$END"})
        return cls(literals, terminals, blocks)

    def describe(self, terminal: str) -> str:
        if terminal in TERMINAL_WORDS:
            return TERMINAL_WORDS[terminal]
        text = self.literals.get(terminal, terminal)
        return text if _WORD.match(text) else f"`{text}`"

    def expected(self, terminals: Collection[str]) -> list[str]:
        """Keywords first (alphabetically), then punctuation, then kinds."""
        words = {self.describe(t) for t in terminals if t not in ("WS", "COMMENT")}

        def order(word: str) -> tuple[int, str]:
            return (0 if _WORD.match(word) else 1 if word.startswith("`") else 2, word)

        return sorted(words, key=order)

    def block_of(self, terminals: Collection[str]) -> str | None:
        """The block whose statement keywords are all acceptable here, i.e.
        the parser is at the start of a statement of that block."""
        best: str | None = None
        for block, starts in self.blocks.items():
            if starts and starts <= set(terminals):
                if best is None or len(starts) > len(self.blocks[best]):
                    best = block
        return best

    def blocks_accepting(self, word: str) -> list[str]:
        return sorted(
            b
            for b, starts in self.blocks.items()
            if any(self.literals.get(t) == word for t in starts)
        )


def convert(
    err: UnexpectedInput, text: str, filename: str, info: GrammarInfo, state: ParseState
) -> AipolError:
    if isinstance(err, UnexpectedToken):
        return _unexpected_token(err, text, filename, info, state)
    if isinstance(err, UnexpectedCharacters):
        return _unexpected_characters(err, text, filename, info)
    return AipolError("syntax error", _point(filename, err.line, err.column), text)


def _accepted(err: UnexpectedInput, info: GrammarInfo) -> set[str]:
    """Terminals the parser would accept where the error happened. Asks the
    parser itself: the LALR table of the current state over-approximates
    (merged lookaheads), and the lexer's "allowed" set lacks keywords."""
    interactive = getattr(err, "interactive_parser", None)
    if interactive is not None:
        accepted = set(interactive.accepts())
    else:  # pragma: no cover - lark always attaches one for LALR
        accepted = set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
    return {t for t in accepted if t in info.terminals}


def _in_text(word: str) -> str:
    """A keyword inside a sentence gets backticks: "expected `output`"."""
    return f"`{word}`" if _WORD.match(word) else word


def _point(filename: str, line: int, column: int, width: int = 1) -> Span:
    return Span(filename, line, column, line, column + width)


def _end_of_code(text: str, line: int, column: int, state: ParseState) -> tuple[int, int]:
    """Where the code before (line, column) ends: skip back over a comment
    and blanks so a caret for "missing X" sits right after the last token."""
    lines = text.split("\n")
    if line > len(lines):
        line, column = len(lines), 10**9
    while line >= 1:
        src = lines[line - 1] if line - 1 < len(lines) else ""
        end = min(column - 1, len(src))
        for c in state.comments:
            if c.line == line and c.column - 1 < end:
                end = c.column - 1
        code = src[:end].rstrip()
        if code:
            return line, len(code) + 1
        line -= 1
        column = 10**9
    return 1, 1


def _unexpected_token(
    err: UnexpectedToken, text: str, filename: str, info: GrammarInfo, state: ParseState
) -> AipolError:
    token: Token = err.token
    accepted = _accepted(err, info)
    expected = info.expected(accepted)
    value = str(token)

    if token.type in ("$END", "_NL"):
        if token.type == "$END":
            line, col = _end_of_code(text, 10**9, 10**9, state)
            found = "end of file"
        else:
            line, col = _end_of_code(text, token.line or 1, token.column or 1, state)
            found = "end of line"
        span = _point(filename, line, col)
        hint = None
        if token.type == "$END" and state.open_braces:
            brace = state.open_braces[-1]
            hint = f"the block opened at line {brace.line} is not closed"
        if len(expected) == 1:
            message = f"expected {_in_text(expected[0])}, found {found}"
            return AipolError(message, span, text, hint=hint)
        return AipolError(f"unexpected {found}", span, text, expected, hint)

    assert token.line is not None and token.column is not None
    width = len(value.split("\n", 1)[0]) or 1
    span = _point(filename, token.line, token.column, width)
    shown = f"`{value}`" if len(value) <= 40 else f"`{value[:37]}...`"

    block = info.block_of(accepted)
    if block is not None and _WORD.match(value):
        where = "top-level statement" if block == "top-level" else "statement"
        suffix = "" if block == "top-level" else f" in {block} block"
        keywords = [info.literals[t] for t in info.blocks[block]]
        return AipolError(
            f"unknown {where} {shown}{suffix}",
            span,
            text,
            expected,
            _statement_hint(value, keywords, block, info, state),
        )
    hint = _token_hint(value, accepted, info)
    if len(expected) == 1:
        return AipolError(f"expected {_in_text(expected[0])}, found {shown}", span, text, hint=hint)
    return AipolError(f"unexpected {shown}", span, text, expected, hint)


def _statement_hint(
    word: str, keywords: list[str], block: str, info: GrammarInfo, state: ParseState
) -> str | None:
    close = difflib.get_close_matches(word, keywords, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    elsewhere = [b for b in info.blocks_accepting(word) if b != block]
    if elsewhere and "top-level" in elsewhere and state.open_braces:
        brace = state.open_braces[-1]
        return f"missing `}}`? the block opened at line {brace.line} is still open"
    if elsewhere:
        places = " or ".join(
            "at top level" if b == "top-level" else f"in a {b} block" for b in elsewhere
        )
        return f"`{word}` is only valid {places}"
    return None


def _token_hint(value: str, accepted: set[str], info: GrammarInfo) -> str | None:
    if "STRING" in accepted and not value.startswith('"') and value not in ("{", "}"):
        return f'strings are written in double quotes: "{value}"'
    if "REGEX" in accepted and value.startswith('"') and len(value) > 2:
        return f"a regex is written between slashes: /{value[1:-1]}/"
    if "PERCENT" in accepted and _NUMBER.match(value):
        return f"a percentage needs a `%` sign: `{value}%`"
    if "MONEY" in accepted and _NUMBER.match(value):
        return f"an amount needs a `$` sign: `${value}`"
    if "_NL" in accepted:
        return "each statement goes on its own line"
    keywords = [info.literals[t] for t in accepted if t in info.literals]
    if _WORD.match(value):
        close = difflib.get_close_matches(value, [k for k in keywords if _WORD.match(k)], n=1)
        if close:
            return f"did you mean `{close[0]}`?"
    return None


def _unexpected_characters(
    err: UnexpectedCharacters, text: str, filename: str, info: GrammarInfo
) -> AipolError:
    line, column = err.line, err.column
    char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
    accepted = _accepted(err, info)
    if char == '"':
        rest = text[err.pos_in_stream :].split("\n", 1)[0]
        return AipolError(
            "unterminated string",
            _point(filename, line, column, len(rest.rstrip("\r")) or 1),
            text,
            hint='a string ends with `"` on the same line; write a line break as \\n',
        )
    if char == "/" and "REGEX" in accepted:
        rest = text[err.pos_in_stream :].split("\n", 1)[0]
        if rest.startswith("//"):
            return AipolError(
                "empty regex",
                _point(filename, line, column, 2),
                text,
                hint="write the pattern between the slashes, e.g. /[0-9]{9}/",
            )
        return AipolError(
            "unterminated regex",
            _point(filename, line, column, len(rest.rstrip("\r")) or 1),
            text,
            hint="a regex ends with `/` (then its flags) on the same line; write `\\/` "
            "for a slash inside it",
        )
    shown = repr(char)[1:-1] if not char.isprintable() else char
    expected = info.expected(accepted)
    span = _point(filename, line, column)
    hint = _operator_hint(text[err.pos_in_stream : err.pos_in_stream + 2], accepted, info)
    if len(expected) == 1:
        return AipolError(
            f"expected {_in_text(expected[0])}, found `{shown}`", span, text, hint=hint
        )
    return AipolError(f"unexpected character `{shown}`", span, text, expected, hint)


#: Comparison operators people write that the language spells differently.
_OPERATOR_FIXES = {"=<": "<=", "=>": ">=", "=": "=="}


def _operator_hint(found: str, accepted: set[str], info: GrammarInfo) -> str | None:
    operators = {info.literals.get(t) for t in accepted}
    for wrong, right in _OPERATOR_FIXES.items():
        if found.startswith(wrong) and right in operators:
            return f"did you mean `{right}`?"
    return None
