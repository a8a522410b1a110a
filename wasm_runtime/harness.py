"""High-level API: load a filter once, drive whole requests through an emulated Envoy.

    h = Harness.load("filter.wasm", plugin_config=b"...")
    r = h.request("POST", "/v1/chat/completions", headers={...}, body={"model": "m"})
    assert r.status == 200 and r.route == "openai"

Each ``request`` runs: downstream request -> wasm filter -> buffer filter -> router ->
``upstream`` (a callable, an ``UpstreamResponse``, or a canned OpenAI chat completion) ->
wasm filter (response) -> client, then ``proxy_on_log``/``on_done``/``on_delete``. A stream
that never completes is ended like Envoy's stream idle timeout (408, ``r.hung``).
"""

from __future__ import annotations

import json as _json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .downstream import (
    Rejection,
    check_request_target,
    coalesce,
    normalize_request_path,
)
from .headers import HeaderMap, Headers, to_pairs
from .host import Host
from .http import HttpStream, LocalReply, UpstreamRequest
from .metrics import CUSTOM_PREFIX, Stats
from .root import Callout
from .shared import SharedData

Body = bytes | str | Mapping[str, Any] | list[Any] | None
Router = Callable[[Headers, dict[str, bytes]], str | None]


def _encode_body(body: Any) -> tuple[bytes, bool]:
    """(bytes, is_json)."""
    if body is None:
        return b"", False
    if isinstance(body, bytes | bytearray):
        return bytes(body), False
    if isinstance(body, str):
        return body.encode(), False
    return _json.dumps(body, separators=(",", ":")).encode(), True


@dataclass
class UpstreamResponse:
    """What the upstream answers. ``body`` as a list of chunks streams it chunk by chunk."""

    status: int = 200
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)
    body: bytes | str | Mapping[str, Any] | list[bytes | str] = b""
    trailers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, **headers: str) -> UpstreamResponse:
        return cls(status, {"content-type": "application/json", **headers},
                   _json.dumps(obj).encode())

    @classmethod
    def sse(cls, events: Sequence[str | Mapping[str, Any]], status: int = 200,
            done: bool = True) -> UpstreamResponse:
        """A ``text/event-stream`` body, one chunk per event (``data: ...\\n\\n``)."""
        chunks: list[bytes | str] = [
            f"data: {e if isinstance(e, str) else _json.dumps(e)}\n\n".encode() for e in events
        ]
        if done:
            chunks.append(b"data: [DONE]\n\n")
        return cls(status, {"content-type": "text/event-stream"}, chunks)

    def header_pairs(self) -> list[tuple[bytes, bytes]]:
        pairs = [(b":status", str(self.status).encode())] + to_pairs(self.headers)
        if not isinstance(self.body, list):
            data, is_json = _encode_body(self.body)
            names = {k for k, _ in pairs}
            if is_json and b"content-type" not in names:
                pairs.append((b"content-type", b"application/json"))
            if b"content-length" not in names and b"transfer-encoding" not in names:
                pairs.append((b"content-length", str(len(data)).encode()))
        pairs.append((b"x-envoy-upstream-service-time", b"1"))
        return pairs

    def chunks(self) -> list[bytes]:
        if isinstance(self.body, list):
            return [c.encode() if isinstance(c, str) else bytes(c) for c in self.body]
        data, _ = _encode_body(self.body)
        return [data] if data else []


def openai_chat_completion(req: UpstreamRequest) -> UpstreamResponse:
    """The default upstream: a canned OpenAI chat completion echoing the request's model."""
    model = "gpt-4o-mini"
    try:
        parsed = _json.loads(req.body) if req.body else {}
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            model = parsed["model"]
    except (ValueError, RecursionError):  # a provider answers bad JSON with an error
        pass
    return UpstreamResponse.json({
        "id": "chatcmpl-aipol-harness",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello from the mock upstream."}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
    })


