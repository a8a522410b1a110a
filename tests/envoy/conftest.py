"""Fixtures for the Envoy backend tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def pick_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny body-routing test filter (pick_filter.c), built with zig cc."""
    out = tmp_path_factory.mktemp("wasm") / "pick.wasm"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "--target=wasm32-freestanding",
            "-O2",
            "-nostdlib",
            "-Wl,--no-entry",
            "-o",
            str(out),
            str(HERE / "pick_filter.c"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path_factory.getbasetemp(),
    )
    return out
