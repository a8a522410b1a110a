"""Built-in DLP detectors: patterns, checksum validators and their ids.

Each detector is a `Detector` (frozen dataclass) in `DETECTORS`, keyed by
name. Its `patterns` are written in the byte-level regex subset that
`compiler/regex/` compiles to DFAs (literals, classes, `\\d \\w \\s` with
ASCII meaning, groups, alternation, `* + ? {n,m}`, the `i` flag; `\\b` only
as the first and/or last token of a pattern; no `.`, lookaround,
backreferences or anchors). The same strings compile with Python's `re`
(as bytes patterns), which the tests and `scan` below use.

Matching semantics (what the reference `scan` implements; the DFA runner in
compiler/regex reports, per pattern, the leftmost-longest candidate, so the
validator fallback of the last point is the DLP layer's job -- one corpus
entry depends on it, see tests/compiler/test_detectors.py):

* the patterns of one detector form one alternation, matched
  leftmost-longest;
* from a start position at most `max_len` bytes are examined, so a match is
  never longer than `max_len` (for patterns whose language is bounded,
  `max_len` is exactly the longest possible match; for unbounded ones
  -- email, jwt, api_key, private_key -- it is a cap, and it is also the
  hold-back a streaming scanner needs);
* the match at a start is the longest accepting end whose bytes the
  detector's validator accepts (validators see the whole match, separators
  included); if none is accepted there is no match at that start and the
  scan moves on by one byte; after a match it resumes at the match's end.

Validators are implemented in C (`filters/validate.c`, ids in
`filters/validate.h`, which must agree with `VALIDATOR_IDS`) and, as a
reference, in Python here (`VALIDATORS`). The masking and hash-token DLP
actions have Python references too (`mask_keep_last4`, `hash_token`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

# --- validator ids (shared with filters/validate.h) ------------------------

VALIDATOR_IDS: Mapping[str, int] = MappingProxyType(
    {
        "none": 0,
        "luhn": 1,
        "iban_mod97": 2,
        "us_ssn": 3,
        "ipv4_octets": 4,
        "ipv6_groups": 5,
        "phone_digits": 6,
        "card_luhn": 7,
    }
)


def validator_id(name: str | None) -> int:
    """The C id of validator `name` (None: no validator, id 0)."""
    return VALIDATOR_IDS["none" if name is None else name]


# --- the detector record ----------------------------------------------------


@dataclass(frozen=True)
class Detector:
    """One built-in detector.

    name        policy-facing name (`email`, `credit_card`, ...)
    label       redaction label: `[REDACTED:<label>]`, `[<label>:<hash>]`
    patterns    one or more regexes in the DFA subset (see module doc)
    flags       regex flags: "" or "i" (ASCII case-insensitive)
    validator   None, or a key of VALIDATOR_IDS run on every candidate match
    max_len     longest match in bytes (exact for bounded patterns, a cap
                otherwise); the streaming hold-back
    description one line, for docs and `aipol explain`
    """

    name: str
    label: str
    patterns: tuple[str, ...]
    flags: str
    validator: str | None
    max_len: int
    description: str

    @property
    def ignore_case(self) -> bool:
        return "i" in self.flags

    @property
    def validator_id(self) -> int:
        return validator_id(self.validator)

    @property
    def re_flags(self) -> int:
        return re.IGNORECASE if self.ignore_case else 0

    @cached_property
    def _compiled(self) -> tuple[tuple[re.Pattern[bytes], bool], ...]:
        """(pattern without its trailing `\\b`, had a trailing `\\b`) pairs.

        Python's `fullmatch(s, pos, endpos)` treats `endpos` as the end of
        the string, so a trailing `\\b` is checked by `scan` on the whole
        text instead. A leading `\\b` works as is (Python looks at s[pos-1]).
        """
        out = []
        for p in self.patterns:
            end_b = p.endswith(r"\b") and not p.endswith(r"\\b")
            core = p[:-2] if end_b else p
            out.append((re.compile(core.encode(), self.re_flags), end_b))
        return tuple(out)


# --- pattern building blocks -------------------------------------------------

# Credit cards: the regex gives the shape only -- 13-19 digits starting with
# 2-6, plain, or 4-4-4-4(-3) / 4-6-5 / 4-6-4 groups with one kind of
# separator -- and the card_luhn validator checks the brand's IIN prefix and
# length (CARD_BRANDS) and the Luhn sum. Brand prefixes in the regex would
# multiply the DFA (7413 scanner states against 271).
_CARD_PATTERNS = (
    r"\b[2-6]\d{3}(?:\d{9,15}|(?: \d{4}){3}(?: \d{3})?|(?:-\d{4}){3}(?:-\d{3})?"
    r"| \d{6} \d{4,5}|-\d{6}-\d{4,5})\b",
)

_PHONE_PATTERNS = (
    # International, `+` and country code, then 6-14 digits each optionally
    # preceded by one separator, optionally an area code in parentheses:
    # +44 20 7946 0958, +1 (555) 123-4567, +44 (0)20 7946 0958, +4915112345678.
    r"\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d){6,14}\b",
    # US: (555) 123-4567, (555)123-4567, (555) 123.4567.
    r"\([2-9]\d{2}\) ?\d{3}[-. ]\d{4}\b",
    # US: 555-123-4567, 555.123.4567, 555 123 4567, 1-800-555-0199.
    r"\b(?:1[-. ])?[2-9]\d{2}(?:-\d{3}-|\.\d{3}\.| \d{3} )\d{4}\b",
    # UK national: 020 7946 0958, 0161 496 0000, 01632 960001, 07700 900 123.
    r"\b0[1-9](?:\d \d{4} \d{4}|\d{2} \d{3} \d{4}|\d{3} \d{6}|\d{3} \d{3} \d{3})\b",
    # DE national: 030 12345678, 030/1234567, 089-123456, 0171 1234567.
    r"\b0[1-9]\d{1,4}(?: ?/ ?|[ -])\d{4,8}\b",
    # DE with the area code in parentheses: (030) 12345678.
    r"\(0[1-9]\d{1,4}\) ?\d{4,8}\b",
    # FR national: 01 23 45 67 89, 06.12.34.56.78, 01-23-45-67-89.
    r"\b0[1-9](?:(?: \d{2}){4}|(?:\.\d{2}){4}|(?:-\d{2}){4})\b",
)

_IBAN_PATTERNS = (
    r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b",
    r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?\b",
)

# PEM body: base64, whitespace, literal `\n` escapes (keys inside JSON
# strings), header lines (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: AES-128-CBC,..`,
# `Version: GnuPG v2.0.22`). A dash only before an alphanumeric, so a body
# can never run through `-----END`: one key per match.
_PEM_BEGIN = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BODY = r"(?:[A-Za-z0-9+/=\s\\:,.]|-[A-Za-z0-9])*"
_PEM_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

_AWS_PREFIXES = "AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA"

_API_KEY_PATTERNS = (
    # OpenAI project / service-account / admin keys.
    r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}",
    # OpenAI legacy keys: sk- and 32-64 alphanumerics (no dashes: not `sk-learn-...`).
    r"\bsk-[A-Za-z0-9]{32,64}\b",
    # Anthropic.
    r"\bsk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{32,}",
    # GitHub classic tokens and fine-grained PATs.
    r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
    r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
    # Slack.
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    # Google API keys (no trailing \b: the last character may be `-`).
    r"\bAIza[A-Za-z0-9_-]{35}",
    # Stripe secret and restricted keys.
    r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
)


_ALL = (
    Detector(
        name="email",
        label="EMAIL",
        patterns=(
            r"\b[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b",
        ),
        flags="",
        validator=None,
        max_len=254,
        description="E-mail address (local@domain.tld).",
    ),
    Detector(
        name="phone",
        label="PHONE",
        patterns=_PHONE_PATTERNS,
        flags="",
        validator="phone_digits",
        max_len=39,
        description="Phone number: E.164 with +, and US, UK, DE, FR national formats "
        "(8-15 digits).",
    ),
    Detector(
        name="credit_card",
        label="CREDIT_CARD",
        patterns=_CARD_PATTERNS,
        flags="",
        validator="card_luhn",
        max_len=23,
        description="Payment card number (Visa, Mastercard, Amex, Discover, JCB, Diners, "
        "UnionPay), plain or grouped by spaces or dashes; brand prefix, length and Luhn checked.",
    ),
    Detector(
        name="us_ssn",
        label="US_SSN",
        patterns=(r"\b\d{3}(?:-\d{2}-| \d{2} )\d{4}\b",),
        flags="",
        validator="us_ssn",
        max_len=11,
        description="US Social Security number AAA-GG-SSSS (or spaces); impossible "
        "areas/groups/serials rejected.",
    ),
    Detector(
        name="iban",
        label="IBAN",
        patterns=_IBAN_PATTERNS,
        flags="",
        validator="iban_mod97",
        max_len=43,
        description="IBAN, compact or in groups of four; country length and mod-97 checked.",
    ),
    Detector(
        name="ipv4",
        label="IPV4",
        patterns=(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",),
        flags="",
        validator="ipv4_octets",
        max_len=15,
        description="IPv4 address in dotted decimal (octets <= 255, no leading zeros).",
    ),
    Detector(
        name="ipv6",
        label="IPV6",
        patterns=(r"\b[0-9a-f]{1,4}(?:::?[0-9a-f]{1,4}){2,7}\b",),
        flags="i",
        validator="ipv6_groups",
        max_len=46,
        description="IPv6 address, full or `::`-compressed, at least three groups written "
        "(not `::1`, `fe80::1`, or forms starting/ending with `::`).",
    ),
    Detector(
        name="aws_access_key",
        label="AWS_ACCESS_KEY",
        patterns=(r"\b(?:" + _AWS_PREFIXES + r")[A-Z0-9]{16}\b",),
        flags="",
        validator=None,
        max_len=20,
        description="AWS access key id (AKIA..., ASIA..., ...).",
    ),
    Detector(
        name="private_key",
        label="PRIVATE_KEY",
        patterns=(_PEM_BEGIN + _PEM_BODY + _PEM_END, _PEM_BEGIN + _PEM_BODY),
        flags="",
        validator=None,
        max_len=8192,
        description="PEM private key block (BEGIN ... PRIVATE KEY through END, or to the end "
        "of the base64 body if truncated), up to 8 KiB.",
    ),
    Detector(
        name="jwt",
        label="JWT",
        patterns=(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",),
        flags="",
        validator=None,
        max_len=4096,
        description="JSON Web Token: three base64url segments, header starting eyJ.",
    ),
    Detector(
        name="api_key",
        label="API_KEY",
        patterns=_API_KEY_PATTERNS,
        flags="",
        validator=None,
        max_len=256,
        description="API secret: OpenAI sk-/sk-proj-, Anthropic sk-ant-, GitHub "
        "ghp_/gho_/ghu_/ghs_/ghr_/github_pat_, Slack xox?-, Google AIza, Stripe sk_/rk_.",
    ),
)

DETECTORS: Mapping[str, Detector] = MappingProxyType({d.name: d for d in _ALL})


def get(name: str) -> Detector:
    """The built-in detector `name`; KeyError lists the known names."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})") from None


