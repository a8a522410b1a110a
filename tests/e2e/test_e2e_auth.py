"""API keys through real Envoy: missing, wrong, and a team not allowed a model."""

from __future__ import annotations

import json
import secrets

import openai
import pytest
from e2e_support import ALICE, CAROL, DAVE, chat, httpx, wait_for

pytestmark = pytest.mark.envoy

CHAT = "/v1/chat/completions"


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.body
    assert isinstance(body, dict), body  # the SDK unwraps {"error": {...}}
    return body


def test_no_key_is_401_missing_api_key(qs, sdk):
    client = sdk("unused")
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=chat(), extra_headers={"Authorization": openai.Omit()}
        )
    assert info.value.status_code == 401
    error = _error(info.value)
    assert error["code"] == "missing_api_key"
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert qs.mock.requests == []


def test_no_key_raw_http_is_openai_json(qs):
    r = httpx.post(
        qs.url + CHAT,
        json={"model": "gpt-4o", "messages": chat()},
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "error": {
            "message": r.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": "missing_api_key",
        }
    }
    assert qs.mock.requests == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_wrong_key_is_401_and_never_echoed_or_logged(qs, sdk, stream):
    wrong = "sk-wrong-" + secrets.token_hex(16)
    marker = "e2e-wrong-key-" + secrets.token_hex(6)
    client = sdk(wrong, default_headers={"User-Agent": marker})
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-4o", messages=chat(), stream=stream)
    error = _error(info.value)
    assert error["code"] == "invalid_api_key"
    raw = info.value.response.text
    assert wrong not in raw and wrong[3:] not in raw
    assert qs.mock.requests == []
    # The access log (stdout) has the request, without the key.
    line = wait_for(
        lambda: next((ln for ln in qs.envoy.stdout().splitlines() if marker in ln), None)
    )
    assert line is not None, qs.envoy.stdout()[-2000:]
    entry = json.loads(line)
    assert entry["response_code"] == 401
    assert entry["principal"] is None
    assert wrong not in qs.envoy.stdout()
    assert wrong not in qs.envoy.logs()


def test_x_api_key_header_is_accepted(qs):
    r = httpx.post(
        qs.url + CHAT,
        json={"model": "gpt-4o", "messages": chat()},
        headers={"x-api-key": ALICE},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-mock-backend"] == "gpt4o"
    assert "x-api-key" not in qs.mock["gpt4o"].last.headers


@pytest.mark.parametrize(
    ("key", "model", "backend"),
    [(CAROL, "gpt-4o", "gpt4o"), (CAROL, "llama-3.1-8b-instruct", "local")],
    ids=["support-gpt4o", "support-llama"],
)
def test_team_not_allowed_is_403_and_nothing_reaches_a_backend(qs, sdk, key, model, backend):
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(key).chat.completions.create(model=model, messages=chat())
    assert info.value.status_code == 403
    error = _error(info.value)
    assert error["code"] == "model_not_allowed"
    assert error["type"] == "permission_error"
    assert "support" in error["message"] and backend in error["message"]
    assert qs.mock.requests == []


def test_the_same_key_is_allowed_where_its_team_may_go(qs, sdk):
    sdk(CAROL).chat.completions.create(model="gpt-4o-mini", messages=chat())
    sdk(DAVE).chat.completions.create(model="gpt-4o", messages=chat())
    assert [r.json["model"] for r in qs.mock["mini"].requests] == ["gpt-4o-mini"]
    assert [r.json["model"] for r in qs.mock["gpt4o"].requests] == ["gpt-4o"]
