"""The HTTP path through the emulated Envoy chain, driven by the probe filter."""

import pytest
from aipol.wasm_runtime import UpstreamResponse

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def log_lines(r, prefix):
    return [m for _, m in r.logs if m.startswith(prefix)]


# ------------------------------------------------------------------ basic request path --
def test_round_trip_with_default_upstream(probe):
    r = probe.request("POST", "/v1/chat/completions",
                      headers={"authorization": "Bearer k"}, body=CHAT)
    assert r.status == 200
    assert r.json()["model"] == "gpt-4o"  # the canned upstream echoes the model
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-filter"] == "probe"  # added in proxy_on_response_headers
    assert r.upstream_json() == CHAT
    assert r.upstream_headers["content-length"] == str(len(r.upstream_body))
    assert r.reached_upstream and not r.hung and not r.trapped
    # callback order, Envoy's: log before done before delete
    msgs = [m.split(" ")[0] for _, m in r.logs]
    assert msgs == ["rh", "rh", "rb", "resph", "respb", "log", "done", "delete"]


def test_request_headers_as_the_filter_sees_them(probe):
    r = probe.request("GET", "/x?y=1", headers={"X-Mixed-Case": "v"})
    (line,) = log_lines(r, "rh ctx")
    # :authority :path :method :scheme x-mixed-case x-forwarded-proto x-request-id
    assert line == "rh ctx=2 n=7 eos=1"
    keys = [k for k, _ in r.upstream_headers.pairs]
    assert keys[:4] == [":authority", ":path", ":method", ":scheme"]
    assert "x-mixed-case" in keys  # lower-cased


def test_header_mutation_before_continue_reaches_upstream(probe):
    r = probe.request("POST", "/", headers={"x-add": "yes"}, body="abc")
    assert r.upstream_headers["x-added"] == "yes"
    assert r.header_mutation_route_clears == 1  # ABI 0.2.1: mutations clear the route cache


def test_header_availability_after_continue(probe):
    """§5.1: after headers returned Continue, mutations are BadArgument, pairs Ok+empty."""
    r = probe.request("POST", "/p", body="abc")
    (line,) = log_lines(r, "rb ")
    assert "add=2 val=2 pairs=0 plen=0" in line
    assert "x-late" not in r.upstream_headers
    (resp,) = log_lines(r, "respb ")
    assert "add=2" in resp  # same rule for response headers
    assert "x-late" not in r.headers


def test_log_phase_maps_are_read_only(probe):
    r = probe.request("GET", "/logged")
    (line,) = log_lines(r, "log ")
    # request headers readable, request trailers NotFound(1), mutations BadArgument(2)
    assert line == "log path r=0 v=/logged trailers r=1 add r=2"


# ------------------------------------------------------------ header status mapping --
def test_pause_from_request_headers_hangs(probe):
    """Pause(1) becomes StopAllIteration: no body callback; the stream idles out."""
    r = probe.request("POST", "/", headers={"x-rh-ret": "1"}, body="hello")
    assert log_lines(r, "rb ") == []
    assert r.hung and r.status == 408 and r.body == b"stream timeout"
    assert r.local_reply.details == "stream_idle_timeout"
    assert not r.reached_upstream
    # the timeout reply goes through the filter's encoder callbacks
    assert log_lines(r, "resph") == ["resph status=408 eos=0 ct=text/plain"]


def test_pause_with_allow_on_headers_stop_iteration(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, allow_on_headers_stop_iteration=True)
    r = h.request("POST", "/", headers={"x-rh-ret": "1"}, body="hello")
    (line,) = log_lines(r, "rb ")
    # headers are held: still mutable from the body callback
    assert "add=0 val=0" in line
    assert r.status == 200 and r.upstream_headers["x-late"] == "1"


@pytest.mark.parametrize("ret", [3, 4, 7], ids=["stop-all-buffer", "stop-all-watermark", ">4"])
def test_stop_all_statuses_hang(probe, ret):
    r = probe.request("POST", "/", headers={"x-rh-ret": str(ret)}, body="x")
    assert r.hung and log_lines(r, "rb ") == []


def test_continue_and_end_stream_is_continue(probe):
    r = probe.request("POST", "/", headers={"x-rh-ret": "2"}, body="x")
    assert r.status == 200 and r.upstream_body == b"x"


def test_continue_stream_inside_headers_callback_resumes(probe):
    r = probe.request("POST", "/", headers={"x-rh-ret": "1", "x-continue-in-rh": "1"},
                      body="held")
    assert r.status == 200 and not r.hung
    (line,) = log_lines(r, "rb ")
    assert "body=held" in line and "val=2" in line  # headers gone after continue


# --------------------------------------------------------------------------- bodies --
def test_chunks_are_delivered_one_by_one_when_continuing(probe):
    r = probe.request("POST", "/", body="abcdefgh", chunks=3)
    sizes = [m.split()[1] for m in log_lines(r, "rb ")]
    assert sizes == ["size=3", "size=3", "size=2"]
    assert r.upstream_body == b"abcdefgh"