# --- reference validators ----------------------------------------------------
# Each takes the matched bytes and returns True when the match is valid. The C
# versions in filters/validate.c must agree on every input.

_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")

# IBAN total length per country (SWIFT IBAN registry).
IBAN_LENGTHS: Mapping[str, int] = MappingProxyType({
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
})  # fmt: skip


def _strip(s: bytes, seps: bytes) -> bytes | None:
    """`s` without the separator bytes; None if anything but digits remains."""
    out = bytes(c for c in s if c not in seps)
    return out if out and all(c in _DIGITS for c in out) else None


def luhn(s: bytes) -> bool:
    """At least two digits, only spaces/dashes besides, Luhn sum % 10 == 0."""
    d = _strip(s, b" -")
    if d is None or len(d) < 2:
        return False
    total = 0
    for i, c in enumerate(reversed(d)):
        v = c - 48
        if i % 2:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return total % 10 == 0


# Card brands: (name, IIN prefix ranges (lo, hi) compared on as many leading
# digits as lo has, allowed total lengths). filters/validate.c has the same
# table.
CARD_BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("discover", ((6011, 6011), (644, 649), (65, 65)), frozenset(range(16, 20))),
    ("jcb", ((3528, 3589),), frozenset(range(16, 20))),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), frozenset({14, *range(16, 20)})),
    ("unionpay", ((62, 62),), frozenset(range(16, 20))),
)


