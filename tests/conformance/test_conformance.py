"""The same requests through the harness and through real Envoy must agree.

For every case: the status; for the filter's local replies the JSON error body
and its content-type; for requests that reach a backend: which backend (the
harness's `r.route` vs the mock that answered Envoy), the body the backend
received (byte for byte), the upstream headers aipol controls, and the
response headers the policy sets.

Known, by-design differences that are NOT compared:
- Envoy's credential injector (an upstream filter of the backend's cluster)
  adds `authorization: Bearer <backend key>`; the harness has no upstream
  filters, so there the header is simply absent. Compared instead: the
  client's own `authorization`/`x-api-key` never reach the upstream on either
  side, and on Envoy's side the only authorization is the backend's.
- Headers only Envoy adds (`date`, `server`, `x-envoy-upstream-service-time`,
  `x-forwarded-for`, `x-envoy-*`, ...), the `id`/`created` of completions.
- The bootstrap's `local_reply_config` (it rewrites Envoy's own non-JSON local
  replies, e.g. its 413/431, into OpenAI errors): the harness does not apply
  it, so only the status of Envoy-generated replies would be comparable (no
  case here produces one).
"""

from __future__ import annotations

import json

import pytest
from conformance_support import Case, Observed, run_envoy, run_harness

pytestmark = pytest.mark.envoy

ALICE = "sk-aipol-demo-alice"  # research
BOB = "sk-aipol-demo-bob"  # research
CAROL = "sk-aipol-demo-carol"  # support
DAVE = "sk-aipol-demo-dave"  # ml
CHAT = "/v1/chat/completions"
JSON = {"content-type": "application/json"}

# Response headers set by the policies (`response header set`); `server` (removed
# by quickstart) is checked on its own below.
POLICY_RESPONSE_HEADERS = ("x-served-by", "x-aipol-experiment")
CLIENT_CREDENTIAL_HEADERS = ("x-api-key", "api-key")


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **JSON}


def chat_body(model: str = "gpt-4o", text: str = "hello", **extra: object) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return json.dumps(body).encode()


def case(policy: str, method: str, path: str, headers=None, body=None, id: str = "", marks=()):
    return pytest.param(
        Case(policy, method, path, headers or {}, body), id=f"{policy}-{id}", marks=marks
    )


def qs(method, path, headers=None, body=None, *, id, marks=()):
    return case("quickstart", method, path, headers, body, id, marks)


def ab(method, path, headers=None, body=None, *, id):
    return case("ab_test", method, path, headers, body, id)


UNICODE = (
    '{"model": "gpt-4o", "messages": [{"role": "user", "content": '
    '"caf\\u00e9 \\ud83d\\ude00 \u4e2d\u6587 tab\\t quote\\" slash\\\\ \\/ nl\\n"}]}'
).encode()
PARTS = json.dumps(
    {
        "model": "llama-3.1-8b-instruct",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "part one"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
    }
).encode()
NESTED_AND_SPACED = (
    b' \n{ "messages" : [ {"role":"user","content":"x"} ] ,\t"model":"gpt-4o-mini",'
    b'"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",'
    b'"properties":{"a":{"type":"array","items":{"type":"number"}}}}}}],'
    b'"metadata":{"k":"v"},"temperature":0.25,"n":1,"stop":null} \n'
)

