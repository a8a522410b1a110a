"""Helpers shared by the end-to-end test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway

try:  # the openai SDK >= 3 ships httpx as `httpx2`
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs depend on httpx itself
    import httpx  # type: ignore[no-redef]

__all__ = [
    "ALICE",
    "BOB",
    "CAROL",
    "DAVE",
    "EXAMPLES",
    "ROOT",
    "UPSTREAM_SECRET",
    "chat",
    "gateway_env",
    "httpx",
    "start_gateway",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

ALICE = "sk-aipol-demo-alice"  # team research
BOB = "sk-aipol-demo-bob"  # team research
CAROL = "sk-aipol-demo-carol"  # team support
DAVE = "sk-aipol-demo-dave"  # team ml

# The upstream credential of the OpenAI backends (`credential env OPENAI_API_KEY`):
# a fresh value per session, given to Envoy through its environment only.
UPSTREAM_SECRET = "sk-upstream-" + secrets.token_hex(12)


def gateway_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OPENAI_API_KEY"] = UPSTREAM_SECRET
    return env


def start_gateway(art: pipeline.Artifacts, **options: Any) -> Gateway:
    """Envoy + mocks for compiled artifacts; the OpenAI backends' credential is
    e2e_support.UPSTREAM_SECRET (environment variable OPENAI_API_KEY)."""
    return Gateway(
        art.wasm_path,
        policy=art.policy,
        plugin_config=art.plugin_config,
        mock_backends=True,
        env=gateway_env(),
        **options,
    ).start()


def chat(text: str = "hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value (or the last falsy one)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
