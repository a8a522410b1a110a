"""pytest fixtures for the harness. Use from a conftest.py::

    from aipol.wasm_runtime.fixtures import *  # noqa: F401,F403

They are also registered as a pytest plugin (entry point ``pytest11``), so a project
that installs aipol gets them without a conftest.

``policy_harness("policy.aipol")`` compiles a policy once per session and returns a
fresh harness loaded with its filter and configuration, the way Envoy runs it;
``harness_factory(wasm, **options)`` loads any filter (path or bytes) and shuts it down
at teardown; ``compile_c(source, **flags)`` builds freestanding C into wasm with the
ziglang wheel, caching by source text; ``wat`` turns WebAssembly text into a module.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from .harness import Harness

_C_CACHE: dict[str, bytes] = {}


def compile_c(source: str | os.PathLike[str], *, extra_flags: tuple[str, ...] = ()) -> bytes:
    """Compile C (a path or the source text) to a proxy-wasm module with ``zig cc``."""
    text = Path(source).read_text() if isinstance(source, os.PathLike) else str(source)
    key = hashlib.sha256((text + "\0".join(extra_flags)).encode()).hexdigest()
    if key in _C_CACHE:
        return _C_CACHE[key]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "filter.c", Path(tmp) / "filter.wasm"
        src.write_text(text)
        cmd = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-freestanding", "-O2",
               "-nostdlib", "-Wl,--no-entry", "-Wl,--export=__heap_base", *extra_flags,
               "-o", str(out), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"zig cc failed:\n{proc.stderr}")
        _C_CACHE[key] = out.read_bytes()
    return _C_CACHE[key]


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


@pytest.fixture
def harness_factory() -> Iterator[Callable[..., Harness]]:
    """Load filters with ``Harness.load`` options; every one is shut down at teardown."""
    made: list[Harness] = []

    def factory(wasm: Any, **options: Any) -> Harness:
        h = Harness.load(wasm, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.close()


@pytest.fixture(scope="session")
def c_compiler() -> Callable[..., bytes]:
    """``compile_c`` as a fixture (session-scoped cache)."""
    return compile_c


@pytest.fixture(scope="session")
def _compiled_policies(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, float], Any]:
    return {}


@pytest.fixture
def policy_harness(
    _compiled_policies: dict[tuple[str, float], Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Harness]]:
    """``policy_harness(path, **options)``: the compiled policy in a fresh harness.

    Each policy file is compiled once per session (again if it changed); the
    harness gets the filter's plugin configuration (the key table) and Envoy's
    buffer limit from the generated bootstrap."""
    from aipol.compiler import pipeline
    from aipol.compiler.plugin_config import render_plugin_config

    made: list[Harness] = []

    def load(path: str | os.PathLike[str], **options: Any) -> Harness:
        source = Path(path).resolve()
        key = (str(source), source.stat().st_mtime)
        if key not in _compiled_policies:
            policy = pipeline.check_file(source)
            out = tmp_path_factory.mktemp(f"policy-{source.stem}")
            wasm = pipeline.build_wasm(pipeline.generate_c(policy), out)
            _compiled_policies[key] = (policy, wasm)
        policy, wasm = _compiled_policies[key]
        options.setdefault("plugin_config", render_plugin_config(policy).encode())
        options.setdefault("max_request_bytes", policy.buffer_limit)
        h = Harness.load(wasm, **options)
        made.append(h)
        return h

    yield load
    for h in made:
        h.close()


__all__ = ["c_compiler", "compile_c", "harness_factory", "policy_harness", "wat"]
