"""Regexes -> byte-level DFA tables for the filter runtime (filters/dfa.c)."""

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
