"""Construction properties: minimisation minimises, tables are laid out as
the runner expects, output is deterministic, longest-match lengths."""

from __future__ import annotations

from collections import deque

import pytest
from aipol.compiler.regex import compile_set, dfa, parse
from aipol.compiler.regex.emit import emit_c, serialize, table_bytes
from aipol.compiler.regex.nfa import Nfa, partition
from aipol.compiler.regex.tables import _anchored, _scanner, relax
from filters.dfa_reference import patterns
from hypothesis import given, settings
from hypothesis import strategies as st


def _blocks(*nodes) -> list[int]:
    masks: set[int] = set()
    for node in nodes:
        nfa = Nfa()
        nfa.add(node)
        masks |= nfa.masks()
    return partition(masks)


def _equivalent(a: dfa.Dfa, sa: int, b: dfa.Dfa, sb: int) -> bool:
    """Brute force: no reachable pair of the product has different outputs."""
    seen = {(sa, sb)}
    q = deque(seen)
    while q:
        x, y = q.popleft()
        if a.output[x] != b.output[y]:
            return False
        for c in range(a.ncols):
            pair = (a.next[x][c], b.next[y][c])
            if pair not in seen:
                seen.add(pair)
                q.append(pair)
    return True


def _check_minimal(raw: dfa.Dfa) -> None:
    small = dfa.minimize(raw)
    assert small.nstates <= raw.nstates
    assert _equivalent(raw, raw.start, small, small.start)
    for p in range(small.nstates):
        for q in range(p + 1, small.nstates):
            assert not _equivalent(small, p, small, q), f"states {p} and {q} are equivalent"


@settings(max_examples=150, deadline=None)
@given(patterns())
def test_minimisation_minimises(pat: tuple[str, bool]) -> None:
    rx = parse(*pat)
    blocks = _blocks(rx.node)
    _check_minimal(_anchored(rx.node, blocks, 5000))
    _check_minimal(_scanner([(0, rx, "exact")], blocks, 5000, rx.word_end))
    _check_minimal(_scanner([(0, rx, "relaxed")], blocks, 5000, rx.word_end))


def test_minimisation_merges() -> None:
    rx = parse("(?:ab|cb)(?:x|y)")
    raw = _anchored(rx.node, _blocks(rx.node), 100)
    assert dfa.minimize(raw).nstates == 5  # start, after a/c, after b, accept, dead
    assert raw.nstates > 5


@settings(max_examples=60, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=4))
def test_layout(pats) -> None:
    ds = compile_set([p for p, _ in pats])
    tables = [(t, ds.eof) for t in ds.scans] + [(t, False) for t in (*ds.fwd, *ds.rev)]
    for t, eof_col in tables:
        assert len(t.classes) == 256 and max(t.classes) == t.ncols - 1
        assert all(len(row) == t.ncols + eof_col for row in t.next)
        assert t.dead in (None, 0)
        if t.dead == 0:
            assert all(x == 0 for x in t.next[0])
        assert all(t.accept)  # accepting states carry a non-empty mask
    for i in range(len(ds.patterns)):  # each pattern is reported by one scanner at most
        assert sum(1 for t in ds.scans if any(m >> i & 1 for m in t.accept)) <= 1


def test_deterministic() -> None:
    pats = [r"\b(?:\d[ -]?){12,18}\d\b", r"\bAKIA[0-9A-Z]{16}\b", r"(?i)ignore (?:all )?previous"]
    a, b = compile_set(pats), compile_set(list(pats))
    assert emit_c(a, "dlp") == emit_c(b, "dlp")
    assert serialize(a) == serialize(b)
    assert table_bytes(a) == table_bytes(b)


@pytest.mark.parametrize(
    ("pattern", "longest"),
    [
        ("abc", 3),
        (r"a{2,5}", 5),
        (r"(?:ab|c)?d", 3),
        (r"a+", None),
        (r"\bAKIA[0-9A-Z]{16}\b", 20),
        (r"\b(?:\d[ -]?){12,18}\d\b", 37),
        ("é", 2),
    ],
)
def test_max_len(pattern: str, longest: int | None) -> None:
    assert compile_set([pattern]).patterns[0].max_len == longest


@settings(max_examples=100, deadline=None)
@given(patterns(), st.binary(max_size=12))
def test_relax_is_superset(pat, text: bytes) -> None:
    import re

    rx = parse(*pat)
    blocks = _blocks(rx.node, relax(rx.node))
    exact = dfa.minimize(_anchored(rx.node, blocks, 5000))
    loose = dfa.minimize(_anchored(relax(rx.node), blocks, 5000))
    cls = {b: next(i for i, m in enumerate(blocks) if m >> b & 1) for b in range(256)}

    def run(d: dfa.Dfa) -> bool:
        s = d.start
        for byte in text:
            s = d.next[s][cls[byte]]
        return bool(d.output[s])

    if run(exact):
        assert run(loose)
    assert run(exact) == bool(re.fullmatch(rx.core.encode(), text, re.I if rx.ignore_case else 0))


def test_emitted_c_shape() -> None:
    ds = compile_set([r"\bAKIA[0-9A-Z]{16}\b", r"a*/b"])
    c = emit_c(ds, "keys")
    assert "static const aipol_dfa_set keys = {" in c
    assert "a*\\/b" in c  # a pattern cannot close the comment
    assert "static const uint8_t keys_cls0[256]" in c


@pytest.mark.parametrize(
    ("pattern", "fix"),
    [
        ("ab|xaby", True),
        ("abc|b", True),
        (r"a\w*b|c", True),
        (r"\d+", False),
        ("a|ab", False),
        (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", False),
        (r"\b(?:\d[ -]?){12,18}\d\b", False),
    ],
)
def test_left_fix(pattern: str, fix: bool) -> None:
    """Only patterns where a later match can end first need the runner's
    extra start search (the random match tests check the 'False' answers)."""
    assert compile_set([pattern]).patterns[0].left_fix is fix
