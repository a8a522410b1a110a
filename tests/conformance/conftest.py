"""Fixtures of the conformance suite: the example policies compiled once per
session, one harness (and one set of mocks behind it) per policy per session,
one Envoy (with its mocks) per policy per module."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from aipol.sidecar.mocks.openai import MockOpenAI
from aipol.wasm_runtime import Harness
from conformance_support import EXAMPLES, POLICIES, httpx

# Envoy's credential injector reads the OpenAI backends' key from here.
UPSTREAM_SECRET = "sk-upstream-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def upstream_secret() -> str:
    return UPSTREAM_SECRET


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pipeline.Artifacts]:
    return {
        name: pipeline.compile_file(EXAMPLES / f"{name}.aipol", tmp_path_factory.mktemp(name))
        for name in POLICIES
    }


@pytest.fixture(scope="session")
def harnesses(artifacts: dict[str, pipeline.Artifacts]) -> Iterator[dict[str, Harness]]:
    loaded = {
        name: Harness.load(
            art.wasm_path,
            plugin_config=art.plugin_config.encode(),
            max_request_bytes=art.policy.buffer_limit,
        )
        for name, art in artifacts.items()
    }
    yield loaded
    for h in loaded.values():
        h.close()


@pytest.fixture(scope="session")
def harness_mocks(
    artifacts: dict[str, pipeline.Artifacts],
) -> Iterator[dict[str, dict[str, MockOpenAI]]]:
    """Per policy, one mock per backend behind the harness's forwarding upstream."""
    mocks = {
        name: {b.name: MockOpenAI(b.name).start() for b in art.policy.backends}
        for name, art in artifacts.items()
    }
    yield mocks
    for group in mocks.values():
        for mock in group.values():
            mock.stop()


@pytest.fixture(scope="module")
def gateways(artifacts: dict[str, pipeline.Artifacts]) -> Iterator[dict[str, Gateway]]:
    env = dict(os.environ, OPENAI_API_KEY=UPSTREAM_SECRET)
    started: dict[str, Gateway] = {}
    try:
        for name, art in artifacts.items():
            started[name] = Gateway(
                art.wasm_path,
                policy=art.policy,
                plugin_config=art.plugin_config,
                mock_backends=True,
                env=env,
            ).start()
        yield started
    finally:
        for gw in started.values():
            gw.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