CASES = [
    # -- valid chats, every route/backend of quickstart
    qs("POST", CHAT, auth(ALICE), chat_body("gpt-4o"), id="chat-gpt4o"),
    qs("POST", CHAT, auth(CAROL), chat_body("gpt-4o-mini"), id="chat-mini-exact"),
    qs("POST", CHAT, auth(CAROL), chat_body("gpt-3.5-turbo"), id="chat-fallthrough-mini"),
    qs("POST", CHAT, auth(DAVE), chat_body("llama-3.1-8b-instruct"), id="chat-local-exact"),
    qs("POST", CHAT, auth(BOB), chat_body("llama-3-70b"), id="chat-local-rewritten"),
    qs("POST", CHAT, auth(ALICE), chat_body("gpt-4o", stream=True), id="chat-stream"),
    qs(
        "POST",
        CHAT,
        auth(ALICE),
        chat_body("gpt-4o", stream=True, stream_options={"include_usage": True}),
        id="chat-stream-usage",
    ),
    qs("POST", CHAT, {"x-api-key": ALICE, **JSON}, chat_body(), id="chat-x-api-key"),
    qs(
        "POST",
        CHAT,
        {"authorization": f"bearer   {DAVE}", "content-type": "application/json; charset=utf-8"},
        chat_body(),
        id="chat-lowercase-bearer-charset",
    ),
    qs("POST", CHAT, auth(ALICE), UNICODE, id="chat-unicode-escapes"),
    qs("POST", CHAT, auth(DAVE), PARTS, id="chat-array-of-parts"),
    qs("POST", CHAT, auth(ALICE), NESTED_AND_SPACED, id="chat-whitespace-nested"),
    qs("POST", CHAT, {**auth(ALICE), "x-gateway": "forged"}, chat_body(), id="chat-forged-xgw"),
    qs("POST", CHAT + "?trace=1", auth(ALICE), chat_body(), id="chat-query-string"),
    qs("POST", CHAT, auth(ALICE), b'{"messages":[{"role":"user","content":"x"}]}', id="no-model"),
    # -- authentication and authorization
    qs("POST", CHAT, JSON, chat_body(), id="no-key"),
    qs("POST", CHAT, auth("sk-not-a-real-key"), chat_body(), id="bad-key"),
    qs("POST", CHAT, {"authorization": "Bearer", **JSON}, chat_body(), id="empty-bearer"),
    qs("POST", CHAT, {"authorization": f"Basic {ALICE}", **JSON}, chat_body(), id="basic-auth"),
    qs("POST", CHAT, auth(CAROL), chat_body("gpt-4o"), id="forbidden-team-gpt4o"),
    qs("POST", CHAT, auth(CAROL), chat_body("llama-3.1-8b-instruct"), id="forbidden-team-llama"),
    # -- bad input
    qs("POST", CHAT, auth(ALICE), b'{"model": "gpt-4o", "messages": [', id="invalid-json"),
    qs("POST", CHAT, auth(ALICE), b"[1, 2]", id="json-not-object"),
    qs("POST", CHAT, auth(ALICE), b'{"model": 42, "messages": []}', id="model-not-string"),
    qs("POST", CHAT, auth(ALICE), b'{"model":"gpt-4o-mini","model":"gpt-4o"}', id="dup-model"),
    qs(
        "POST",
        CHAT,
        {"authorization": f"Bearer {ALICE}", "content-type": "text/plain"},
        chat_body(),
        id="content-type-text",
    ),
    qs("POST", CHAT, {"authorization": f"Bearer {ALICE}"}, chat_body(), id="no-content-type"),
    qs("POST", CHAT, auth(ALICE), b"", id="empty-body"),
    qs("POST", CHAT, auth(ALICE), chat_body(text="a" * (1024 * 1024)), id="over-max-body"),
    qs("POST", "/v1/nope", auth(ALICE), b"{}", id="unknown-path"),
    qs("POST", "/v1/embeddings", auth(ALICE), b'{"model":"m","input":"x"}', id="unrouted-path"),
    qs("GET", CHAT, auth(ALICE), None, id="chat-wrong-method"),
    # -- what Envoy's HTTP/1 codec and HCM do to requests before the filter sees them:
    # a repeated inline header becomes one comma-joined value (`Bearer A,Bearer B` is no
    # key: 401; `application/json,application/json` is no JSON content type: 415)
    qs(
        "POST",
        CHAT,
        (("authorization", f"Bearer {ALICE}"), ("authorization", f"Bearer {CAROL}"), *JSON.items()),
        chat_body(),
        id="repeated-authorization",
    ),
    qs(
        "POST",
        CHAT,
        (("authorization", f"Bearer {ALICE}"), *JSON.items(), *JSON.items()),
        chat_body(),
        id="repeated-content-type",
    ),
    qs(
        "POST",
        CHAT,
        (("x-api-key", ALICE), ("x-api-key", CAROL), *JSON.items()),
        chat_body(),
        id="repeated-x-api-key",  # not an inline header: first value, like the harness
    ),
    qs(
        "POST",
        CHAT,
        (("authorization", ""), ("authorization", f"Bearer {ALICE}"), *JSON.items()),
        chat_body(),
        id="repeated-authorization-first-empty",  # appended without a delimiter
    ),
    # normalize_path + merge_slashes (paths are sent verbatim, see run_envoy)
    qs(
        "POST",
        "/v1//chat/completions",
        auth(ALICE),
        chat_body(),
        id="path-double-slash",
    ),
    qs(
        "POST",
        "/v1/x/../chat/./completions",
        auth(ALICE),
        chat_body(),
        id="path-dot-segments",
    ),
    qs(
        "POST",
        "/v1/chat/%63ompletions",
        auth(ALICE),
        chat_body(),
        id="path-pct-unreserved",
    ),
    qs("POST", "/../v1/chat/completions", auth(ALICE), chat_body(), id="path-above-root"),
    qs("POST", "/v1/x/%2e%2E/chat/completions", auth(ALICE), chat_body(), id="path-pct-dots"),
    qs("POST", "/v1/x/..;p/chat/completions", auth(ALICE), chat_body(), id="path-dotdot-param"),
    qs("POST", "/v1\\chat\\completions", auth(ALICE), chat_body(), id="path-backslashes"),
    qs("POST", "///v1/chat/completions/./", auth(ALICE), chat_body(), id="path-slashes-dot"),
    qs("POST", "/v1/%zz/../chat/completions", auth(ALICE), chat_body(), id="path-bad-escape"),
    qs("POST", CHAT + "?a=/../b//c%63", auth(ALICE), chat_body(), id="path-query-kept"),
    qs("POST", CHAT + "?q=%00", auth(ALICE), chat_body(), id="path-query-nul"),
    qs("POST", "/v1/chat%2Fcompletions", auth(ALICE), chat_body(), id="path-pct-slash"),
    qs("POST", CHAT + "/", auth(ALICE), chat_body(), id="path-trailing-slash"),
    # -- /v1/models
    qs("GET", "/v1/models", {"authorization": f"Bearer {BOB}"}, None, id="models"),
    qs("GET", "/v1/models?limit=1", {"authorization": f"Bearer {BOB}"}, None, id="models-query"),
    qs("GET", "/v1/models", {}, None, id="models-no-key"),
    qs("POST", "/v1/models", auth(BOB), b"{}", id="models-wrong-method"),
    # -- ab_test: the sticky split, system append, response header
    ab("POST", CHAT, auth(ALICE), chat_body("gpt-4o", "bonjour"), id="chat-alice"),
    ab("POST", CHAT, auth(BOB), chat_body("gpt-4.1", "hola"), id="chat-bob"),
    ab("POST", CHAT, auth(CAROL), chat_body("x", "hallo"), id="chat-carol"),
    ab("POST", CHAT, auth(DAVE), chat_body("gpt-4o", "ciao"), id="chat-dave"),
    ab("POST", CHAT, auth(DAVE), chat_body("gpt-4o", stream=True), id="chat-dave-stream"),
    ab("POST", CHAT, auth(ALICE), UNICODE, id="chat-unicode-escapes"),
    ab("POST", CHAT, JSON, chat_body(), id="no-key"),
    ab("POST", CHAT, auth("sk-nope"), chat_body(), id="bad-key"),
    ab("POST", CHAT, auth(ALICE), b'{"model": "gpt-4o", "messages": [', id="invalid-json"),
    ab("POST", CHAT, auth(ALICE), b"", id="empty-body"),
    ab("GET", CHAT, {"authorization": f"Bearer {ALICE}"}, None, id="chat-get"),
    ab("GET", "/v1/models", {"authorization": f"Bearer {ALICE}"}, None, id="unknown-path"),
]


