"""prompt_guard tables: the families of compiler/injection.py -> C static data for filters/guard.c.

Every pattern gets its own scan-only DFA (`compile_set(..., scan_only=True)`: no forward or
reverse tables, every pattern scanned exactly). One set per family would be smaller in states
but its scanners share one byte -> column map, whose common refinement makes the rows wide:
about 1.4 MB of tables. Alone, a pattern's scanner keeps a narrow map, and its rows compress
well: a row is stored as a default target plus the columns that differ (or as another
state's row plus the columns that differ; see guard.h): the 201 scanners take about 600 KB
as dense uint16 rows, and the whole guard (tables and filters/guard.c) adds about 160 KB to
the filter (examples/secure.aipol: 309 KB -> 472 KB). Building them takes about 1.5 s.

The tables depend only on the patterns and on the regex compiler, so the emitted C is cached
in `$XDG_CACHE_HOME/aipol/` (default `~/.cache/aipol/`) under a hash of both.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from functools import cache
from pathlib import Path

from aipol.compiler import injection as inj
from aipol.compiler import regex
from aipol.compiler.regex.tables import Table

FEATURE_ORDER = (
    "zero_width_in_word",
    "mixed_script_word",
    "tag_run",
    "base64_blob",
    "base64_instruction",
)
"""The feature order guard.c assumes (AIPOL_GUARD_NFEATURES values)."""

NAME = "aipol_guard_model_data"
FORMAT = "guard-tables-1"


def _cstr(text: str) -> str:
    from aipol.compiler.codegen import cstr

    return cstr(text)


def _compress(t: Table) -> tuple[bool, list[int], bytes]:
    """(wide, offsets, records) of one scanner; see aipol_guard_scanner."""
    rows = [row[: t.ncols] for row in t.next]  # the text is framed by "\n": no EOF column
    n = len(rows)
    wide = n > 256
    w = 2 if wide else 1

    def enc(v: int) -> bytes:
        return v.to_bytes(w, "little")

    is_base = [False] * n
    recs = bytearray()
    offs = [0]
    for i, r in enumerate(rows):
        dflt = Counter(r).most_common(1)[0][0]
        base, exc = i, [(c, x) for c, x in enumerate(r) if x != dflt]
        for j in range(i):
            if not is_base[j]:
                continue
            d = [(c, x) for c, x in enumerate(r) if x != rows[j][c]]
            if len(d) < len(exc):
                base, exc = j, d
        if base == i:
            is_base[i] = True
        recs += enc(base) + enc(dflt)
        for c, x in exc:
            recs += bytes([c]) + enc(x)
        offs.append(len(recs))
    if len(recs) > 0xFFFF:
        raise ValueError("guard scanner too large")
    return wide, offs, bytes(recs)


def _array(ctype: str, name: str, values, per_line: int = 24) -> str:
    vals = list(values)
    lines = [
        "  " + ", ".join(str(v) for v in vals[i : i + per_line]) + ","
        for i in range(0, len(vals), per_line)
    ]
    return f"static const {ctype} {name}[{len(vals)}] = {{\n" + "\n".join(lines) + "\n};\n"


def _generate() -> str:
    if [f.name for f in inj.FEATURES] != list(FEATURE_ORDER):
        raise ValueError("injection.FEATURES changed order: update guard.c and FEATURE_ORDER")
    if len(inj.FAMILIES) > 64:
        raise ValueError("at most 64 prompt_guard families")
    out = [f"/* prompt_guard tables ({FORMAT}), generated from compiler/injection.py. */\n"]
    maps: list[bytes] = []
    scanners: list[str] = []
    k = 0
    for fi, fam in enumerate(inj.FAMILIES):
        for src in fam.patterns:
            ds = regex.compile_set(
                [regex.Pattern(src, ignore_case=True, name=fam.name)], scan_only=True
            )
            (t,) = ds.scans
            if any(a == 0 for a in t.accept):
                raise ValueError("unexpected accept mask")
            wide, offs, recs = _compress(t)
            if t.classes not in maps:
                maps.append(t.classes)
                out.append(_array("uint8_t", f"{NAME}_cls{len(maps) - 1}", t.classes, 32))
            out.append(_array("uint16_t", f"{NAME}_offs{k}", offs))
            out.append(_array("uint8_t", f"{NAME}_recs{k}", recs, 32))
            scanners.append(
                f"{{{fi}u, {int(wide)}u, {t.start}u, {t.first_accept}u, {t.nstates}u, "
                f"{NAME}_cls{maps.index(t.classes)}, {NAME}_offs{k}, {NAME}_recs{k}}}"
            )
            k += 1
    out.append(
        f"static const aipol_guard_scanner {NAME}_scan[{k}] = {{\n  "
        + ",\n  ".join(scanners)
        + ",\n};\n"
    )
    fams = ",\n  ".join(f"{{{_cstr(f.name)}, {len(f.name)}u, {f.weight}u}}" for f in inj.FAMILIES)
    out.append(f"static const aipol_guard_item {NAME}_families[] = {{\n  {fams},\n}};\n")
    feats = ",\n  ".join(f"{{{_cstr(f.name)}, {len(f.name)}u, {f.weight}u}}" for f in inj.FEATURES)
    out.append(f"static const aipol_guard_item {NAME}_features[] = {{\n  {feats},\n}};\n")
    out.append(_array("uint32_t", f"{NAME}_feature_min", [f.min_count for f in inj.FEATURES]))
    glyphs = [b for key, v in inj.HOMOGLYPHS.items() for b in (*key, v)]
    out.append(_array("uint8_t", f"{NAME}_homoglyphs", glyphs, 30))
    out.append(
        f"static const aipol_guard_model {NAME} = {{\n"
        f"  {k}u, {NAME}_scan, {len(inj.FAMILIES)}u, {NAME}_families, {NAME}_features,\n"
        f"  {NAME}_feature_min, {NAME}_homoglyphs, {len(inj.HOMOGLYPHS)}u,\n"
        f"  {inj.B64_MIN_RUN}u, {inj.B64_BLOB_RUN}u, {inj.B64_MAX_RUNS}u, {inj.B64_MAX_CHARS}u, "
        f"{inj.B64_MIN_DECODED}u,\n}};\n"
    )
    return "".join(out)


def cache_key() -> str:
    """Hash of what the tables depend on: the model and the regex compiler."""
    h = hashlib.sha256(FORMAT.encode())
    here = Path(__file__).resolve().parent
    for path in [here / "injection.py", here / "guard.py", *sorted((here / "regex").glob("*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aipol"


@cache
def model_c() -> str:
    """The C definitions of `aipol_guard_model_data` (cached on disk)."""
    path = cache_dir() / f"guard-{cache_key()}.c"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    text = _generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # no cache: compile every time
    return text
