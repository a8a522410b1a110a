"""Fixtures of the end-to-end tests: real Envoy 1.40 (the generated bootstrap and
filter.wasm) in front of one mock OpenAI provider per backend, driven with the
official `openai` SDK and raw HTTP.

Each example policy is compiled once per session; each test module starts its
own Envoy once (module scope) and the mocks are cleared before every test.
Helpers and constants are in e2e_support.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, EXAMPLES, start_gateway


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> pipeline.Artifacts:
    return pipeline.compile_file(EXAMPLES / "quickstart.aipol", tmp_path_factory.mktemp("qs"))


@pytest.fixture(scope="session")
def ab_test(tmp_path_factory: pytest.TempPathFactory) -> pipeline.Artifacts:
    return pipeline.compile_file(EXAMPLES / "ab_test.aipol", tmp_path_factory.mktemp("ab"))


@pytest.fixture(scope="module")
def gw(quickstart: pipeline.Artifacts) -> Iterator[Gateway]:
    """Envoy serving examples/quickstart.aipol (backends gpt4o, mini, local mocked)."""
    gateway = start_gateway(quickstart)
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def qs(gw: Gateway) -> Gateway:
    """The module's quickstart gateway with empty mocks."""
    gw.mock.clear()
    return gw


@pytest.fixture
def sdk(qs: Gateway) -> Iterator[Callable[..., openai.OpenAI]]:
    """`sdk(key, **options)`: an OpenAI client for the quickstart gateway."""
    clients: list[openai.OpenAI] = []

    def make(key: str = ALICE, **options: Any) -> openai.OpenAI:
        client = openai.OpenAI(base_url=qs.base_url, api_key=key, max_retries=0, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
