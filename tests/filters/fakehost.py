"""A minimal proxy-wasm host for the runtime's ABI glue tests.

Only the imports the runtime uses are provided, with the Envoy behaviours
abi.c depends on (proxy-wasm ABI reference §2, §5): request headers are
only mutable inside the request-headers callback, bodies accumulate while
the filter returns StopIterationAndBuffer, set_buffer_bytes(0, 0, len)
replaces the body, a local reply runs the response-headers callback again.
The full Envoy twin is aipol.wasm_runtime; this file keeps the runtime's
tests independent of it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import wasmtime

from .guest import Guest

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()
OK, NOT_FOUND, BAD_ARGUMENT = 0, 1, 2


def _ft(n: int, *, i64_last: bool = False) -> wasmtime.FuncType:
    params = [I32] * n
    if i64_last:
        params[-1] = I64
    return wasmtime.FuncType(params, [I32])


@dataclass
class Stream:
    id: int
    request_headers: list[tuple[str, str]]
    request_body: bytes = b""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    headers_mutable: bool = True
    in_body: bool = False
    local: tuple[int, str, bytes, list[tuple[bytes, bytes]]] | None = None
    properties: dict[bytes, bytes] = field(default_factory=dict)
    route_cache_clears: int = 0
    header_status: int | None = None
    body_statuses: list[int] = field(default_factory=list)
    forwarded_body: bytes = b""
    response_phase: bool = False


class FakeHost:
    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, config: bytes = b""):
        self.config = config
        self.logs: list[tuple[int, str]] = []
        self.metrics: dict[int, str] = {}
        self.counters: dict[str, int] = {}
        self.current: Stream | None = None
        self.next_id = 2
        imports = {
            "proxy_log": (_ft(3), self._log),
            "proxy_get_buffer_bytes": (_ft(5), self._get_buffer),
            "proxy_set_buffer_bytes": (_ft(5), self._set_buffer),
            "proxy_get_header_map_value": (_ft(5), self._get_header),
            "proxy_add_header_map_value": (_ft(5), self._add_header),
            "proxy_replace_header_map_value": (_ft(5), self._replace_header),
            "proxy_remove_header_map_value": (_ft(3), self._remove_header),
            "proxy_send_local_response": (_ft(8), self._local_response),
            "proxy_set_property": (_ft(4), self._set_property),
            "proxy_call_foreign_function": (_ft(6), self._foreign),
            "proxy_define_metric": (_ft(4), self._define_metric),
            "proxy_increment_metric": (_ft(2, i64_last=True), self._increment),
        }
        self.g = Guest(engine, module, imports)
        self.configuring = False

    # ---- memory helpers (inside host calls, through the caller) -------------

    def _mem(self, caller) -> wasmtime.Memory:
        return caller.get("memory")

    def _read(self, caller, p: int, n: int) -> bytes:
        return bytes(self._mem(caller).read(caller, p, p + n)) if n else b""

    def _return(self, caller, data: bytes, ptr_ptr: int, len_ptr: int) -> int:
        p = 0
        if data:
            p = caller.get("malloc")(caller, len(data)) & 0xFFFFFFFF
            if p == 0:
                return 6
            self._mem(caller).write(caller, data, p)
        self._mem(caller).write(caller, struct.pack("<I", p), ptr_ptr)
        self._mem(caller).write(caller, struct.pack("<I", len(data)), len_ptr)
        return OK

    # ---- imports ----------------------------------------------------------

    def _log(self, caller, level, p, n):
        self.logs.append((level, self._read(caller, p, n).decode("utf-8", "replace")))
        return OK

    def _get_buffer(self, caller, kind, start, size, pp, lp):
        if kind == 7:
            if not self.configuring:
                return NOT_FOUND
            data = self.config
        elif kind == 0 and self.current and self.current.in_body:
            data = self.current.request_body
        else:
            return NOT_FOUND
        return self._return(caller, data[start : start + size], pp, lp)

    def _set_buffer(self, caller, kind, start, size, p, n):
        s = self.current
        if kind != 0 or not s or not s.in_body:
            return BAD_ARGUMENT
        data = self._read(caller, p, n)
        if start == 0:
            s.request_body = data + s.request_body[size:]
        elif start >= len(s.request_body):
            s.request_body += data
        else:
            return BAD_ARGUMENT
        return OK

    def _map(self, kind):
        s = self.current
        if s is None:
            return None
        if kind == 0:
            return s.request_headers if s.headers_mutable else None
        if kind == 2:
            return s.response_headers if s.response_phase else None
        return None

    def _get_header(self, caller, kind, kp, kl, pp, lp):
        m = self._map(kind)
        if m is None:
            return BAD_ARGUMENT
        key = self._read(caller, kp, kl).decode()
        for k, v in m:
            if k == key:
                return self._return(caller, v.encode(), pp, lp)
        return NOT_FOUND

    def _add_header(self, caller, kind, kp, kl, vp, vl):
        m = self._map(kind)
        if m is None:
            return BAD_ARGUMENT
        m.append((self._read(caller, kp, kl).decode().lower(), self._read(caller, vp, vl).decode()))
        return OK

    def _replace_header(self, caller, kind, kp, kl, vp, vl):
        m = self._map(kind)
        if m is None:
            return BAD_ARGUMENT
        key = self._read(caller, kp, kl).decode().lower()
        m[:] = [(k, v) for k, v in m if k != key]
        m.append((key, self._read(caller, vp, vl).decode()))
        return OK

    def _remove_header(self, caller, kind, kp, kl):
        m = self._map(kind)
        if m is None:
            return BAD_ARGUMENT
        key = self._read(caller, kp, kl).decode().lower()
        m[:] = [(k, v) for k, v in m if k != key]
        return OK

    def _local_response(self, caller, status, dp, dl, bp, bl, hp, hl, grpc):
        from .test_util import parse_pairs

        s = self.current
        assert s is not None and s.local is None, "one local reply per stream"
        headers = parse_pairs(self._read(caller, hp, hl)) if hl else []
        s.local = (status, self._read(caller, dp, dl).decode(), self._read(caller, bp, bl), headers)
        assert grpc == -1
        return OK

    def _set_property(self, caller, pp, pl, vp, vl):
        if self.current is None:
            return NOT_FOUND
        self.current.properties[self._read(caller, pp, pl)] = self._read(caller, vp, vl)
        return OK

    def _foreign(self, caller, np, nl, ap, al, pp, lp):
        if self._read(caller, np, nl) != b"clear_route_cache":
            return NOT_FOUND
        if self.current:
            self.current.route_cache_clears += 1
        return self._return(caller, b"", pp, lp) if pp else OK

    def _define_metric(self, caller, kind, np, nl, idp):
        assert kind == 0
        mid = 4 * (len(self.metrics) + 1)
        self.metrics[mid] = self._read(caller, np, nl).decode()
        self._mem(caller).write(caller, struct.pack("<I", mid), idp)
        return OK

    def _increment(self, caller, mid, delta):
        name = self.metrics[mid]
        self.counters[name] = self.counters.get(name, 0) + delta
        return OK

    # ---- driving ----------------------------------------------------------

    def start(self) -> bool:
        self.g.call("proxy_on_context_create", 1, 0)
        assert self.g.call("proxy_on_vm_start", 1, 0) == 1
        self.configuring = True
        try:
            return self.g.call("proxy_on_configure", 1, len(self.config)) == 1
        finally:
            self.configuring = False

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] = (),
        body: bytes | None = None,
        chunks: int = 1,
    ) -> Stream:
        s = Stream(self.next_id, [(":method", method), (":path", path), *headers])
        self.next_id += 1
        self.current = s
        g = self.g
        g.call("proxy_on_context_create", s.id, 1)
        s.header_status = g.call(
            "proxy_on_request_headers", s.id, len(s.request_headers), body is None
        )
        s.headers_mutable = False
        if body is not None and s.local is None:
            s.in_body = True
            step = max(1, -(-len(body) // chunks))
            pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
            for i, piece in enumerate(pieces):
                s.request_body += piece
                eos = i == len(pieces) - 1
                rc = g.call("proxy_on_request_body", s.id, len(s.request_body), eos)
                s.body_statuses.append(rc)
                if s.local is not None:
                    break
                if rc == 0:  # Continue: what is buffered moves on
                    s.forwarded_body += s.request_body
                    s.request_body = b""
            s.in_body = False
        s.response_phase = True
        s.response_headers = [(":status", str(s.local[0]) if s.local else "200")]
        g.call("proxy_on_response_headers", s.id, 1, 0)
        g.call("proxy_on_log", s.id)
        g.call("proxy_on_done", s.id)
        g.call("proxy_on_delete", s.id)
        self.current = None
        return s