def test_buffering_accumulates(probe):
    r = probe.request("POST", "/", headers={"x-rb-ret": "1"}, body="abcdefgh", chunks=3)
    lines = log_lines(r, "rb ")
    assert [m.split()[1] for m in lines] == ["size=3", "size=6", "size=8"]
    assert lines[-1].split(" add=")[0].endswith("body=abcdefgh")
    assert r.upstream_body == b"abcdefgh"


def test_stop_no_buffer_drops_data(probe):
    r = probe.request("POST", "/", headers={"x-rb-ret": "3"}, body="abcdef", chunks=2)
    assert [m.split()[1] for m in log_lines(r, "rb ")] == ["size=2", "size=2", "size=2"]
    assert r.upstream_body == b"ef"


def test_buffering_until_end_then_stop_hangs(probe):
    r = probe.request("POST", "/", headers={"x-rb-eos-ret": "1"}, body="abc")
    assert r.hung and r.status == 408


@pytest.mark.parametrize(
    ("op", "result", "expected"),
    [
        ("upper", 0, b"HELLO WORLD"),  # start 0, size len: replace
        ("prepend", 0, b"PREhello world"),  # start 0, size 0: prepend
        ("append", 0, b"hello worldPOST"),  # start >= len: append
        ("drain", 0, b"llo world"),  # start 0, size 2, no data: drain
        ("mid", 2, b"hello world"),  # 0 < start < len: BadArgument
        ("replace", 0, b'{"replaced":true}'),
    ],
)
def test_set_buffer_bytes_modes(probe, op, result, expected):
    r = probe.request("POST", "/", headers={"x-rb-op": op, "x-rb-ret": "1"},
                      body="hello world", chunks=4)
    assert log_lines(r, "set r=") == [f"set r={result}"]
    assert r.upstream_body == expected


def test_body_change_without_content_length_is_reframed(probe):
    r = probe.request("POST", "/", headers={"x-rb-op": "replace", "x-rm-cl": "1"}, body="abc")
    assert r.upstream_body == b'{"replaced":true}'
    assert r.upstream_headers["content-length"] == "17"  # the buffer filter fills it in
    assert not r.upstream.content_length_mismatch


def test_body_change_with_stale_content_length_is_flagged(probe):
    r = probe.request("POST", "/", headers={"x-rb-op": "replace"}, body="abc")
    assert r.upstream_headers["content-length"] == "3"
    assert r.upstream.content_length_mismatch


def test_max_request_bytes_413(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, max_request_bytes=10)
    r = h.request("POST", "/", body="x" * 25, chunks=5)
    assert r.status == 413 and r.body == b"Payload Too Large"
    assert r.local_reply.details == "request_payload_too_large"
    assert not r.reached_upstream
    assert log_lines(r, "resph") == ["resph status=413 eos=0 ct=text/plain"]


def test_request_trailers(probe):
    r = probe.request("POST", "/", body="abc", trailers={"x-checksum": "1"})
    assert log_lines(r, "rt ") == ["rt n=1"]
    assert r.upstream.trailers["x-checksum"] == "1"
    assert "eos=0" in log_lines(r, "rb ")[0]


# ---------------------------------------------------------------------- routing --
def test_route_from_filter_state_needs_clear_route_cache(probe):
    """The buffer filter computes the route when headers pass; set it later + clear."""
    stale = probe.request("POST", "/", headers={"x-rb-op": "route"}, body=CHAT)
    assert stale.filter_state["wasm.aipol_backend"] == b"openai"
    assert stale.route is None and stale.route_cache_clears == 0

    fresh = probe.request("POST", "/", headers={"x-rb-op": "route", "x-clear": "1"}, body=CHAT)
    assert log_lines(fresh, "clear r=") == ["clear r=0"]
    assert fresh.route == "openai" and fresh.route_cache_clears == 1


def test_route_set_in_headers_is_seen(probe):
    r = probe.request("GET", "/", headers={"x-set-prop": "anthropic"})
    assert r.route == "anthropic"


def test_custom_router(probe):
    seen = []

    def router(headers, state):
        seen.append((headers[":path"], dict(state)))
        return "by-path" if headers[":path"] == "/a" else None

    r = probe.request("GET", "/a", router=router, headers={"x-set-prop": "z"})
    assert r.route == "by-path"
    assert seen == [("/a", {"wasm.aipol_backend": b"z"})]


# ------------------------------------------------------------------ local replies --
def test_local_reply_in_request_headers_goes_through_encoder(probe):
    r = probe.request("POST", "/", headers={"x-local": "401", "x-local-at": "rh"}, body="abc")
    assert r.status == 401 and r.body == b"denied"
    assert r.headers["x-lr"] == "1" and r.headers["content-length"] == "6"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["x-filter"] == "probe"  # the filter's own response callback ran
    assert r.local_reply.details == "denied_by_probe"  # whitespace -> _
    assert r.local_reply.source == "filter"
    assert not r.reached_upstream
    assert log_lines(r, "rb ") == []  # the return value (0) was overridden: stop
    assert log_lines(r, "resph") == ["resph status=401 eos=0 ct=text/plain"]
    assert [m.split()[0] for m in log_lines(r, "respb")] == ["respb"]


