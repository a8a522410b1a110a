"""One HTTP stream through Envoy's filter chain: [wasm filter] -> buffer filter -> router.

The model follows Envoy's FilterManager closely enough for a filter to observe the same
thing it would under Envoy 1.40:

- header status mapping (§3.2), with ``allow_on_headers_stop_iteration``;
- StopAllIteration: data is held by the filter manager and body callbacks are *not*
  delivered until ``proxy_continue_stream``; then the held data arrives in one callback;
- StopIterationAndBuffer: data accumulates and the next body callback sees the total;
- header maps become unavailable once continued (§5.1);
- local replies (§5.4): through the encoder path (this filter's response callbacks run)
  if the response has not started, sent directly if it started but no headers went
  downstream, a reset otherwise;
- the buffer filter holds headers and body until end of stream (413 above
  ``max_request_bytes``) and fills in ``content-length``; the router then picks the route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .abi import (
    DATA_CONTINUE,
    DATA_STOP_BUFFER,
    DATA_STOP_WATERMARK,
    HEADERS_STOP_ITERATION,
)
from .headers import HeaderMap, Headers

if TYPE_CHECKING:
    from .host import Host
    from .root import Connection

_WS = re.compile(rb"\s")


@dataclass
class LocalReply:
    """A local reply sent by the filter (``proxy_send_local_response``) or by Envoy."""

    status: int
    details: str
    body: bytes
    headers: Headers
    grpc_status: int | None = None
    source: str = "filter"  # "filter" or "envoy" (413, 408 idle timeout, 503 wasm failure)


@dataclass
class UpstreamRequest:
    """What the router sends upstream, after the whole filter chain."""

    method: str
    path: str
    authority: str
    headers: Headers
    body: bytes
    trailers: Headers | None
    route: str | None
    # content-length was present but no longer matches the body the filter produced
    content_length_mismatch: bool = False

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class _Side:
    """Per-direction state of the filter manager around the wasm filter."""

    state: str = "idle"  # idle|continued|stopped|stopped_all|body_stopped|trailers_stopped
    headers_eos: bool = False
    ended: bool = False  # the peer (client for requests, upstream for responses) finished
    held: bytearray = field(default_factory=bytearray)  # data held while stopped_all
    held_trailers: bool = False
    buffer: bytearray = field(default_factory=bytearray)  # what the filter buffered
    headers_passed: bool = False  # headers went past the wasm filter
    aborted: bool = False  # no further callbacks on this side


def header_status(raw: int, allow_stop_iteration: bool) -> str:
    """Map a headers-callback return value the way Envoy does."""
    if raw in (0, 2):
        return "continue"
    if raw == HEADERS_STOP_ITERATION and allow_stop_iteration:
        return "stop"
    return "stop_all"


def data_status(raw: int) -> str:
    if raw == DATA_CONTINUE:
        return "continue"
    if raw in (DATA_STOP_BUFFER, DATA_STOP_WATERMARK):
        return "buffer" if raw == DATA_STOP_BUFFER else "watermark"
    return "nobuffer"


class HttpStream:
    """State of one HTTP stream context, and the Envoy-side events that drive it."""

    def __init__(self, host: Host, context_id: int, connection: Connection,
                 router: Callable[[Headers, dict[str, bytes]], str | None] | None = None,
                 on_upstream: Callable[[HttpStream], None] | None = None) -> None:
        self.host = host
        self.id = context_id
        self.connection = connection
        self.router = router
        self.on_upstream = on_upstream
        self.protocol = "HTTP/1.1"
        self.start_time_ns = host.now_ns()
        self.complete_time_ns: int | None = None
        self.context_created = False

        # --- maps and buffers as the filter sees them (None = unavailable) ---
        self.request_headers: HeaderMap | None = None
        self.request_trailers: HeaderMap | None = None
        self.response_headers: HeaderMap | None = None
        self.response_trailers: HeaderMap | None = None
        self.request_body: bytearray | None = None
        self.response_body: bytearray | None = None
        # the live maps (for properties and the log phase) even when the filter lost access
        self.request_headers_live: HeaderMap | None = None
        self.request_trailers_live: HeaderMap | None = None
        self.response_headers_live: HeaderMap | None = None
        self.response_trailers_live: HeaderMap | None = None
        self.log_phase = False

        self.filter_state: dict[str, bytes] = {}
        self.dec = _Side()
        self.enc = _Side()
        self.bypass = False  # the filter is skipped (VM failed with fail-open, or closed)
        self.filter_created = True  # False: Envoy answered before creating the filter chain

        # --- after-callback actions (Envoy defers them until the VM call returns) ---
        self.pending_local_reply: LocalReply | None = None
        self.pending_continue: list[int] = []
        self.pending_close = False

        # --- route cache ---
        self.route: str | None = None
        self.route_cached = False
        self.route_cache_clears = 0  # clear_route_cache foreign calls
        self.header_mutation_clears = 0  # request-header mutations (ABI 0.2.x clears too)

        # --- outputs ---
        self.forwarded_body = bytearray()
        self.upstream_request: UpstreamRequest | None = None
        self.local_reply: LocalReply | None = None  # the first one, filter or Envoy
        self.response_code_details: str | None = None
        self.downstream_headers: HeaderMap | None = None
        self.downstream_body = bytearray()
        self.downstream_trailers: HeaderMap | None = None
        self.downstream_complete = False
        self.reset = False
        self.reset_details: str | None = None
        self.request_body_size = 0
        self.completed = False  # log/done/delete ran
        self.trapped = False

    # ------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.downstream_complete or self.reset

    @property
    def response_started(self) -> bool:
        return self.response_headers_live is not None

    def _call(self, name: str, *args: int) -> int | None:
        """Call a stream callback; None if the VM is (or just became) failed."""
        if self.host.failed:
            return None
        if not self.context_created:
            self.context_created = True
            self.host.call(self.id, "proxy_on_context_create", self.id, self.host.root_id)
            if self.host.failed:
                self.trapped = True
                return None
        result = self.host.call(self.id, name, *args)
        if self.host.failed:
            self.trapped = True
            return None
        return 0 if result is None else result

    def _after_failure(self) -> None:
        """The VM trapped during one of our callbacks (or earlier): apply the failure policy."""
        self.bypass = True
        if self.host.failure_policy == "open":
            return
        self.send_local_reply(503, b"", [], "wasm_fail_stream", 14, source="envoy")

    def _take_local_reply(self) -> bool:
        reply = self.pending_local_reply
        if reply is None:
            return False
        self.pending_local_reply = None
        self.send_local_reply(reply.status, reply.body, reply.headers.pairs, reply.details,
                              reply.grpc_status, source="filter")
        return True

    def _after_call(self) -> bool:
        """Run deferred actions. True if the stream ended (local reply, reset)."""
        if self.pending_close:
            self.pending_close = False
            self._reset("wasm_close_stream")
            return True
        if self._take_local_reply():
            return True
        return False

    def _run_continues(self) -> None:
        while self.pending_continue and not self.finished:
            kind = self.pending_continue.pop(0)
            if kind == 0:
                self._resume_decoding()
            else:
                self._resume_encoding()

    # ---------------------------------------------------------------- decoder (request) --
    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> int | None:
        self.request_headers_live = headers
        self.dec.headers_eos = end_stream
        self.dec.ended = end_stream
        if self.bypass or self.host.failed:
            if not self.bypass:
                self._after_failure()
            if not self.finished:
                self._pass_request_headers(end_stream)
            return None
        self.request_headers = headers
        raw = self._call("proxy_on_request_headers", self.id, len(headers), int(end_stream))
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self.request_headers = None
                self._pass_request_headers(end_stream)
            return None
        if self._after_call():
            return raw
        status = header_status(raw, self.host.allow_on_headers_stop_iteration)
        if status == "continue":
            self.request_headers = None
            self._pass_request_headers(end_stream)
        else:
            self.dec.state = "stop" if status == "stop" else "stopped_all"
        self._run_continues()
        return raw

    def _pass_request_headers(self, end_stream: bool) -> None:
        self.dec.headers_passed = True
        self.dec.state = "continued"
        # the buffer filter (or the router, for header-only requests) asks for the route now
        self._evaluate_route()
        if end_stream:
            self._forward_end()

    def decode_data(self, chunk: bytes, end_stream: bool) -> int | None:
        self.request_body_size += len(chunk)
        self.dec.ended = end_stream
        if self.finished or self.dec.aborted:
            return None
        if self.bypass:
            self._forward_data(chunk, end_stream)
            return None
        if self.dec.state == "stopped_all":
            self.dec.held += chunk
            return None
        return self._deliver_request_data(bytes(chunk), end_stream)

    def _deliver_request_data(self, chunk: bytes, end_stream: bool) -> int | None:
        view = self.dec.buffer
        view += chunk
        self.dec.buffer = bytearray()
        self.request_body = view
        added_trailers = False
        if end_stream and self.request_trailers_live is None:
            # the last body callback may add trailers (addDecodedTrailers)
            self.request_trailers = HeaderMap()
            added_trailers = True
        raw = self._call("proxy_on_request_body", self.id, len(view), int(end_stream))
        if added_trailers:
            if self.request_trailers is not None and len(self.request_trailers):
                self.request_trailers_live = self.request_trailers
            self.request_trailers = None
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self.request_body = None
                self._continue_request_data(view, end_stream)
            return None
        if self._after_call():
            return raw
        status = data_status(raw)
        if status == "continue":
            self.request_body = None
            self._continue_request_data(view, end_stream)
        elif status in ("buffer", "watermark"):
            self.dec.buffer = view
            self.dec.state = "body_stopped"
            if status == "buffer" and len(view) > self.host.request_buffer_limit:
                self.request_body = None
                self._payload_too_large()
                return raw
        else:
            self.request_body = None
            self.dec.state = "body_stopped"
        self._run_continues()
        return raw

    def _continue_request_data(self, data: bytes | bytearray, end_stream: bool) -> None:
        if not self.dec.headers_passed:
            self.dec.headers_passed = True
            self._evaluate_route()
        self.dec.state = "continued"
        self._forward_data(data, end_stream and self.request_trailers_live is None)
        if end_stream and self.request_trailers_live is not None and not self.finished:
            self._forward_end()

    def decode_trailers(self, trailers: HeaderMap) -> int | None:
        self.dec.ended = True
        self.request_trailers_live = trailers
        if self.finished or self.dec.aborted:
            return None
        if self.bypass:
            self._forward_end()
            return None
        if self.dec.state == "stopped_all":
            self.dec.held_trailers = True
            return None
        self.request_trailers = trailers
        raw = self._call("proxy_on_request_trailers", self.id, len(trailers))
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self._release_request()
            return None
        if self._after_call():
            return raw
        if raw == 0:
            self.request_trailers = None
            self._release_request()
        else:
            self.dec.state = "trailers_stopped"
        self._run_continues()
        return raw

    def _release_request(self) -> None:
        """Pass the buffered body (and the end of stream, if seen) past the wasm filter."""
        if not self.dec.headers_passed:
            self.dec.headers_passed = True
            self._evaluate_route()
        self.dec.state = "continued"
        data, self.dec.buffer = self.dec.buffer, bytearray()
        self.request_body = None
        if self.dec.headers_eos:
            self._forward_end()
            return
        self._forward_data(data, False)
        if self.dec.ended and not self.finished:
            self._forward_end()

    def _resume_decoding(self) -> None:
        """``proxy_continue_stream(HTTP_REQUEST)``, carried out after the callback."""
        if self.dec.aborted or self.finished:
            return
        state = self.dec.state
        if state == "stopped_all":
            self.dec.headers_passed = True
            self._evaluate_route()
            self.dec.state = "continued"
            if self.dec.headers_eos:
                self._forward_end()
                return
            held, self.dec.held = bytes(self.dec.held), bytearray()
            # iteration restarts at this filter: it now sees the held data
            if held or (self.dec.ended and not self.dec.held_trailers):
                eos = self.dec.ended and not self.dec.held_trailers
                self._deliver_request_data(held, eos)
            if self.dec.held_trailers and not self.finished:
                self.dec.held_trailers = False
                assert self.request_trailers_live is not None
                self.decode_trailers(self.request_trailers_live)
        elif state in ("stop", "body_stopped", "trailers_stopped"):
            self._release_request()

    def _forward_data(self, data: bytes | bytearray, end_stream: bool) -> None:
        """Data leaving the wasm filter: the buffer filter holds it until end of stream."""
        self.forwarded_body += data
        limit = self.host.max_request_bytes
        if limit is not None and len(self.forwarded_body) > limit:
            self._payload_too_large()
            return
        if end_stream:
            self._forward_end()

    def _payload_too_large(self) -> None:
        self.dec.aborted = True
        self.send_local_reply(413, b"Payload Too Large", [], "request_payload_too_large", None,
                              source="envoy")

    def _evaluate_route(self) -> None:
        if self.route_cached:
            return
        self.route_cached = True
        headers = (self.request_headers_live or HeaderMap()).view()
        if self.router is not None:
            self.route = self.router(headers, dict(self.filter_state))
        else:
            v = self.filter_state.get("wasm.aipol_backend")
            self.route = v.decode("utf-8", "replace") if v is not None else None

    def clear_route_cache(self) -> None:
        self.route_cached = False

    def _forward_end(self) -> None:
        """The request is complete at the router: build what goes upstream."""
        if self.upstream_request is not None or self.finished:
            return
        self.dec.aborted = True  # nothing more reaches the wasm filter on this side
        self._evaluate_route()
        headers = (self.request_headers_live or HeaderMap()).copy()
        body = bytes(self.forwarded_body)
        mismatch = False
        cl = headers.get(b"content-length")
        if cl is None:
            if not self.dec.headers_eos:
                # the buffer filter populates content-length from what it buffered
                headers.add(b"content-length", str(len(body)).encode())
        elif cl.strip() != str(len(body)).encode():
            mismatch = True  # Envoy forwards the stale header; the upstream sees a bad frame
        view = headers.view()
        self.upstream_request = UpstreamRequest(
            method=view.get(":method", ""),
            path=view.get(":path", ""),
            authority=view.get(":authority", ""),
            headers=view,
            body=body,
            trailers=self.request_trailers_live.view() if self.request_trailers_live else None,
            route=self.route,
            content_length_mismatch=mismatch,
        )
        if self.on_upstream is not None:
            self.on_upstream(self)

    # --------------------------------------------------------------- encoder (response) --
    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> int | None:
        if self.finished or self.enc.aborted:
            return None
        self.response_headers_live = headers
        self.enc.headers_eos = end_stream
        self.enc.ended = end_stream
        if self.bypass:
            self._send_downstream_headers(end_stream)
            return None
        self.response_headers = headers
        raw = self._call("proxy_on_response_headers", self.id, len(headers), int(end_stream))
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self.response_headers = None
                self._send_downstream_headers(end_stream)
            return None
        if self._after_call():
            return raw
        status = header_status(raw, self.host.allow_on_headers_stop_iteration)
        if status == "continue":
            self.response_headers = None
            self._send_downstream_headers(end_stream)
        else:
            self.enc.state = "stop" if status == "stop" else "stopped_all"
        self._run_continues()
        return raw

    def _send_downstream_headers(self, end_stream: bool) -> None:
        self.enc.headers_passed = True
        self.enc.state = "continued"
        assert self.response_headers_live is not None
        self.downstream_headers = self.response_headers_live
        if end_stream:
            self._downstream_end()

    def encode_data(self, chunk: bytes, end_stream: bool) -> int | None:
        self.enc.ended = end_stream
        if self.finished or self.enc.aborted:
            return None
        if self.bypass:
            self._send_downstream_data(chunk, end_stream)
            return None
        if self.enc.state == "stopped_all":
            self.enc.held += chunk
            return None
        return self._deliver_response_data(bytes(chunk), end_stream)

    def _deliver_response_data(self, chunk: bytes, end_stream: bool) -> int | None:
        view = self.enc.buffer
        view += chunk
        self.enc.buffer = bytearray()
        self.response_body = view
        raw = self._call("proxy_on_response_body", self.id, len(view), int(end_stream))
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self.response_body = None
                self._continue_response_data(view, end_stream)
            return None
        if self._after_call():
            return raw
        status = data_status(raw)
        if status == "continue":
            self.response_body = None
            self._continue_response_data(view, end_stream)
        elif status in ("buffer", "watermark"):
            self.enc.buffer = view
            self.enc.state = "body_stopped"
            if status == "buffer" and len(view) > self.host.buffer_limit:
                self.response_body = None
                self.enc.aborted = True
                self.send_local_reply(500, b"Internal Server Error", [],
                                      "response_payload_too_large", None, source="envoy")
                return raw
        else:
            self.response_body = None
            self.enc.state = "body_stopped"
        self._run_continues()
        return raw

    def _continue_response_data(self, data: bytes | bytearray, end_stream: bool) -> None:
        if not self.enc.headers_passed:
            self._send_downstream_headers(False)
        self.enc.state = "continued"
        self._send_downstream_data(data, end_stream and self.response_trailers_live is None)
        if end_stream and self.response_trailers_live is not None:
            self._downstream_end()

    def encode_trailers(self, trailers: HeaderMap) -> int | None:
        self.enc.ended = True
        self.response_trailers_live = trailers
        if self.finished or self.enc.aborted:
            return None
        if self.bypass:
            self._downstream_end()
            return None
        if self.enc.state == "stopped_all":
            self.enc.held_trailers = True
            return None
        self.response_trailers = trailers
        raw = self._call("proxy_on_response_trailers", self.id, len(trailers))
        if raw is None:
            self._after_failure()
            if self.host.failure_policy == "open":
                self._release_response()
            return None
        if self._after_call():
            return raw
        if raw == 0:
            self.response_trailers = None
            self._release_response()
        else:
            self.enc.state = "trailers_stopped"
        self._run_continues()
        return raw

    def _release_response(self) -> None:
        if not self.enc.headers_passed:
            self._send_downstream_headers(self.enc.headers_eos)
            if self.enc.headers_eos:
                return
        self.enc.state = "continued"
        data, self.enc.buffer = self.enc.buffer, bytearray()
        self.response_body = None
        self.downstream_body += data
        if self.enc.ended:
            self._downstream_end()

    def _resume_encoding(self) -> None:
        if self.enc.aborted or self.finished:
            return
        state = self.enc.state
        if state == "stopped_all":
            self._send_downstream_headers(self.enc.headers_eos)
            if self.enc.headers_eos:
                return
            held, self.enc.held = bytes(self.enc.held), bytearray()
            if held or (self.enc.ended and not self.enc.held_trailers):
                self._deliver_response_data(held, self.enc.ended and not self.enc.held_trailers)
            if self.enc.held_trailers and not self.finished:
                self.enc.held_trailers = False
                assert self.response_trailers_live is not None
                self.encode_trailers(self.response_trailers_live)
        elif state in ("stop", "body_stopped", "trailers_stopped"):
            self._release_response()

    def _send_downstream_data(self, data: bytes | bytearray, end_stream: bool) -> None:
        self.downstream_body += data
        if end_stream:
            self._downstream_end()

    def _downstream_end(self) -> None:
        if self.response_trailers_live is not None:
            self.downstream_trailers = self.response_trailers_live
        self.downstream_complete = True
        self.complete_time_ns = self.host.now_ns()

    # ------------------------------------------------------------------ local replies --
    def send_local_reply(self, status: int, body: bytes, header_pairs: list[tuple[Any, Any]],
                         details: str, grpc_status: int | None, *, source: str) -> None:
        """Envoy's FilterManager::sendLocalReply."""
        if self.finished:
            return
        reply = LocalReply(status, details, bytes(body),
                           Headers((_s(k), _s(v)) for k, v in header_pairs), grpc_status, source)
        if self.local_reply is None:
            self.local_reply = reply
        self.response_code_details = details
        self.dec.aborted = True
        headers = HeaderMap([(b":status", str(status).encode())])
        for k, v in header_pairs:
            headers.add(_b(k), _b(v))
        if body:
            headers.replace(b"content-length", str(len(body)).encode())
            if headers.get(b"content-type") is None:
                headers.add(b"content-type", b"text/plain")
        if not self.response_started:
            # through the encoder filters, this one included
            self.encode_headers(headers, not body)
            if body and not self.finished and not self.enc.aborted:
                self.encode_data(body, True)
        elif self.downstream_headers is None:
            # the response started but no headers went downstream: sent directly
            self.enc.aborted = True
            self.response_headers = None
            self.response_body = None
            self.response_headers_live = headers
            self.downstream_headers = headers
            self.downstream_body = bytearray(body)
            self._downstream_end()
        else:
            self._reset(details)

    def _reset(self, details: str) -> None:
        self.reset = True
        self.reset_details = details
        self.response_code_details = details
        self.dec.aborted = self.enc.aborted = True
        self.complete_time_ns = self.host.now_ns()

    def reject_before_filters(self, headers: HeaderMap | None, status: int, body: bytes,
                              details: str) -> None:
        """Envoy's codec or HCM answers the request before the filter chain exists (a
        request target the codec refuses, a path normalisation failure): no filter
        callback runs, not even ``proxy_on_log``."""
        self.filter_created = False
        self.bypass = True
        self.request_headers_live = headers
        self.dec.ended = True
        self.send_local_reply(status, body, [], details, None, source="envoy")

    def idle_timeout(self) -> None:
        """The stream idle timeout fired (the stream hung): 408 "stream timeout"."""
        self.send_local_reply(408, b"stream timeout", [], "stream_idle_timeout", None,
                              source="envoy")

    # ---------------------------------------------------------------------- teardown --
    def complete(self) -> None:
        """Access-log phase, then destroy: ``proxy_on_log``, ``on_done``, ``on_delete``."""
        if self.completed:
            return
        self.completed = True
        if self.complete_time_ns is None:
            self.complete_time_ns = self.host.now_ns()
        self.request_headers = self.request_trailers = None
        self.response_headers = self.response_trailers = None
        self.request_body = self.response_body = None
        if self.filter_created and not self.host.failed and not (
                self.bypass and self.host.failure_policy == "open"):
            self.log_phase = True
            self._call("proxy_on_log", self.id)
            self.log_phase = False
            self._call("proxy_on_done", self.id)
            self._call("proxy_on_delete", self.id)
        self.host.streams.pop(self.id, None)


def _b(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("latin-1")


def _s(v: Any) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else str(v)


def sanitize_details(details: bytes) -> str:
    """Envoy replaces whitespace in response code details with ``_``."""
    return _WS.sub(b"_", details).decode("utf-8", "replace")
