"""The `aipol` command as a user runs it: exit codes and what it prints."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def aipol(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aipol.compiler.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_ok() -> None:
    r = aipol("check", "examples/quickstart.aipol")
    assert r.returncode == 0, r.stderr
    assert "examples/quickstart.aipol: ok (3 backends, 2 routes, 4 principals, 7 tests)" in r.stdout


def test_check_error_prints_location_line_and_caret_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.aipol"
    bad.write_text(
        'backend a {\n  provider openai\n  url "http://x"\n}\n'
        'route "/v1/chat/completions" {\n  default b\n}\n'
    )
    r = aipol("check", str(bad))
    assert r.returncode == 1
    assert f"{bad}:6:11: error: unknown backend `b`" in r.stderr
    assert "  default b\n" in r.stderr and "^" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_missing_file_is_a_clear_error() -> None:
    r = aipol("check", "nope.aipol")
    assert r.returncode == 1
    assert "nope.aipol" in r.stderr and "Traceback" not in r.stderr


def test_compile_writes_all_artifacts(tmp_path: Path) -> None:
    r = aipol("compile", "examples/ab_test.aipol", "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"filter.wasm", "envoy.yaml", "manifest.json", "policy.c", "ir.json"} <= names


def test_test_command_passes_and_fails_like_pytest(tmp_path: Path) -> None:
    r = aipol("test", "examples/quickstart.aipol")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 passed" in r.stdout.splitlines()[-1]

    shutil.copy(EXAMPLES / "keys.yaml", tmp_path / "keys.yaml")
    text = (
        (EXAMPLES / "quickstart.aipol")
        .read_text()
        .replace("expect status 403", "expect status 200")
    )
    (tmp_path / "q.aipol").write_text(text)
    r = aipol("test", str(tmp_path / "q.aipol"))
    assert r.returncode == 1
    assert "support may not use gpt-4o FAILED" in r.stdout
    assert "expect status 200" in r.stdout and "got status 403" in r.stdout
    assert "6 passed, 1 failed" in r.stdout.splitlines()[-1]


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.aipol")), ids=lambda p: p.stem)
def test_examples_are_formatted(example: Path) -> None:
    r = aipol("fmt", "--check", str(example))
    assert r.returncode == 0, r.stdout + r.stderr


def test_fmt_rewrites_and_keeps_comments(tmp_path: Path) -> None:
    src = tmp_path / "messy.aipol"
    src.write_text(
        '# top\nbackend   a{\nprovider openai # inline\n url "http://h"\n}\n'
        'route "/v1/x" {\n default a\n   }\n'
    )
    r = aipol("fmt", "--check", str(src))
    assert r.returncode == 1
    r = aipol("fmt", "-w", str(src))
    assert r.returncode == 0, r.stderr
    text = src.read_text()
    assert "# top" in text and "# inline" in text
    assert aipol("fmt", "--check", str(src)).returncode == 0
