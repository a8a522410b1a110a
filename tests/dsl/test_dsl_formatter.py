"""Formatter: canonical output, round trip with the parser, comment preservation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aipol.dsl import ast
from aipol.dsl.formatter import format_source, to_source
from aipol.dsl.parser import parse, parse_with_comments
from dsl_strategies import files
from hypothesis import HealthCheck, given, settings

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
VALID = sorted((HERE / "cases").glob("*.aipol")) + sorted((ROOT / "examples").glob("*.aipol"))
FORMAT_CASES = sorted((HERE / "format").glob("*.aipol"))
ALL = VALID + FORMAT_CASES


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_format_round_trip_and_idempotence(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_source(text, path.name)
    assert parse(once) == parse(text)
    assert format_source(once, path.name) == once


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_format_keeps_every_comment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    _, before = parse_with_comments(text)
    _, after = parse_with_comments(format_source(text))
    assert [c.text for c in after] == [c.text for c in before]


@pytest.mark.parametrize("path", FORMAT_CASES, ids=[p.name for p in FORMAT_CASES])
def test_format_golden(path: Path, golden) -> None:
    golden(path.with_suffix(".expected"), format_source(path.read_text(encoding="utf-8")))


def test_example_files_are_canonical() -> None:
    for path in [HERE / "cases" / "acme.aipol", *(ROOT / "examples").glob("*.aipol")]:
        text = path.read_text(encoding="utf-8")
        assert format_source(text) == text, path.name


def test_full_case_canonicalizes_literals() -> None:
    out = format_source((HERE / "cases" / "full.aipol").read_text(encoding="utf-8"))
    assert "price input $3.00 output $15.00 per 1K tokens" in out
    assert "methods POST, GET" in out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files)
def test_printed_trees_parse_back(tree: ast.File) -> None:
    text = to_source(tree)
    assert parse(text) == tree
    assert format_source(text) == text


def _fmt(text: str) -> str:
    return format_source(text, "t.aipol")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "gateway {\n  # keep me\n}\n", "gateway {\n  # keep me\n}\n", id="empty-block-comment"
        ),
        pytest.param("gateway {\n}\n", "gateway {}\n", id="empty-block"),
        pytest.param("gateway {}  # eol\n", "gateway {}  # eol\n", id="empty-block-eol"),
        pytest.param("gateway {\n}  # eol\n", "gateway {}  # eol\n", id="empty-block-close-eol"),
        pytest.param(
            "gateway {\n  listen 1.2.3.4:80   #   spaced  \n}\n",
            "gateway {\n  listen 1.2.3.4:80  #   spaced\n}\n",
            id="eol-comment-text-kept",
        ),
        pytest.param(
            "gateway {\n  listen 1.2.3.4:80\n  # before brace\n}\n",
            "gateway {\n  listen 1.2.3.4:80\n  # before brace\n}\n",
            id="comment-before-brace",
        ),
        pytest.param(
            '#a\n#b\ngateway {}\n#c\nkeys file "k"\n',
            '#a\n#b\ngateway {}\n\n#c\nkeys file "k"\n',
            id="comments-attach-to-next-item",
        ),
        pytest.param("# only\n\n\n# comments\n", "# only\n\n# comments\n", id="only-comments"),
        pytest.param("", "", id="empty"),
        pytest.param(
            'keys file "k"\ngateway {}\n', 'keys file "k"\n\ngateway {}\n', id="blank-between-items"
        ),
        pytest.param(
            "gateway {\n\n\n  listen 1.2.3.4:80\n\n\n  admin 1.2.3.4:81\n}\n",
            "gateway {\n  listen 1.2.3.4:80\n\n  admin 1.2.3.4:81\n}\n",
            id="blank-lines-in-block",
        ),
        pytest.param(
            "gateway {\n  # a\n\n  # b\n  listen 1.2.3.4:80\n}\n",
            "gateway {\n  # a\n\n  # b\n  listen 1.2.3.4:80\n}\n",
            id="comment-groups-in-block",
        ),
        pytest.param(
            'test "t" {\n  send key "k"  # the request\n  expect status 200\n}\n',
            'test "t" {\n  send key "k"  # the request\n  expect status 200\n}\n',
            id="comment-in-test",
        ),
    ],
)
def test_comment_and_blank_line_layout(source: str, expected: str) -> None:
    assert _fmt(source) == expected
    assert _fmt(expected) == expected


NESTED = (
    "policy p {\n"
    "  dlp request, response {  # header\n"
    "    # first\n"
    "    redact email,phone\n"
    "\n"
    "\n"
    "    # patterns\n"
    "    pattern   x   /a\\/b/i   mask  # eol\n"
    "    # before inner brace\n"
    "  }  # after inner brace\n"
    "  # between\n"
    "  dlp response {\n"
    "  }\n"
    "  dlp request {\n"
    "    # only a comment\n"
    "  }\n"
    "}\n"
)
NESTED_EXPECTED = (
    "policy p {\n"
    "  dlp request, response {  # header\n"
    "    # first\n"
    "    redact email, phone\n"
    "\n"
    "    # patterns\n"
    "    pattern x /a\\/b/i mask  # eol\n"
    "    # before inner brace\n"
    "  }  # after inner brace\n"
    "  # between\n"
    "  dlp response {}\n"
    "  dlp request {\n"
    "    # only a comment\n"
    "  }\n"
    "}\n"
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(NESTED, NESTED_EXPECTED, id="nested-dlp-block"),
        pytest.param(
            'route "/x" {\n  claims tier "t"  principal "p"\n  param  top_p <  1.50 for team a,b\n'
            '  prompt_guard  injection  detect\n  deny words "a","b" in response,request\n'
            '  require jwt issuer "i" jwks url "https://h/j" audience "a","b"\n}\n',
            'route "/x" {\n  claims principal "p" tier "t"\n  param top_p < 1.5 for team a, b\n'
            '  prompt_guard injection detect\n  deny words "a", "b" in response, request\n'
            '  require jwt issuer "i" jwks url "https://h/j" audience "a", "b"\n}\n',
            id="security-canonical",
        ),
    ],
)
def test_security_layout(source: str, expected: str) -> None:
    assert _fmt(source) == expected
    assert _fmt(expected) == expected


def test_formatter_never_drops_text() -> None:
    """Every word of the input survives (modulo canonical literal spelling)."""
    text = (HERE / "format" / "messy.aipol").read_text(encoding="utf-8")
    out = _fmt(text)
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", text))
    assert words <= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", out)) | {"mib", "u00e9"}
