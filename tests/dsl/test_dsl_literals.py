"""Each literal form through the real lexer (``parse_literal``), and its printer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aipol.dsl import ast, literals
from aipol.dsl.ast import NO_SPAN, Span
from aipol.dsl.errors import AipolError
from aipol.dsl.parser import LITERAL_KINDS, parse_literal
from hypothesis import given
from hypothesis import strategies as st

N = NO_SPAN
KiB, MiB, GiB = 1024, 1024**2, 1024**3

VALID: list[tuple[str, str, Any, str]] = [
    # kind, source, value, canonical spelling
    ("size", "4MiB", ast.Size(4 * MiB, "MiB", N), "4MiB"),
    ("size", "4mib", ast.Size(4 * MiB, "MiB", N), "4MiB"),
    ("size", "1KiB", ast.Size(KiB, "KiB", N), "1KiB"),
    ("size", "2GiB", ast.Size(2 * GiB, "GiB", N), "2GiB"),
    ("size", "1KB", ast.Size(1000, "KB", N), "1KB"),
    ("size", "1kb", ast.Size(1000, "KB", N), "1KB"),
    ("size", "3MB", ast.Size(3_000_000, "MB", N), "3MB"),
    ("size", "1GB", ast.Size(10**9, "GB", N), "1GB"),
    ("size", "512B", ast.Size(512, "B", N), "512B"),
    ("size", "1024", ast.Size(1024, "", N), "1024"),
    ("size", "0", ast.Size(0, "", N), "0"),
    ("size", "1.5MiB", ast.Size(MiB + MiB // 2, "MiB", N), "1.5MiB"),
    ("size", "007KiB", ast.Size(7 * KiB, "KiB", N), "7KiB"),
    ("duration", "100ms", ast.Duration(100, "ms", N), "100ms"),
    ("duration", "30s", ast.Duration(30_000, "s", N), "30s"),
    ("duration", "5m", ast.Duration(300_000, "m", N), "5m"),
    ("duration", "24h", ast.Duration(86_400_000, "h", N), "24h"),
    ("duration", "7d", ast.Duration(7 * 86_400_000, "d", N), "7d"),
    ("duration", "1.5s", ast.Duration(1500, "s", N), "1.5s"),
    ("money", "$2.50", ast.Money(Decimal("2.50"), N), "$2.50"),
    ("money", "$2.5", ast.Money(Decimal("2.5"), N), "$2.50"),
    ("money", "$10", ast.Money(Decimal("10"), N), "$10.00"),
    ("money", "$0.001", ast.Money(Decimal("0.001"), N), "$0.001"),
    ("money", "$0", ast.Money(Decimal("0"), N), "$0.00"),
    ("percent", "90%", ast.Percent(Decimal("90"), N), "90%"),
    ("percent", "90.0%", ast.Percent(Decimal("90"), N), "90%"),
    ("percent", "12.50%", ast.Percent(Decimal("12.5"), N), "12.5%"),
    ("percent", "0%", ast.Percent(Decimal("0"), N), "0%"),
    ("percent", "100%", ast.Percent(Decimal("100"), N), "100%"),
    ("count", "1M", ast.Count(1_000_000, N), "1M"),
    ("count", "1K", ast.Count(1000, N), "1K"),
    ("count", "1k", ast.Count(1000, N), "1K"),
    ("count", "1000", ast.Count(1000, N), "1K"),
    ("count", "250", ast.Count(250, N), "250"),
    ("address", "0.0.0.0:8080", ast.Address("0.0.0.0", 8080, N), "0.0.0.0:8080"),
    ("address", "localhost:80", ast.Address("localhost", 80, N), "localhost:80"),
    (
        "address",
        "api.example.com:443",
        ast.Address("api.example.com", 443, N),
        "api.example.com:443",
    ),
    ("address", "[::1]:9901", ast.Address("::1", 9901, N), "[::1]:9901"),
    ("address", "[2001:db8::1]:65535", ast.Address("2001:db8::1", 65535, N), "[2001:db8::1]:65535"),
    ("string", '"plain"', ast.Str("plain", N), '"plain"'),
    (
        "string",
        '"q\\" b\\\\ s\\/ n\\n t\\t r\\r"',
        ast.Str('q" b\\ s/ n\n t\t r\r', N),
        '"q\\" b\\\\ s/ n\\n t\\t r\\r"',
    ),
    ("string", '"\\u00e9\\u263A"', ast.Str("é☺", N), '"é☺"'),
    ("string", '"\\ud83d\\ude00"', ast.Str("😀", N), '"😀"'),
    ("string", '"\\u0007"', ast.Str("\x07", N), '"\\u0007"'),
    ("string", '"/v1/*"', ast.Str("/v1/*", N), '"/v1/*"'),
    ("string", '"# not a comment"', ast.Str("# not a comment", N), '"# not a comment"'),
    ("string", '""', ast.Str("", N), '""'),
    ("name", "gpt4o", ast.Name("gpt4o", N), "gpt4o"),
    ("name", "_x-y_1", ast.Name("_x-y_1", N), "_x-y_1"),
    (
        "regex",
        "/personal_id:[0-9]{9}/",
        ast.Regex("personal_id:[0-9]{9}", "", N),
        "/personal_id:[0-9]{9}/",
    ),
    ("regex", "/a\\/b/i", ast.Regex("a/b", "i", N), "/a\\/b/i"),
    ("regex", "/\\d+\\.\\d+/ms", ast.Regex("\\d+\\.\\d+", "ms", N), "/\\d+\\.\\d+/ms"),
    ("regex", "/TICKET-\\d{6}/i", ast.Regex("TICKET-\\d{6}", "i", N), "/TICKET-\\d{6}/i"),
    ("regex", "/si/si", ast.Regex("si", "is", N), "/si/is"),
    ("regex", '/a "b" # c/', ast.Regex('a "b" # c', "", N), '/a "b" # c/'),
    ("int", "200", 200, "200"),
    ("number", "1000", Decimal("1000"), "1000"),
    ("number", "1.5", Decimal("1.5"), "1.5"),
    ("number", "1.50", Decimal("1.5"), "1.5"),
    ("number", "-2.0", Decimal("-2"), "-2"),
    ("number", "0.000", Decimal("0"), "0"),
    ("number", "-0", Decimal("0"), "0"),
    ("number", "007", Decimal("7"), "7"),
]

PRINTERS = {
    "size": literals.format_size,
    "duration": literals.format_duration,
    "money": literals.format_money,
    "percent": literals.format_percent,
    "count": literals.format_count,
    "address": literals.format_address,
    "string": lambda s: literals.format_string(s.value),
    "name": literals.format_name,
    "regex": literals.format_regex,
    "int": str,
    "number": literals.format_number,
}


@pytest.mark.parametrize(
    ("kind", "source", "value", "canonical"), VALID, ids=[f"{k}:{s}" for k, s, _, _ in VALID]
)
def test_literal(kind: str, source: str, value: Any, canonical: str) -> None:
    parsed = parse_literal(kind, source)
    assert parsed == value
    if isinstance(value, ast.Node):
        assert parsed.span == Span("<string>", 1, 1, 1, 1 + len(source))
    assert PRINTERS[kind](parsed) == canonical
    assert parse_literal(kind, canonical) == value


INVALID: list[tuple[str, str, str]] = [
    ("size", "4TB", "unknown size unit `TB`"),
    ("size", "4Mb2", "unknown size unit `Mb2`"),
    ("size", "1.5B", "not a whole number of bytes"),
    ("duration", "5", "expected a duration"),
    ("duration", "5min", "unknown duration unit `min`"),
    ("duration", "0.5ms", "not a whole number of milliseconds"),
    ("money", "2.50", "expected an amount"),
    ("money", "$", "expected an amount"),
    ("percent", "90", "expected a percentage"),
    ("percent", "100.5%", "over 100%"),
    ("count", "1G", "unknown token count suffix `G`"),
    ("count", "0", "token count must be positive"),
    ("address", "localhost", "has no port"),
    ("address", "localhost:", "has no port"),
    ("address", "localhost:0", "invalid port `0`"),
    ("address", "localhost:http", "invalid port `http`"),
    ("address", "1.2.3:80", "invalid IPv4 address"),
    ("address", "-bad-.com:80", "invalid host name"),
    ("address", "[fe80::zz]:80", "invalid IPv6 address"),
    ("string", '"abc', "unterminated string"),
    ("string", '"\\x41"', "invalid escape `\\x`"),
    ("string", '"\\ud83d"', "unpaired surrogate"),
    ("string", "abc", "expected a string"),
    ("name", "9lives", "expected a name"),
    ("regex", "/a/x", "invalid regex flags"),
    ("regex", "/a/ii", "invalid regex flags"),
    ("regex", "/a/redact", "invalid regex flags `redact`"),
    ("regex", "/a/I", "invalid regex flags `I`"),
    ("regex", "//", "empty regex"),
    ("regex", "/a", "unterminated regex"),
    ("regex", "/a\\/", "unterminated regex"),
    ("regex", '"/a/"', "expected a regex"),
    ("number", "1k", "invalid number `1k`"),
    ("number", "1e3", "invalid number `1e3`"),
    ("number", "1.", "invalid number `1.`"),
    ("number", "1.2.3", "invalid number `1.2.3`"),
    ("number", "50%", "invalid number `50%`"),
    ("number", "--1", "expected a number"),
    ("number", ".5", "expected a number"),
]


@pytest.mark.parametrize(
    ("kind", "source", "message"), INVALID, ids=[f"{k}:{s}" for k, s, _ in INVALID]
)
def test_invalid_literal(kind: str, source: str, message: str) -> None:
    with pytest.raises(AipolError) as info:
        parse_literal(kind, source, "lit")
    assert message in str(info.value)
    assert str(info.value).startswith("lit:1:")


def test_literal_kinds_all_covered() -> None:
    assert {k for k, _, _, _ in VALID} == set(LITERAL_KINDS)
    with pytest.raises(ValueError):
        parse_literal("colour", "red")


def test_string_escape_error_points_at_the_escape() -> None:
    with pytest.raises(AipolError) as info:
        parse_literal("string", '"ab\\qc"')
    assert info.value.span == Span("<string>", 1, 4, 1, 6)


@given(st.text())
def test_string_round_trip(value: str) -> None:
    printed = literals.format_string(value)
    assert "\n" not in printed
    assert parse_literal("string", printed).value == value


@given(st.integers(0, 10**15), st.sampled_from(["", *literals.SIZE_UNITS]))
def test_size_round_trip(n: int, unit: str) -> None:
    size = ast.Size(n, unit, N)
    assert parse_literal("size", literals.format_size(size)) == size


@given(st.integers(0, 10**9), st.sampled_from(list(literals.DURATION_UNITS)))
def test_duration_round_trip(n: int, unit: str) -> None:
    duration = ast.Duration(n * literals.DURATION_UNITS[unit], unit, N)
    assert parse_literal("duration", literals.format_duration(duration)) == duration


@given(st.integers(0, 10**12), st.sampled_from(list(literals.DURATION_UNITS)))
def test_duration_prints_exactly_in_some_unit(ms: int, unit: str) -> None:
    printed = literals.format_duration(ast.Duration(ms, unit, N))
    assert parse_literal("duration", printed).ms == ms


@given(st.decimals(min_value=0, max_value=10**6, places=4))
def test_money_round_trip(amount: Decimal) -> None:
    money = ast.Money(amount, N)
    text = literals.format_money(money)
    assert parse_literal("money", text) == money
    assert len(text.split(".")[1]) >= 2


@given(st.decimals(min_value=0, max_value=100, places=3))
def test_percent_round_trip(value: Decimal) -> None:
    percent = ast.Percent(value, N)
    assert parse_literal("percent", literals.format_percent(percent)) == percent


@given(st.text(st.characters(blacklist_characters="\n\r"), min_size=1))
def test_regex_round_trip(pattern: str) -> None:
    regex = ast.Regex(pattern.replace("\\", "\\\\"), "i", N)
    assert parse_literal("regex", literals.format_regex(regex)) == regex


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_number_round_trip(value: Decimal) -> None:
    assert parse_literal("number", literals.format_number(value)) == value
