"""Root (plugin) context state: configuration buffers, ticks, HTTP callouts."""

from __future__ import annotations

from dataclasses import dataclass, field

from .headers import HeaderMap, Headers


@dataclass
class Callout:
    """One ``proxy_http_call``, as recorded by the host."""

    token: int
    upstream: str
    headers: Headers
    body: bytes
    trailers: Headers
    timeout_ms: int
    context_id: int  # the effective context that made the call
    response: tuple[int, Headers, bytes] | None = None  # (status, headers, body) once answered
    failed: bool = False

    @property
    def pending(self) -> bool:
        return self.response is None and not self.failed


@dataclass
class RootContext:
    id: int
    tick_period_ms: int = 0
    next_tick_ms: int | None = None
    # buffers 6/7 are visible only during proxy_on_vm_start / proxy_on_configure
    vm_config: bytes | None = None
    plugin_config: bytes | None = None
    # last gRPC close / HTTP-call failure, for proxy_get_status
    status: tuple[int, bytes] = (0, b"")
    # while proxy_on_http_call_response runs: maps 6/7 and buffer 4
    call_response_headers: HeaderMap | None = None
    call_response_trailers: HeaderMap | None = None
    call_response_body: bytearray | None = None
    done_pending: bool = False
    deleted: bool = False
    callouts: dict[int, Callout] = field(default_factory=dict)


@dataclass
class Connection:
    """Downstream connection facts behind the ``source.*`` / ``destination.*`` attributes."""

    id: int = 1
    source_ip: str = "127.0.0.1"
    source_port: int = 51234
    destination_ip: str = "127.0.0.1"
    destination_port: int = 10000
