"""The run of `bench/dlp` (see that script's docstring)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _dlp_lib as dl
import _overhead_lib as lib
import _overhead_main as om
from aipol.compiler import injection, pipeline
from aipol.compiler.regex import find as reference_find
from aipol.envoy.ports import free_port

SECURE = lib.EXAMPLES / "secure.aipol"
EVAL = lib.ROOT / "tests" / "data" / "injection" / "eval.jsonl"
SIZES = ((1024, "1 KiB", "1k"), (64 * 1024, "64 KiB", "64k"), (1024 * 1024, "1 MiB", "1m"))
HEADLINE = "64k"  # the size of the scalar *_mb_s fields of the JSON line
CHAT_BYTES = 4096
GATEWAY_ENV = om.GATEWAY_ENV

TARGET_FILTER_MB_S = 300.0
TARGET_P50_ADDED_US = 150.0
DLP_STATS_RE = r"aipol\.dlp\."


def log(msg: str) -> None:
    print(f"[dlp] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/dlp", description=__doc__)
    ap.add_argument(
        "--budget", type=float, default=1.0, help="seconds per throughput figure (default 1)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="gateway rounds per setup (default 3)")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per 16-connection round")
    ap.add_argument(
        "--latency-duration", type=float, default=3.0, help="seconds per 1-connection round"
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per setup")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--quick", action="store_true", help="short everything (smoke test)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="gateway: also run secure.aipol without its dlp block (the DLP share of the cost)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.budget, args.rounds, args.duration = 0.12, 1, 1.0
        args.latency_duration, args.warmup = 1.0, 1.0
    if args.rounds < 1 or args.duration < 1 or args.latency_duration < 1 or args.connections < 1:
        ap.error("--rounds, --duration, --latency-duration and --connections must be >= 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except (lib.BenchError, dl.BenchError) as err:
        print(f"bench/dlp: FAILED: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/dlp: interrupted; processes stopped", file=sys.stderr)
        return 130


# -- 1. scan throughput -----------------------------------------------------------------


@dataclass
class SizeResult:
    size: int
    label: str
    key: str
    matches: dict[str, int]  # engine -> matches found
    mb_s: dict[str, float]  # engine -> MB/s


@dataclass
class Profile:
    size: int
    find_mb_s: float
    step_mb_s: float  # the scanners' passes only (aipol_dfa_step)
    fused_mb_s: float  # prototype: 4 scanners per pass, row-offset tables
    shared_mb_s: dict[int, float]  # prototype: + one shared column map, by width
    shared_columns: int
    skip_mb_s: float  # prototype: + a one-lookup loop over bytes that keep every scanner idle
    skipped: float  # share of the bytes that loop passed
    boring_bytes: int  # bytes (of 256) that keep every scanner idle after a word byte
    scanners: list[dict[str, Any]]


def throughput(
    args: argparse.Namespace, scan_set: dl.ScanSet, wasm: Path
) -> tuple[list[SizeResult], Profile, str]:
    re2 = dl.ensure_re2()
    re2_version = getattr(re2, "__version__", "") or _dist_version("google-re2")
    scanner = dl.WasmScanner(wasm)
    compiled_re = dl.compile_re(scan_set.patterns)
    compiled_re2 = dl.compile_re2(re2, scan_set.patterns)
    results: list[SizeResult] = []
    profile: Profile | None = None
    for size, label, key in SIZES:
        text = dl.prompt_text(size)
        scanner.load(text)
        found = scanner.find()
        if size <= 64 * 1024:  # the Python twin of dfa.c: same matches
            want = reference_find(scan_set.ds, text)
            if [tuple(m) for m in want] != scanner.matches():
                raise dl.BenchError(f"{label}: dfa.c and compiler/regex disagree")
        n_re = dl.finditer_all(compiled_re, text)
        n_re2 = dl.finditer_all(compiled_re2, text)
        engines: dict[str, Callable[[int], object]] = {
            "filter": scanner.find,
            "re": lambda r, t=text: [dl.finditer_all(compiled_re, t) for _ in range(r)],
            "re2": lambda r, t=text: [dl.finditer_all(compiled_re2, t) for _ in range(r)],
        }
        rates = {}
        for name, run in engines.items():
            # Fewer repeats where one scan is slow (re over 1 MiB: ~0.2 s).
            repeats = 2 if args.quick or (name == "re" and size >= 1 << 20) else 3
            rates[name] = dl.measure(run, size, budget=args.budget, repeats=repeats).mb_s
        log(
            f"{label:>6}: filter {rates['filter']:7.1f} MB/s, re {rates['re']:6.1f}, "
            f"re2 {rates['re2']:6.1f}  (matches {found} / {n_re} / {n_re2})"
        )
        results.append(
            SizeResult(size, label, key, {"filter": found, "re": n_re, "re2": n_re2}, rates)
        )
        if key == HEADLINE:
            profile = profile_scanners(args, scan_set, scanner, size)
    assert profile is not None
    return results, profile, re2_version


def profile_scanners(
    args: argparse.Namespace, scan_set: dl.ScanSet, sc: dl.WasmScanner, size: int
) -> Profile:
    """Where the runner's time goes: the passes (one per scanner) vs resolving
    matches, each scanner alone, and two prototypes of a faster loop."""
    budget = max(0.05, args.budget / 4)
    mask = sc.step()
    prototypes = [sc.fused(), sc.skip(), *(sc.shared(w) for w in (1, 2, 3, 4, 5, 6))]
    if any(m != mask for m in prototypes):
        raise dl.BenchError("a prototype scan loop disagrees with aipol_dfa_step")
    find = dl.measure(sc.find, size, budget=budget).mb_s
    step = dl.measure(sc.step, size, budget=budget).mb_s
    fused = dl.measure(sc.fused, size, budget=budget).mb_s
    shared = {
        w: dl.measure(lambda r, w=w: sc.shared(w, r), size, budget=budget).mb_s for w in (1, 4, 6)
    }
    skip = dl.measure(sc.skip, size, budget=budget).mb_s
    skipped = sc.skipped() / size
    rows = []
    for g in range(sc.nscan):
        t = scan_set.ds.scans[g]
        one_find = dl.measure(lambda r, g=g: sc.find_one(g, r), size, budget=budget / 2).mb_s
        one_step = dl.measure(lambda r, g=g: sc.step_one(g, r), size, budget=budget / 2).mb_s
        rows.append(
            {
                "scanner": g,
                "states": t.nstates,
                "columns": t.ncols,
                "patterns": scan_set.scanner_patterns(g),
                "detectors": scan_set.scanner_detectors(g),
                "find_mb_s": round(one_find, 1),
                "step_mb_s": round(one_step, 1),
            }
        )
    log(
        f"profile {size} B: find {find:.0f} MB/s, passes only {step:.0f}, "
        f"fused x4 {fused:.0f}, shared columns x1/x4/x6 "
        + "/".join(f"{v:.0f}" for v in shared.values())
        + f", skip loop {skip:.0f} ({skipped:.0%} of the bytes skipped)"
    )
    return Profile(
        size,
        find,
        step,
        fused,
        shared,
        sc.shared_columns,
        skip,
        skipped,
        sc.boring_bytes,
        rows,
    )


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


# -- 2. gateway overhead -----------------------------------------------------------------------


def without_dlp(work: Path, up_port: int) -> pipeline.Artifacts:
    """examples/secure.aipol less its `dlp request { ... }` block, compiled."""
    text, n = re.subn(r"\n  dlp request \{.*?\n  \}\n", "\n", SECURE.read_text(), flags=re.S)
    if n != 1:
        raise lib.BenchError("examples/secure.aipol: no `dlp request { ... }` block to remove")
    src = work / "nodlp" / "secure_nodlp.aipol"
    src.parent.mkdir(parents=True)
    src.write_text(text)
    shutil.copy(SECURE.parent / "keys.yaml", src.parent / "keys.yaml")
    return pipeline.compile_file(
        src,
        work / "nodlp" / "out",
        backend_urls=om.upstream_urls(src, f"http://127.0.0.1:{up_port}"),
        access_log_path="/dev/null",
    )


def gateway(
    args: argparse.Namespace, stack: ExitStack, art: pipeline.Artifacts, up_port: int, work: Path
) -> tuple[list[om.Setup], dict[str, dict[str, int]], dict[str, int], str, int]:
    wrk = lib.ensure_wrk()
    load_tool = lib.wrk_version(wrk)
    filter_cfg = lib.filter_config(art.envoy_yaml, free_port())
    setups = [
        om.Setup(
            "bare",
            "router only, plain route",
            lib.bare_config(filter_cfg, free_port(), lib.BENCH_BACKEND),
        ),
        om.Setup(
            "filter",
            "examples/secure.aipol: wasm (auth, params, DLP, deny list) -> buffer -> router",
            filter_cfg,
        ),
    ]
    if args.profile:
        nodlp = without_dlp(work, up_port)
        setups.append(
            om.Setup(
                "nodlp",
                "the same policy less its dlp block (the deny list still scans)",
                lib.filter_config(nodlp.envoy_yaml, free_port()),
            )
        )
    body = dl.secure_chat_body(CHAT_BYTES, lib.MODEL)
    script = work / "chat.lua"
    script.write_text(lib.wrk_script(body))

    log("starting upstream and gateway Envoys (concurrency 1 each)")
    upstream = om.start_envoy(stack, lib.upstream_config(up_port), dict(os.environ))
    env = dict(os.environ, **GATEWAY_ENV)
    dlp_hits: dict[str, int] = {}
    for s in setups:
        s.envoy = om.start_envoy(stack, s.config, env)
        status, _, reply = lib.preflight(s.envoy.listen_url, body)
        if status != 200:
            raise lib.BenchError(f"{s.name}: preflight got {status}: {reply[:300]!r}")
        names = lib.http_filter_names(s.config)
        if ("wasm" in names) != (s.name != "bare"):
            raise lib.BenchError(f"{s.name}: unexpected HTTP filters {names}")
        if s.name == "filter":
            dlp_hits = {k: v for k, v in s.envoy.stats(DLP_STATS_RE).items() if v}
            if not dlp_hits:
                raise lib.BenchError(
                    "filter: the preflight request triggered no DLP action (no aipol.dlp.* "
                    "counter moved): the prompt is not exercising redaction"
                )
    for s in setups:
        log(f"warm-up {s.name}: {args.warmup:g} s")
        om.measure(
            s,
            upstream,
            wrk,
            script,
            duration=args.warmup,
            connections=args.connections,
            record=False,
        )
        assert s.envoy is not None
        s.stats_before = s.envoy.stats(om.STATS_RE)
    for i in range(args.rounds):
        order = setups if i % 2 == 0 else setups[::-1]
        for s in order:
            c = om.measure_c1(s, wrk, script, duration=args.latency_duration)
            r = om.measure(
                s, upstream, wrk, script, duration=args.duration, connections=args.connections
            )
            log(
                f"round {i + 1}/{args.rounds} {s.name:6s} 1 conn p50 {c.p50_us:5.0f} us "
                f"p99 {c.p99_us:5.0f} us | {args.connections} conn {r.rps:7.0f} rps "
                f"p50 {r.p50_us:6.0f} us p99 {r.p99_us:6.0f} us"
            )
    deltas = {s.name: om.check_stats(s, lib.BENCH_BACKEND) for s in setups}
    for s in setups:
        assert s.envoy is not None
        s.envoy.stop()
    upstream.stop()
    return setups, deltas, dlp_hits, load_tool, len(body.encode())


# -- 3. injection ------------------------------------------------------------------------------


@dataclass
class InjectionEval:
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    threshold: int
    us_per_text: float

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def injection_eval() -> InjectionEval:
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line]
    threshold = injection.DEFAULT_THRESHOLD
    injection.score("warm up the compiled patterns")
    tp = fp = fn = tn = 0
    t0 = time.perf_counter()
    for r in rows:
        flagged = injection.score(r["text"])[0] >= threshold
        attack = r["label"] == "attack"
        tp += flagged and attack
        fp += flagged and not attack
        fn += attack and not flagged
        tn += not attack and not flagged
    dt = time.perf_counter() - t0
    return InjectionEval(len(rows), tp, fp, fn, tn, threshold, dt / max(1, len(rows)) * 1e6)


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="aipol-bench-dlp-"))
        stack.callback(shutil.rmtree, work, True)
        idle = om.idle_percent(0.5)
        log(f"CPUs: {os.cpu_count()}; idle before start: {idle:.0f}%")

        up_port = free_port()
        log("compile examples/secure.aipol (DFA sets, zig cc)")
        t0 = time.perf_counter()
        art = pipeline.compile_file(
            SECURE,
            work / "secure",
            backend_urls=om.upstream_urls(SECURE, f"http://127.0.0.1:{up_port}"),
            access_log_path="/dev/null",
        )
        compile_s = time.perf_counter() - t0
        scan_set = dl.request_dlp_set(art.policy)  # cached: compile_file built it
        wasm = dl.build_probe(art.c_source, scan_set.name, work / "probe")

        log(
            f"1. scan throughput: {len(scan_set.patterns)} patterns, "
            f"{len(scan_set.ds.scans)} scanners, {scan_set.table_bytes} table bytes"
        )
        sizes, profile, re2_version = throughput(args, scan_set, wasm)

        log("3. injection precision/recall (Python reference scorer)")
        inj = injection_eval()

        log("2. gateway overhead")
        setups, deltas, dlp_hits, load_tool, body_bytes = gateway(args, stack, art, up_port, work)
        idle_after = om.idle_percent(0.5)
        report(
            args,
            scan_set,
            sizes,
            profile,
            re2_version,
            setups,
            deltas,
            dlp_hits,
            load_tool,
            body_bytes,
            inj,
            idle,
            idle_after,
            compile_s,
            time.monotonic() - started,
        )
    return 0


# -- report -----------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    scan_set: dl.ScanSet,
    sizes: list[SizeResult],
    profile: Profile,
    re2_version: str,
    setups: list[om.Setup],
    deltas: dict[str, dict[str, int]],
    dlp_hits: dict[str, int],
    load_tool: str,
    body_bytes: int,
    inj: InjectionEval,
    idle_before: float,
    idle_after: float,
    compile_s: float,
    elapsed: float,
) -> None:
    mark = lib.mark
    table = om.fmt_table
    out: list[str] = []
    w = out.append
    w("aipol DLP cost (bench/dlp)")
    w("=" * 26)
    w(
        f"machine : {os.cpu_count()} cores, shared and unpinned; CPU idle before the run "
        f"{idle_before:.0f}%, at the end {idle_after:.0f}%"
        + ("  <- other work was running: expect noise" if idle_before < 85 else "")
    )
    w(
        f"policy  : examples/secure.aipol, request DLP set {scan_set.name}: "
        f"{len(scan_set.patterns)} patterns ({len(set(scan_set.detectors))} detectors: the 11 "
        f"built-in + employee_id), {len(scan_set.ds.scans)} scanners, "
        f"{scan_set.table_bytes} B of tables; compile_file {compile_s:.1f} s"
    )
    w("")

    # 1. throughput
    w(
        "1. scan throughput, MB/s (1e6 B/s), best of repeats; English-like prompts with one "
        "sensitive value per KiB"
    )
    w(
        "   filter = aipol_dfa_find (filters/dfa.c) on the generated tables in wasmtime; "
        f"re = Python re, re2 = google-re2 {re2_version}:"
    )
    w(
        "   finditer of every pattern over the text (they report leftmost-first matches, "
        "no validators)"
    )
    rows = []
    for r in sizes:
        f, p, p2 = r.mb_s["filter"], r.mb_s["re"], r.mb_s["re2"]
        ok = f >= TARGET_FILTER_MB_S and f > p and f > p2
        rows.append(
            [
                r.label,
                f"{f:.1f}",
                f"{p:.1f}",
                f"{p2:.1f}",
                f"{f / p:.2f}x",
                f"{f / p2:.2f}x",
                f"{r.matches['filter']}/{r.matches['re']}/{r.matches['re2']}",
                mark(ok),
            ]
        )
    w(
        table(
            [
                "text",
                "filter",
                "re",
                "re2",
                "filter/re",
                "filter/re2",
                "matches f/re/re2",
                "ok",
            ],
            rows,
            right={1, 2, 3, 4, 5, 6},
        )
    )
    filter_ok = all(r.mb_s["filter"] >= TARGET_FILTER_MB_S for r in sizes)
    beats = all(r.mb_s["filter"] > max(r.mb_s["re"], r.mb_s["re2"]) for r in sizes)
    w(
        f"   target: filter >= {TARGET_FILTER_MB_S:.0f} MB/s at every size {mark(filter_ok)}; "
        f"faster than re and re2 at every size {mark(beats)}"
    )
    w("")
    w(
        f"   profile at {profile.size // 1024} KiB: aipol_dfa_find {profile.find_mb_s:.0f} MB/s; "
        f"the scanner passes alone (aipol_dfa_step) {profile.step_mb_s:.0f} MB/s, so "
        f"{max(0.0, 1 - profile.find_mb_s / profile.step_mb_s) * 100:.0f}% of the time "
        "resolves matches"
    )
    w(
        "   and the rest is one pass per scanner, each alone costing about the same "
        "(a dependent table load per byte):"
    )
    total = sum(1 / s["find_mb_s"] for s in profile.scanners)
    srows = [
        [
            str(s["scanner"]),
            str(s["states"]),
            str(s["columns"]),
            str(s["patterns"]),
            ", ".join(s["detectors"]),
            f"{s['find_mb_s']:.0f}",
            f"{s['step_mb_s']:.0f}",
            f"{100 / s['find_mb_s'] / total:.0f}%",
        ]
        for s in profile.scanners
    ]
    w(
        table(
            [
                "scanner",
                "states",
                "cols",
                "pats",
                "detectors",
                "find MB/s",
                "pass MB/s",
                "share",
            ],
            srows,
            right={1, 2, 3, 5, 6, 7},
        )
    )
    w(
        "   prototypes (bench/lib/dlp_probe.c, same tables, same hit masks as aipol_dfa_step), "
        "passes only:"
    )
    w(
        f"     4 scanners per pass over row-offset (premultiplied) uint32 tables: "
        f"{profile.fused_mb_s:.0f} MB/s ({profile.fused_mb_s / profile.step_mb_s:.1f}x the passes)"
    )
    w(
        f"     + one shared byte -> column map ({profile.shared_columns} columns) for all "
        "scanners, 1/4/6 per pass: "
        + " / ".join(f"{v:.0f}" for v in profile.shared_mb_s.values())
        + " MB/s"
    )
    w(
        f"     + a skip loop (one [2][256] lookup per byte while every scanner stays idle; "
        f"{profile.boring_bytes} bytes keep them idle after a word byte): "
        f"{profile.skip_mb_s:.0f} MB/s, {profile.skipped:.0%} of the bytes skipped"
    )
    w("")

    # 2. gateway
    by = {s.name: s for s in setups}
    bare, filt = by["bare"], by["filter"]
    c1_p50_added = filt.c1_med("p50_us") - bare.c1_med("p50_us")
    c1_p99_added = filt.c1_med("p99_us") - bare.c1_med("p99_us")
    p50_added = filt.med("p50_us") - bare.med("p50_us")
    p99_added = filt.med("p99_us") - bare.med("p99_us")
    rps_ratio = filt.med("rps") / bare.med("rps")
    cpu_added = filt.cpu_med - bare.cpu_med
    all_200 = all(
        s.results and not any(r.status_errors for r in [*s.results, *s.c1]) for s in setups
    )
    w(
        f"2. gateway overhead of the security policy: {load_tool}, POST {lib.PATH}, "
        f"{body_bytes} B chat body (alice's key, PII in the prompt),"
    )
    w(
        f"   {args.rounds} round(s) per setup in turn (ABBA) after {args.warmup:g} s warm-up: "
        f"{args.latency_duration:g} s at 1 connection, {args.duration:g} s at "
        f"{args.connections}; medians over rounds"
    )
    w(
        "   bare = router only, plain route; filter = the compiled secure.aipol "
        "(wasm -> buffer -> router); same direct_response upstream"
    )
    grows = []
    for s in setups:
        grows.append(
            [
                s.name,
                f"{s.c1_med('p50_us'):.0f}",
                f"{s.c1_med('p99_us'):.0f}",
                f"{s.med('rps'):.0f}",
                f"{s.med('p50_us'):.0f}",
                f"{s.med('p99_us'):.0f}",
                f"{s.cpu_med:.1f}",
                str(sum(r.requests for r in [*s.results, *s.c1])),
            ]
        )
    w(
        table(
            [
                "setup",
                "1c p50 us",
                "1c p99 us",
                f"{args.connections}c req/s",
                f"{args.connections}c p50 us",
                f"{args.connections}c p99 us",
                "gw CPU us/req",
                "requests",
            ],
            grows,
        )
    )
    ok_p50 = c1_p50_added <= TARGET_P50_ADDED_US
    conns = args.connections
    w(
        table(
            ["metric (filter vs bare)", "value", "target", "ok"],
            [
                [
                    "p50 added, 1 connection (us)",
                    f"{c1_p50_added:.0f}",
                    f"<= {TARGET_P50_ADDED_US:.0f}",
                    mark(ok_p50),
                ],
                ["p99 added, 1 connection (us)", f"{c1_p99_added:.0f}", "(info)", ""],
                [f"p50 added, {conns} connections (us)", f"{p50_added:.0f}", "(info)", ""],
                [f"p99 added, {conns} connections (us)", f"{p99_added:.0f}", "(info)", ""],
                ["rps ratio (filter/bare)", f"{rps_ratio:.3f}", "(info)", ""],
                ["gateway CPU added per request (us)", f"{cpu_added:.1f}", "(info)", ""],
            ],
            right={1},
        )
    )
    w(
        "   every response a 200: "
        + ("yes" if all_200 else "NO")
        + " (wrk non-2xx = 0, gateway 4xx/5xx = 0, every request reached backend_"
        + lib.BENCH_BACKEND
        + ": "
        + ", ".join(
            f"{name} {d.get(f'cluster.backend_{lib.BENCH_BACKEND}.upstream_rq_200', 0)}"
            for name, d in deltas.items()
        )
        + ")"
    )
    if "nodlp" in by:
        nod = by["nodlp"]
        nod_p50 = nod.c1_med("p50_us") - bare.c1_med("p50_us")
        nod_cpu = nod.cpu_med - bare.cpu_med
        w(
            f"   profile: the policy less its dlp block adds {nod_p50:.0f} us at p50 "
            f"(1 connection) and {nod_cpu:.1f} us of gateway CPU per request: DLP is "
            f"{c1_p50_added - nod_p50:.0f} us of the p50 and {cpu_added - nod_cpu:.1f} us of CPU"
        )
    w(
        "   DLP acted on the preflight request: "
        + ", ".join(f"{k} {v}" for k, v in sorted(dlp_hits.items()))
    )
    w("")

    # 3. injection
    w(
        f"3. prompt injection, {EVAL.relative_to(lib.ROOT)} ({inj.n} texts), threshold "
        f"{inj.threshold}: precision {inj.precision:.3f}, recall {inj.recall:.3f} "
        f"(tp {inj.tp}, fp {inj.fp}, fn {inj.fn}, tn {inj.tn}; {inj.us_per_text:.0f} us/text)"
    )
    w(
        "   NOTE: the prompt guard is not compiled into the filter yet: these are the numbers "
        "of the Python reference model"
    )
    w("   (aipol.compiler.injection.score), not of filter.wasm.")
    w(f"total run time: {elapsed:.0f} s")

    head = next(r for r in sizes if r.key == HEADLINE)
    result: dict[str, Any] = {
        "filter_mb_s": round(head.mb_s["filter"], 1),
        "re_mb_s": round(head.mb_s["re"], 1),
        "re2_mb_s": round(head.mb_s["re2"], 1),
        "mb_s_size": HEADLINE,
        "filter_mb_s_by_size": {r.key: round(r.mb_s["filter"], 1) for r in sizes},
        "re_mb_s_by_size": {r.key: round(r.mb_s["re"], 1) for r in sizes},
        "re2_mb_s_by_size": {r.key: round(r.mb_s["re2"], 1) for r in sizes},
        "filter_over_re": {r.key: round(r.mb_s["filter"] / r.mb_s["re"], 2) for r in sizes},
        "filter_over_re2": {r.key: round(r.mb_s["filter"] / r.mb_s["re2"], 2) for r in sizes},
        "patterns": len(scan_set.patterns),
        "scanners": len(scan_set.ds.scans),
        "table_bytes": scan_set.table_bytes,
        "profile": {
            "size": profile.size,
            "find_mb_s": round(profile.find_mb_s, 1),
            "passes_mb_s": round(profile.step_mb_s, 1),
            "fused4_mb_s": round(profile.fused_mb_s, 1),
            "shared_columns": profile.shared_columns,
            "shared_mb_s": {str(k): round(v, 1) for k, v in profile.shared_mb_s.items()},
            "skip_mb_s": round(profile.skip_mb_s, 1),
            "skipped": round(profile.skipped, 3),
            "scanner_find_mb_s": [s["find_mb_s"] for s in profile.scanners],
        },
        "p50_added_us_4k": round(c1_p50_added, 1),
        "p99_added_us_4k": round(c1_p99_added, 1),
        "p50_added_us_4k_c16": round(p50_added, 1),
        "p99_added_us_4k_c16": round(p99_added, 1),
        "p50_c1_bare_us": bare.c1_med("p50_us"),
        "p50_c1_filter_us": filt.c1_med("p50_us"),
        "rps_ratio": round(rps_ratio, 4),
        "rps_bare": round(bare.med("rps"), 1),
        "rps_filter": round(filt.med("rps"), 1),
        "cpu_added_us_per_req": round(cpu_added, 1),
        "all_200": all_200,
        "body_bytes": body_bytes,
        "injection_precision": round(inj.precision, 4),
        "injection_recall": round(inj.recall, 4),
        "injection_source": "python-reference",
        "injection_threshold": inj.threshold,
        "targets_met": {
            "filter_mb_s": filter_ok,
            "filter_beats_re_and_re2": beats,
            "p50_added_us_4k": ok_p50,
        },
        **(
            {
                "p50_added_us_4k_nodlp": round(
                    by["nodlp"].c1_med("p50_us") - bare.c1_med("p50_us"), 1
                ),
                "cpu_added_us_per_req_nodlp": round(by["nodlp"].cpu_med - bare.cpu_med, 1),
            }
            if "nodlp" in by
            else {}
        ),
        "rounds": args.rounds,
        "quick": bool(args.quick),
        "load_tool": load_tool,
        "idle_pct_before": round(idle_before, 1),
        "elapsed_s": round(elapsed, 1),
    }
    w(json.dumps(result, separators=(",", ":"), ensure_ascii=False))
    print("\n".join(out), flush=True)
