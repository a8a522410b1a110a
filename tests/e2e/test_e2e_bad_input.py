"""Bad requests through real Envoy: every refusal is an OpenAI-format JSON error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, EXAMPLES, chat, httpx, start_gateway

pytestmark = pytest.mark.envoy

CHAT = "/v1/chat/completions"
AUTH = {"authorization": f"Bearer {ALICE}"}
MAX_BODY = 1024 * 1024  # examples/quickstart.aipol: max_body 1MiB

STRICT_POLICY = """\
gateway {
  listen 127.0.0.1:8080
  admin 127.0.0.1:9901
}

keys file "keys.yaml"

backend only {
  provider openai
  model "gpt-4o"
  url "https://api.openai.com"
  credential env OPENAI_API_KEY
}

route "/v1/chat/completions" {
  require key
  when model "gpt-4o" -> only
}
"""


def assert_openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] in ("invalid_request_error", "permission_error", "server_error")
    if code is not None:
        assert error["code"] == code
    return error


@pytest.fixture(scope="module")
def strict_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A route without `default`/`split`: models no rule names are refused."""
    tmp = tmp_path_factory.mktemp("strict")
    shutil.copy(EXAMPLES / "keys.yaml", tmp / "keys.yaml")
    (tmp / "strict.aipol").write_text(STRICT_POLICY)
    art = pipeline.compile_file(tmp / "strict.aipol", tmp / "out")
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


def test_malformed_json_is_400_invalid_json(qs):
    r = httpx.post(
        qs.url + CHAT,
        content=b'{"model": "gpt-4o", "messages": [',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert_openai_error(r, 400, "invalid_json")
    assert qs.mock.requests == []


def test_duplicate_model_key_is_400(qs):
    r = httpx.post(
        qs.url + CHAT,
        content=b'{"model":"gpt-4o-mini","model":"gpt-4o","messages":[]}',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert_openai_error(r, 400, "invalid_request")
    assert qs.mock.requests == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", None],
    ids=["text", "form", "absent"],
)
def test_non_json_content_type_is_415(qs, content_type):
    headers = dict(AUTH)
    if content_type:
        headers["content-type"] = content_type
    r = httpx.post(qs.url + CHAT, content=b'{"model":"gpt-4o","messages":[]}', headers=headers)
    assert_openai_error(r, 415, "unsupported_media_type")
    assert qs.mock.requests == []


def test_json_content_type_with_charset_is_fine(qs):
    r = httpx.post(
        qs.url + CHAT,
        content=b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}',
        headers={**AUTH, "content-type": "Application/JSON; charset=utf-8"},
    )
    assert r.status_code == 200, r.text


def _big_body(size: int) -> bytes:
    head = b'{"model":"gpt-4o","messages":[{"role":"user","content":"'
    tail = b'"}]}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def test_body_over_max_body_is_413(qs):
    r = httpx.post(
        qs.url + CHAT,
        content=_big_body(MAX_BODY + 1),
        headers={**AUTH, "content-type": "application/json"},
    )
    error = assert_openai_error(r, 413, "request_too_large")
    assert str(MAX_BODY) in error["message"]
    assert qs.mock.requests == []


def test_streamed_body_over_max_body_is_413(qs):
    """Without content-length the limit is enforced while buffering: by the filter
    (code request_too_large) or by Envoy's buffer limit (request_payload_too_large,
    turned into an OpenAI-format error by the bootstrap's local_reply_config),
    depending on how Envoy's reads split the body."""
    body = _big_body(MAX_BODY + 200_000)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    r = httpx.post(
        qs.url + CHAT, content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    error = assert_openai_error(r, 413)
    assert error["code"] in ("request_too_large", "request_payload_too_large")
    assert qs.mock.requests == []


def test_body_just_under_max_body_is_accepted(qs):
    # Leaves room for the system prompt the policy inserts (see the report: a body
    # within max_body that the prompt pushes over it gets Envoy's 413).
    r = httpx.post(
        qs.url + CHAT,
        content=_big_body(MAX_BODY - 1024),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]
    assert len(qs.mock["gpt4o"].last.body) > MAX_BODY - 1024


def test_body_within_max_body_is_accepted_despite_the_system_prompt(qs):
    r = httpx.post(
        qs.url + CHAT,
        content=_big_body(MAX_BODY - 16),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]


def test_unknown_model_without_fallthrough_is_400_model_not_found(strict_gw):
    strict_gw.mock.clear()
    client = openai.OpenAI(base_url=strict_gw.base_url, api_key=ALICE, max_retries=0)
    with client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-3-opus", messages=chat())
    error = info.value.body
    assert error["code"] == "model_not_found"
    assert "claude-3-opus" in error["message"]
    assert strict_gw.mock.requests == []
    with openai.OpenAI(base_url=strict_gw.base_url, api_key=ALICE, max_retries=0) as ok:
        ok.chat.completions.create(model="gpt-4o", messages=chat())
    assert strict_gw.mock["only"].last.json["model"] == "gpt-4o"


def test_unknown_path_is_404_json(qs, sdk):
    r = httpx.post(qs.url + "/v1/nope", json={}, headers=AUTH)
    error = assert_openai_error(r, 404, "unknown_url")
    assert "/v1/nope" in error["message"]
    with pytest.raises(openai.NotFoundError) as info:
        sdk(ALICE).embeddings.create(model="text-embedding-3-small", input="hi")
    assert info.value.body["code"] == "unknown_url"
    assert qs.mock.requests == []


def test_wrong_method_on_a_route_is_a_json_error(qs):
    # The filter answers before the route table's 405 entry can (see the report).
    r = httpx.get(qs.url + CHAT, headers=AUTH)
    assert_openai_error(r, r.status_code)
    assert r.status_code in (404, 405)
    assert qs.mock.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {f"x-flood-{i}": "v" for i in range(150)},  # over max_headers_count (100)
        {"x-huge": "v" * 70_000},  # over max_request_headers_kb (60)
    ],
    ids=["count", "size"],
)
def test_header_flood_is_431(qs, headers):
    r = httpx.post(
        qs.url + CHAT, json={"model": "gpt-4o", "messages": chat()}, headers={**AUTH, **headers}
    )
    assert_openai_error(r, 431)
    assert qs.mock.requests == []


def test_models_list_with_and_without_a_key(qs):
    r = httpx.get(qs.url + "/v1/models", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["object"] == "list"
    r = httpx.get(qs.url + "/v1/models")
    assert_openai_error(r, 401, "missing_api_key")
