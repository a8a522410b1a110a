"""Python twin of the C runner (filters/dfa.c), step for step.

It lets the compiler's tables be checked in-process, and documents the
algorithm in a form easier to read than C. Per pattern, matches are
leftmost-longest and non-overlapping; the result is sorted by (start,
pattern).

Algorithm, per pattern i with ``pos[i]`` = end of its last match:
1. The scanner holding i reports that a match of i may end at ``e`` (a
   superset of the true ends; exact for most patterns, see tables.py).
   Events with ``e <= pos[i]`` are ignored.
2. ``rev[i]`` runs backwards from ``e`` (not below ``pos[i]``, nor further
   than the pattern's longest match) and yields ``s1``, the leftmost valid
   start of a match ending at ``e``; none means there is no match ending
   there that starts at or after ``pos[i]``, and the event is dropped.
3. ``e`` is the first end of any match starting at or after ``pos[i]``, so
   a match starting left of ``s1`` must end after ``e``: each start in
   ``[max(pos[i], e + 1 - max_len), s1)`` is tried with ``fwd[i]``; the first
   that matches is the leftmost start. The compiler proves this step
   useless for most patterns (``left_fix`` false: email, cards, keys); it
   is needed for patterns such as ``ab|xaby``.
4. ``fwd[i]`` from the leftmost start gives the longest end ``e*`` (>= e);
   the match is emitted and ``pos[i] = e*``.

The C runner steps the scanners four at a time in one pass over row-offset
tables (see emit.py and dfa.c); that changes neither the events nor the
result, so this twin keeps one plain pass per scanner over state numbers.
"""

from __future__ import annotations

from .nfa import iter_bits
from .tables import DfaSet, Table

WORD_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


def find(ds: DfaSet, text: bytes) -> list[tuple[int, int, int]]:
    """All matches as (pattern, start, end), sorted by (start, pattern)."""
    n = len(text)
    pos = [0] * len(ds.patterns)
    out: list[tuple[int, int, int]] = []

    def start_ok(i: int, s: int) -> bool:
        return not ds.patterns[i].word_start or s == 0 or text[s - 1] not in WORD_BYTES

    def end_ok(i: int, e: int) -> bool:
        return not ds.patterns[i].word_end or e == n or text[e] not in WORD_BYTES

    def leftmost_start(i: int, e: int, lo: int) -> int | None:
        t: Table = ds.rev[i]
        st, best, j = t.start, None, e
        while j > lo:
            j -= 1
            st = t.next[st][t.classes[text[j]]]
            if st == t.dead:
                break
            if st >= t.first_accept and start_ok(i, j):
                best = j
        return best

    def longest_end(i: int, s: int) -> int | None:
        t: Table = ds.fwd[i]
        st, best, j = t.start, None, s
        while j < n:
            st = t.next[st][t.classes[text[j]]]
            j += 1
            if st == t.dead:
                break
            if st >= t.first_accept and end_ok(i, j):
                best = j
        return best

    def resolve(i: int, e: int) -> None:
        if not end_ok(i, e):
            return
        limit = ds.patterns[i].max_len
        lo = pos[i] if limit is None else max(pos[i], e - limit)
        s1 = leftmost_start(i, e, lo)
        if s1 is None:
            return
        first = pos[i] if limit is None else max(pos[i], e + 1 - limit)
        if not ds.patterns[i].left_fix:
            first = s1
        for s in range(first, s1):
            if start_ok(i, s) and (e2 := longest_end(i, s)) is not None:
                out.append((i, s, e2))
                pos[i] = e2
                return
        e2 = longest_end(i, s1)
        assert e2 is not None and e2 >= e
        out.append((i, s1, e2))
        pos[i] = e2

    for scan in ds.scans:  # each pattern lives in one scanner: passes are independent
        st = scan.start
        for k in range(n + 1 if ds.eof else n):
            col = scan.classes[text[k]] if k < n else scan.ncols
            st = scan.next[st][col]
            if st < scan.first_accept:
                continue
            for i in iter_bits(scan.accept[st - scan.first_accept]):
                e = n if k == n else k + 1 - ds.patterns[i].word_end
                if e > pos[i]:
                    resolve(i, e)
    out.sort(key=lambda m: (m[1], m[0]))
    return out


def hits(ds: DfaSet, text: bytes) -> int:
    """Mask of the patterns the streaming scan reports (exact for the
    patterns whose ``exact`` is set, a superset otherwise)."""
    mask = 0
    for scan in ds.scans:
        st = scan.start
        cols = [scan.classes[b] for b in text] + ([scan.ncols] if ds.eof else [])
        for col in cols:
            st = scan.next[st][col]
            if st >= scan.first_accept:
                mask |= scan.accept[st - scan.first_accept]
    return mask
