"""Built-in DLP detectors (compiler/detectors.py): the registry's shape, the
patterns' regex subset and widths, and the per-detector corpora in
tests/data/dlp/ run through Python `re` + the reference validators (the
same corpora are meant to be re-run against the compiled DFAs).

The validators themselves (C vs the Python reference vs independent
generators) are tested in tests/filters/test_validate.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import re._parser as sre_parse
from pathlib import Path

import pytest
from aipol.compiler import detectors as D
from hypothesis import given, settings
from hypothesis import strategies as st

DATA = Path(__file__).resolve().parent.parent / "data" / "dlp"

EXPECTED_NAMES = {
    "email", "phone", "credit_card", "us_ssn", "iban", "ipv4", "ipv6",
    "aws_access_key", "private_key", "jwt", "api_key",
}  # fmt: skip
# Detectors whose patterns have no upper bound: max_len is a cap for them.
UNBOUNDED = {"email", "private_key", "jwt", "api_key"}
UNBOUNDED_WIDTH = 1 << 31


def corpus(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def first_match(det: D.Detector, text: str, longest_only: bool = False) -> str | None:
    data = text.encode()
    found = D.scan(det, data, longest_only=longest_only)
    return data[found[0][0] : found[0][1]].decode() if found else None


def raw_regex_hits(det: D.Detector, data: bytes) -> bool:
    """Some pattern matches somewhere (validator not applied)."""
    return any(D._ends_at(det, data, i) for i in range(len(data)))


# --- registry ---------------------------------------------------------------


def test_registry_names() -> None:
    assert set(D.DETECTORS) == EXPECTED_NAMES
    assert all(name == det.name for name, det in D.DETECTORS.items())
    assert D.get("email") is D.DETECTORS["email"]
    with pytest.raises(KeyError, match="unknown detector 'ssn'"):
        D.get("ssn")


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_detector_fields(name: str) -> None:
    det = D.get(name)
    assert dataclasses.is_dataclass(det)
    with pytest.raises(dataclasses.FrozenInstanceError):
        det.max_len = 1  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(det)] == [
        "name", "label", "patterns", "flags", "validator", "max_len", "description",
    ]  # fmt: skip
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", det.label)
    assert isinstance(det.patterns, tuple) and det.patterns
    assert all(isinstance(p, str) for p in det.patterns)
    assert det.flags in ("", "i")
    assert det.ignore_case == (det.flags == "i")
    assert det.validator is None or det.validator in D.VALIDATOR_IDS
    assert det.validator != "none"
    assert det.validator_id == D.validator_id(det.validator)
    assert isinstance(det.max_len, int) and 0 < det.max_len <= 8192
    assert det.description and "\n" not in det.description


def test_validator_ids() -> None:
    ids = dict(D.VALIDATOR_IDS)
    assert ids["none"] == 0
    assert sorted(ids.values()) == list(range(len(ids)))
    assert set(ids) == set(D.VALIDATORS)
    assert D.validator_id(None) == 0
    used = {d.validator for d in D.DETECTORS.values()} - {None}
    # luhn alone is a building block (card_luhn = brand table + luhn).
    assert used == set(ids) - {"none", "luhn"}


# --- the regex subset ---------------------------------------------------------

_CLASS_ESCAPES = set("dws") | set(r"\-]^[./+")
_ESCAPES = set("dws") | set(r".-+()[]{}/\|*?")


def subset_problems(p: str) -> list[str]:
    """Syntax outside the DFA compiler's subset (see compiler/detectors.py)."""
    bad: list[str] = []
    i, depth, n = 0, 0, len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            e = p[i + 1] if i + 1 < n else ""
            if e == "b":
                if i not in (0, n - 2):
                    bad.append(f"\\b inside the pattern at {i}")
            elif e not in _ESCAPES:
                bad.append(f"escape \\{e} at {i}")
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < n and p[j] == "^":
                bad.append(f"negated class at {i}")
            while j < n and p[j] != "]":
                if p[j] == "\\":
                    if p[j + 1] not in _CLASS_ESCAPES:
                        bad.append(f"class escape \\{p[j + 1]} at {j}")
                    j += 1
                j += 1
            i = j + 1
            continue
        if c == "(":
            if p.startswith("(?", i) and not p.startswith("(?:", i):
                bad.append(f"group syntax {p[i : i + 3]!r} at {i}")
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            bad.append(f"top-level | at {i}")
        elif c in ".^$":
            bad.append(f"{c!r} at {i}")
        elif c in "*+?}" and i + 1 < n and p[i + 1] in "?+":
            bad.append(f"lazy/possessive quantifier at {i}")
        elif c == "{" and not re.match(r"\{\d+(,\d*)?\}", p[i:]):
            bad.append(f"bad repetition at {i}")
        i += 1
    return bad


