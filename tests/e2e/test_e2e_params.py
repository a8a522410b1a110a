"""`param` rules through real Envoy, with the official openai SDK as client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, CAROL, chat, start_gateway

CASE = Path(__file__).resolve().parents[1] / "compiler" / "cases" / "params.aipol"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    art = pipeline.compile_file(CASE, tmp_path_factory.mktemp("params"))
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


def sdk(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)


def test_requests_within_the_rules_pass(gw) -> None:
    out = sdk(gw, ALICE).chat.completions.create(
        model="gpt-4o", messages=chat(), max_tokens=500, temperature=0.7, top_p=0.9
    )
    assert out.choices[0].message.content
    assert gw.mock["gpt4o"].last.json["temperature"] == 0.7


@pytest.mark.parametrize(
    ("key", "options", "rule"),
    [
        (ALICE, {"temperature": 1.5}, "param temperature <= 1"),
        (ALICE, {"max_tokens": 4096}, "param max_tokens <= 1000"),
        (
            ALICE,
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "param tools deny",
        ),
        (CAROL, {"stream": True}, "param stream deny for team support"),
    ],
    ids=["temperature", "max-tokens", "tools", "stream-for-support"],
)
def test_a_broken_rule_is_a_403_naming_it(gw, key, options, rule) -> None:
    gw.mock.clear()
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(gw, key).chat.completions.create(model="gpt-4o", messages=chat(), **options)
    assert info.value.body["code"] == "param_not_allowed"
    assert f"`{rule}`" in info.value.body["message"]
    assert gw.mock.requests == []
