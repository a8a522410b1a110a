"""A set of patterns -> the tables the C runner (filters/dfa.c) uses.

Per set, one *scanner*: the unanchored DFA of ``.*(p1|p2|...)`` over byte
classes, whose accepting states carry the mask of the patterns that have a
match ending there. ``\\b`` edges are folded into it, so its events are
exact: a word-start pattern is only entered after a non-word byte (the DFA
state remembers whether the last byte was a word byte), and a word-end
pattern accepts one byte late, after the non-word byte (or the EOF column)
that follows the match, so "pattern i ends at e" is reported at e + 1.

Per pattern, two small anchored DFAs: ``rev`` (the reversed pattern, run
backwards from an end to find the leftmost start) and ``fwd`` (run forwards
from a start to find the longest end). The runner's use of them is
documented in dfa.h and mirrored by runner.py.

All tables share one byte -> class map: the coarsest partition of the bytes
that every table distinguishes (identical columns merged after
minimisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import dfa as D
from .errors import RegexError
from .nfa import EOF, Compiled, Nfa, partition
from .syntax import ALL, WORD, Alt, Node, Regex, Repeat, Seq, parse, reverse

MAX_PATTERNS = 64
MAX_STATES = 20_000


@dataclass(frozen=True)
class Pattern:
    """One input pattern. ``name`` only serves error messages."""

    source: str
    ignore_case: bool = False
    name: str = ""


@dataclass(frozen=True)
class PatternInfo:
    source: str
    name: str
    ignore_case: bool
    word_start: bool
    word_end: bool
    max_len: int | None  # longest match in bytes, None if unbounded


@dataclass(frozen=True)
class Table:
    """One DFA laid out for emission: non-accepting states first (the dead
    state, if any, is state 0), accepting states from ``first_accept`` on."""

    next: tuple[tuple[int, ...], ...]  # [state][column]
    start: int
    dead: int | None
    first_accept: int
    accept: tuple[int, ...]  # output of states first_accept.. (scanner: pattern masks)

    @property
    def nstates(self) -> int:
        return len(self.next)


@dataclass(frozen=True)
class DfaSet:
    patterns: tuple[PatternInfo, ...]
    classes: bytes  # byte -> class, 256 entries
    nclasses: int  # byte classes; every table has these columns
    eof: bool  # the scanner has one more column, index nclasses, for the end of text
    scan: Table
    fwd: tuple[Table, ...]
    rev: tuple[Table, ...]


def _describe(i: int, p: Pattern) -> str:
    return f"pattern {i}" + (f" ({p.name})" if p.name else f" /{p.source}/")


def _scanner(
    regexes: Sequence[Regex],
    blocks: list[int],
    limit: int,
    eof: bool,
    modes: Sequence[str] | None = None,
) -> D.Dfa:
    """The unanchored scanner. Per pattern, ``modes[i]`` is ``exact`` (a
    leading ``\\b`` folded into the DFA), ``loose`` (the runner's reverse scan
    alone checks the leading ``\\b``) or ``relaxed`` (loose, and counted
    repetitions widened to ``+``/``*``: a superset, so the scanner still
    reports every true end; the reverse scan rejects the extra ones)."""
    nfa = Nfa()
    plain = word_start = 0
    for i, rx in enumerate(regexes):
        mode = modes[i] if modes is not None else "exact"
        s, e = nfa.add(relax(rx.node) if mode == "relaxed" else rx.node)
        if rx.word_end:
            f = nfa.state()
            nfa.edge[e] = ((ALL ^ WORD) | (1 << EOF), f)
            e = f
        nfa.final[e] = i
        if rx.word_start and mode == "exact":
            word_start |= nfa.closure(s)
        else:
            plain |= nfa.closure(s)
    comp = Compiled(nfa, blocks)
    nb = len(blocks) - 1
    track = bool(word_start)
    is_word = [bool(blocks[c] & WORD) and track for c in range(nb)]

    def successors(key):
        states, after_word = key
        mv = comp.moves(states | plain | (0 if after_word else word_start))
        row = [(mv[c], is_word[c]) for c in range(nb)]
        if eof:
            row.append((mv[nb], False))
        return row

    return D.determinize((0, False), successors, lambda k: comp.finals(k[0]), limit)


SOLO_BUDGET = 2_000
"""A pattern whose own scanner needs more states than this is relaxed."""


def relax(node: Node) -> Node:
    """A superset of ``node`` without counted repetitions."""
    if isinstance(node, Seq | Alt):
        return type(node)(tuple(relax(n) for n in node.items))
    if isinstance(node, Repeat):
        inner = relax(node.node)
        if node.max is not None and node.max <= 1:
            return Repeat(inner, node.min, node.max)
        return Repeat(inner, min(node.min, 1), None)
    return node


def _scanner_mode(rx: Regex, blocks: list[int], limit: int) -> str:
    """How a pattern enters the scanner: exact if cheap, else loose, else
    relaxed.

    Folding a leading ``\\b`` into the scanner stops new threads inside
    words, so the DFA must remember which threads started where: for a
    counted pattern such as ``\\b(?:\\d[ -]?){12,18}\\d\\b`` that is exponential.
    Patterns like ``[1-9]\\d{1,14}`` are exponential even without ``\\b``
    (threads start at some digits only), hence ``relaxed``."""
    budget = min(limit, SOLO_BUDGET)
    try:
        loose = _scanner([rx], blocks, budget, rx.word_end, ["loose"]).nstates
    except D.TooManyStates:
        return "relaxed"
    if not rx.word_start:
        return "exact"
    try:
        _scanner([rx], blocks, min(budget, 4 * loose + 64), rx.word_end, ["exact"])
    except D.TooManyStates:
        return "loose"
    return "exact"


def _anchored(node, blocks: list[int], limit: int) -> D.Dfa:
    nfa = Nfa()
    s, e = nfa.add(node)
    nfa.final[e] = 0
    comp = Compiled(nfa, blocks)
    nb = len(blocks) - 1
    return D.determinize(
        nfa.closure(s), lambda k: comp.moves(k)[:nb], lambda k: 1 if k >> e & 1 else 0, limit
    )


def _layout(dfa: D.Dfa, columns: list[int]) -> Table:
    reduced = D.Dfa(tuple(tuple(row[c] for c in columns) for row in dfa.next), dfa.output, dfa.start)
    dead = D.dead_state(reduced)
    order = [dead] if dead is not None else []
    order += [s for s in range(reduced.nstates) if reduced.output[s] == 0 and s != dead]
    first_accept = len(order)
    order += [s for s in range(reduced.nstates) if reduced.output[s] != 0]
    p = D.permute(reduced, order)
    return Table(
        p.next, p.start, 0 if dead is not None else None, first_accept, p.output[first_accept:]
    )


def compile_set(patterns: Sequence[Pattern | str], *, max_states: int = MAX_STATES) -> DfaSet:
    """Compiles up to 64 patterns into one DfaSet.

    Raises RegexError: for a bad pattern with ``pattern`` set to its index
    and ``offset`` into its source; for a DFA over ``max_states`` states with
    the culprit pattern(s) named in the message."""
    pats = [Pattern(p) if isinstance(p, str) else p for p in patterns]
    if not pats:
        raise RegexError("no patterns", 0)
    if len(pats) > MAX_PATTERNS:
        raise RegexError(f"at most {MAX_PATTERNS} patterns per DFA set", 0)
    if max_states > 65535:
        raise ValueError("max_states must fit in uint16")
    regexes: list[Regex] = []
    for i, p in enumerate(pats):
        try:
            regexes.append(parse(p.source, p.ignore_case))
        except RegexError as err:
            raise RegexError(err.message, err.offset, i) from None
    eof = any(rx.word_end for rx in regexes)
    fwd_nodes = [rx.node for rx in regexes]
    rev_nodes = [reverse(rx.node) for rx in regexes]

    masks: set[int] = set()
    for node in fwd_nodes:
        nfa = Nfa()
        nfa.add(node)
        masks |= nfa.masks()
    if any(rx.word_start or rx.word_end for rx in regexes):
        masks.add(WORD)
    blocks = partition(masks)
    nb = len(blocks) - 1

    modes = [_scanner_mode(rx, blocks, max_states) for rx in regexes]
    try:
        scan = D.minimize(_scanner(regexes, blocks, max_states, eof, modes))
    except D.TooManyStates:
        culprits = []
        for i, rx in enumerate(regexes):
            try:
                _scanner([rx], blocks, max_states, rx.word_end, [modes[i]])
            except D.TooManyStates:
                culprits.append(i)
        if culprits:
            names = ", ".join(_describe(i, pats[i]) for i in culprits)
            raise RegexError(
                f"{names}: the DFA needs more than {max_states} states; "
                "bound the repetitions or simplify the pattern",
                0,
                culprits[0] if len(culprits) == 1 else None,
            ) from None
        raise RegexError(
            f"the {len(pats)} patterns together need more than {max_states} DFA states; "
            "split them into several detectors",
            0,
        ) from None

    fwd, rev = [], []
    for i, (fn, rn) in enumerate(zip(fwd_nodes, rev_nodes, strict=True)):
        try:
            fwd.append(D.minimize(_anchored(fn, blocks, max_states)))
            rev.append(D.minimize(_anchored(rn, blocks, max_states)))
        except D.TooManyStates:
            raise RegexError(
                f"{_describe(i, pats[i])}: the DFA needs more than {max_states} states", 0, i
            ) from None

    # Merge byte classes whose columns agree in every table.
    tables = [scan, *fwd, *rev]
    sig_ids: dict[tuple, int] = {}
    class_of_block: list[int] = []
    columns: list[int] = []
    for c in range(nb):
        sig = tuple(tuple(row[c] for row in t.next) for t in tables)
        if sig not in sig_ids:
            sig_ids[sig] = len(columns)
            columns.append(c)
        class_of_block.append(sig_ids[sig])
    classes = bytearray(256)
    for c in range(nb):
        for b in range(256):
            if blocks[c] >> b & 1:
                classes[b] = class_of_block[c]

    infos = tuple(
        PatternInfo(p.source, p.name, rx.ignore_case, rx.word_start, rx.word_end, D.longest(f))
        for p, rx, f in zip(pats, regexes, fwd, strict=True)
    )
    return DfaSet(
        patterns=infos,
        classes=bytes(classes),
        nclasses=len(columns),
        eof=eof,
        scan=_layout(scan, columns + ([nb] if eof else [])),
        fwd=tuple(_layout(f, columns) for f in fwd),
        rev=tuple(_layout(r, columns) for r in rev),
    )
