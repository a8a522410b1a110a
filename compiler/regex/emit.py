"""DfaSet -> C source (``static const`` tables + an ``aipol_dfa_set``
initialiser for filters/dfa.h), its size, and the test blob.

fwd/rev transition tables are ``uint8_t`` when a DFA has at most 256
states and ``uint16_t`` otherwise (the state limit keeps them under 65536):
most detector DFAs are small, and the byte tables halve their size.

Scanner tables (``aipol_dfa_scan``) hold *row offsets* instead of states:
entry = next_state * scan_cols, so the runner's step is one load,
``st = next[st + col]``, with no multiply in the byte loop. They are
``uint16_t`` when every offset of the set's scanners fits (nstates *
scan_cols <= 65536) and ``uint32_t`` otherwise, one width for the whole set
(the runner steps the scanners together).
"""

from __future__ import annotations

import struct

from .tables import DfaSet, Table

NONE = 0xFFFFFFFF
# wasm32 sizes of the structs in filters/dfa.h.
SIZEOF_DFA = 36
SIZEOF_SCAN = 24
SIZEOF_PATTERN = 8
SIZEOF_SET = 40


def scan_cols(ds: DfaSet) -> int:
    """Row width of every scanner: the shared byte columns (+ EOF)."""
    return ds.scans[0].ncols + int(ds.eof)


def scan_width(ds: DfaSet) -> int:
    """Bytes per scanner entry (row offset): 2, or 4 if one does not fit."""
    return 2 if max(t.nstates for t in ds.scans) * scan_cols(ds) <= 65536 else 4


def _scan_flat(ds: DfaSet, t: Table) -> list[int]:
    n = scan_cols(ds)
    return [x * n for row in t.next for x in row]


def width(t: Table) -> int:
    return 1 if t.nstates <= 256 else 2


def cols(ds: DfaSet, key: str, t: Table) -> int:
    """Row width: the byte columns, plus the EOF column of a scanner."""
    return t.ncols + (1 if ds.eof and key.startswith("scan") else 0)


def _tables(ds: DfaSet) -> list[tuple[str, Table]]:
    """The fwd/rev tables (the scanners have their own layout)."""
    out = [(f"fwd{i}", t) for i, t in enumerate(ds.fwd)]
    out += [(f"rev{i}", t) for i, t in enumerate(ds.rev)]
    return out


def _class_maps(ds: DfaSet) -> list[bytes]:
    """The distinct byte -> column maps, in first-use order (the scanners'
    shared map first)."""
    maps: list[bytes] = [ds.scans[0].classes]
    for _, t in _tables(ds):
        if t.classes not in maps:
            maps.append(t.classes)
    return maps


def table_bytes(ds: DfaSet) -> int:
    """Bytes of constant data the set adds to the filter (tables + structs)."""
    tables = _tables(ds)
    n = SIZEOF_SET + len(ds.patterns) * SIZEOF_PATTERN + len(tables) * SIZEOF_DFA
    n += len(ds.scans) * SIZEOF_SCAN + 256 * len(_class_maps(ds))
    for key, t in tables:
        n += t.nstates * cols(ds, key, t) * width(t)
    n += sum(t.nstates for t in ds.scans) * scan_cols(ds) * scan_width(ds)
    return n + 8 * sum(len(t.accept) for t in ds.scans)


def _comment(text: str) -> str:
    safe = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    return safe.replace("*/", "*\\/")


def _array(ctype: str, name: str, values: list[int], per_line: int, suffix: str = "") -> str:
    lines = []
    for i in range(0, len(values), per_line):
        lines.append("  " + ", ".join(f"{v}{suffix}" for v in values[i : i + per_line]) + ",")
    return f"static const {ctype} {name}[{len(values)}] = {{\n" + "\n".join(lines) + "\n};\n"


def _flat(t: Table) -> list[int]:
    return [x for row in t.next for x in row]


def _dfa_init(prefix: str, key: str, t: Table, ncols: int, cmap: int) -> str:
    arr = f"{prefix}_{key}_next"
    n8, n16 = (arr, "NULL") if width(t) == 1 else ("NULL", arr)
    dead = NONE if t.dead is None else t.dead
    return (
        f"{{{t.nstates}u, {ncols}u, {t.start}u, {dead}u, {t.first_accept}u, "
        f"{prefix}_cls{cmap}, {n8}, {n16}, NULL}}"
    )


def _scan_init(ds: DfaSet, prefix: str, i: int, t: Table) -> str:
    arr = f"{prefix}_scan{i}_next"
    n16, n32 = (arr, "NULL") if scan_width(ds) == 2 else ("NULL", arr)
    acc = f"{prefix}_scan{i}_accept" if t.accept else "NULL"
    n = scan_cols(ds)
    return f"{{{t.nstates}u, {t.start * n}u, {t.first_accept * n}u, {n16}, {n32}, {acc}}}"


