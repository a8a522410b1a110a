"""Fixtures for the language front-end tests.

Golden files (errors/*.err, format/*.expected) are regenerated with
``AIPOL_REGEN=1 pytest tests/dsl`` or ``pytest tests/dsl --regen-golden``;
review the result with ``git diff``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/dsl golden files")


@pytest.fixture(scope="session")
def golden(request: pytest.FixtureRequest) -> Callable[[Path, str], None]:
    regen = bool(os.environ.get("AIPOL_REGEN")) or bool(
        request.config.getoption("--regen-golden", default=False)
    )

    def check(path: Path, actual: str) -> None:
        if regen:
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; regenerate with AIPOL_REGEN=1"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{path.name} differs (AIPOL_REGEN=1 to update, then review)"

    return check