def card_brand(digits: bytes) -> str | None:
    """The brand whose IIN range and length fit `digits` (digits only)."""
    for name, ranges, lengths in CARD_BRANDS:
        if len(digits) in lengths:
            for lo, hi in ranges:
                if lo <= int(digits[: len(str(lo))]) <= hi:
                    return name
    return None


def card_luhn(s: bytes) -> bool:
    """A payment card number: digits with optional spaces/dashes, a known
    brand's IIN prefix and length (CARD_BRANDS), and a valid Luhn sum."""
    d = _strip(s, b" -")
    return d is not None and card_brand(d) is not None and luhn(d)


def iban_mod97(s: bytes) -> bool:
    """Spaces ignored, letters case-insensitive; known country, its length,
    check digits 02..98, and mod 97 of the rearranged number == 1."""
    t = bytes(c for c in s if c != 0x20).upper()
    if len(t) < 5 or not all(0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A for c in t):
        return False
    cc = t[:2].decode()
    if IBAN_LENGTHS.get(cc) != len(t) or not all(c in _DIGITS for c in t[2:4]):
        return False
    if not 2 <= int(t[2:4]) <= 98:
        return False
    n = 0
    for c in t[4:] + t[:4]:
        v = c - 48 if c <= 0x39 else c - 55
        n = (n * (100 if v > 9 else 10) + v) % 97
    return n == 1


def us_ssn(s: bytes) -> bool:
    """Nine digits as AAA-GG-SSSS (dashes or spaces); area not 000, 666 or
    900-999, group not 00, serial not 0000."""
    d = _strip(s, b" -")
    if d is None or len(d) != 9:
        return False
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    return area != 0 and area != 666 and area < 900 and group != 0 and serial != 0