@dataclass
class Result:
    """Everything observable about one request."""

    status: int | None  # None if the stream was reset (no response)
    headers: Headers  # downstream response headers as they left the wasm filter
    body: bytes
    trailers: Headers | None
    upstream: UpstreamRequest | None
    route: str | None
    filter_state: dict[str, bytes]
    local_reply: LocalReply | None
    logs: list[tuple[str, str]]
    metrics: dict[str, int | tuple[int, ...]]  # per-request deltas, see Harness.request
    hung: bool
    trapped: bool
    trap_message: str | None
    reset: bool
    route_cache_clears: int
    header_mutation_route_clears: int
    callouts: list[Callout]
    stream: HttpStream

    def json(self) -> Any:
        return _json.loads(self.body)

    @property
    def reached_upstream(self) -> bool:
        return self.upstream is not None

    @property
    def upstream_headers(self) -> Headers | None:
        return self.upstream.headers if self.upstream else None

    @property
    def upstream_body(self) -> bytes | None:
        return self.upstream.body if self.upstream else None

    def upstream_json(self) -> Any:
        if self.upstream is None:
            raise AssertionError("the request did not reach the upstream")
        return _json.loads(self.upstream.body)

    def logs_at(self, level: str) -> list[str]:
        return [m for lv, m in self.logs if lv == level]

    @property
    def response_code_details(self) -> str | None:
        return self.stream.response_code_details


class Stream:
    """Low-level, ABI-shaped control of one HTTP stream (like proxytest's HTTP methods).

    Each method delivers one Envoy event and returns the raw value the filter's callback
    returned, or None when Envoy would not call the filter (stopped, failed, ended).
    Nothing goes upstream by itself: read ``upstream_request`` and feed the response.
    Header maps are delivered as given: build them with ``downstream.coalesce`` and
    ``downstream.normalize_request_path`` to get what Envoy's codec and HCM would hand over.
    """

    def __init__(self, host: Host, stream: HttpStream) -> None:
        self.host = host
        self.s = stream
        self.id = stream.id

    def request_headers(self, headers: Any, end_stream: bool = False) -> int | None:
        return self.s.decode_headers(HeaderMap(to_pairs(headers)), end_stream)

    def request_body(self, chunk: bytes | str, end_stream: bool = False) -> int | None:
        return self.s.decode_data(chunk.encode() if isinstance(chunk, str) else chunk, end_stream)

    def request_trailers(self, trailers: Any) -> int | None:
        return self.s.decode_trailers(HeaderMap(to_pairs(trailers)))

    def response_headers(self, headers: Any, end_stream: bool = False) -> int | None:
        return self.s.encode_headers(HeaderMap(to_pairs(headers)), end_stream)

    def response_body(self, chunk: bytes | str, end_stream: bool = False) -> int | None:
        return self.s.encode_data(chunk.encode() if isinstance(chunk, str) else chunk, end_stream)

    def response_trailers(self, trailers: Any) -> int | None:
        return self.s.encode_trailers(HeaderMap(to_pairs(trailers)))

    def idle_timeout(self) -> None:
        self.s.idle_timeout()

    def complete(self) -> None:
        """``proxy_on_log``, ``proxy_on_done``, ``proxy_on_delete``."""
        self.s.complete()

    # --- inspection ---
    @property
    def current_request_headers(self) -> Headers | None:
        m = self.s.request_headers_live
        return m.view() if m is not None else None

    @property
    def current_response_headers(self) -> Headers | None:
        m = self.s.response_headers_live
        return m.view() if m is not None else None

    @property
    def request_body_buffer(self) -> bytes | None:
        """What the filter has buffered (or sees) on the request side."""
        b = self.s.request_body if self.s.request_body is not None else self.s.dec.buffer
        return bytes(b)

    @property
    def upstream_request(self) -> UpstreamRequest | None:
        return self.s.upstream_request

    @property
    def local_reply(self) -> LocalReply | None:
        return self.s.local_reply

    @property
    def downstream_headers(self) -> Headers | None:
        m = self.s.downstream_headers
        return m.view() if m is not None else None

    @property
    def downstream_body(self) -> bytes:
        return bytes(self.s.downstream_body)

    @property
    def finished(self) -> bool:
        return self.s.finished

    @property
    def route(self) -> str | None:
        return self.s.route

    @property
    def filter_state(self) -> dict[str, bytes]:
        return self.s.filter_state


