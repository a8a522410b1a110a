"""The ABI glue (abi.c) driven through the harness (aipol.wasm_runtime, the
Envoy 1.40 twin): routing to the policy hooks, body buffering and
rewriting, and the error replies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import pytest
from aipol.wasm_runtime import Harness, Host, Result, WasmLoadError
from aipol.wasm_runtime import abi as wasm_abi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

(REQUIRE_KEY, INSERT_SYSTEM, SET_MODEL, BODY_CALLS, LAST_HAD_REQ, RESPONSE_CALLS, HEADER_PROBE) = (
    range(7)
)
CHAT = "/v1/chat/completions"
JSON_CT = [("content-type", "application/json")]
CHUNKED = [("transfer-encoding", "chunked")]  # no content-length: the body is buffered
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
CONFIG = (
    f"aipol-config 1\nkey {hashlib.sha256(b'sk-alice').hexdigest()} alice team-a gold\n"
).encode()
BACKEND = {"wasm.aipol_backend": b"primary"}

# The test module's own exports (policy_stub.c, -DAIPOL_TEST_EXPORTS): the
# host links the exports its callback table names, so they are added to it
# while a filter loads; they are then called like callbacks, on the root.
TEST_EXPORTS = {
    "stub_set": (2, 0),
    "stub_get": (1, 1),
    "aipol_test_live_streams": (0, 1),
    "aipol_test_heap_check": (0, 1),
}


@pytest.fixture(scope="module")
def wasm(built) -> bytes:
    return Path(built[1]).read_bytes()


def load(wasm: bytes, config: bytes = CONFIG) -> Harness:
    with patch.dict(wasm_abi.CALLBACKS, TEST_EXPORTS):
        return Harness.load(wasm, plugin_config=config)


@contextmanager
def failing_load() -> Iterator[list[Host]]:
    """Expects the load to fail in proxy_on_configure; yields [the host]
    (Harness.load raises, so the host is caught on its way to start)."""
    hosts: list[Host] = []
    start = Host._start

    def recording_start(self: Host) -> None:
        hosts.append(self)
        start(self)

    with (
        patch.object(Host, "_start", recording_start),
        pytest.raises(WasmLoadError, match="proxy_on_configure returned false"),
    ):
        yield hosts
    assert len(hosts) == 1


def call(h: Harness, name: str, *args: int) -> int | None:
    return h.host.call(h.host.root_id, name, *args)


def stub_set(h: Harness, knob: int, value: int) -> None:
    call(h, "stub_set", knob, value)


def stub_get(h: Harness, knob: int) -> int | None:
    return call(h, "stub_get", knob)


def assert_clean(h: Harness) -> None:
    """No stream left in the filter's table, and the heap is consistent."""
    assert not h.failed, h.trap_message
    assert call(h, "aipol_test_live_streams") == 0
    assert call(h, "aipol_test_heap_check") == 0


@pytest.fixture
def h(wasm: bytes) -> Iterator[Harness]:
    harness = load(wasm)
    yield harness
    assert_clean(harness)
    harness.close()


def error_of(r: Result) -> tuple[int, dict]:
    """The OpenAI error a local reply from the filter carries."""
    assert not r.trapped, r.trap_message
    assert r.local_reply is not None and r.local_reply.source == "filter", "expected a local reply"
    assert not r.reached_upstream
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert r.response_code_details == "aipol_" + err["code"]
    assert err["param"] is None
    assert r.status == r.local_reply.status
    return r.status, err


def passed(r: Result) -> None:
    assert not r.trapped, r.trap_message
    assert r.local_reply is None, r.body
    assert r.reached_upstream
    assert r.status == 200