def sse_events(body: bytes) -> list[object]:
    """SSE `data:` payloads, parsed, without per-response ids and timestamps."""
    out: list[object] = []
    for event in body.decode().split("\n\n"):
        if not event:
            continue
        assert event.startswith("data: "), event
        payload = event[len("data: ") :]
        if payload == "[DONE]":
            out.append(payload)
            continue
        chunk = json.loads(payload)
        chunk.pop("id", None)
        chunk.pop("created", None)
        out.append(chunk)
    return out


def completion_shape(body: bytes) -> object:
    """A backend answer without what varies per response (id, created)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        data.pop("id", None)
        data.pop("created", None)
    return data


def assert_same_upstream_request(env: Observed, har: Observed, secret: str) -> None:
    e, h = env.upstream, har.upstream
    assert e is not None and h is not None
    assert (h.method, h.path, h.query) == (e.method, e.path, e.query)
    assert h.body == e.body, "the backend received different bytes"
    assert h.json == e.json
    # aipol-controlled upstream headers
    assert h.headers.get("x-gateway") == e.headers.get("x-gateway")
    for name in CLIENT_CREDENTIAL_HEADERS:
        assert name not in h.headers and name not in e.headers, name
    assert "authorization" not in h.headers  # the harness has no credential injector
    assert e.headers.get("authorization") in (None, f"Bearer {secret}")
    assert h.headers.get("content-type") == e.headers.get("content-type")


@pytest.mark.parametrize("case", CASES)
def test_harness_and_envoy_agree(case, gateways, harnesses, harness_mocks, http, upstream_secret):
    env = run_envoy(gateways[case.policy], http, case)
    har, result = run_harness(harnesses[case.policy], harness_mocks[case.policy], http, case)

    assert not result.trapped, result.trap_message
    assert har.status == env.status, (har.body, env.body)
    assert har.backend == env.backend
    for name in POLICY_RESPONSE_HEADERS:
        assert har.headers.get(name) == env.headers.get(name), name

    if env.backend is None:  # a local reply of the filter
        assert env.upstream is None and har.upstream is None
        assert env.headers["content-type"] == har.headers["content-type"] == "application/json"
        assert har.json() == env.json()
        error = env.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        return

    assert env.headers["x-mock-backend"] == har.headers["x-mock-backend"] == env.backend
    assert not result.upstream.content_length_mismatch
    assert result.upstream_body == har.upstream.body  # forwarded unchanged
    if result.upstream_body:
        assert result.upstream_json() == env.upstream.json
    assert_same_upstream_request(env, har, upstream_secret)
    assert har.headers.get("content-type") == env.headers.get("content-type")
    if env.headers.get("content-type", "").startswith("text/event-stream"):
        assert sse_events(har.body) == sse_events(env.body)
    else:
        assert completion_shape(har.body) == completion_shape(env.body)


# Requests Envoy answers itself before the filter chain exists (its HCM's path
# normalisation, its HTTP/1 codec): same status, and the harness's response code details
# are the `code` of Envoy's answer (the bootstrap's local_reply_config turns it into an
# OpenAI error; the harness does not apply it); the filter sees nothing of them.
REJECTED = [
    qs("POST", CHAT + "%00", auth(ALICE), chat_body(), id="path-pct-nul"),
    qs("POST", "/v1/%00/../chat/completions", auth(ALICE), chat_body(), id="path-pct-nul-gone"),
    qs("POST", CHAT + "#frag", auth(ALICE), chat_body(), id="path-fragment"),
    qs("POST", CHAT + "?q=1#", auth(ALICE), chat_body(), id="path-fragment-after-query"),
    qs("POST", "/v1/chat/\x7fcompletions", auth(ALICE), chat_body(), id="path-control-char"),
    qs("POST", "/v1/chat/compl\u00e9tions", auth(ALICE), chat_body(), id="path-non-ascii"),
]


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_before_the_filter(case, gateways, harnesses, harness_mocks, http):
    env = run_envoy(gateways[case.policy], http, case)
    har, result = run_harness(harnesses[case.policy], harness_mocks[case.policy], http, case)
    assert har.status == env.status == 400
    assert env.backend is None and har.backend is None
    assert result.local_reply is not None and result.local_reply.source == "envoy"
    assert env.json()["error"]["code"] == result.response_code_details
    assert not result.logs and not result.metrics  # no filter callback ran


SERVER_CASES = [c for c in CASES if c.id in ("quickstart-chat-gpt4o", "quickstart-no-key")]


@pytest.mark.parametrize("case", SERVER_CASES)
def test_removed_server_header(case, gateways, harnesses, harness_mocks, http):
    env = run_envoy(gateways[case.policy], http, case)
    har, _ = run_harness(harnesses[case.policy], harness_mocks[case.policy], http, case)
    assert "server" not in har.headers
    assert env.headers.get("server") == har.headers.get("server")
