"""`Gateway`: Envoy + one mock per backend, driven with the official openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aipol.compiler.ir import Backend, Credential, Policy, Route
from aipol.envoy.gateway import Gateway

pytestmark = pytest.mark.envoy


def demo_policy() -> Policy:
    return Policy(
        name="gw",
        backends=(
            Backend(
                name="a",
                provider="openai",
                url="https://api.openai.com",
                credential=Credential(source="env", ref="AIPOL_TEST_UNSET_KEY"),
            ),
            Backend(
                name="b",
                provider="anthropic",
                url="https://api.anthropic.com",
                credential=Credential(source="file", ref="/nonexistent/secret"),
            ),
        ),
        routes=(
            Route(id="r0", path="/v1/chat/completions", prefix=False, backends=("a", "b")),
            Route(id="r1", path="/v1/models", prefix=False, backends=("a",)),
        ),
    )


@pytest.fixture(scope="module")
def gateway(pick_wasm: Path) -> Iterator[Gateway]:
    env = {"PATH": "/usr/bin:/bin"}  # AIPOL_TEST_UNSET_KEY is not set
    with Gateway(pick_wasm, policy=demo_policy(), mock_backends=True, env=env) as gw:
        yield gw
    assert gw.envoy is not None and not gw.envoy.running


def client(gw: Gateway, pick: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gw.base_url,
        api_key="client-key",
        max_retries=0,
        default_headers={"x-pick": pick},
        timeout=10,
    )


def test_chat_through_gateway(gateway: Gateway) -> None:
    reply = client(gateway, "b").chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    assert reply.choices[0].message.content == "[b] hi (system messages: 1)"
    received = gateway.mock["b"].last
    assert received.header("x-api-key") == "sk-mock-b"  # placeholder credential
    assert received.header("authorization") is None


def test_stream_through_gateway(gateway: Gateway) -> None:
    stream = client(gateway, "a").chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[a] stream me please (system messages: 0)"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert gateway.mock["a"].last.header("authorization") == "Bearer sk-mock-a"


def test_no_pick_is_503_api_error(gateway: Gateway) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway, "").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 503
    assert info.value.code == "no_backend"


def test_mock_group(gateway: Gateway) -> None:
    assert sorted(gateway.mock) == ["a", "b"]
    assert all(r.path.startswith("/v1/") for r in gateway.mock.requests)
    assert gateway.admin_url.startswith("http://127.0.0.1:")


def test_stdout_access_log(gateway: Gateway) -> None:
    assert gateway.envoy is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in gateway.envoy.stdout().splitlines() if x.startswith("{")]
        if any(e.get("backend") == "b" for e in lines):
            break
        time.sleep(0.1)
    else:
        pytest.fail("no JSON access log line on stdout")