class Harness:
    """A loaded filter (one Wasm VM, one Envoy worker) and the requests run through it."""

    def __init__(self, host: Host,
                 http_call_handler: Callable[[Callout], UpstreamResponse | None] | None = None,
                 *, coalesce_inline_headers: bool = True, normalize_path: bool = True,
                 merge_slashes: bool = True):
        self.host = host
        self.http_call_handler = http_call_handler
        self.coalesce_inline_headers = coalesce_inline_headers
        self.normalize_path = normalize_path
        self.merge_slashes = merge_slashes

    @classmethod
    def load(
        cls,
        wasm: str | os.PathLike[str] | bytes,
        *,
        plugin_config: bytes | str = b"",
        vm_config: bytes | str = b"",
        properties: Mapping[Any, Any] | None = None,
        allow_on_headers_stop_iteration: bool = False,
        failure_policy: str = "closed",
        max_request_bytes: int | None = None,
        buffer_limit: int = 1 << 20,
        log_level: str | int = "info",
        plugin_name: str = "aipol",
        root_id: str = "",
        vm_id: str = "",
        environment: Mapping[str, str] | None = None,
        shared_data: SharedData | None = None,
        stats: Stats | None = None,
        clusters: set[str] | None = None,
        clock: Callable[[], int] | None = None,
        http_call_handler: Callable[[Callout], UpstreamResponse | None] | None = None,
        coalesce_inline_headers: bool = True,
        normalize_path: bool = True,
        merge_slashes: bool = True,
    ) -> Harness:
        """Load and start a filter; raises ``WasmLoadError`` where Envoy would refuse it.

        The last three options shape what ``request`` hands the filter, as Envoy 1.40 does
        under aipol's bootstrap (see ``downstream``): ``coalesce_inline_headers`` joins a
        repeated inline header (``authorization``, ``content-type``, ``host``...) into one
        comma-separated value, in requests and in upstream responses, like Envoy's HTTP/1
        codec; ``normalize_path``/``merge_slashes`` are the HCM options of the same names
        (both on in aipol's bootstrap): dot segments removed, unreserved characters
        percent-decoded, repeated slashes merged, on the path part of ``:path`` only; a
        path Envoy refuses (``%00``, a ``#``) gets its 400 without the filter seeing it.
        """
        code = bytes(wasm) if isinstance(wasm, bytes | bytearray) else Path(wasm).read_bytes()
        host = Host(
            code,
            plugin_config=plugin_config.encode() if isinstance(plugin_config, str)
            else plugin_config,
            vm_config=vm_config.encode() if isinstance(vm_config, str) else vm_config,
            properties=properties,
            allow_on_headers_stop_iteration=allow_on_headers_stop_iteration,
            failure_policy=failure_policy,
            max_request_bytes=max_request_bytes,
            buffer_limit=buffer_limit,
            log_level=log_level,
            plugin_name=plugin_name,
            root_id=root_id,
            vm_id=vm_id,
            environment=environment,
            shared_data=shared_data,
            stats=stats,
            clusters=clusters,
            clock=clock,
        )
        return cls(host, http_call_handler, coalesce_inline_headers=coalesce_inline_headers,
                   normalize_path=normalize_path, merge_slashes=merge_slashes)

    # --- state ---
    @property
    def logs(self) -> list[tuple[str, str]]:
        return self.host.logs

    def logs_at(self, level: str) -> list[str]:
        return [m for lv, m in self.host.logs if lv == level]

    @property
    def shared_data(self) -> SharedData:
        return self.host.shared_data

    @property
    def stats(self) -> Stats:
        return self.host.stats

    @property
    def callouts(self) -> list[Callout]:
        return self.host.callouts

    @property
    def pending_callouts(self) -> list[Callout]:
        return [c for c in self.host.callouts if c.pending]

    @property
    def failed(self) -> bool:
        return self.host.failed

    @property
    def trap_message(self) -> str | None:
        return self.host.trap_message

    @property
    def tick_period_ms(self) -> int:
        return self.host.root.tick_period_ms

    def metric(self, name: str) -> int | tuple[int, ...]:
        """Absolute value of a metric (samples for a histogram); KeyError if undefined."""
        stat = self.host.stats.find(name)
        if stat is None:
            raise KeyError(name)
        return tuple(stat.samples) if stat.type == 2 else stat.value

    def prometheus_text(self) -> str:
        return self.host.stats.prometheus_text()

    def set_property(self, path: Any, value: Any) -> None:
        from .properties import normalize_path

        self.host.supplied_properties[normalize_path(path)] = value

    # --- root events ---
    def tick(self) -> bool:
        return self.host.tick()

    def advance_time(self, ms: int) -> int:
        return self.host.advance_time(ms)

    def respond_http_call(self, token: int, headers: Any = None, body: bytes | str = b"",
                          trailers: Any = None, *, status: int | None = None) -> None:
        self.host.respond_http_call(token, headers, body, trailers, status=status)

    def fail_http_call(self, token: int) -> None:
        self.host.fail_http_call(token)

    def register_foreign_function(self, name: str, fn: Callable[[bytes], bytes | None]) -> None:
        self.host.register_foreign_function(name, fn)

    def close(self) -> None:
        """Shut the VM down: ``proxy_on_done(root)`` (then ``proxy_on_delete``)."""
        self.host.shutdown()

    # --- streams ---
    def new_stream(self, router: Router | None = None) -> Stream:
        return Stream(self.host, self.host.new_stream(router=router))

    def request(
        self,
        method: str = "GET",
        path: str = "/",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: Body = None,
        *,
        chunks: int | Sequence[bytes | str] | None = None,
        trailers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        upstream: UpstreamResponse | Callable[[UpstreamRequest], UpstreamResponse] | None = None,
        router: Router | None = None,
        authority: str = "localhost:10000",
        http_call_handler: Callable[[Callout], UpstreamResponse | None] | None = None,
    ) -> Result:
        """Run one request end to end.

        ``body``: bytes, str, or a JSON-able object (sent as JSON with
        ``content-type: application/json`` unless given). ``chunks``: an int splits the
        body into chunks of that size; a list gives the chunks themselves.
        Headers get what Envoy's HCM adds: ``x-forwarded-proto``, ``x-request-id``, and
        ``content-length`` for a body (unless ``transfer-encoding`` is given). Repeated
        inline headers are coalesced and ``:path`` normalised as set at ``load``; a request
        Envoy answers itself before the filter chain (a path it refuses, a request target
        its HTTP/1 codec rejects) gives a Result with Envoy's 400 and no filter callback.

        ``r.metrics`` holds per-request *deltas* of the filter's metrics (counters and
        gauges: value after minus before; histograms: the samples recorded), keyed by the
        name the filter defined (without ``wasmcustom.``); only changed ones appear.
        """
        host = self.host
        handler = http_call_handler or self.http_call_handler
        log_start = len(host.logs)
        before = host.stats.snapshot()
        callouts_before = len(host.callouts)

        body_bytes, is_json = _encode_body(body)
        if chunks is None:
            parts = [body_bytes] if body_bytes else []
        elif isinstance(chunks, int):
            size = max(1, chunks)
            parts = [body_bytes[i:i + size] for i in range(0, len(body_bytes), size)]
        else:
            parts = [c.encode() if isinstance(c, str) else bytes(c) for c in chunks]
            body_bytes = b"".join(parts)

        raw_path = path.encode()
        rejection = check_request_target(raw_path)
        if rejection is None:
            normalized = normalize_request_path(raw_path, normalize_path=self.normalize_path,
                                                merge_slashes_=self.merge_slashes)
            if isinstance(normalized, Rejection):
                rejection = normalized
            else:
                raw_path = normalized
        pairs = [(b":authority", authority.encode()), (b":path", raw_path),
                 (b":method", method.upper().encode()), (b":scheme", b"http")]
        user = to_pairs(headers)
        names = {k for k, _ in user}
        if b"host" in names:
            hosts = [(k, v) for k, v in user if k == b"host"]
            # `host` is the legacy name of `:authority`: repeated, it coalesces like it
            pairs[0] = coalesce(hosts)[0] if self.coalesce_inline_headers else (
                b":authority", hosts[0][1])
            user = [(k, v) for k, v in user if k != b"host"]
        pairs += user
        if is_json and b"content-type" not in names:
            pairs.append((b"content-type", b"application/json"))
        if parts and b"content-length" not in names and b"transfer-encoding" not in names:
            pairs.append((b"content-length", str(len(body_bytes)).encode()))
        if b"x-forwarded-proto" not in names:
            pairs.append((b"x-forwarded-proto", b"http"))
        if b"x-request-id" not in names:
            pairs.append((b"x-request-id", str(uuid.uuid4()).encode()))
        if self.coalesce_inline_headers:
            pairs = coalesce(pairs)

        if rejection is not None:  # Envoy answers before any HTTP filter exists
            stream = host.new_stream(router=router)
            stream.reject_before_filters(HeaderMap(pairs), rejection.status, rejection.body,
                                         rejection.details)
            stream.complete()
            return self._result(stream, log_start, before, callouts_before, False)

        up = upstream if upstream is not None else openai_chat_completion

        def on_upstream(stream: HttpStream) -> None:
            assert stream.upstream_request is not None
            resp = up(stream.upstream_request) if callable(up) else up
            chunks_out = resp.chunks()
            resp_trailers = to_pairs(resp.trailers) if resp.trailers else None
            resp_headers = resp.header_pairs()
            if self.coalesce_inline_headers:  # Envoy's upstream HTTP/1 codec
                resp_headers = coalesce(resp_headers, response=True)
            stream.encode_headers(HeaderMap(resp_headers), not chunks_out and not resp_trailers)
            for i, c in enumerate(chunks_out):
                last = i == len(chunks_out) - 1
                stream.encode_data(c, last and not resp_trailers)
            if resp_trailers:
                stream.encode_trailers(HeaderMap(resp_trailers))

        stream = host.new_stream(router=router, on_upstream=on_upstream)
        stream.decode_headers(HeaderMap(pairs), not parts and not trailers)
        for i, c in enumerate(parts):
            stream.decode_data(c, i == len(parts) - 1 and not trailers)
        if trailers:
            stream.decode_trailers(HeaderMap(to_pairs(trailers)))
        self._settle(stream, handler)
        hung = False
        if not stream.finished:
            hung = True
            stream.idle_timeout()
            if not stream.finished:  # the filter stopped the timeout reply too
                stream.idle_timeout()
        stream.complete()
        return self._result(stream, log_start, before, callouts_before, hung)

    def _settle(self, stream: HttpStream,
                handler: Callable[[Callout], UpstreamResponse | None] | None) -> None:
        """Answer pending HTTP callouts with ``handler`` until the stream stops progressing."""
        if handler is None:
            return
        progress = True
        while progress and not stream.finished:
            progress = False
            for callout in [c for c in self.host.callouts if c.pending]:
                resp = handler(callout)
                if resp is None:
                    continue
                body = b"".join(resp.chunks())
                self.host.respond_http_call(callout.token, resp.header_pairs(), body,
                                            resp.trailers, status=resp.status)
                progress = True

    def _result(self, stream: HttpStream, log_start: int, before: dict[str, Any],
                callouts_before: int, hung: bool) -> Result:
        host = self.host
        after = host.stats.snapshot()
        deltas: dict[str, int | tuple[int, ...]] = {}
        for name, value in after.items():
            short = name[len(CUSTOM_PREFIX):] if name.startswith(CUSTOM_PREFIX) else name
            old = before.get(name)
            if isinstance(value, tuple):
                new = value[len(old or ()):]  # type: ignore[arg-type]
                if new:
                    deltas[short] = new
            elif value != (old or 0):
                deltas[short] = value - (old or 0)  # type: ignore[operator]
        dh = stream.downstream_headers
        status = None
        if dh is not None and not stream.reset:
            s = dh.get(b":status")
            status = int(s) if s and s.isdigit() else None
        return Result(
            status=status,
            headers=dh.view() if dh is not None else Headers(),
            body=bytes(stream.downstream_body),
            trailers=stream.downstream_trailers.view() if stream.downstream_trailers else None,
            upstream=stream.upstream_request,
            route=stream.upstream_request.route if stream.upstream_request else stream.route,
            filter_state=dict(stream.filter_state),
            local_reply=stream.local_reply,
            logs=host.logs[log_start:],
            metrics=deltas,
            hung=hung,
            trapped=stream.trapped,
            trap_message=host.trap_message if stream.trapped else None,
            reset=stream.reset,
            route_cache_clears=stream.route_cache_clears,
            header_mutation_route_clears=stream.header_mutation_clears,
            callouts=host.callouts[callouts_before:],
            stream=stream,
        )
