"""Session-wide fixtures: each example policy is compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from aipol.compiler import pipeline

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def compile_example(tmp_path_factory):
    """`compile_example("quickstart")` -> Artifacts, compiled once per session."""
    cache: dict[str, pipeline.Artifacts] = {}

    def get(name: str) -> pipeline.Artifacts:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"example-{name}")
            cache[name] = pipeline.compile_file(EXAMPLES / f"{name}.aipol", out)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def example_harness(compile_example):
    """`example_harness("quickstart")` -> a fresh Harness on the compiled example."""
    from aipol.wasm_runtime import Harness

    def load(name: str, **kwargs):
        art = compile_example(name)
        kwargs.setdefault("max_request_bytes", art.policy.buffer_limit)
        return Harness.load(art.wasm_path, plugin_config=art.plugin_config.encode(), **kwargs)

    return load
