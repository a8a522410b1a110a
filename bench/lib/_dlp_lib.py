"""Helpers of `bench/dlp`: prompts, the three scan engines, timing, the chat body.

Engines, all on the pattern set the compiler builds for the request DLP of
examples/secure.aipol (the `ScanText` op of its route, 27 patterns: every
built-in detector plus the policy's `employee_id`):

* filter: the compiled DFA set, as static tables in the generated policy C,
  scanned by filters/dfa.c (`aipol_dfa_find`) inside wasmtime. The module is
  the generated policy.c + the runtime + bench/lib/dlp_probe.c (exports that run
  the scan N times in one call), built with the compiler's own flags;
* re: Python's `re`, each pattern compiled as a bytes pattern (with
  re.IGNORECASE where the detector is case-insensitive), `finditer` over the
  text, every pattern;
* re2: `google-re2` (module `re2`), the same patterns and loop.

The engines do not report the same matches (re/re2 are leftmost-first,
dfa.c is leftmost-longest, and neither runs the validators): the numbers
compare the cost of finding every candidate of every detector in a text.
"""

from __future__ import annotations

import importlib
import json
import random
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
from aipol.compiler import build, codegen, lower
from aipol.compiler import ir as aipol_ir
from aipol.compiler.regex import DfaSet
from aipol.compiler.regex.emit import table_bytes

BENCH_DIR = Path(__file__).resolve().parent
PROBE_C = BENCH_DIR / "dlp_probe.c"
MATCH = struct.Struct("<3I")
MAX_OUT = 4096  # match slots handed to aipol_dfa_find (more than any text here has)


class BenchError(RuntimeError):
    """The benchmark is not valid (an engine disagrees, a response was not 200...)."""


# -- the pattern set -------------------------------------------------------------------


@dataclass(frozen=True)
class ScanSet:
    name: str  # the C name of the set in the generated policy (`dlp_r0`)
    patterns: tuple[tuple[str, bool], ...]  # (source, case-insensitive)
    detectors: tuple[str, ...]  # per pattern
    ds: DfaSet

    @property
    def table_bytes(self) -> int:
        return table_bytes(self.ds)

    def scanner_detectors(self, g: int) -> list[str]:
        """Detectors with a pattern in scanner g (in pattern order, unique)."""
        mask = 0
        for m in self.ds.scans[g].accept:
            mask |= m
        seen: list[str] = []
        for i, det in enumerate(self.detectors):
            if mask >> i & 1 and det not in seen:
                seen.append(det)
        return seen

    def scanner_patterns(self, g: int) -> int:
        mask = 0
        for m in self.ds.scans[g].accept:
            mask |= m
        return bin(mask).count("1")


def request_dlp_set(policy: aipol_ir.Policy) -> ScanSet:
    """The DLP `ScanText` op of the policy's first route that has one."""
    lowered = lower.lower(policy)
    for route in lowered.routes:
        for op in route.body_ops:
            if isinstance(op, lower.ScanText) and op.name.startswith("dlp_"):
                return ScanSet(
                    op.name,
                    op.patterns,
                    tuple(r.detector for r in op.rules),
                    codegen.compiled_scan_set(op),
                )
    raise BenchError("the policy has no request DLP")


# -- prompts -----------------------------------------------------------------------------

_WORDS = """
the of and to a in is it you that he was for on are with as I his they be at one have this
from or had by hot word but what some we can out other were all there when up use your how said
an each she which do their time if will way about many then them write would like so these her
long make thing see him two has look more day could go come did number sound no most people my
over know water than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play small end
put home read hand port large spell add even land here must big high such follow act why ask
men change went light kind off need house picture try us again animal point mother world near
build self earth father head stand own page should country found answer school grow study still
learn plant cover food sun four between state keep eye never last let thought city tree cross
farm hard start might story saw far sea draw left late run while press close night real life
few north open seem together next white children begin got walk example ease paper group always
music those both mark often letter until mile river car feet care second book carry took science
eat room friend began idea fish mountain stop once base hear horse cut sure watch color face
wood main enough plain girl usual young ready above ever red list though feel talk bird soon
body dog family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told knew pass since
top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple
several vowel toward war lay against pattern slow center love person money serve appear road
map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark
machine note wait plan figure star box noun field rest correct able pound done beauty drive
stood contain front teach week final gave green oh quick develop ocean warm free minute strong
special mind behind clear tail produce fact street inch multiply nothing course stay wheel full
force blue object decide surface deep moon island foot system busy test record boat common gold
possible plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat
snow tire bring yes distant fill east paint language among customer invoice report summary
quarterly revenue model prompt assistant explain draft email meeting schedule contract review
""".split()

_NUMBERS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: str(r.randint(1990, 2030)),  # a year
    lambda r: str(r.randint(2, 99)),
    lambda r: f"{r.randint(1, 9)}.{r.randint(0, 99)}%",
    lambda r: f"${r.randint(1, 999)},{r.randint(0, 999):03d}",
    lambda r: f"{r.randint(1, 12)}:{r.randint(0, 59):02d}",
    lambda r: f"{r.randint(1, 28)}/{r.randint(1, 12)}/{r.randint(2020, 2026)}",
)

