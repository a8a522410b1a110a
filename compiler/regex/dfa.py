"""Subset construction, Hopcroft minimisation and helpers on complete DFAs.

A ``Dfa`` is a complete transition table ``next[state][column]`` plus one
output per state (a pattern mask; 0 = not accepting). Minimisation keeps
states apart when their outputs differ, so the multi-pattern scanner keeps
"which patterns end here" exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


class TooManyStates(Exception):
    """Subset construction went past the state limit."""


@dataclass(frozen=True)
class Dfa:
    next: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    start: int

    @property
    def nstates(self) -> int:
        return len(self.next)

    @property
    def ncols(self) -> int:
        return len(self.next[0]) if self.next else 0


def determinize(
    start: Hashable,
    successors: Callable[[Hashable], list[Hashable]],
    output: Callable[[Hashable], int],
    limit: int,
) -> Dfa:
    """Breadth-first subset construction from ``start``; ``successors(key)``
    returns the key reached on each column."""
    ids: dict[Hashable, int] = {start: 0}
    keys = [start]
    rows: list[tuple[int, ...]] = []
    i = 0
    while i < len(keys):
        row = []
        for nxt in successors(keys[i]):
            j = ids.get(nxt)
            if j is None:
                if len(keys) >= limit:
                    raise TooManyStates
                j = ids[nxt] = len(keys)
                keys.append(nxt)
            row.append(j)
        rows.append(tuple(row))
        i += 1
    return Dfa(tuple(rows), tuple(output(k) for k in keys), 0)


def minimize(dfa: Dfa) -> Dfa:
    """Hopcroft's partition refinement; the result is renumbered in
    breadth-first order from the start state, so equal languages give equal
    tables."""
    n, k = dfa.nstates, dfa.ncols
    nxt = dfa.next
    # Inverse transitions per column, as CSR arrays.
    inv_src: list[list[int]] = []
    inv_off: list[list[int]] = []
    for c in range(k):
        counts = [0] * (n + 1)
        for s in range(n):
            counts[nxt[s][c] + 1] += 1
        for t in range(n):
            counts[t + 1] += counts[t]
        pos = counts[:-1].copy()
        src = [0] * n
        for s in range(n):
            t = nxt[s][c]
            src[pos[t]] = s
            pos[t] += 1
        inv_src.append(src)
        inv_off.append(counts)

    groups: dict[int, list[int]] = {}
    for s in range(n):
        groups.setdefault(dfa.output[s], []).append(s)
    blocks = [groups[o] for o in sorted(groups)]
    block_of = [0] * n
    for b, members in enumerate(blocks):
        for s in members:
            block_of[s] = b
    work = [(b, c) for b in range(len(blocks)) for c in range(k)]
    in_work = set(work)
    while work:
        b, c = work.pop()
        in_work.discard((b, c))
        src, off = inv_src[c], inv_off[c]
        touched: dict[int, list[int]] = {}
        for t in blocks[b]:
            for s in src[off[t] : off[t + 1]]:
                touched.setdefault(block_of[s], []).append(s)
        for y, hit in touched.items():
            if len(hit) == len(blocks[y]):
                continue
            hit_set = set(hit)
            rest = [s for s in blocks[y] if s not in hit_set]
            small, large = (hit, rest) if len(hit) <= len(rest) else (rest, hit)
            blocks[y] = large
            new = len(blocks)
            blocks.append(small)
            for s in small:
                block_of[s] = new
            for cc in range(k):
                if (new, cc) not in in_work:
                    in_work.add((new, cc))
                    work.append((new, cc))
    quotient = Dfa(
        tuple(tuple(block_of[nxt[blocks[b][0]][c]] for c in range(k)) for b in range(len(blocks))),
        tuple(dfa.output[blocks[b][0]] for b in range(len(blocks))),
        block_of[dfa.start],
    )
    return renumber(quotient)


def renumber(dfa: Dfa) -> Dfa:
    """Keeps the states reachable from the start, numbered breadth-first."""
    order = [dfa.start]
    ids = {dfa.start: 0}
    q = deque(order)
    while q:
        s = q.popleft()
        for t in dfa.next[s]:
            if t not in ids:
                ids[t] = len(order)
                order.append(t)
                q.append(t)
    return Dfa(
        tuple(tuple(ids[t] for t in dfa.next[s]) for s in order),
        tuple(dfa.output[s] for s in order),
        0,
    )


def permute(dfa: Dfa, order: list[int]) -> Dfa:
    """The same automaton with old state ``order[i]`` renamed ``i``."""
    ids = {s: i for i, s in enumerate(order)}
    return Dfa(
        tuple(tuple(ids[t] for t in dfa.next[s]) for s in order),
        tuple(dfa.output[s] for s in order),
        ids[dfa.start],
    )


def dead_state(dfa: Dfa) -> int | None:
    """A non-accepting state that only leads to itself (a minimal DFA has at
    most one)."""
    for s in range(dfa.nstates):
        if dfa.output[s] == 0 and all(t == s for t in dfa.next[s]):
            return s
    return None


def longest(dfa: Dfa) -> int | None:
    """Length of the longest accepted string of a minimal DFA, None if
    unbounded (a cycle through states that can still accept)."""
    dead = dead_state(dfa)
    memo: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[int, int]] = [(dfa.start, 0)]
    while stack:
        s, i = stack.pop()
        if i == 0:
            on_path.add(s)
        succ = [t for t in dfa.next[s] if t != dead]
        if i < len(succ):
            stack.append((s, i + 1))
            t = succ[i]
            if t in on_path:
                return None
            if t not in memo:
                stack.append((t, 0))
            continue
        best = 0 if dfa.output[s] else -1
        for t in succ:
            if memo[t] >= 0:
                best = max(best, memo[t] + 1)
        memo[s] = best
        on_path.discard(s)
    r = memo[dfa.start]
    return r if r >= 0 else 0
