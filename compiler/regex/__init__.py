r"""Regexes -> byte-level DFA tables for the filter runtime (filters/dfa.c).

Pipeline: ``syntax`` (pattern -> tree of byte sets, with RegexError(message,
offset) for what is refused) -> ``nfa`` (Thompson NFA, byte classes) ->
``dfa`` (subset construction, Hopcroft minimisation) -> ``tables`` (a set
of up to 64 patterns: scanners + per-pattern anchored DFAs, one byte ->
column map per table) -> ``emit`` (C text, size) ; ``runner`` is the Python
twin of the C runner.

Why our own construction and not ``interegular`` or ``greenery`` (both on
PyPI): both parse and build automata over Unicode characters, not bytes,
so UTF-8, ``\xHH`` bytes and the ASCII-only ``\w``/``(?i)`` we need would
have to be re-encoded around them; neither gives multi-pattern accept
masks, the unanchored scanner with ``\b`` folded in, byte-class
compression or C emission, and their error reporting does not give the
character offsets our carets need. What would remain of them is the
subset construction and minimisation, about 150 lines here, so the
dependency would cost more than it saves.
"""

from .errors import RegexError
from .runner import find, hits
from .syntax import Regex, parse
from .tables import DfaSet, Pattern, PatternInfo, Table, compile_set

__all__ = [
    "DfaSet",
    "Pattern",
    "PatternInfo",
    "Regex",
    "RegexError",
    "Table",
    "compile_set",
    "find",
    "hits",
    "parse",
]