ALL_PATTERNS = [
    pytest.param(det, k, id=f"{det.name}-{k}")
    for det in D.DETECTORS.values()
    for k in range(len(det.patterns))
]


@pytest.mark.parametrize(("det", "k"), ALL_PATTERNS)
def test_pattern_in_subset(det: D.Detector, k: int) -> None:
    p = det.patterns[k]
    assert subset_problems(p) == []
    re.compile(p, det.re_flags)  # str and bytes both compile
    re.compile(p.encode(), det.re_flags)
    assert p.isascii()


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("a(?=b)", "group syntax"),
        ("(a)\\1", "escape \\1"),
        ("^abc", "'^'"),
        ("ab$", "'$'"),
        ("a\\bb", "\\b inside"),
        ("a.b", "'.'"),
        ("a+?", "lazy"),
        ("a|b", "top-level |"),
        ("[^a]", "negated class"),
        ("\\D", "escape \\D"),
    ],
)
def test_subset_lint_catches(pattern: str, problem: str) -> None:
    assert any(problem in msg for msg in subset_problems(pattern))


def width(det: D.Detector) -> tuple[int, int]:
    """(min, max) match length over the detector's patterns; max is
    UNBOUNDED_WIDTH or more for unbounded patterns."""
    ws = [sre_parse.parse(p, det.re_flags).getwidth() for p in det.patterns]
    return min(w[0] for w in ws), max(w[1] for w in ws)


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_max_len(name: str) -> None:
    det = D.get(name)
    lo, hi = width(det)
    assert lo >= 1
    if name in UNBOUNDED:
        assert hi >= UNBOUNDED_WIDTH
        bounded = [
            w[1]
            for p in det.patterns
            if (w := sre_parse.parse(p, det.re_flags).getwidth())[1] < UNBOUNDED_WIDTH
        ]
        assert det.max_len >= max([lo, *bounded])
    else:
        assert hi == det.max_len, f"{name}: longest possible match is {hi}"


# --- corpora --------------------------------------------------------------------


def test_every_detector_has_a_corpus() -> None:
    assert {p.stem for p in DATA.glob("*.json")} == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        c = corpus(name)
        assert set(c) == {"positive", "negative"}
        assert len(c["positive"]) >= 3 and len(c["negative"]) >= 3
        for entry in c["positive"]:
            text, expected = entry
            assert isinstance(text, str) and isinstance(expected, str)
            assert expected and expected in text
        assert all(isinstance(t, str) for t in c["negative"])


POSITIVES = [
    pytest.param(name, text, expected, id=f"{name}-pos-{k}")
    for name in sorted(EXPECTED_NAMES)
    for k, (text, expected) in enumerate(corpus(name)["positive"])
]
NEGATIVES = [
    pytest.param(name, text, id=f"{name}-neg-{k}")
    for name in sorted(EXPECTED_NAMES)
    for k, text in enumerate(corpus(name)["negative"])
]


@pytest.mark.parametrize(("name", "text", "expected"), POSITIVES)
def test_corpus_positive(name: str, text: str, expected: str) -> None:
    det = D.get(name)
    assert first_match(det, text) == expected
    assert len(expected.encode()) <= det.max_len
    assert D.validate(det.validator, expected.encode())


@pytest.mark.parametrize(("name", "text"), NEGATIVES)
def test_corpus_negative(name: str, text: str) -> None:
    det = D.get(name)
    assert D.scan(det, text.encode()) == []


# Positives whose match needs the fallback to a shorter candidate when the
# longest one fails validation (a runtime that validates only the longest
# candidate misses these).
FALLBACK_DEPENDENT = {("credit_card", "card 4111 1111 1111 1111 123 is the cvv")}


def test_fallback_dependent_positives() -> None:
    found = set()
    for name in sorted(EXPECTED_NAMES):
        det = D.get(name)
        for text, expected in corpus(name)["positive"]:
            if first_match(det, text, longest_only=True) != expected:
                found.add((name, text))
    assert found == FALLBACK_DEPENDENT


@pytest.mark.parametrize(
    "name", sorted(n for n in EXPECTED_NAMES if D.get(n).validator is not None)
)
def test_corpus_exercises_the_validator(name: str) -> None:
    """Some negatives match the regex and are rejected only by the validator."""
    det = D.get(name)
    assert any(raw_regex_hits(det, t.encode()) for t in corpus(name)["negative"])