def test_chat_request_passes(h) -> None:
    r = h.request("POST", CHAT, [*JSON_CT, ("content-length", str(len(BODY)))], BODY)
    passed(r)
    assert r.upstream_body == BODY
    assert not r.upstream.content_length_mismatch
    assert r.filter_state == BACKEND
    assert r.route == "primary"
    assert r.route_cache_clears == 1
    assert stub_get(h, LAST_HAD_REQ) == 1
    assert r.headers["x-aipol-policy"] == "stub"
    assert r.metrics == {}, "no per-request counters"
    assert call(h, "aipol_test_live_streams") == 0


def test_body_buffered_across_chunks(h) -> None:
    s = h.new_stream()
    headers = [
        (":method", "POST"),
        (":path", CHAT),
        (":authority", "localhost"),
        (":scheme", "http"),
        *JSON_CT,
        ("content-length", str(len(BODY))),
    ]
    assert s.request_headers(headers) == 0
    assert "content-length" not in s.current_request_headers  # body edits change the length
    step = -(-len(BODY) // 4)
    pieces = [BODY[i : i + step] for i in range(0, len(BODY), step)]
    statuses = [s.request_body(p, i == len(pieces) - 1) for i, p in enumerate(pieces)]
    assert statuses == [1] * (len(pieces) - 1) + [0]  # StopIterationAndBuffer, then Continue
    assert s.upstream_request is not None
    assert s.upstream_request.body == BODY
    assert s.upstream_request.route == "primary"
    s.complete()


@pytest.mark.parametrize("mode", [1, 2])
def test_body_rewrite(h, mode: int) -> None:
    stub_set(h, INSERT_SYSTEM, mode)
    stub_set(h, SET_MODEL, 1)
    r = h.request("POST", CHAT, JSON_CT, BODY)
    passed(r)
    doc = r.upstream_json()
    system = {"role": "system", "content": "be nice"}
    user = {"role": "user", "content": "hi"}
    assert doc["model"] == "gpt-routed"
    assert doc["messages"] == ([system, user] if mode == 1 else [user, system])
    # the edited body is re-framed: the stale content-length did not go upstream
    assert not r.upstream.content_length_mismatch
    assert r.upstream_headers["content-length"] == str(len(r.upstream_body))
    assert r.json()["model"] == "gpt-routed"  # the mock upstream echoes the model


def test_unknown_url(h) -> None:
    r = h.request("POST", "/v1/foo?x=1", JSON_CT, b"{}")
    status, err = error_of(r)
    assert status == 404
    assert err["code"] == "unknown_url"
    assert err["type"] == "invalid_request_error"
    assert err["message"] == "Unknown request URL: POST /v1/foo."
    assert r.metrics == {"aipol.denied.unknown_url": 1}
    assert stub_get(h, RESPONSE_CALLS) == 0
    assert "x-aipol-policy" not in r.headers


def test_get_without_body_runs_body_phase_in_headers(h) -> None:
    r = h.request("GET", "/v1/models")
    passed(r)
    assert stub_get(h, BODY_CALLS) == 1
    assert stub_get(h, LAST_HAD_REQ) == 0
    assert r.filter_state == BACKEND
    assert r.route == "primary"


@pytest.mark.parametrize(
    "ct",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ",
    ],
)
def test_json_content_types(h, ct: str) -> None:
    passed(h.request("POST", CHAT, [("content-type", ct)], BODY))


@pytest.mark.parametrize(
    "ct", [None, "text/plain", "application/jsonx", "application/x-www-form-urlencoded"]
)
def test_unsupported_media_type(h, ct: str | None) -> None:
    headers = [("content-type", ct)] if ct else []
    status, err = error_of(h.request("POST", CHAT, headers, BODY))
    assert status == 415
    assert err["code"] == "unsupported_media_type"


def test_content_length_too_large(h) -> None:
    r = h.request("POST", CHAT, [*JSON_CT, ("content-length", "5000")], b"{}")
    status, err = error_of(r)
    assert status == 413
    assert "4096" in err["message"]
    assert stub_get(h, BODY_CALLS) == 0


