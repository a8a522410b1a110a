"""DLP and deny lists on responses through real Envoy: the mock provider
echoes the last user message, so a value the request side lets through comes
back in the answer, where the response side must catch it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, chat, httpx, start_gateway

# r0 /v1/chat/completions: `dlp response { redact email, mask credit_card,
# hash iban, block us_ssn, log ipv4 }` and `deny words ... in response`;
# r1 /v2/chat/completions: `dlp request, response { redact phone }`.
CASE = Path(__file__).resolve().parents[1] / "compiler" / "cases" / "dlp_response.aipol"
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    art = pipeline.compile_file(CASE, tmp_path_factory.mktemp("dlp_response"))
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def g(gw: Gateway) -> Gateway:
    gw.mock.clear()
    return gw


def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=ALICE, max_retries=0)


def post(gw: Gateway, text: str, path: str = CHAT, **body) -> httpx.Response:
    return httpx.post(
        gw.url + path,
        json={"model": "gpt-4o", "messages": chat(text), **body},
        headers={"authorization": f"Bearer {ALICE}", "accept-encoding": "gzip"},
        timeout=10,
    )


def test_the_answer_is_redacted_but_the_prompt_is_not(g) -> None:
    text = "Mail bob@example.com, card 4111-1111-1111-1111."
    out = sdk(g).chat.completions.create(model="gpt-4o", messages=chat(text))
    # The request side has no rule: the provider saw the values...
    assert g.mock["gpt4o"].last.json["messages"][0]["content"] == text
    # ...and echoed them; the client gets them rewritten.
    content = out.choices[0].message.content
    assert "bob@example.com" not in content and "4111-1111-1111-1111" not in content
    assert "Mail [REDACTED:EMAIL], card ****-****-****-1111." in content
    assert out.usage.total_tokens > 0  # the rest of the completion is intact


def test_the_body_is_framed_and_uncompressed(g) -> None:
    r = post(g, "reach me at eve@example.org")
    assert r.status_code == 200, r.text
    assert "[REDACTED:EMAIL]" in r.json()["choices"][0]["message"]["content"]
    length = r.headers.get("content-length")
    assert length is None or int(length) == len(r.content)
    # The client asked for gzip; the provider was asked for nothing.
    assert g.mock["gpt4o"].last.header("accept-encoding") in (None, "identity")


def test_a_blocked_answer_becomes_an_error_body(g) -> None:
    r = post(g, "my ssn is 123-45-6789")
    assert g.mock["gpt4o"].requests  # the request went through: the answer is what is blocked
    assert r.status_code == 200  # sent with the headers, before the body was read
    err = r.json()["error"]
    assert err["code"] == "dlp_blocked" and "`us_ssn`" in err["message"]
    assert "123-45-6789" not in r.text


def test_deny_words_in_the_answer_block_it(g) -> None:
    r = post(g, "tell me about project nightingale")
    assert r.json()["error"]["code"] == "content_blocked"
    assert "nightingale" not in r.text.lower()


def test_a_streaming_request_is_answered_scanned(g) -> None:
    # No longer refused: the stream is scanned (test_e2e_dlp_stream.py).
    chunks = list(
        sdk(g).chat.completions.create(
            model="gpt-4o", messages=chat("bob@example.com"), stream=True
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "bob@example.com" not in content and "[REDACTED:EMAIL]" in content
    assert g.mock["gpt4o"].requests


def test_both_directions_share_a_rule(g) -> None:
    r = post(g, "call +44 20 7946 0958", path="/v2/chat/completions")
    assert g.mock["gpt4o"].last.json["messages"][0]["content"] == "call [REDACTED:PHONE]"
    assert "+44 20 7946 0958" not in r.text
