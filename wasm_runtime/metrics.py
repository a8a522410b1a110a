"""Envoy stats as seen through the proxy-wasm metric calls (§5.5).

``Stats`` is process-wide (share one between Harness instances to emulate workers);
``MetricIds`` is per VM: ids step by 4 with the type in the low two bits, and defining a
name again returns a new id bound to the same stat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .abi import MetricType, WasmResult

U64 = (1 << 64) - 1
CUSTOM_PREFIX = "wasmcustom."

# Envoy's default histogram buckets (ms-oriented).
DEFAULT_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                   60000, 300000, 600000, 1800000, 3600000)


@dataclass
class Stat:
    name: str  # full Envoy name, e.g. "wasmcustom.requests_total"
    type: MetricType
    value: int = 0
    samples: list[int] = field(default_factory=list)


class Stats:
    """All stats of one Envoy process, keyed by full name."""

    def __init__(self) -> None:
        self.by_name: dict[str, Stat] = {}

    def get_or_create(self, name: str, type_: MetricType) -> Stat:
        full = CUSTOM_PREFIX + name
        stat = self.by_name.get(full)
        if stat is None:
            stat = self.by_name[full] = Stat(full, type_)
        return stat

    def find(self, name: str) -> Stat | None:
        """Look up by filter-given name or by full ``wasmcustom.`` name."""
        return self.by_name.get(name) or self.by_name.get(CUSTOM_PREFIX + name)

    def snapshot(self) -> dict[str, int | tuple[int, ...]]:
        return {
            s.name: (tuple(s.samples) if s.type == MetricType.HISTOGRAM else s.value)
            for s in self.by_name.values()
        }

    def prometheus_text(self) -> str:
        """``/stats/prometheus`` rendering: namespace stripped, no ``envoy_`` prefix."""
        out: list[str] = []
        for stat in sorted(self.by_name.values(), key=lambda s: s.name):
            name = prometheus_name(stat.name)
            if stat.type == MetricType.COUNTER:
                out += [f"# TYPE {name} counter", f"{name}{{}} {stat.value}"]
            elif stat.type == MetricType.GAUGE:
                out += [f"# TYPE {name} gauge", f"{name}{{}} {stat.value}"]
            else:
                out.append(f"# TYPE {name} histogram")
                for b in DEFAULT_BUCKETS:
                    n = sum(1 for s in stat.samples if s <= b)
                    out.append(f'{name}_bucket{{le="{b:g}"}} {n}')
                out.append(f'{name}_bucket{{le="+Inf"}} {len(stat.samples)}')
                out.append(f"{name}_sum{{}} {sum(stat.samples)}")
                out.append(f"{name}_count{{}} {len(stat.samples)}")
        return "\n".join(out) + ("\n" if out else "")


_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(full_name: str) -> str:
    """Envoy's conversion: strip the custom namespace, replace invalid characters by ``_``."""
    name = full_name[len(CUSTOM_PREFIX):] if full_name.startswith(CUSTOM_PREFIX) else full_name
    name = _INVALID.sub("_", name)
    if name[:1].isdigit():
        name = "_" + name
    return name


class MetricIds:
    """Per-VM metric id table and the four metric host calls' semantics."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._next = {MetricType.COUNTER: 0, MetricType.GAUGE: 1, MetricType.HISTOGRAM: 2}
        self.ids: dict[int, Stat] = {}

    def define(self, type_: int, name: str) -> tuple[WasmResult, int]:
        if type_ > 2:
            return WasmResult.BadArgument, 0
        t = MetricType(type_)
        stat = self.stats.get_or_create(name, t)
        self._next[t] += 4
        self.ids[self._next[t]] = stat
        return WasmResult.Ok, self._next[t]

    def _lookup(self, metric_id: int) -> Stat | None:
        return self.ids.get(metric_id)

    def increment(self, metric_id: int, delta: int) -> WasmResult:
        stat = self._lookup(metric_id)
        if stat is None:
            return WasmResult.NotFound
        if stat.type == MetricType.COUNTER:
            if delta <= 0:
                return WasmResult.BadArgument
            stat.value = (stat.value + delta) & U64
        elif stat.type == MetricType.GAUGE:
            stat.value = (stat.value + delta) & U64  # Envoy's gauge sub wraps as uint64
        else:
            return WasmResult.BadArgument
        return WasmResult.Ok

    def record(self, metric_id: int, value: int) -> WasmResult:
        stat = self._lookup(metric_id)
        if stat is None:
            return WasmResult.NotFound
        value &= U64
        if stat.type == MetricType.COUNTER:
            stat.value = (stat.value + value) & U64  # recorded values are *added* to counters
        elif stat.type == MetricType.GAUGE:
            stat.value = value
        else:
            stat.samples.append(value)
        return WasmResult.Ok

    def get(self, metric_id: int) -> tuple[WasmResult, int]:
        stat = self._lookup(metric_id)
        if stat is None:
            return WasmResult.NotFound, 0
        if stat.type == MetricType.HISTOGRAM:
            return WasmResult.BadArgument, 0
        return WasmResult.Ok, stat.value
