"""Smoke test of bench/dlp: a --quick run ends with its JSON line, all 200s.

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
SCRIPT = ROOT / "bench" / "dlp"
KEYS = (
    "filter_mb_s",
    "re_mb_s",
    "re2_mb_s",
    "p50_added_us_4k",
    "injection_precision",
    "injection_recall",
    "filter_mb_s_by_size",
    "re_mb_s_by_size",
    "re2_mb_s_by_size",
    "filter_over_re",
    "filter_over_re2",
    "profile",
    "rps_ratio",
    "all_200",
    "targets_met",
)


def _have_wrk() -> bool:
    """wrk on PATH, or installable (bench/dlp installs it like bench/overhead)."""
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
def test_dlp_quick_run_prints_json_last() -> None:
    if sys.platform != "linux":
        pytest.skip("bench/dlp reads /proc")
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
    assert result["quick"] is True
    for key in ("filter_mb_s", "re_mb_s", "re2_mb_s"):
        assert result[key] > 0, key
        assert set(result[f"{key}_by_size"]) == {"1k", "64k", "1m"}
    assert 0 <= result["injection_precision"] <= 1 and 0 <= result["injection_recall"] <= 1
    assert result["injection_source"] == "python-reference"
    assert "not compiled into the filter" in proc.stdout
    assert "every response a 200: yes" in proc.stdout
