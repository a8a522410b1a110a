"""Routing, rewrites and header policy of examples/quickstart.aipol through real Envoy."""

from __future__ import annotations

import pytest
from e2e_support import ALICE, BOB, CAROL, DAVE, UPSTREAM_SECRET, chat, httpx

pytestmark = pytest.mark.envoy

HOUSE_PROMPT = "You are ACME's assistant. Answer briefly."
CLIENT_KEYS = (
    "sk-aipol-demo-alice",
    "sk-aipol-demo-bob",
    "sk-aipol-demo-carol",
    "sk-aipol-demo-dave",
)


@pytest.mark.parametrize(
    ("key", "model", "backend", "upstream_model"),
    [
        (ALICE, "gpt-4o", "gpt4o", "gpt-4o"),
        (DAVE, "llama-3.1-8b-instruct", "local", "llama-3.1-8b-instruct"),
        (DAVE, "llama-3-70b", "local", "llama-3.1-8b-instruct"),
        (CAROL, "gpt-4o-mini", "mini", "gpt-4o-mini"),
        (CAROL, "gpt-3.5-turbo", "mini", "gpt-4o-mini"),
        (BOB, "o3", "mini", "gpt-4o-mini"),
    ],
    ids=["gpt-4o", "llama-exact", "llama-other", "mini-exact", "other-to-mini", "o3-to-mini"],
)
def test_model_based_routing(qs, sdk, key, model, backend, upstream_model):
    raw = sdk(key).chat.completions.with_raw_response.create(model=model, messages=chat("route me"))
    assert raw.status_code == 200
    assert raw.headers["x-mock-backend"] == backend
    completion = raw.parse()
    assert completion.choices[0].message.content == f"[{backend}] route me (system messages: 1)"
    assert completion.model == upstream_model
    received = qs.mock[backend].requests
    assert len(received) == 1 and len(qs.mock.requests) == 1
    assert received[0].path == "/v1/chat/completions"
    assert received[0].json["model"] == upstream_model


def test_system_prompt_prepended_and_user_messages_intact(qs, sdk):
    messages = [
        {"role": "system", "content": "client system prompt"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": 'second \u00e9\u4e2d"\\ \n end'},
    ]
    sdk(ALICE).chat.completions.create(model="gpt-4o", messages=messages, temperature=0.5)
    body = qs.mock["gpt4o"].last.json
    assert body["messages"][0] == {"role": "system", "content": HOUSE_PROMPT}
    assert body["messages"][1:] == messages
    assert body["temperature"] == 0.5


def test_array_of_parts_content_is_forwarded_unchanged(qs, sdk):
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}],
        }
    ]
    completion = sdk(ALICE).chat.completions.create(model="gpt-4o", messages=messages)
    assert qs.mock["gpt4o"].last.json["messages"][1:] == messages
    assert "part one" in completion.choices[0].message.content


def test_request_header_set_reaches_the_upstream_and_overrides_the_client(qs, sdk):
    sdk(ALICE).chat.completions.create(
        model="gpt-4o", messages=chat(), extra_headers={"x-gateway": "forged"}
    )
    assert qs.mock["gpt4o"].last.headers["x-gateway"] == "aipol"


def test_response_header_set_is_seen_by_the_client(qs, sdk):
    raw = sdk(ALICE).chat.completions.with_raw_response.create(model="gpt-4o", messages=chat())
    assert raw.headers["x-served-by"] == "aipol"


def test_upstream_server_header_never_reaches_the_client(qs):
    # The mock (aiohttp) answers with `server: Python/... aiohttp/...`.
    direct = httpx.get(qs.mock["mini"].url + "/v1/models")
    assert "aiohttp" in direct.headers["server"]
    r = httpx.post(
        qs.url + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": chat()},
        headers={"authorization": f"Bearer {ALICE}"},
    )
    assert r.status_code == 200
    assert "aiohttp" not in r.headers.get("server", "")


def test_response_header_remove_server_is_seen_by_the_client(qs, sdk):
    raw = sdk(ALICE).chat.completions.with_raw_response.create(model="gpt-4o", messages=chat())
    assert "server" not in raw.headers


@pytest.mark.parametrize(
    ("key", "model", "backend"),
    [
        (ALICE, "gpt-4o", "gpt4o"),
        (CAROL, "gpt-4o-mini", "mini"),
        (DAVE, "llama-3.1-8b-instruct", "local"),
    ],
    ids=["gpt4o", "mini", "local"],
)
def test_client_key_never_reaches_the_upstream(qs, key, model, backend):
    r = httpx.post(
        qs.url + "/v1/chat/completions",
        json={"model": model, "messages": chat()},
        headers={"authorization": f"Bearer {key}", "x-api-key": key, "api-key": key},
    )
    assert r.status_code == 200, r.text
    headers = qs.mock[backend].last.headers
    for value in headers.values():
        assert not any(k in value for k in CLIENT_KEYS), headers
    assert "x-api-key" not in headers and "api-key" not in headers
    if backend == "local":  # `credential none`
        assert "authorization" not in headers
    else:  # the credential injector sets the backend's key from OPENAI_API_KEY
        assert headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"


def test_models_list_with_a_key(qs, sdk):
    models = sdk(BOB).models.list()
    assert [m.id for m in models.data] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert {m.owned_by for m in models.data} == {"mini"}
    last = qs.mock["mini"].last
    assert (last.method, last.path) == ("GET", "/v1/models")
    assert last.headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"
    assert "x-gateway" not in last.headers  # house_rules is applied to the chat route only
