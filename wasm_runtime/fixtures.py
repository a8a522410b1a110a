"""pytest fixtures for the harness. Use from a conftest.py::

    from aipol.wasm_runtime.fixtures import *  # noqa: F401,F403

``harness_factory(wasm, **options)`` loads a filter (path or bytes) and shuts it down at
teardown; ``compile_c(source, **flags)`` builds freestanding C into wasm with the ziglang
wheel, caching by source text; ``wat`` turns WebAssembly text into a module.
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


__all__ = ["c_compiler", "compile_c", "harness_factory", "wat"]
