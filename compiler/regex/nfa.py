"""Thompson NFAs over byte symbols, and the byte-class partition.

Symbols are the 256 byte values plus ``EOF`` (256), a pseudo-symbol the
scanning DFA consumes once after the last byte so that a ``\\b`` at the end
of a pattern can be decided at the end of the text. Sets of symbols and sets
of NFA states are Python ints used as bitsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from .syntax import Alt, Bytes, Node, Repeat, Seq

EOF = 256
SYMBOLS = 257


def iter_bits(x: int) -> Iterable[int]:
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


class Nfa:
    """States with epsilon edges and at most one symbol-set edge each."""

    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edge: list[tuple[int, int] | None] = []  # (symbol mask, target)
        self.final: dict[int, int] = {}  # state -> pattern index
        self._closure: list[int | None] = []

    def state(self) -> int:
        self.eps.append([])
        self.edge.append(None)
        self._closure.append(None)
        return len(self.eps) - 1

    def add(self, node: Node) -> tuple[int, int]:
        """Adds a fragment for ``node``; returns (entry, exit) states."""
        if isinstance(node, Bytes):
            a, b = self.state(), self.state()
            self.edge[a] = (node.mask, b)
            return a, b
        if isinstance(node, Seq):
            a = self.state()
            cur = a
            for item in node.items:
                s, e = self.add(item)
                self.eps[cur].append(s)
                cur = e
            return a, cur
        if isinstance(node, Alt):
            a, b = self.state(), self.state()
            for item in node.items:
                s, e = self.add(item)
                self.eps[a].append(s)
                self.eps[e].append(b)
            return a, b
        return self._repeat(node)

    def _repeat(self, node: Repeat) -> tuple[int, int]:
        a = self.state()
        cur = a
        for _ in range(node.min):
            s, e = self.add(node.node)
            self.eps[cur].append(s)
            cur = e
        if node.max is None:
            s, e = self.add(node.node)
            out = self.state()
            self.eps[cur] += [s, out]
            self.eps[e] += [s, out]
            return a, out
        out = self.state()
        for _ in range(node.max - node.min):
            s, e = self.add(node.node)
            self.eps[cur] += [s, out]
            cur = e
        self.eps[cur].append(out)
        return a, out

    def closure(self, state: int) -> int:
        """Bitset of the states reachable from ``state`` by epsilon edges."""
        cached = self._closure[state]
        if cached is not None:
            return cached
        seen = 1 << state
        stack = [state]
        while stack:
            for t in self.eps[stack.pop()]:
                if not seen >> t & 1:
                    seen |= 1 << t
                    stack.append(t)
        self._closure[state] = seen
        return seen

    def masks(self) -> set[int]:
        return {e[0] for e in self.edge if e is not None}


def partition(masks: Iterable[int]) -> list[int]:
    """The coarsest partition of the 257 symbols that every mask is a union
    of; blocks are symbol masks ordered by their smallest symbol, with EOF
    always alone and last."""
    blocks = [(1 << 256) - 1]
    for m in sorted(set(masks)):
        m &= (1 << 256) - 1
        nxt = []
        for b in blocks:
            inside, outside = b & m, b & ~m
            nxt += [x for x in (inside, outside) if x]
        blocks = nxt
    blocks.sort(key=lambda b: (b & -b).bit_length())
    return blocks + [1 << EOF]


class Compiled:
    """An NFA with its edges rewritten to class masks, ready for subset
    construction: ``moves(S)`` gives, per class, the closure of the states
    reached from the state set ``S``."""

    def __init__(self, nfa: Nfa, blocks: list[int]) -> None:
        self.nfa = nfa
        self.ncls = len(blocks)
        self.out: list[tuple[tuple[int, ...], int] | None] = []
        for e in nfa.edge:
            if e is None:
                self.out.append(None)
                continue
            mask, target = e
            classes = tuple(c for c, b in enumerate(blocks) if b & mask)
            self.out.append((classes, nfa.closure(target)))

    def moves(self, states: int) -> list[int]:
        acc = [0] * self.ncls
        out = self.out
        for n in iter_bits(states):
            e = out[n]
            if e is not None:
                classes, target = e
                for c in classes:
                    acc[c] |= target
        return acc

    def finals(self, states: int) -> int:
        """Mask of the patterns whose final state is in ``states``."""
        m = 0
        for s, p in self.nfa.final.items():
            if states >> s & 1:
                m |= 1 << p
        return m
