"""Public entry points: ``.aipol`` text -> :class:`aipol.dsl.ast.File`.

The lark parser (LALR, contextual lexer) is built once per process from
``aipol.lark`` and shared; every failure surfaces as an
:class:`~aipol.dsl.errors.AipolError`, never as a lark exception.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aipol.dsl import ast
from aipol.dsl.errors import AipolError
from aipol.dsl.lexing import Comment, PostLexer, collect_comment, parse_state
from aipol.dsl.syntax_errors import GrammarInfo, convert
from aipol.dsl.transform import ToAst
from lark import Lark
from lark.exceptions import UnexpectedInput, VisitError

__all__ = ["parse", "parse_file", "parse_with_comments", "parse_literal", "LITERAL_KINDS"]

GRAMMAR_PATH = Path(__file__).with_name("aipol.lark")

#: ``parse_literal`` kinds (each is a ``lit_<kind>`` start rule).
LITERAL_KINDS = (
    "string",
    "name",
    "int",
    "size",
    "duration",
    "money",
    "percent",
    "address",
    "count",
    "regex",
    "number",
)


@cache
def _lark() -> Lark:
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=["start", *(f"lit_{k}" for k in LITERAL_KINDS)],
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=PostLexer(),
        lexer_callbacks={"COMMENT": collect_comment},
    )


@cache
def _grammar_info() -> GrammarInfo:
    return GrammarInfo.from_parser(_lark())


def _run(text: str, filename: str, start: str) -> tuple[Any, list[Comment]]:
    with parse_state() as state:
        try:
            tree = _lark().parse(text, start=start)
        except UnexpectedInput as err:
            raise convert(err, text, filename, _grammar_info(), state) from None
        try:
            result = ToAst(filename).transform(tree)
        except VisitError as err:
            if isinstance(err.orig_exc, AipolError):
                raise err.orig_exc.with_source(text) from None
            raise
        return result, state.comments


def parse_with_comments(text: str, filename: str = "<string>") -> tuple[ast.File, list[Comment]]:
    """Like :func:`parse`, also returning the comments (for the formatter)."""
    source = text if text.endswith("\n") or not text else text + "\n"
    tree, comments = _run(source, filename, "start")
    return ast.File(tree.items, text, tree.span), comments


def parse(text: str, filename: str = "<string>") -> ast.File:
    """Parse a whole ``.aipol`` file; raises :class:`AipolError`."""
    return parse_with_comments(text, filename)[0]


def parse_file(path: str | Path) -> ast.File:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), str(path))


def parse_literal(kind: str, text: str, filename: str = "<string>") -> Any:
    """Parse one literal on its own, e.g. ``parse_literal("size", "4MiB")``
    -> ``Size(4194304, "MiB")``. ``kind`` is one of :data:`LITERAL_KINDS`."""
    if kind not in LITERAL_KINDS:
        raise ValueError(f"unknown literal kind {kind!r}")
    return _run(text, filename, f"lit_{kind}")[0]
