"""Running one request through the harness and through real Envoy, and what is
observed on each side (fixtures live in conftest.py, the cases in test_conformance.py).

Both sides talk to the same kind of upstream: the harness's upstream callable
forwards what the filter produced to a `MockOpenAI` of the chosen backend (the
same mock Envoy's clusters point at), so statuses, bodies and headers of
upstream answers are comparable, not only those of the filter's local replies.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aipol.envoy.gateway import Gateway
from aipol.sidecar.mocks.openai import MockOpenAI, ReceivedRequest
from aipol.wasm_runtime import Harness
from aipol.wasm_runtime.harness import UpstreamResponse
from aipol.wasm_runtime.http import UpstreamRequest

try:  # the openai SDK >= 3 ships httpx as `httpx2`
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs depend on httpx itself
    import httpx  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
POLICIES = ("quickstart", "ab_test")

# Hop-by-hop and framing headers: each side frames bodies itself.
_FRAMING = {"content-length", "transfer-encoding", "connection", "keep-alive", "host"}

__all__ = [
    "EXAMPLES",
    "POLICIES",
    "ROOT",
    "Case",
    "Observed",
    "forwarding_upstream",
    "httpx",
    "run_envoy",
    "run_harness",
    "send_verbatim",
]


@dataclass(frozen=True)
class Case:
    """One request: sent as is to Envoy (httpx adds host, accept, user-agent,
    content-length) and to the harness (which adds content-length, x-request-id,
    x-forwarded-proto like Envoy's HCM)."""

    policy: str
    method: str
    path: str
    headers: Mapping[str, str] | tuple[tuple[str, str], ...] = field(default_factory=dict)
    body: bytes | None = None

    def header_pairs(self) -> list[tuple[str, str]]:
        """The headers in order, repeated names kept."""
        if isinstance(self.headers, Mapping):
            return list(self.headers.items())
        return list(self.headers)


@dataclass
class Observed:
    status: int | None
    headers: dict[str, str]  # response headers as the client sees them, lower-case names
    body: bytes
    backend: str | None  # the backend whose mock got the request (None: local reply)
    upstream: ReceivedRequest | None  # what that mock received

    def json(self) -> Any:
        return json.loads(self.body)


def forwarding_upstream(
    mocks: Mapping[str, MockOpenAI], client: httpx.Client
) -> Callable[[UpstreamRequest], UpstreamResponse]:
    """A harness upstream that sends the routed request to the backend's mock."""

    def forward(req: UpstreamRequest) -> UpstreamResponse:
        assert req.route in mocks, f"harness routed to unknown backend {req.route!r}"
        headers = [
            (k, v) for k, v in req.headers.pairs if not k.startswith(":") and k not in _FRAMING
        ]
        r = client.request(
            req.method, mocks[req.route].url + req.path, headers=headers, content=req.body
        )
        out = [(k, v) for k, v in r.headers.multi_items() if k.lower() not in _FRAMING]
        return UpstreamResponse(r.status_code, out, r.content)

    return forward


def run_harness(
    harness: Harness, mocks: Mapping[str, MockOpenAI], client: httpx.Client, case: Case
) -> tuple[Observed, Any]:
    for mock in mocks.values():
        mock.clear()
    r = harness.request(
        case.method,
        case.path,
        headers=case.header_pairs(),
        body=case.body,
        upstream=forwarding_upstream(mocks, client),
    )
    received = [m.last for m in mocks.values() if m.requests]
    assert len(received) <= 1
    observed = Observed(
        status=r.status,
        headers={k: r.headers[k] for k in r.headers if not k.startswith(":")},
        body=r.body,
        backend=r.route if r.reached_upstream else None,
        upstream=received[0] if received else None,
    )
    return observed, r


def send_verbatim(
    url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with the request target exactly as given (httpx removes dot
    segments and fragments, http.client refuses control characters)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    with sock:
        lines = [f"{method} {path} HTTP/1.1", f"host: {parts.netloc}", "connection: close"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        head = lines[0].encode() + b"\r\n" + "\r\n".join(lines[1:]).encode("latin-1")
        sock.sendall(head + b"\r\n\r\n" + (body or b""))
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def _httpx_keeps(base: str, path: str) -> bool:
    try:
        return httpx.URL(base + path).raw_path == path.encode()
    except httpx.InvalidURL:
        return False


def run_envoy(gw: Gateway, client: httpx.Client, case: Case) -> Observed:
    gw.mock.clear()
    if _httpx_keeps(gw.url, case.path):
        r = client.request(
            case.method, gw.url + case.path, headers=case.header_pairs(), content=case.body
        )
        status, headers, body = (
            r.status_code,
            {k.lower(): v for k, v in r.headers.items()},
            r.content,
        )
    else:
        status, headers, body = send_verbatim(
            gw.url, case.method, case.path, case.header_pairs(), case.body
        )
    received = [(name, gw.mock[name].last) for name in gw.mock if gw.mock[name].requests]
    assert len(received) <= 1
    return Observed(
        status=status,
        headers=headers,
        body=body,
        backend=received[0][0] if received else None,
        upstream=received[0][1] if received else None,
    )
