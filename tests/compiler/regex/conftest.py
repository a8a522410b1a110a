"""The regex tests share their reference matcher and pattern generator with
the C runner's tests (tests/filters/dfa_reference.py)."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[2])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
