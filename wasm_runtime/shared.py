"""Process-wide shared data and shared queues (§5.7), with Envoy's semantics.

One ``SharedData`` object stands for one Envoy process: pass the same object to several
``Harness`` instances to emulate worker threads whose VMs share a ``vm_id``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .abi import WasmResult


@dataclass
class SharedQueue:
    qid: int
    vm_id: str
    name: str
    items: deque[bytes] = field(default_factory=deque)
    # (host, root context id) of the last registrant: it gets proxy_on_queue_ready
    registrant: tuple[Any, int] | None = None


class SharedData:
    """Shared key/value data per vm_id with Envoy's CAS rules, plus shared queues."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, tuple[bytes, int]]] = {}
        self._cas = 0
        self._queues: dict[int, SharedQueue] = {}
        self._queue_ids: dict[tuple[str, str], int] = {}
        self._next_qid = 0
        # Work posted to a worker (queue notifications); drained by the harnesses.
        self.posted: deque[tuple[Any, Callable[[], None]]] = deque()

    # --- key/value ---------------------------------------------------------------------------
    def get(self, vm_id: str, key: str) -> tuple[bytes, int] | None:
        return self._data.get(vm_id, {}).get(key)

    def set(self, vm_id: str, key: str, value: bytes, cas: int = 0) -> WasmResult:
        """cas 0: unconditional; otherwise it must match, except a missing key always succeeds."""
        space = self._data.setdefault(vm_id, {})
        current = space.get(key)
        if cas and current is not None and current[1] != cas:
            return WasmResult.CasMismatch
        self._cas += 1
        space[key] = (bytes(value), self._cas)
        return WasmResult.Ok

    def items(self, vm_id: str = "") -> dict[str, bytes]:
        return {k: v for k, (v, _) in self._data.get(vm_id, {}).items()}

    def __getitem__(self, key: str) -> bytes:
        """Value of ``key`` in the default (empty) vm_id namespace."""
        entry = self.get("", key)
        if entry is None:
            raise KeyError(key)
        return entry[0]

    # --- queues ------------------------------------------------------------------------------
    def register_queue(self, vm_id: str, name: str, host: Any, root_id: int) -> int:
        qid = self._queue_ids.get((vm_id, name))
        if qid is None:
            self._next_qid += 1
            qid = self._next_qid
            self._queue_ids[(vm_id, name)] = qid
            self._queues[qid] = SharedQueue(qid, vm_id, name)
        self._queues[qid].registrant = (host, root_id)
        return qid

    def resolve_queue(self, vm_id: str, name: str) -> int | None:
        return self._queue_ids.get((vm_id, name))

    def queue(self, qid: int) -> SharedQueue | None:
        return self._queues.get(qid)

    def enqueue(self, qid: int, value: bytes) -> WasmResult:
        q = self._queues.get(qid)
        if q is None:
            return WasmResult.NotFound
        q.items.append(bytes(value))
        if q.registrant is not None:
            host, root_id = q.registrant
            self.posted.append((host, lambda: host.deliver_queue_ready(root_id, qid)))
        return WasmResult.Ok

    def dequeue(self, qid: int) -> tuple[WasmResult, bytes]:
        q = self._queues.get(qid)
        if q is None:
            return WasmResult.NotFound, b""
        if not q.items:
            return WasmResult.Empty, b""
        return WasmResult.Ok, q.items.popleft()

    def queue_size(self, qid: int) -> int:
        q = self._queues.get(qid)
        return len(q.items) if q else 0