# Sensitive values of every detector; (detector, text). Cards pass Luhn, the
# IBAN mod-97, the SSN the area/group rules.
SENSITIVE: tuple[tuple[str, str], ...] = (
    ("email", "jane.doe@example.com"),
    ("email", "ops-team+alerts@corp.example.org"),
    ("phone", "+1 415 555 0100"),
    ("phone", "(415) 555-0132"),
    ("phone", "+44 20 7946 0958"),
    ("ipv4", "10.20.30.40"),
    ("ipv6", "2001:db8:85a3::8a2e:370:7334"),
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "5555-5555-5555-4444"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("us_ssn", "123-45-6789"),
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "sk-proj-abcdefghijklmnopqrstuvwx1234"),
    ("api_key", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"),
    ("employee_id", "EMP-004211"),
)

_FRAMES = (
    "Please reach {} before Friday.",
    "The record lists {} as the contact.",
    "Use {} for the migration test.",
    "Replace {} in the draft.",
)


def _sentence(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(6, 18)):
        if rng.random() < 0.05:
            words.append(rng.choice(_NUMBERS)(rng))
        else:
            words.append(rng.choice(_WORDS))
        if rng.random() < 0.06:
            words[-1] += ","
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words).rstrip(",") + rng.choice(".....?!")


def prompt_text(size: int, *, seed: int = 1, every: int = 1024, sensitive: bool = True) -> bytes:
    """Deterministic English-like text of exactly `size` bytes (ASCII), a
    paragraph break now and then, with one sensitive value (from SENSITIVE, in
    turn) per `every` bytes on average, at least two when sensitive."""
    rng = random.Random(seed)
    parts: list[str] = []
    n = 0
    k = 0
    want = max(2, size // every) if sensitive else 0
    next_at = [int((i + 0.5) * size / want) for i in range(want)] if want else []
    while n < size or next_at:
        if next_at and n >= next_at[0]:
            next_at.pop(0)
            value = SENSITIVE[k % len(SENSITIVE)][1]
            k += 1
            s = rng.choice(_FRAMES).format(value)
        else:
            s = _sentence(rng)
        if rng.random() < 0.08:
            s += "\n\n"
        else:
            s += " "
        parts.append(s)
        n += len(s)
    text = "".join(parts)[:size]
    data = text.encode("ascii")
    assert len(data) == size
    return data


# -- engines ---------------------------------------------------------------------------------


def build_probe(c_source: str, set_name: str, out_dir: Path) -> Path:
    """The wasm module: generated policy.c + bench/lib/dlp_probe.c + the runtime."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "policy_probe.c"
    src.write_text(
        c_source + f'\n#define BENCH_SET {set_name}\n#include "dlp_probe.c"\n', encoding="utf-8"
    )
    return build.compile_wasm(
        [*build.runtime_sources(), src], out_dir / "probe.wasm", include_dirs=[BENCH_DIR]
    )


class WasmScanner:
    """One wasmtime instance of the probe module; the text lives in its memory."""

    def __init__(self, wasm: Path) -> None:
        self.engine = wasmtime.Engine()
        module = wasmtime.Module.from_file(self.engine, str(wasm))
        self.store = wasmtime.Store(self.engine)
        linker = wasmtime.Linker(self.engine)
        linker.define_unknown_imports_as_traps(module)  # the probes call no host function
        self.instance = linker.instantiate(self.store, module)
        self.ex = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = self.ex["memory"]
        self.out = self._malloc(MATCH.size * MAX_OUT)
        self.text = 0
        self.len = 0
        self.nscan = self.call("aipol_bench_nscan")
        if self.call("aipol_bench_fused_init") != self.nscan:
            raise BenchError("aipol_bench_fused_init failed")
        self.shared_columns = self.call("aipol_bench_shared_init")
        if not self.shared_columns:
            raise BenchError("aipol_bench_shared_init failed")
        self.boring_bytes = self.call("aipol_bench_skip_init")

    def call(self, name: str, *args: int) -> int:
        return self.ex[name](self.store, *args) & 0xFFFFFFFF

    def _malloc(self, n: int) -> int:
        p = self.call("malloc", n)
        if not p:
            raise BenchError("guest malloc failed")
        return p

    def load(self, text: bytes) -> None:
        """Copies `text` into guest memory (one buffer, reused)."""
        if len(text) > self.len:
            self.text = self._malloc(len(text))
        self.memory.write(self.store, text, self.text)
        self.len = len(text)

    def find(self, rounds: int = 1) -> int:
        return self.call("aipol_bench_find", self.text, self.len, self.out, MAX_OUT, rounds)

    def matches(self) -> list[tuple[int, int, int]]:
        n = self.find(1)
        if n > MAX_OUT:
            raise BenchError(f"{n} matches: raise MAX_OUT")
        raw = bytes(self.memory.read(self.store, self.out, self.out + MATCH.size * n))
        return [MATCH.unpack_from(raw, MATCH.size * k) for k in range(n)]

    def find_one(self, g: int, rounds: int = 1) -> int:
        return self.call("aipol_bench_find_one", g, self.text, self.len, self.out, MAX_OUT, rounds)

    def step(self, rounds: int = 1) -> int:
        return self.call("aipol_bench_step", self.text, self.len, rounds)

    def step_one(self, g: int, rounds: int = 1) -> int:
        return self.call("aipol_bench_step_one", g, self.text, self.len, rounds)

    def fused(self, rounds: int = 1) -> int:
        return self.call("aipol_bench_fused", self.text, self.len, rounds)

    def shared(self, width: int, rounds: int = 1) -> int:
        return self.call("aipol_bench_shared", self.text, self.len, width, rounds)

    def skip(self, rounds: int = 1) -> int:
        return self.call("aipol_bench_skip", self.text, self.len, rounds)

    def skipped(self) -> int:
        """Bytes the last `skip` passed in its one-lookup loop."""
        return self.call("aipol_bench_skipped")


def compile_re(patterns: tuple[tuple[str, bool], ...]) -> list[re.Pattern[bytes]]:
    return [re.compile(src.encode(), re.IGNORECASE if ic else 0) for src, ic in patterns]


def ensure_re2() -> Any:
    """The `re2` module of google-re2; pip-installs it into this venv if missing."""
    try:
        return importlib.import_module("re2")
    except ImportError:
        pass
    print("google-re2 not found: pip install google-re2", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "google-re2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise BenchError(f"pip install google-re2 failed:\n{proc.stderr[-2000:]}")
    importlib.invalidate_caches()
    return importlib.import_module("re2")


def compile_re2(re2: Any, patterns: tuple[tuple[str, bool], ...]) -> list[Any]:
    out = []
    for src, ic in patterns:
        opts = re2.Options()
        opts.case_sensitive = not ic
        out.append(re2.compile(src.encode(), opts))
    return out


def finditer_all(compiled: list[Any], text: bytes) -> int:
    """Every match of every pattern (the loop timed for re and re2)."""
    n = 0
    for p in compiled:
        for _ in p.finditer(text):
            n += 1
    return n


# -- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    mb_s: float  # best of the repeats, MB = 1e6 bytes
    rounds: int  # scans per repeat
    repeats: int
    seconds: float  # wall time spent measuring


def measure(run: Callable[[int], object], nbytes: int, *, budget: float, repeats: int = 3) -> Rate:
    """MB/s of `run(rounds)`, which scans `rounds` times a text of `nbytes`:
    rounds calibrated so one repeat takes about budget/repeats, best repeat."""
    t_all = time.perf_counter()
    run(1)  # warm-up (and wasmtime's lazy init)
    rounds = 1
    while True:
        t0 = time.perf_counter()
        run(rounds)
        dt = time.perf_counter() - t0
        if dt >= 0.02 or rounds >= 1 << 20:
            break
        rounds *= 4
    per_round = dt / rounds
    rounds = max(1, int(budget / repeats / per_round))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(rounds)
        best = min(best, time.perf_counter() - t0)
    return Rate(nbytes * rounds / best / 1e6, rounds, repeats, time.perf_counter() - t_all)


# -- gateway -----------------------------------------------------------------------------------

CHAT_PII = (
    "jane.doe@example.com",  # redact email
    "+1 415 555 0100",  # redact phone
    "10.20.30.40",  # redact ipv4
    "4111 1111 1111 1111",  # mask credit_card
    "DE89 3704 0044 0532 0130 00",  # hash iban
    "EMP-004211",  # redact employee_id
)


def secure_chat_body(size: int, model: str) -> str:
    """An OpenAI chat request of exactly `size` bytes: an English-like prompt
    with a few PII values that examples/secure.aipol redacts, masks or hashes
    (none it blocks), so every request gets a 200 and a rewritten body."""
    head = '{"model":"' + model + '","messages":[{"role":"user","content":"'
    tail = '"}],"max_tokens":16}'
    room = size - len(head) - len(tail)
    rng = random.Random(4)
    values = list(CHAT_PII)
    sentences: list[str] = []
    n = 0
    while n < room:
        if values and n >= (len(CHAT_PII) - len(values) + 0.5) * room / len(CHAT_PII):
            s = rng.choice(_FRAMES).format(values.pop(0))
        else:
            s = _sentence(rng)
        sentences.append(s)
        n += len(s) + 1
    text = " ".join(sentences)[:room]
    if values or text.endswith(CHAT_PII) or any(v not in text for v in CHAT_PII):
        raise AssertionError("secure_chat_body: a PII value was cut")  # pragma: no cover
    body = head + text + tail
    json.loads(body)
    assert len(body.encode()) == size
    return body
