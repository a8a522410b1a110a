"""Smoke test of bench/overhead: a --quick run ends with its JSON line, all 200s.

No timing assertions: the numbers depend on the machine and on what else runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "overhead"
KEYS = (
    "rps_ratio",
    "p50_added_us",
    "p99_added_us",
    "wasm_bytes_max",
    "compile_ms_max",
    "compile_ms_warm_max",
    "rps_bare",
    "rps_filter",
    "p50_bare_us",
    "p50_filter_us",
    "p99_bare_us",
    "p99_filter_us",
    "rounds",
    "load_tool",
)


def _have_wrk() -> bool:
    """wrk on PATH, or installable (bench/overhead installs it the same way)."""
    if shutil.which("wrk"):
        return True
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    try:
        if subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
            subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return shutil.which("wrk") is not None


@pytest.mark.slow
@pytest.mark.envoy
@pytest.mark.timeout(300)
def test_overhead_quick_run_prints_json_last() -> None:
    if sys.platform != "linux":
        pytest.skip("bench/overhead reads /proc")
    if not _have_wrk():
        pytest.skip("wrk is not installed and cannot be installed here")
    proc = subprocess.run(
        [str(SCRIPT), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    missing = [k for k in KEYS if k not in result]
    assert not missing, missing
    assert result["all_200"] is True
    assert result["rounds"] == 1
    assert result["requests_bare"] > 0 and result["requests_filter"] > 0
    assert result["wasm_bytes_max"] > 0
    assert "wrk" in result["load_tool"]
    assert "every response a 200: yes" in proc.stdout
