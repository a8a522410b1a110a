"""Hypothesis fuzzing of a compiled policy in the harness: random bodies,
headers and chunkings. The filter never traps, every answer is a proper HTTP
status (errors in OpenAI's format), and nothing the policy forbids reaches
the upstream."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CHAT = "/v1/chat/completions"
KEYS = {
    "sk-aipol-demo-alice": "research",
    "sk-aipol-demo-bob": "research",
    "sk-aipol-demo-carol": "support",
    "sk-aipol-demo-dave": "ml",
}
# quickstart: research and ml may use every backend; support only mini.
ALLOWED = {
    "research": {"gpt4o", "mini", "local"},
    "ml": {"gpt4o", "mini", "local"},
    "support": {"mini"},
}
STATUSES = {200, 400, 401, 403, 404, 413, 415}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
content = st.text() | st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": st.text()}),
    max_size=3,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool"]), "content": content}
    ),
    max_size=4,
)
chat_docs = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "llama-3", "", "x" * 300]) | st.text(),
        "messages": messages,
    },
    optional={"stream": st.booleans(), "max_tokens": st.integers(0, 10**6), "extra": json_values},
)


def mutate(data: bytes, cuts: list[int]) -> bytes:
    out = bytearray(data)
    for c in cuts:
        if out:
            i = c % len(out)
            out[i] = (out[i] + c) % 256
    return bytes(out)


bodies = st.one_of(
    chat_docs.map(lambda d: json.dumps(d).encode()),
    chat_docs.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    st.tuples(chat_docs, st.lists(st.integers(0, 10**6), max_size=3)).map(
        lambda t: mutate(json.dumps(t[0]).encode(), t[1])
    ),
    chat_docs.map(lambda d: json.dumps(d).encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda n: b[:n])
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(1, 3000).map(lambda n: b'{"model":' + b"[" * n),
)
header_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z")
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
auth = st.one_of(
    st.none(),
    st.sampled_from(sorted(KEYS)).map(lambda k: ("authorization", f"Bearer {k}")),
    st.sampled_from(sorted(KEYS)).map(lambda k: ("x-api-key", k)),
    header_values.map(lambda v: ("authorization", v)),
    st.sampled_from(sorted(KEYS)).map(lambda k: ("authorization", f"bearer   {k}  ")),
)


@pytest.fixture(scope="module")
def harness(example_harness):
    return example_harness("quickstart")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    auth=auth,
    extra=st.lists(st.tuples(header_names, header_values), max_size=30),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/plain",
            None,
        ]
    ),
    chunk=st.sampled_from([None, 1, 7, 64]),
    path=st.sampled_from([CHAT, CHAT + "?x=1", "/v1/models", "/v1/unknown", "/"]),
    method=st.sampled_from(["POST", "GET", "PUT"]),
)
def test_random_requests_never_trap_and_never_leak(
    harness, body, auth, extra, content_type, chunk, path, method
) -> None:
    headers = [
        (k, v)
        for k, v in extra
        if k
        not in {
            "authorization",
            "x-api-key",
            "content-type",
            "content-length",
            "transfer-encoding",
            "host",
        }
    ]
    if auth:
        headers.append(auth)
    if content_type:
        headers.append(("content-type", content_type))
    r = harness.request(method, path, headers=headers, body=body, chunks=chunk)
    assert not r.trapped, r.trap_message
    assert not r.hung
    assert r.status in STATUSES, (r.status, r.body[:200])
    if r.status != 200:
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
    if not r.reached_upstream:
        return
    # Only an authenticated principal gets through, only to a backend its team may use.
    key = None
    if auth:
        value = auth[1].strip()
        key = value[7:].strip() if value.lower().startswith("bearer ") else value
    assert key in KEYS, "an unauthenticated request reached the upstream"
    assert r.route in ALLOWED[KEYS[key]]
    up = r.upstream_headers
    assert up.get("authorization") is None and up.get("x-api-key") is None
    if path.startswith(CHAT):  # the chat route parses and rewrites the body
        doc = json.loads(r.upstream_body)  # what reaches the provider is valid JSON
        assert doc["messages"][0]["content"] == "You are ACME's assistant. Answer briefly."