def test_local_reply_at_end_of_body(probe):
    r = probe.request("POST", "/", headers={"x-local": "429", "x-local-at": "rb"}, body="abc")
    assert r.status == 429 and not r.reached_upstream


def test_local_reply_in_response_headers_is_sent_directly(probe):
    r = probe.request("GET", "/", headers={"x-local": "500", "x-local-at": "resph"})
    assert r.status == 500 and r.body == b"denied"
    assert r.reached_upstream
    assert len(log_lines(r, "resph")) == 1  # not re-entered: direct reply
    assert "x-filter" not in r.headers


def test_local_reply_after_headers_sent_resets(probe):
    r = probe.request("GET", "/", headers={"x-local": "500", "x-local-at": "respb"})
    assert r.reset and r.status is None


# ----------------------------------------------------------------------- response --
def test_response_body_buffering_and_rewrite(probe):
    up = UpstreamResponse(200, {"content-type": "text/plain"}, ["ab", "cd", "ef"])
    r = probe.request("GET", "/", headers={"x-respb-ret": "1", "x-respb-op": "upper"},
                      upstream=up)
    assert [m.split()[1] for m in log_lines(r, "respb")] == ["size=2", "size=4", "size=6"]
    assert r.body == b"ABCDEF"


def test_streaming_sse_chunks(probe):
    up = UpstreamResponse.sse([{"choices": [{"delta": {"content": "Hi"}}]}])
    r = probe.request("POST", "/v1/chat/completions", body=CHAT, upstream=up)
    lines = log_lines(r, "respb")
    assert [m.split()[2] for m in lines] == ["eos=0", "eos=1"]
    assert r.body.endswith(b"data: [DONE]\n\n")
    assert r.headers["content-type"] == "text/event-stream"


def test_upstream_callable_sees_the_upstream_request(probe):
    def upstream(req):
        assert req.method == "POST" and req.path == "/v1/x"
        return UpstreamResponse(201, {"x-up": "1"}, {"echo": req.json()})

    r = probe.request("POST", "/v1/x", body={"a": 1}, upstream=upstream)
    assert r.status == 201 and r.json() == {"echo": {"a": 1}} and r.headers["x-up"] == "1"


def test_pause_from_response_headers_hangs(probe):
    r = probe.request("GET", "/", headers={"x-resp-ret": "1"})
    assert r.hung and r.status == 408
    # the response had started: the timeout reply bypasses the filter
    assert len(log_lines(r, "resph")) == 1


# -------------------------------------------------------------------------- traps --
def test_trap_fail_closed(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm)
    r = h.request("POST", "/", headers={"x-trap-at": "rb"}, body="abc")
    assert r.trapped and h.failed
    assert r.status == 503 and r.body == b""
    assert r.local_reply.details == "wasm_fail_stream" and r.local_reply.grpc_status == 14
    assert "proxy_on_request_body failed" in r.trap_message
    assert "unreachable" in r.trap_message
    later = h.request("GET", "/")
    assert later.status == 503 and later.logs == [] and not later.reached_upstream


def test_trap_fail_open(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, failure_policy="open")
    r = h.request("POST", "/", headers={"x-trap-at": "rh"}, body="abc")
    assert r.trapped and r.status == 200 and r.upstream_body == b"abc"
    later = h.request("GET", "/")
    assert later.status == 200 and later.logs == [] and "x-filter" not in later.headers


@pytest.mark.parametrize("where", ["resph", "respb"])
def test_trap_in_response_fail_closed(probe, where):
    r = probe.request("GET", "/", headers={"x-trap-at": where})
    assert r.trapped
    if where == "resph":
        assert r.status == 503  # headers not sent yet: direct 503
    else:
        assert r.reset  # headers already went downstream


# ------------------------------------------------------------------- low level API --
def test_low_level_stream_api(probe):
    s = probe.new_stream()
    assert s.request_headers({":method": "POST", ":path": "/", "x-rb-ret": "1"}) == 0
    assert s.request_body(b"ab") == 1
    assert s.request_body(b"cd", end_stream=True) == 0
    assert s.upstream_request.body == b"abcd"
    assert s.response_headers({":status": "200"}) == 0
    assert s.downstream_headers["x-filter"] == "probe"
    assert s.response_body(b"ok", end_stream=True) == 0
    assert s.finished and s.downstream_body == b"ok"
    s.complete()
    assert probe.logs[-1] == ("info", "delete 2")


def test_low_level_stop_all_suppresses_body_until_continue(probe):
    s = probe.new_stream()
    assert s.request_headers({":method": "POST", ":path": "/", "x-rh-ret": "1"}) == 1
    assert s.request_body(b"ab") is None  # not delivered
    assert s.request_body(b"cd", end_stream=True) is None
    assert s.upstream_request is None
