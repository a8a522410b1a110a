"""Error messages: golden files for syntax/local errors, and AipolError rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from aipol.dsl.ast import Span
from aipol.dsl.errors import AipolError, AipolErrors
from aipol.dsl.parser import parse
from hypothesis import given, settings
from hypothesis import strategies as st

HERE = Path(__file__).parent
ERROR_CASES = sorted((HERE / "errors").glob("*.aipol"))
VALID_CASES = sorted((HERE / "cases").glob("*.aipol"))


def test_enough_error_cases() -> None:
    assert len(ERROR_CASES) >= 15


@pytest.mark.parametrize("case", ERROR_CASES, ids=[p.stem for p in ERROR_CASES])
def test_error_golden(case: Path, golden) -> None:
    text = case.read_text(encoding="utf-8")
    with pytest.raises(AipolError) as info:
        parse(text, f"errors/{case.name}")
    golden(case.with_suffix(".err"), str(info.value) + "\n")


def test_error_is_not_a_traceback() -> None:
    with pytest.raises(AipolError) as info:
        parse("gateway {\n  lisen 1.2.3.4:80\n}\n", "p.aipol")
    message = str(info.value)
    assert "Traceback" not in message and "lark" not in message.lower()
    assert message.startswith("p.aipol:2:3: error: unknown statement `lisen` in gateway block")


def test_format_matches_the_documented_layout() -> None:
    source = "\n" * 11 + '  when model "gpt-4o" -> gtp4o\n'
    err = AipolError(
        "unknown backend `gtp4o`",
        Span("policy.aipol", 12, 26, 12, 31),
        source_text=source,
        expected=["gpt4o", "sonnet"],
    )
    assert str(err) == (
        "policy.aipol:12:26: error: unknown backend `gtp4o`\n"
        '   12 |   when model "gpt-4o" -> gtp4o\n'
        "      |                          ^^^^^\n"
        "  expected one of: gpt4o, sonnet"
    )
    assert err.format() == str(err)


def test_format_without_source_and_with_hint() -> None:
    err = AipolError("duplicate backend `a`", Span("f.aipol", 3, 9, 3, 10), hint="first at 1")
    assert str(err) == "f.aipol:3:9: error: duplicate backend `a`\n  hint: first at 1"


def test_format_single_expected_and_no_span() -> None:
    err = AipolError("no gateway", None, expected=["gateway { ... }"])
    assert str(err) == "<unknown>: error: no gateway\n  expected: gateway { ... }"


def test_format_multi_line_span_underlines_to_end_of_first_line() -> None:
    source = "backend a {\n  provider x\n}\n"
    err = AipolError("bad block", Span("f", 1, 9, 3, 2), source_text=source)
    assert str(err).splitlines()[1:] == ["   1 | backend a {", "     |         ^^^"]


def test_format_keeps_tabs_under_tabs() -> None:
    source = "gateway {\n\tmax_body 4X\n}\n"
    err = AipolError("bad", Span("f", 2, 11, 2, 13), source_text=source)
    assert str(err).splitlines()[2] == "     | \t         ^^"


def test_aipol_errors_prints_all() -> None:
    source = "a\nb\n"
    errors = AipolErrors(
        [
            AipolError("first", Span("f", 1, 1, 1, 2), source),
            AipolError("second", Span("f", 2, 1, 2, 2), source),
        ]
    )
    assert isinstance(errors, AipolError)
    assert str(errors) == (
        "f:1:1: error: first\n   1 | a\n     | ^\n\nf:2:1: error: second\n   2 | b\n     | ^"
    )
    assert [e.message for e in errors.errors] == ["first", "second"]
    with pytest.raises(ValueError):
        AipolErrors([])


def _mutations() -> st.SearchStrategy[str]:
    """Valid files with a random slice deleted, duplicated or replaced."""
    texts = [p.read_text(encoding="utf-8") for p in VALID_CASES]

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(texts))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        junk = draw(st.sampled_from(["", "{", "}", "\n", '"', "#", "$", "%", ",", "->", "x", "9"]))
        return text[:i] + junk + text[j:]

    return mutate()


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_broken_input_only_raises_aipol_error(text: str) -> None:
    try:
        parse(text, "fuzz.aipol")
    except AipolError as err:
        rendered = str(err)
        assert rendered.startswith("fuzz.aipol:")
        assert "error:" in rendered
