"""Refused patterns: message and the offset of the offending character."""

from __future__ import annotations

import pytest
from aipol.compiler.regex import Pattern, RegexError, compile_set, parse

CASES = [
    # id, pattern, message fragment, offset
    ("backref", r"(a)\1", "backreferences", 3),
    ("named-backref", r"(?P=x)", "named groups", 0),
    ("lookahead", r"a(?=b)", "lookaround", 1),
    ("neg-lookahead", r"a(?!b)", "lookaround", 1),
    ("lookbehind", r"(?<=a)b", "lookaround", 0),
    ("neg-lookbehind", r"x(?<!a)b", "lookaround", 1),
    ("b-middle", r"a\bb", "\\b is supported only", 1),
    ("b-inside-group", r"(?:\bfoo)", "\\b is supported only", 3),
    ("b-start-alternation", r"\bfoo|bar", "top-level alternation", 0),
    ("b-end-alternation", r"foo|bar\b", "top-level alternation", 7),
    ("B", r"a\B", "anchor \\B", 1),
    ("A", r"\Aa", "anchor \\A", 0),
    ("caret", r"a^b", "anchors ^ and $", 1),
    ("dollar", r"ab$", "anchors ^ and $", 2),
    ("named-group", r"(?P<x>a)", "named groups", 0),
    ("named-group-angle", r"(?<x>a)", "named groups", 0),
    ("lazy-star", r"ab*?", "lazy", 3),
    ("lazy-counted", r"a{1,2}?", "lazy", 6),
    ("possessive", r"a++", "possessive", 2),
    ("multiple-repeat", r"a{2}{3}", "multiple repeat", 4),
    ("nothing-to-repeat", r"*a", "nothing to repeat", 0),
    ("nothing-to-repeat-alt", r"a|+b", "nothing to repeat", 2),
    ("repeat-too-big", r"a{1001}", "repeat count above 1000", 1),
    ("min-above-max", r"xa{3,2}", "min repeat greater than max", 2),
    ("expansion", r"(?:a{1000}){1000}", "expands to more than", 11),
    ("empty", r"a*", "empty string", 0),
    ("empty-alt", r"a|", "empty string", 0),
    ("empty-b", r"\b", "empty string", 0),
    ("unbalanced-open", r"(ab", "missing )", 0),
    ("unbalanced-close", r"ab)", "unbalanced parenthesis", 2),
    ("unterminated-class", r"x[ab", "unterminated character class", 1),
    ("bad-range", r"[z-a]", "bad character range", 3),
    ("class-range-escape", r"[\d-z]", "bad character range", 1),
    ("negated-utf8", "[^é]", "negated class", 2),
    ("bad-hex", r"\xZZ", "two hex digits", 0),
    ("unknown-escape", r"a\q", "unsupported escape", 1),
    ("inline-flag-later", r"a(?i)b", "leading (?i)", 1),
    ("scoped-flag", r"(?i:a)", "leading (?i)", 0),
    ("trailing-backslash", "a\\", "ends with a backslash", 1),
]


@pytest.mark.parametrize(
    ("pattern", "message", "offset"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refused(pattern: str, message: str, offset: int) -> None:
    with pytest.raises(RegexError) as info:
        parse(pattern)
    assert message in info.value.message
    assert info.value.offset == offset


def test_set_error_names_pattern() -> None:
    with pytest.raises(RegexError) as info:
        compile_set(["ok", "bad(?=x)"])
    assert info.value.pattern == 1 and info.value.offset == 3


def test_state_limit_names_pattern() -> None:
    # (a|b)*a(a|b){k} needs 2^k states even for the anchored DFA.
    with pytest.raises(RegexError) as info:
        compile_set([Pattern("abc"), Pattern("[ab]*a[ab]{14}", name="blowup")], max_states=2000)
    assert info.value.pattern == 1
    assert "blowup" in info.value.message and "2000 states" in info.value.message


def test_too_many_patterns() -> None:
    with pytest.raises(RegexError, match="at most 64"):
        compile_set([f"p{i}" for i in range(65)])


@pytest.mark.parametrize(
    "pattern",
    [
        r"a{",
        r"ba{,3}",
        r"[]a]",
        r"[a-]",
        r"\.\/\-",
        r"[\b]",
        r"x{ 2}",
        r"\x00\xff",
        "é+",
        r"(?i)\bcat\b",
        r"a\\b",
    ],
)
def test_accepted(pattern: str) -> None:
    compile_set([pattern])
