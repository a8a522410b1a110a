"""Fixtures for compiler tests: golden-file regeneration and compiled examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REGEN = bool(os.environ.get("AIPOL_REGEN"))


def check_golden(path: Path, actual: str) -> None:
    """Compare `actual` with the golden file; AIPOL_REGEN=1 rewrites it."""
    if REGEN:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with AIPOL_REGEN=1 and review the diff"
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs (AIPOL_REGEN=1 to update)"


@pytest.fixture(scope="session")
def golden():
    return check_golden