def emit_c(ds: DfaSet, name: str) -> str:
    """C definitions of the set ``name`` (a ``static const aipol_dfa_set``);
    the including file must include "dfa.h" first. Deterministic."""
    out = [
        f"/* DFA set {name}: {len(ds.patterns)} pattern(s), {len(ds.scans)} scanner(s), "
        f"{table_bytes(ds)} bytes of tables.\n"
    ]
    for i, p in enumerate(ds.patterns):
        flags = "".join(
            f for f, on in (("i", p.ignore_case), ("<", p.word_start), (">", p.word_end)) if on
        )
        mx = "unbounded" if p.max_len is None else f"max {p.max_len} bytes"
        # Escape the whole line: a pattern ending in `*` would close the
        # comment with the slash that follows it.
        out.append(" *   " + _comment(f"{i}: /{p.source}/{flags} ({mx})") + "\n")
    out.append(" */\n")
    maps = _class_maps(ds)
    for k, m in enumerate(maps):
        out.append(_array("uint8_t", f"{name}_cls{k}", list(m), 32))
    sctype = "uint16_t" if scan_width(ds) == 2 else "uint32_t"
    for i, t in enumerate(ds.scans):
        out.append(_array(sctype, f"{name}_scan{i}_next", _scan_flat(ds, t), 32))
    for key, t in _tables(ds):
        ctype = "uint8_t" if width(t) == 1 else "uint16_t"
        out.append(_array(ctype, f"{name}_{key}_next", _flat(t), 32))
    for i, t in enumerate(ds.scans):
        if t.accept:
            out.append(_array("uint64_t", f"{name}_scan{i}_accept", list(t.accept), 4, "ull"))
    n = len(ds.patterns)
    inits = ",\n  ".join(_scan_init(ds, name, i, t) for i, t in enumerate(ds.scans))
    out.append(f"static const aipol_dfa_scan {name}_scan[{len(ds.scans)}] = {{\n  {inits},\n}};\n")
    for kind, tables in (("fwd", ds.fwd), ("rev", ds.rev)):
        if not tables:  # a scan-only set: the pointers are NULL
            continue
        inits = ",\n  ".join(
            _dfa_init(name, f"{kind}{i}", t, cols(ds, kind, t), maps.index(t.classes))
            for i, t in enumerate(tables)
        )
        out.append(f"static const aipol_dfa {name}_{kind}[{len(tables)}] = {{\n  {inits},\n}};\n")
    pats = ",\n  ".join(
        f"{{{NONE if p.max_len is None else p.max_len}u, {int(p.word_start)}, {int(p.word_end)}, "
        f"{int(p.exact)}, {int(p.left_fix)}}}"
        for p in ds.patterns
    )
    out.append(f"static const aipol_dfa_pattern {name}_patterns[{n}] = {{\n  {pats},\n}};\n")
    fwd = f"{name}_fwd" if ds.fwd else "NULL"
    rev = f"{name}_rev" if ds.rev else "NULL"
    out.append(
        f"static const aipol_dfa_set {name} = {{\n"
        f"  {n}u, {len(ds.scans)}u, {int(ds.eof)}u, {scan_cols(ds)}u, "
        f"{int(scan_width(ds) == 4)}u, {name}_cls0,\n"
        f"  {name}_scan, {fwd}, {rev}, {name}_patterns,\n}};\n"
    )
    return "".join(out)


def serialize(ds: DfaSet) -> bytes:
    """The set as one little-endian blob, read by the test loader in dfa.c
    (``aipol_test_dfa_load``); sections are 8-byte aligned."""

    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 8)

    sw = scan_width(ds)
    parts = [
        struct.pack("<4I", len(ds.patterns), len(ds.scans), int(ds.eof), scan_cols(ds)),
        struct.pack("<2I", int(sw == 4), 0),
    ]
    for p in ds.patterns:
        mx = NONE if p.max_len is None else p.max_len
        flags = int(p.word_start) | int(p.word_end) << 1 | int(p.exact) << 2 | int(p.left_fix) << 3
        parts.append(struct.pack("<2I", mx, flags))
    parts.append(ds.scans[0].classes)
    n = scan_cols(ds)
    for t in ds.scans:
        parts.append(struct.pack("<4I", t.nstates, t.start * n, t.first_accept * n, len(t.accept)))
        flat = _scan_flat(ds, t)
        parts.append(struct.pack(f"<{len(flat)}{'H' if sw == 2 else 'I'}", *flat))
        parts.append(struct.pack(f"<{len(t.accept)}Q", *t.accept))
    for key, t in _tables(ds):
        accept = ()
        dead = NONE if t.dead is None else t.dead
        parts.append(
            struct.pack(
                "<8I",
                t.nstates,
                cols(ds, key, t),
                t.start,
                dead,
                t.first_accept,
                width(t),
                len(accept),
                0,
            )
        )
        parts.append(t.classes)
        fmt = "B" if width(t) == 1 else "H"
        flat = _flat(t)
        parts.append(struct.pack(f"<{len(flat)}{fmt}", *flat))
        parts.append(struct.pack(f"<{len(accept)}Q", *accept))
    return b"".join(pad(p) for p in parts)
