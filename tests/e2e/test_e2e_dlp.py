"""DLP through real Envoy, with the official openai SDK as client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, chat, start_gateway

CASE = Path(__file__).resolve().parents[1] / "compiler" / "cases" / "dlp.aipol"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    art = pipeline.compile_file(CASE, tmp_path_factory.mktemp("dlp"))
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=ALICE, max_retries=0)


def test_sensitive_values_never_reach_the_provider(gw) -> None:
    text = "Mail bob@example.com, card 4111-1111-1111-1111, TICKET-654321."
    out = sdk(gw).chat.completions.create(model="gpt-4o", messages=chat(text))
    seen = gw.mock["gpt4o"].last.json["messages"][0]["content"]
    assert seen == "Mail [REDACTED:EMAIL], card ****-****-****-1111, [REDACTED:TICKET]."
    assert "bob@example.com" not in out.choices[0].message.content


def test_streamed_requests_are_scanned_too(gw) -> None:
    chunks = list(
        sdk(gw).chat.completions.create(
            model="gpt-4o", messages=chat("reach me at eve@example.org"), stream=True
        )
    )
    assert chunks
    assert gw.mock["gpt4o"].last.json["messages"][0]["content"] == "reach me at [REDACTED:EMAIL]"


def test_a_blocked_detector_is_a_400_in_openai_format(gw) -> None:
    gw.mock.clear()
    with pytest.raises(openai.BadRequestError) as info:
        sdk(gw).chat.completions.create(model="gpt-4o", messages=chat("ssn 123-45-6789"))
    assert info.value.body["code"] == "dlp_blocked"
    assert "123-45-6789" not in str(info.value.body)
    assert gw.mock.requests == []
