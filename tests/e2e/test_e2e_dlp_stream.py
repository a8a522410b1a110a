"""DLP and deny lists on streamed answers through real Envoy: the mock
provider echoes the last user message word by word as SSE deltas; the
client (the openai SDK) gets them scanned, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, chat, httpx, start_gateway

pytestmark = pytest.mark.envoy

CASE = Path(__file__).resolve().parents[1] / "compiler" / "cases" / "dlp_response.aipol"
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    art = pipeline.compile_file(CASE, tmp_path_factory.mktemp("dlp_stream"))
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


@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
def test_a_streamed_answer_is_redacted_like_the_plain_one(g, include_usage) -> None:
    text = "Mail bob@example.com, card 4111 1111 1111 1111, then reply."
    client = sdk(g)
    plain = client.chat.completions.create(model="gpt-4o", messages=chat(text))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=chat(text), stream=True, **options)
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == plain.choices[0].message.content
    assert "bob@example.com" not in content and "[REDACTED:EMAIL]" in content
    assert "**** **** **** 1111" in content
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    usage = [c.usage for c in chunks if c.usage is not None]
    assert (len(usage) == 1 and usage[0].total_tokens > 0) if include_usage else not usage


def test_the_raw_stream_is_well_formed_and_ends_with_done(g) -> None:
    with httpx.stream(
        "POST",
        g.url + CHAT,
        json={"model": "gpt-4o", "messages": chat("ping eve@example.org"), "stream": True},
        headers={"authorization": f"Bearer {ALICE}"},
        timeout=10,
    ) as r:
        assert r.status_code == 200
        raw = r.read()
    text = raw.decode()
    assert text.endswith("data: [DONE]\n\n") and "eve@example.org" not in text
    for event in text[:-2].split("\n\n"):
        assert event.startswith("data: ") and "\n" not in event


def test_a_block_ends_the_stream_with_an_error_event(g) -> None:
    stream = sdk(g).chat.completions.create(
        model="gpt-4o", messages=chat("my ssn is 123-45-6789 ok"), stream=True
    )
    with pytest.raises(openai.APIError) as exc:
        list(stream)
    assert "us_ssn" in str(exc.value) and "123-45-6789" not in str(exc.value)