# --- reference scanner invariants --------------------------------------------

_TEXT = st.text(alphabet="0123456789 -.:+()/@abcdefxyzABKIZ_\n", max_size=60)


@settings(max_examples=60, deadline=None)
@given(_TEXT, st.sampled_from(sorted(EXPECTED_NAMES)))
def test_scan_invariants(text: str, name: str) -> None:
    det = D.get(name)
    data = text.encode()
    found = D.scan(det, data)
    last = 0
    for i, j in found:
        assert last <= i < j <= len(data)
        assert j - i <= det.max_len
        assert D.validate(det.validator, data[i:j])
        assert j in D._ends_at(det, data, i)
        last = j


def test_scan_examples() -> None:
    cc = D.get("credit_card")
    data = b"a 4111111111111111 b 4111 1111 1111 1111 c 4111-1111-1111-1111"
    assert [data[i:j] for i, j in D.scan(cc, data)] == [
        b"4111111111111111", b"4111 1111 1111 1111", b"4111-1111-1111-1111",
    ]  # fmt: skip
    # ASCII semantics: \d does not match non-ASCII digits.
    assert D.scan(D.get("us_ssn"), "١٢٣-45-6789".encode()) == []
    # A trailing \b is checked against the whole text, not the window.
    assert D.scan(D.get("aws_access_key"), b"AKIAIOSFODNN7EXAMPLEX") == []
    # private_key is capped at max_len: a body longer than 8 KiB is not one match.
    pk = D.get("private_key")
    long = b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 9000 + b"\n-----END PRIVATE KEY-----"
    (m,) = D.scan(pk, long)
    assert m == (0, pk.max_len)


# --- reference actions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (b"4111 1111 1111 1111", b"**** **** **** 1111"),
        (b"4111-1111-1111-1111", b"****-****-****-1111"),
        (b"john@example.com", b"****@******e.com"),
        (b"123-45-6789", b"***-**-6789"),
        (b"abcd", b"abcd"),
        (b"", b""),
        ("jöhn@x.io".encode(), b"****n@x.io"),
        (b"-----BEGIN KEY-----\\nABCDEF\\n-----END", b"-----***** ***-----\\n*****F\\n-----END"),
        (b"caf\\u00e9 ok12", b"********* ok12"),
    ],
    ids=[
        "card",
        "card-dashes",
        "email",
        "ssn",
        "short",
        "empty",
        "utf8",
        "json-escapes",
        "json-unicode",
    ],
)
def test_mask_reference(value: bytes, masked: bytes) -> None:
    assert D.mask_keep_last4(value) == masked


def test_hash_token_reference() -> None:
    tok = D.hash_token(b"EMAIL", b"k", b"john@example.com")
    assert re.fullmatch(rb"\[EMAIL:[0-9a-f]{8}\]", tok)
    assert tok == D.hash_token(b"EMAIL", b"k", b"john@example.com")
    assert tok != D.hash_token(b"EMAIL", b"k2", b"john@example.com")
    assert tok != D.hash_token(b"EMAIL", b"k", b"jane@example.com")


# --- against the DFA compiler (compiler/regex) --------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_corpus_through_dfa(name: str) -> None:
    """The patterns compile to DFAs whose raw matches contain every expected
    positive span (a fallback-dependent one as its longer candidate), and no
    negative has a match the validator accepts."""
    rx = pytest.importorskip("aipol.compiler.regex")
    det = D.get(name)
    ds = rx.compile_set(
        [rx.Pattern(p, det.ignore_case, f"{name}[{k}]") for k, p in enumerate(det.patterns)]
    )
    for k, p in enumerate(det.patterns):
        w = sre_parse.parse(p, det.re_flags).getwidth()[1]
        assert ds.patterns[k].max_len == (None if w >= UNBOUNDED_WIDTH else w)
    c = corpus(name)
    for text, expected in c["positive"]:
        data = text.encode()
        start = data.index(expected.encode())
        spans = {(s, e) for _, s, e in rx.find(ds, data)}
        if (name, text) in FALLBACK_DEPENDENT:
            assert any(s == start and e > start + len(expected.encode()) for s, e in spans)
        else:
            assert (start, start + len(expected.encode())) in spans, text
    for text in c["negative"]:
        data = text.encode()
        hits = [data[s:e] for _, s, e in rx.find(ds, data) if D.validate(det.validator, data[s:e])]
        assert hits == [], text
