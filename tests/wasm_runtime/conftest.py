from pathlib import Path

import pytest
from aipol.wasm_runtime.fixtures import c_compiler, compile_c, harness_factory  # noqa: F401

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def probe_wasm() -> bytes:
    """The probe filter (probe_filter.c), compiled once per session."""
    return compile_c(HERE / "probe_filter.c")


@pytest.fixture
def probe(harness_factory, probe_wasm):  # noqa: F811
    """A loaded probe filter; call with options to get another one."""
    return harness_factory(probe_wasm, plugin_config=b"cfg")
