"""Fixtures: the runtime + policy stub compiled once per session."""

from __future__ import annotations

import pytest
import wasmtime

from .guest import Guest, build_module


@pytest.fixture(scope="session")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, object]:
    out = tmp_path_factory.mktemp("filters") / "runtime_test.wasm"
    diagnostics = build_module(out)
    return diagnostics, out


@pytest.fixture(scope="session")
def module(engine: wasmtime.Engine, built) -> wasmtime.Module:
    return wasmtime.Module.from_file(engine, str(built[1]))


@pytest.fixture(scope="module")
def guest(engine: wasmtime.Engine, module: wasmtime.Module) -> Guest:
    """A module-wide instance with every host import trapping: the pure
    routines under test must not call the host."""
    return Guest(engine, module)
