"""Reference matcher and pattern generator for the regex -> DFA tests.

The reference is deliberately naive and built on Python's `re` over bytes
(whose \\d, \\w, \\s, `.` and IGNORECASE are the ASCII byte meanings the
compiler implements): for each start from the left, the longest end whose
slice `fullmatch`es, with the \\b edge flags checked by hand.
"""

from __future__ import annotations

import re

from aipol.compiler.regex import RegexError, parse
from hypothesis import assume
from hypothesis import strategies as st

WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


def reference(patterns: list[tuple[str, bool]], text: bytes) -> list[tuple[int, int, int]]:
    """Leftmost-longest non-overlapping matches per pattern, sorted by
    (start, pattern)."""
    out = []
    n = len(text)
    for i, (source, icase) in enumerate(patterns):
        rx = parse(source, icase)
        core = re.compile(rx.core.encode(), re.IGNORECASE if rx.ignore_case else 0)
        pos = 0
        while pos < n:
            found = None
            for s in range(pos, n):
                if rx.word_start and s > 0 and text[s - 1] in WORD:
                    continue
                for e in range(n, s, -1):
                    if rx.word_end and e < n and text[e] in WORD:
                        continue
                    if core.fullmatch(text, s, e):
                        found = (s, e)
                        break
                if found:
                    break
            if not found:
                break
            out.append((i, *found))
            pos = found[1]
    return sorted(out, key=lambda m: (m[1], m[0]))


ATOMS = [
    "a",
    "b",
    "c",
    "A",
    "0",
    "1",
    " ",
    "-",
    "\\.",
    "\\x61",
    "\\n",
    ".",
    "\\d",
    "\\w",
    "\\s",
    "\\W",
    "\\D",
    "[ab]",
    "[^a]",
    "[a-c]",
    "[0-9 ]",
    "[^\\w]",
    "[a\\-]",
    "[]a]",
]
ALPHABET = b"abcAB01 -._\nx"


def _quantify(draw_node: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    quant = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,}", "{0,2}", "{1,3}", "{,2}"])
    return st.tuples(draw_node, quant).map(
        lambda t: (
            t[0] + t[1]
            if not t[1] or len(t[0]) <= 2 or t[0].startswith("(") or t[0].startswith("[")
            else f"(?:{t[0]}){t[1]}"
        )
    )


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(_quantify(children), min_size=2, max_size=3).map("".join),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")"),
        children.map(lambda x: f"({x})"),
    )


bodies = st.recursive(_quantify(st.sampled_from(ATOMS)), _extend, max_leaves=6)


@st.composite
def patterns(draw) -> tuple[str, bool]:
    """A supported pattern that cannot match the empty string."""
    body = draw(bodies)
    start, end = draw(st.booleans()), draw(st.booleans())
    if (start or end) and "|" in body:
        body = f"(?:{body})"
    source = ("\\b" if start else "") + body + ("\\b" if end else "")
    icase = draw(st.booleans())
    try:
        parse(source, icase)
    except RegexError:  # only "matches the empty string" is expected here
        assume(False)
    return source, icase


texts = st.lists(st.one_of(st.sampled_from(list(ALPHABET)), st.integers(0, 255)), max_size=24).map(
    bytes
)
