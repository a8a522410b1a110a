"""A set of patterns -> the tables the C runner (filters/dfa.c) uses.

Per set, *scanners*: unanchored DFAs of ``.*(p1|p2|...)`` over byte
classes, whose accepting states carry the mask of the patterns that have a
match ending there (patterns are grouped into several scanners when one
DFA for all of them would be much larger than the sum of its parts).
Where it stays cheap, a pattern's ``\\b`` edges are folded into its
scanner, so the scanner's events are exact: a word-start pattern is only
entered after a non-word byte (the DFA state remembers whether the last
byte was a word byte), and a word-end pattern accepts one byte late, after
the non-word byte (or the EOF column) that follows the match, so "pattern i
ends at e" is reported at e + 1. Bounded patterns whose exact scanner would
explode are scanned loosely (a superset of the ends; see ``_scanner_mode``)
and the runner's reverse scan filters the extra events.

Per pattern, two small anchored DFAs: ``rev`` (the reversed pattern, run
backwards from an end to find the leftmost start) and ``fwd`` (run forwards
from a start to find the longest end). The runner's use of them is
documented in dfa.h and mirrored by runner.py.

Each fwd/rev table has its own byte -> column map: the coarsest partition
of the bytes that this table distinguishes (identical columns merged after
minimisation), so a small DFA gets narrow rows; equal maps are emitted once.
The scanners of a set all share ONE map (the common refinement of their
own maps, see ``_share_columns``): the C runner steps several scanners in
one pass over the text, and a shared map costs one class lookup per byte
instead of one per scanner, for somewhat wider rows.
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
GROUP_STATES = 256
"""A scanner grows past this only for a single pattern (256: byte tables)."""


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
    exact: bool  # the scanner's events for it are exact (mode "exact")
    left_fix: bool  # a match may start left of the first end's leftmost start


@dataclass(frozen=True)
class Table:
    """One DFA laid out for emission: non-accepting states first (the dead
    state, if any, is state 0), accepting states from ``first_accept`` on."""

    next: tuple[tuple[int, ...], ...]  # [state][column]
    start: int
    dead: int | None
    first_accept: int
    accept: tuple[int, ...]  # output of states first_accept.. (scanner: pattern masks)
    classes: bytes  # byte -> column, 256 entries
    ncols: int  # byte columns (a scanner of a set with eof has one more)

    @property
    def nstates(self) -> int:
        return len(self.next)


@dataclass(frozen=True)
class DfaSet:
    patterns: tuple[PatternInfo, ...]
    eof: bool  # each scanner has one more column, index ncols, for the end of text
    scans: tuple[Table, ...]  # the scanners (one shared class map); each pattern in exactly one
    fwd: tuple[Table, ...]
    rev: tuple[Table, ...]


def _describe(i: int, p: Pattern) -> str:
    return f"pattern {i}" + (f" ({p.name})" if p.name else f" /{p.source}/")


def _scanner(
    items: Sequence[tuple[int, Regex, str]], blocks: list[int], limit: int, eof: bool
) -> D.Dfa:
    """The unanchored scanner of the patterns ``(index, regex, mode)``; its
    outputs are masks of the pattern indexes. ``mode`` is ``exact`` (a
    leading ``\\b`` folded into the DFA), ``loose`` (the runner's reverse scan
    alone checks the leading ``\\b``) or ``relaxed`` (loose, and counted
    repetitions widened to ``+``/``*``: a superset, so the scanner still
    reports every true end; the reverse scan rejects the extra ones)."""
    nfa = Nfa()
    plain = word_start = 0
    for i, rx, mode in items:
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


def _scanner_mode(rx: Regex, bounded: bool, blocks: list[int], limit: int) -> str:
    """How a pattern enters the scanner: exact if cheap, else loose, else
    relaxed.

    Folding a leading ``\\b`` into the scanner stops new threads inside
    words, so the DFA must remember which threads started where: for a
    counted pattern such as ``\\b(?:\\d[ -]?){12,18}\\d\\b`` that is exponential.
    Patterns like ``[1-9]\\d{1,14}`` are exponential even without ``\\b``
    (threads start at some digits only), hence ``relaxed``. Only patterns
    with a longest match get an inexact mode: the runner's reverse scan of
    a spurious event is then bounded by that length."""
    if not bounded:
        return "exact"
    budget = min(limit, SOLO_BUDGET)
    try:
        loose = _scanner([(0, rx, "loose")], blocks, budget, rx.word_end).nstates
    except D.TooManyStates:
        return "relaxed"
    if not rx.word_start:
        return "exact"
    try:
        _scanner([(0, rx, "exact")], blocks, min(budget, 4 * loose + 64), rx.word_end)
    except D.TooManyStates:
        return "loose"
    return "exact"


def _groups(
    items: list[tuple[int, Regex, str]],
    blocks: list[int],
    eof: bool,
    group_states: int,
    max_states: int,
) -> list[D.Dfa]:
    """Scanners for ``items``, first fit: a pattern joins the first scanner
    that stays within ``group_states`` states with it. Patterns that share
    bytes multiply each other's states in one DFA, so several small scanners
    (one table step each per byte) beat one huge table."""
    groups: list[tuple[list[tuple[int, Regex, str]], D.Dfa]] = []
    for item in items:
        for g, (members, _) in enumerate(groups):
            try:
                d = D.minimize(_scanner([*members, item], blocks, 4 * group_states, eof))
            except D.TooManyStates:
                continue
            if d.nstates <= group_states:
                groups[g] = ([*members, item], d)
                break
        else:
            groups.append(([item], D.minimize(_scanner([item], blocks, max_states, eof))))
    return [d for _, d in groups]


def _needs_left_fix(node: Node, fwd: D.Dfa, blocks: list[int], limit: int) -> bool:
    """Whether a match can start left of the leftmost start found for the
    first end, so that the runner must try the starts before it (step 3 in
    runner.py).

    That needs strings x, y, z (x, z non-empty) with xyz and y matches but
    xy not: the later match y ends first, the earlier one goes on. So the
    check is that Σ⁺L ∩ proper-prefixes(L) ⊆ L, on the product of the DFA
    of Σ⁺L with the minimal DFA of L. Most patterns pass (email, cards,
    keys); ``ab|xaby`` does not. On doubt (too many states) the answer is
    yes, which is always correct, only slower."""
    nfa = Nfa()
    s, e = nfa.add(node)
    comp = Compiled(nfa, blocks)
    nb = len(blocks) - 1
    inject = nfa.closure(s)
    dead = D.dead_state(fwd)
    grows = [any(t != dead for t in row) and q != dead for q, row in enumerate(fwd.next)]
    start = (0, False, fwd.start)
    seen = {start}
    todo = [start]
    while todo:
        states, started, q = todo.pop()
        if states >> e & 1 and not fwd.output[q] and grows[q]:
            return True
        mv = comp.moves(states | (inject if started else 0))
        for c in range(nb):
            key = (mv[c], True, fwd.next[q][c])
            if key not in seen:
                if len(seen) >= limit:
                    return True
                seen.add(key)
                todo.append(key)
    return False


def _anchored(node, blocks: list[int], limit: int) -> D.Dfa:
    nfa = Nfa()
    s, e = nfa.add(node)
    nfa.final[e] = 0
    comp = Compiled(nfa, blocks)
    nb = len(blocks) - 1
    return D.determinize(
        nfa.closure(s), lambda k: comp.moves(k)[:nb], lambda k: 1 if k >> e & 1 else 0, limit
    )


def _layout(dfa: D.Dfa, blocks: list[int], eof: bool) -> Table:
    """Merges the byte classes this DFA does not tell apart (its own class
    map: small DFAs then get narrow rows) and orders the states."""
    nb = len(blocks) - 1
    sig_ids: dict[tuple[int, ...], int] = {}
    local: list[int] = []
    columns: list[int] = []
    for c in range(nb):
        sig = tuple(row[c] for row in dfa.next)
        if sig not in sig_ids:
            sig_ids[sig] = len(columns)
            columns.append(c)
        local.append(sig_ids[sig])
    classes = bytearray(256)
    for c in range(nb):
        for b in range(256):
            if blocks[c] >> b & 1:
                classes[b] = local[c]
    ncols = len(columns)
    if eof:
        columns.append(nb)
    reduced = D.Dfa(
        tuple(tuple(row[c] for c in columns) for row in dfa.next), dfa.output, dfa.start
    )
    dead = D.dead_state(reduced)
    order = [dead] if dead is not None else []
    order += [s for s in range(reduced.nstates) if reduced.output[s] == 0 and s != dead]
    first_accept = len(order)
    order += [s for s in range(reduced.nstates) if reduced.output[s] != 0]
    p = D.permute(reduced, order)
    return Table(
        p.next,
        p.start,
        0 if dead is not None else None,
        first_accept,
        p.output[first_accept:],
        bytes(classes),
        ncols,
    )


def _share_columns(scans: Sequence[Table], eof: bool) -> tuple[Table, ...]:
    """The scanners re-laid over one common byte -> column map: two bytes
    share a column iff every scanner maps them to the same own column (so
    the columns are the common refinement). Rows keep the EOF column last."""
    ids: dict[tuple[int, ...], int] = {}
    reps: list[int] = []  # a byte of each shared column
    classes = bytearray(256)
    for b in range(256):
        sig = tuple(t.classes[b] for t in scans)
        if sig not in ids:
            ids[sig] = len(reps)
            reps.append(b)
        classes[b] = ids[sig]
    out = []
    for t in scans:
        cols = [t.classes[b] for b in reps] + ([t.ncols] if eof else [])
        rows = tuple(tuple(row[c] for c in cols) for row in t.next)
        out.append(
            Table(rows, t.start, t.dead, t.first_accept, t.accept, bytes(classes), len(reps))
        )
    return tuple(out)


def compile_set(
    patterns: Sequence[Pattern | str],
    *,
    max_states: int = MAX_STATES,
    group_states: int = GROUP_STATES,
    scan_only: bool = False,
) -> DfaSet:
    """Compiles up to 64 patterns into one DfaSet.

    ``scan_only``: build only the scanners (``fwd``/``rev`` empty, emitted as
    NULL), for sets used with the streaming API alone (which patterns
    matched, no spans). Every pattern is then scanned exactly (``relaxed``
    and ``loose`` modes need the reverse scan), and ``max_len`` and
    ``left_fix`` are not computed (None / True).

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

    fwd, rev = [], []
    for i, (fn, rn) in enumerate(zip(fwd_nodes, rev_nodes, strict=True)):
        if scan_only:
            break
        try:
            fwd.append(D.minimize(_anchored(fn, blocks, max_states)))
            rev.append(D.minimize(_anchored(rn, blocks, max_states)))
        except D.TooManyStates:
            raise RegexError(
                f"{_describe(i, pats[i])}: the DFA needs more than {max_states} states", 0, i
            ) from None
    if scan_only:
        longest: list[int | None] = [None] * len(regexes)
        left_fix = [True] * len(regexes)
        modes = ["exact"] * len(regexes)
    else:
        longest = [D.longest(f) for f in fwd]
        left_fix = [
            _needs_left_fix(rx.node, f, blocks, max_states)
            for rx, f in zip(regexes, fwd, strict=True)
        ]
        modes = [
            _scanner_mode(rx, n is not None, blocks, max_states)
            for rx, n in zip(regexes, longest, strict=True)
        ]
    items = [(i, rx, m) for i, (rx, m) in enumerate(zip(regexes, modes, strict=True))]
    try:
        scans = _groups(items, blocks, eof, group_states, max_states)
    except D.TooManyStates:
        culprits = []
        for item in items:
            try:
                _scanner([item], blocks, max_states, eof)
            except D.TooManyStates:
                culprits.append(item[0])
        names = ", ".join(_describe(i, pats[i]) for i in culprits)
        raise RegexError(
            f"{names}: the DFA needs more than {max_states} states; "
            "bound the repetitions or simplify the pattern",
            0,
            culprits[0] if len(culprits) == 1 else None,
        ) from None

    infos = tuple(
        PatternInfo(
            p.source, p.name, rx.ignore_case, rx.word_start, rx.word_end, n, m == "exact", fix
        )
        for p, rx, n, m, fix in zip(pats, regexes, longest, modes, left_fix, strict=True)
    )
    return DfaSet(
        patterns=infos,
        eof=eof,
        scans=_share_columns([_layout(t, blocks, eof) for t in scans], eof),
        fwd=tuple(_layout(f, blocks, False) for f in fwd),
        rev=tuple(_layout(r, blocks, False) for r in rev),
    )
