"""The compiler's tables, run by the Python twin of the C runner, against a
naive leftmost-longest reference built on Python `re`."""

from __future__ import annotations

import pytest
from aipol.compiler.regex import compile_set, find, hits
from filters.dfa_reference import patterns, reference, texts
from hypothesis import given, settings
from hypothesis import strategies as st

REALISTIC = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "e164": r"\+[1-9]\d{6,14}\b",
    "card": r"\b(?:\d[ -]?){12,18}\d\b",
    "aws": r"\bAKIA[0-9A-Z]{16}\b",
}


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"ab|xaby", b"xaby abab", [(0, 4), (5, 7), (7, 9)]),  # leftmost wins over first end
        (r"a+", b"baaab aa", [(1, 4), (6, 8)]),
        (r"\d+", b"12 345", [(0, 2), (3, 6)]),
        (r"\bcat\b", b"cat concat cat_ cat.", [(0, 3), (16, 19)]),
        (r"\b-\d+", b"a-1 -22", [(4, 7)]),  # \b: the byte before is not a word byte
        (r"(?i)hello", b"HeLLo hello", [(0, 5), (6, 11)]),
        (r"caf\xc3\xa9|café", "café".encode(), [(0, 5)]),
        (REALISTIC["card"], b"pay 4111 1111 1111 1111 now, not 41111111111111111111", [(4, 23)]),
        (REALISTIC["aws"], b"id=AKIAABCDEFGHIJKLMNOP; AKIAABCDEFGHIJKLMNOPQ", [(3, 23)]),
        (REALISTIC["email"], b"mail bob.s@example.co.uk!", [(5, 24)]),
    ],
    ids=[
        "leftmost",
        "plus",
        "digits",
        "word-edges",
        "word-start-nonword",
        "icase",
        "utf8",
        "card",
        "aws",
        "email",
    ],
)
def test_examples(pattern: str, text: bytes, expected: list[tuple[int, int]]) -> None:
    ds = compile_set([pattern])
    assert [(s, e) for _, s, e in find(ds, text)] == expected
    assert find(ds, text) == reference([(pattern, False)], text)


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=3), st.lists(texts, min_size=1, max_size=4))
def test_random_patterns(pats: list[tuple[str, bool]], samples: list[bytes]) -> None:
    from aipol.compiler.regex import Pattern

    ds = compile_set([Pattern(s, i) for s, i in pats])
    for text in samples:
        want = reference(pats, text)
        assert find(ds, text) == want, (pats, text)
        mask = hits(ds, text)
        found = {i for i, _, _ in want}
        for i, info in enumerate(ds.patterns):
            if i in found:
                assert mask >> i & 1
            elif info.exact:
                assert not mask >> i & 1, (pats, text, i)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"4111 1111 1111 1111",
                b"AKIAABCDEFGHIJKLMNOP",
                b"bob@ex.com",
                b"+14155550123",
                b" ",
                b"x",
                b"1",
                b"-",
                b"@",
                b".",
            ]
        ),
        max_size=12,
    )
)
def test_realistic_set(parts: list[bytes]) -> None:
    text = b"".join(parts)
    pats = list(REALISTIC.values())
    ds = compile_set(pats)
    assert find(ds, text) == reference([(p, False) for p in pats], text)