def test_buffered_body_too_large(h) -> None:
    body = b'{"model":"' + b"x" * 5000 + b'"}'
    r = h.request("POST", CHAT, [*JSON_CT, *CHUNKED], body, chunks=-(-len(body) // 3))
    status, err = error_of(r)
    assert status == 413
    assert err["code"] == "request_too_large"
    assert stub_get(h, BODY_CALLS) == 0


@pytest.mark.parametrize(
    "body,code,fragment",
    [
        (b"{", "invalid_json", "not valid JSON"),
        (b"", "invalid_json", "not valid JSON"),
        (None, "invalid_json", "has no body"),
        (b"[" * 1000, "invalid_json", "nested too deeply"),
        (b"[]", "invalid_request", "JSON object"),
        (b'{"model":1}', "invalid_request", "'model'"),
        (b'{"messages":[{"role":2}]}', "invalid_request", "'messages[].role'"),
    ],
    ids=["syntax", "empty", "no-body", "deep", "not-object", "model-type", "role-type"],
)
def test_bad_bodies(h, body: bytes | None, code: str, fragment: str) -> None:
    if body == b"":  # a chunked request with no chunk: an empty body at end of stream
        r = h.request("POST", CHAT, [*JSON_CT, *CHUNKED], chunks=[b""])
    else:
        r = h.request("POST", CHAT, JSON_CT, body)
    status, err = error_of(r)
    assert status == 400
    assert err["code"] == code
    assert err["type"] == "invalid_request_error"
    assert fragment in err["message"]
    assert r.metrics == {f"aipol.denied.{code}": 1}


@pytest.mark.parametrize(
    "headers,code",
    [
        ([], "missing_api_key"),
        ([("authorization", "Bearer sk-bob")], "invalid_api_key"),
        ([("authorization", "Basic abc")], "invalid_api_key"),
        ([("authorization", "Bearer ")], "missing_api_key"),
        ([("authorization", "bearer  sk-alice ")], None),
        ([("x-api-key", "sk-alice")], None),
        ([("authorization", "Basic abc"), ("x-api-key", "sk-alice")], None),
    ],
    ids=["none", "wrong", "basic", "empty", "bearer", "x-api-key", "basic+x-api-key"],
)
def test_api_key_auth(h, headers, code: str | None) -> None:
    stub_set(h, REQUIRE_KEY, 1)
    r = h.request("POST", CHAT, [*JSON_CT, *headers], BODY)
    if code is None:
        passed(r)
        assert r.upstream_headers["x-aipol-principal"] == "alice"
    else:
        status, err = error_of(r)
        assert status == 401
        assert err["code"] == code
        assert stub_get(h, BODY_CALLS) == 0


@pytest.mark.parametrize(
    "mode,value",
    [(1, "changed"), (2, "absent")],
    ids=["set", "remove"],
)
def test_header_read_after_change(h, mode: int, value: str) -> None:
    """The policy reads a request header (served from the snapshot), changes
    it, reads it again: the second read sees the change (the first mutation
    drops the snapshot)."""
    stub_set(h, HEADER_PROBE, mode)
    r = h.request("GET", "/v1/models", [("x-probe", "original")])
    passed(r)
    up = r.upstream_headers
    assert up["x-probe-first"] == "original"
    assert up["x-probe-read"] == value
    assert up.get_all("x-probe") == ([] if mode == 2 else ["changed"])


def test_header_read_after_change_then_abi_reads(h) -> None:
    """After the policy's mutation the runtime's own reads (content-type,
    content-length) go to the host and still see the request."""
    stub_set(h, HEADER_PROBE, 1)
    r = h.request("POST", CHAT, [*JSON_CT, ("x-probe", "original")], BODY)
    passed(r)
    assert r.upstream_headers["x-probe-read"] == "changed"
    assert r.upstream_body == BODY
    status, err = error_of(h.request("POST", CHAT, [("x-probe", "original")], BODY))
    assert (status, err["code"]) == (415, "unsupported_media_type")
    status, err = error_of(h.request("POST", CHAT, [*JSON_CT, ("content-length", "5000")], b"{}"))
    assert status == 413


def test_bad_config_is_rejected(wasm) -> None:
    with failing_load() as hosts:
        load(wasm, b"aipol-config 1\nkey " + b"A" * 64 + b" a b c\n")
    logs = hosts[0].logs
    assert any(
        level == "error" and msg.startswith("aipol: bad plugin configuration line 2: ")
        for level, msg in logs
    )
    assert not any("AAAA" in msg for _, msg in logs), "key material is never logged"


def test_empty_config(wasm) -> None:
    h = load(wasm, b"")
    assert ("info", "aipol: configured, principals: 0") in h.logs
    h.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.integers(1, 4))
def test_never_traps_on_any_body(wasm, body: bytes, chunks: int) -> None:
    h = load(wasm)
    stub_set(h, INSERT_SYSTEM, 1)
    size = max(1, -(-len(body) // chunks))
    for _ in range(2):  # the second request reuses what the first freed
        r = h.request("POST", CHAT, JSON_CT, body, chunks=size)
        assert not r.trapped, r.trap_message
        if r.local_reply is None:
            doc = r.upstream_json()
            assert doc["messages"][0] == {"role": "system", "content": "be nice"}
        else:
            assert r.status == 400
    assert_clean(h)


def test_context_without_headers(h) -> None:
    """An early local reply: Envoy creates the context in the log phase."""
    s = h.new_stream()
    s.complete()  # context create, then log/done (not exported: skipped), delete
    assert not h.failed
    call(h, "proxy_on_delete", s.id)  # unknown ids are ignored
    assert_clean(h)


def test_reconfigure_while_streams_live(wasm) -> None:
    """A new principal table does not free the one a live stream points into."""
    h = load(wasm)
    stub_set(h, REQUIRE_KEY, 1)
    # a stream that stays open, authenticated against the first table
    open_stream = h.new_stream()
    assert (
        open_stream.request_headers(
            [(":method", "POST"), (":path", CHAT), *JSON_CT, ("authorization", "Bearer sk-alice")]
        )
        == 0
    )
    assert open_stream.current_request_headers["x-aipol-principal"] == "alice"

    other = f"aipol-config 1\nkey {hashlib.sha256(b'sk-new').hexdigest()} neo t gold\n"
    host = h.host  # Envoy calls proxy_on_configure again with the new plugin configuration
    host.root.plugin_config = other.encode()
    assert call(h, "proxy_on_configure", host.root_id, len(other)) == 1
    host.root.plugin_config = None

    r = h.request("POST", CHAT, [*JSON_CT, ("authorization", "Bearer sk-new")], BODY)
    passed(r)
    assert r.upstream_headers["x-aipol-principal"] == "neo"
    status, err = error_of(
        h.request("POST", CHAT, [*JSON_CT, ("authorization", "Bearer sk-alice")], BODY)
    )
    assert (status, err["code"]) == (401, "invalid_api_key")

    assert open_stream.request_body(BODY, True) == 0  # the old principal is still valid
    assert open_stream.upstream_request is not None
    open_stream.complete()  # the last stream: the retired table is freed
    assert_clean(h)
    h.close()


def test_request_without_path(wasm) -> None:
    """A CONNECT request has no :path (Envoy's codecs): an unknown URL, nothing more."""
    h = load(wasm)
    s = h.new_stream()
    s.request_headers([(":method", "CONNECT"), (":authority", "example.com:443")], True)
    reply = s.local_reply
    s.complete()
    assert not h.failed, h.trap_message
    assert reply is not None and reply.status == 404
    assert json.loads(reply.body)["error"]["message"] == "Unknown request URL: CONNECT ."
    assert call(h, "aipol_test_live_streams") == 0
    assert call(h, "aipol_test_heap_check") == 0
    h.close()
