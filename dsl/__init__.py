"""aipol.dsl: the `.aipol` language front end.

    parse(text, filename) -> ast.File          (raises AipolError)
    parse_file(path) -> ast.File
    format_source(text, filename) -> str       (canonical form, keeps comments)
    to_source(tree) -> str                     (AST -> canonical text)

Modules: ``aipol.lark`` (grammar), ``ast`` (tree), ``errors`` (AipolError),
``parser`` (entry points), ``transform`` (parse tree -> AST), ``literals``
(literal checks and canonical spelling), ``lexing`` (post-lexer, comments),
``syntax_errors`` (lark errors -> readable ones), ``formatter``.

Keywords are contextual: a word is a keyword only where the grammar accepts
that keyword, so any keyword can name a backend, policy, team, ... The one
place where a name and a keyword compete is right after ``->`` in a ``when``:
there ``split`` starts a split, so a backend called ``split`` cannot be the
direct target of a ``when`` (``-> split split 100%`` works).
"""

from aipol.dsl.errors import AipolError, AipolErrors
from aipol.dsl.formatter import format_source, to_source
from aipol.dsl.parser import parse, parse_file, parse_literal

__all__ = [
    "AipolError",
    "AipolErrors",
    "format_source",
    "parse",
    "parse_file",
    "parse_literal",
    "to_source",
]