def ipv4_octets(s: bytes) -> bool:
    """Exactly four dot-separated decimal octets, each <= 255, no leading zeros."""
    parts = s.split(b".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not 1 <= len(p) <= 3 or not all(c in _DIGITS for c in p):
            return False
        if (len(p) > 1 and p[0] == 0x30) or int(p) > 255:
            return False
    return True


def ipv6_groups(s: bytes) -> bool:
    """Hex groups of 1-4 digits separated by `:`; at most one `::`; eight
    groups without `::`, at most seven with it."""
    if s.count(b"::") > 1 or b":::" in s:
        return False
    if b"::" in s:
        head, tail = s.split(b"::")
        groups = (head.split(b":") if head else []) + (tail.split(b":") if tail else [])
        limit_ok = len(groups) <= 7
    else:
        groups = s.split(b":")
        limit_ok = len(groups) == 8
    return limit_ok and all(1 <= len(g) <= 4 and all(c in _HEX for c in g) for g in groups)


def phone_digits(s: bytes) -> bool:
    """8 to 15 digits (E.164's maximum); besides digits only `+ ( ) . - /` and spaces."""
    n = 0
    for c in s:
        if c in _DIGITS:
            n += 1
        elif c not in b"+(). -/":
            return False
    return 8 <= n <= 15


VALIDATORS: Mapping[str, Callable[[bytes], bool]] = MappingProxyType({
    "none": lambda s: True,
    "luhn": luhn,
    "iban_mod97": iban_mod97,
    "us_ssn": us_ssn,
    "ipv4_octets": ipv4_octets,
    "ipv6_groups": ipv6_groups,
    "phone_digits": phone_digits,
    "card_luhn": card_luhn,
})  # fmt: skip


def validate(name: str | None, s: bytes) -> bool:
    """Runs validator `name` (None: accept) on `s`."""
    return VALIDATORS["none" if name is None else name](s)


# --- reference scanner -------------------------------------------------------


def _is_word(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c == 0x5F


def _boundary(data: bytes, j: int) -> bool:
    before = j > 0 and _is_word(data[j - 1])
    after = j < len(data) and _is_word(data[j])
    return before != after


def _ends_at(det: Detector, data: bytes, i: int) -> list[int]:
    """Every end j (descending) such that some pattern matches data[i:j]
    (j - i <= max_len)."""
    limit = min(len(data), i + det.max_len)
    ends: set[int] = set()
    for core, end_b in det._compiled:
        if core.match(data, i, limit) is None:
            continue
        for j in range(limit, i, -1):
            if j not in ends and core.fullmatch(data, i, j) and (not end_b or _boundary(data, j)):
                ends.add(j)
    return sorted(ends, reverse=True)


def scan(det: Detector, data: bytes, longest_only: bool = False) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) matches of `det` in `data`, by the
    semantics in the module doc. `longest_only`: validate only the longest
    candidate at each start (no fallback to shorter ones) -- a cheaper
    runtime strategy; the corpora say where the two differ."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(data):
        ends = _ends_at(det, data, i)
        if longest_only:
            ends = ends[:1]
        for j in ends:
            if validate(det.validator, data[i:j]):
                out.append((i, j))
                i = j
                break
        else:
            i += 1
    return out


# --- reference DLP actions ---------------------------------------------------


def _is_alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def mask_keep_last4(s: bytes) -> bytes:
    """Every ASCII letter/digit except the last four becomes `*`; other
    bytes are kept, except: bytes >= 0x80 (non-ASCII) always become `*`, and
    JSON escapes are kept whole (`\\n`, `\\"`, ...) except `\\uXXXX`, which
    becomes six `*` -- so masking text inside a JSON string keeps it valid."""
    n = len(s)
    out = bytearray(s)
    # Positions holding letters/digits that count (outside escapes).
    counted: list[int] = []
    i = 0
    while i < n:
        c = s[i]
        if c == 0x5C and i + 1 < n:  # backslash escape
            if s[i + 1] == 0x75 and i + 5 < n and all(x in _HEX for x in s[i + 2 : i + 6]):
                out[i : i + 6] = b"******"
                i += 6
            else:
                i += 2
            continue
        if c >= 0x80:
            out[i] = 0x2A
        elif _is_alnum(c):
            counted.append(i)
        i += 1
    for p in counted[:-4] if len(counted) > 4 else []:
        out[p] = 0x2A
    return bytes(out)


def hash_token(label: bytes, key: bytes, s: bytes) -> bytes:
    """`[<label>:<8 hex>]`: the first 4 bytes of HMAC-SHA-256(key, s), lower-case hex."""
    return b"[" + label + b":" + hmac.new(key, s, hashlib.sha256).hexdigest()[:8].encode() + b"]"
