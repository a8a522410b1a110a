"""The ABI glue (abi.c) driven through a minimal fake host: routing to the
policy hooks, body buffering and rewriting, and the error replies."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fakehost import FakeHost

REQUIRE_KEY, INSERT_SYSTEM, SET_MODEL, BODY_CALLS, LAST_HAD_REQ, RESPONSE_CALLS = range(6)
CHAT = "/v1/chat/completions"
JSON_CT = [("content-type", "application/json")]
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
CONFIG = (
    f"aipol-config 1\nkey {hashlib.sha256(b'sk-alice').hexdigest()} alice team-a gold\n"
).encode()


@pytest.fixture
def host(engine, module) -> FakeHost:
    h = FakeHost(engine, module, CONFIG)
    assert h.start()
    return h


def error_of(s) -> tuple[int, dict]:
    assert s.local is not None, "expected a local reply"
    status, details, body, headers = s.local
    assert (b"content-type", b"application/json") in headers
    err = json.loads(body)["error"]
    assert details == "aipol_" + err["code"]
    assert err["param"] is None
    return status, err


def test_chat_request_passes(host) -> None:
    s = host.request("POST", CHAT, [*JSON_CT, ("content-length", str(len(BODY)))], BODY)
    assert s.local is None
    assert s.header_status == 0
    assert ("content-length", str(len(BODY))) not in s.request_headers
    assert s.forwarded_body == BODY
    assert s.properties == {b"aipol_backend": b"primary"}
    assert s.route_cache_clears == 1
    assert host.g.call("stub_get", LAST_HAD_REQ) == 1
    assert ("x-aipol-policy", "stub") in s.response_headers
    assert host.counters["aipol.requests"] == 1
    assert host.g.call("aipol_test_live_streams") == 0


def test_body_buffered_across_chunks(host) -> None:
    s = host.request("POST", CHAT, JSON_CT, BODY, chunks=4)
    assert s.body_statuses[:-1] == [1] * (len(s.body_statuses) - 1)
    assert s.body_statuses[-1] == 0
    assert s.forwarded_body == BODY


@pytest.mark.parametrize("mode", [1, 2])
def test_body_rewrite(host, mode: int) -> None:
    host.g.call("stub_set", INSERT_SYSTEM, mode)
    host.g.call("stub_set", SET_MODEL, 1)
    s = host.request("POST", CHAT, JSON_CT, BODY)
    doc = json.loads(s.forwarded_body)
    system = {"role": "system", "content": "be nice"}
    user = {"role": "user", "content": "hi"}
    assert doc["model"] == "gpt-routed"
    assert doc["messages"] == ([system, user] if mode == 1 else [user, system])


def test_unknown_url(host) -> None:
    s = host.request("POST", "/v1/foo?x=1", JSON_CT, b"{}")
    status, err = error_of(s)
    assert status == 404
    assert err["code"] == "unknown_url"
    assert err["type"] == "invalid_request_error"
    assert err["message"] == "Unknown request URL: POST /v1/foo."
    assert host.counters["aipol.denied.unknown_url"] == 1
    assert host.g.call("stub_get", RESPONSE_CALLS) == 0


def test_get_without_body_runs_body_phase_in_headers(host) -> None:
    s = host.request("GET", "/v1/models")
    assert s.local is None
    assert host.g.call("stub_get", BODY_CALLS) == 1
    assert host.g.call("stub_get", LAST_HAD_REQ) == 0
    assert s.properties == {b"aipol_backend": b"primary"}


@pytest.mark.parametrize(
    "ct",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ",
    ],
)
def test_json_content_types(host, ct: str) -> None:
    assert host.request("POST", CHAT, [("content-type", ct)], BODY).local is None


@pytest.mark.parametrize(
    "ct", [None, "text/plain", "application/jsonx", "application/x-www-form-urlencoded"]
)
def test_unsupported_media_type(host, ct: str | None) -> None:
    headers = [("content-type", ct)] if ct else []
    status, err = error_of(host.request("POST", CHAT, headers, BODY))
    assert status == 415


def test_content_length_too_large(host) -> None:
    s = host.request("POST", CHAT, [*JSON_CT, ("content-length", "5000")], b"{}")
    status, err = error_of(s)
    assert status == 413
    assert "4096" in err["message"]
    assert host.g.call("stub_get", BODY_CALLS) == 0


def test_buffered_body_too_large(host) -> None:
    body = b'{"model":"' + b"x" * 5000 + b'"}'
    status, _ = error_of(host.request("POST", CHAT, JSON_CT, body, chunks=3))
    assert status == 413


@pytest.mark.parametrize(
    "body,code,fragment",
    [
        (b"{", "invalid_json", "not valid JSON"),
        (b"", "invalid_json", "not valid JSON"),
        (b"[" * 1000, "invalid_json", "nested too deeply"),
        (b"[]", "invalid_request", "JSON object"),
        (b'{"model":1}', "invalid_request", "'model'"),
        (b'{"messages":[{"role":2}]}', "invalid_request", "'messages[].role'"),
    ],
    ids=["syntax", "empty", "deep", "not-object", "model-type", "role-type"],
)
def test_bad_bodies(host, body: bytes, code: str, fragment: str) -> None:
    status, err = error_of(host.request("POST", CHAT, JSON_CT, body))
    assert status == 400
    assert err["code"] == code
    assert err["type"] == "invalid_request_error"
    assert fragment in err["message"]
    assert host.counters[f"aipol.denied.{code}"] == 1


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
def test_api_key_auth(host, headers, code: str | None) -> None:
    host.g.call("stub_set", REQUIRE_KEY, 1)
    s = host.request("POST", CHAT, [*JSON_CT, *headers], BODY)
    if code is None:
        assert s.local is None
        assert ("x-aipol-principal", "alice") in s.request_headers
    else:
        status, err = error_of(s)
        assert status == 401
        assert err["code"] == code
        assert host.g.call("stub_get", BODY_CALLS) == 0


def test_bad_config_is_rejected(engine, module) -> None:
    h = FakeHost(engine, module, b"aipol-config 1\nkey " + b"A" * 64 + b" a b c\n")
    assert not h.start()
    assert any(
        level == 4 and msg.startswith("aipol: bad plugin configuration line 2: ")
        for level, msg in h.logs
    )
    assert not any("AAAA" in msg for _, msg in h.logs), "key material is never logged"


def test_empty_config(engine, module) -> None:
    assert FakeHost(engine, module, b"").start()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.integers(1, 4))
def test_never_traps_on_any_body(engine, module, body: bytes, chunks: int) -> None:
    h = FakeHost(engine, module, CONFIG)
    assert h.start()
    h.g.call("stub_set", INSERT_SYSTEM, 1)
    for _ in range(2):  # the second request reuses what the first freed
        s = h.request("POST", CHAT, JSON_CT, body, chunks)
        if s.local is None:
            doc = json.loads(s.forwarded_body)
            assert doc["messages"][0] == {"role": "system", "content": "be nice"}
        else:
            assert s.local[0] == 400
    assert h.g.call("aipol_test_live_streams") == 0
    assert h.g.heap_ok() == 0


def test_context_without_headers(host) -> None:
    """An early local reply: Envoy creates the context in the log phase."""
    g = host.g
    g.call("proxy_on_context_create", 99, 1)
    g.call("proxy_on_log", 99)
    assert g.call("proxy_on_done", 99) == 1
    g.call("proxy_on_delete", 99)
    g.call("proxy_on_delete", 99)  # unknown ids are ignored
    assert g.call("aipol_test_live_streams") == 0
    assert g.heap_ok() == 0


def test_reconfigure_while_streams_live(engine, module) -> None:
    """A new principal table does not free the one a live stream points into."""
    h = FakeHost(engine, module, CONFIG)
    assert h.start()
    h.g.call("stub_set", REQUIRE_KEY, 1)
    h.g.call("proxy_on_context_create", 50, 1)  # a stream that stays open
    other = f"aipol-config 1\nkey {hashlib.sha256(b'sk-new').hexdigest()} neo t gold\n"
    h.config = other.encode()
    assert h.start()
    s = h.request("POST", CHAT, [*JSON_CT, ("authorization", "Bearer sk-new")], BODY)
    assert s.local is None
    assert ("x-aipol-principal", "neo") in s.request_headers
    h.g.call("proxy_on_delete", 50)  # the last stream: the retired table is freed
    assert h.g.call("aipol_test_live_streams") == 0
    assert h.g.heap_ok() == 0
