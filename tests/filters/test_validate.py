"""DLP validators, masking and hash tokens (filters/validate.c) against the
Python reference (compiler/detectors.py) and independent expectations:
numbers generated with correct checksums, corrupted ones, `ipaddress`,
`hmac`."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import string
from pathlib import Path

import pytest
from aipol.compiler import build
from aipol.compiler import detectors as D
from hypothesis import assume, given, settings
from hypothesis import strategies as st

EXPORT = {
    "luhn": "aipol_test_luhn",
    "iban_mod97": "aipol_test_iban_mod97",
    "us_ssn": "aipol_test_us_ssn",
    "ipv4_octets": "aipol_test_ipv4_octets",
    "ipv6_groups": "aipol_test_ipv6_groups",
    "phone_digits": "aipol_test_phone_digits",
    "card_luhn": "aipol_test_card_luhn",
}
NAMES = sorted(D.VALIDATOR_IDS)


def c_check(guest, name: str, data: bytes) -> bool:
    """Validator `name` in C, through both its own export and the dispatcher,
    which must agree."""
    p = guest.alloc(data)
    by_id = guest.call("aipol_test_validate", D.VALIDATOR_IDS[name], p, len(data))
    direct = by_id if name == "none" else guest.call(EXPORT[name], p, len(data))
    guest.free(p)
    assert by_id in (0, 1) and by_id == direct, (name, data)
    return bool(by_id)


def both(guest, name: str, data: bytes) -> bool:
    """C and Python agree; returns their verdict."""
    c = c_check(guest, name, data)
    assert c == D.validate(name, data), (name, data)
    return c


# --- ids -------------------------------------------------------------------------


def test_header_ids_match_python() -> None:
    header = (Path(build.runtime_dir()) / "validate.h").read_text()
    defines = re.finditer(r"#define AIPOL_VALIDATOR_(\w+) (\d+)", header)
    ids = {m[1].lower(): int(m[2]) for m in defines}
    assert ids == dict(D.VALIDATOR_IDS)


def test_unknown_ids_reject(guest) -> None:
    p = guest.alloc(b"4111111111111111")
    for vid in (len(D.VALIDATOR_IDS), 100, 0x7FFFFFFF, -1):
        assert guest.call("aipol_test_validate", vid, p, 16) == 0
    assert guest.call("aipol_test_validate", 0, p, 16) == 1
    guest.free(p)


@pytest.mark.parametrize("name", NAMES)
def test_null_and_empty(guest, name: str) -> None:
    """NULL with length 0 never traps; the verdict is the reference's on b""."""
    expected = D.validate(name, b"")
    assert guest.call("aipol_test_validate", D.VALIDATOR_IDS[name], 0, 0) == expected
    assert both(guest, name, b"") == expected


# --- any input: C == Python ---------------------------------------------------------

ALPHABETS = {
    "luhn": "0123456789 -x",
    "iban_mod97": "0123456789 ABDEGLNRZabcde-",
    "us_ssn": "0123456789 -6x",
    "ipv4_octets": "0123456789.x",
    "ipv6_groups": "0123456789abcdefABCDEF:g.",
    "phone_digits": "0123456789 +().-/x",
    "card_luhn": "0123456 -",
}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_c_agrees_with_python_on_any_input(guest, data) -> None:
    name = data.draw(st.sampled_from(NAMES))
    alphabet = ALPHABETS.get(name, "0123456789 -.:ab")
    s = data.draw(
        st.one_of(st.text(alphabet=alphabet, max_size=45).map(str.encode), st.binary(max_size=40))
    )
    both(guest, name, s)


# --- Luhn -------------------------------------------------------------------------------


def luhn_check_digit(payload: str) -> str:
    """Independent Luhn: doubling table, from the digit left of the check digit."""
    doubled = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    total = sum(doubled[int(c)] if i % 2 == 0 else int(c) for i, c in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


def group(number: str, sep: str, size: int = 4) -> str:
    return sep.join(number[i : i + size] for i in range(0, len(number), size)) if sep else number


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=string.digits, min_size=1, max_size=24),
    st.sampled_from(["", " ", "-"]),
    st.data(),
)
def test_luhn_generated(guest, payload: str, sep: str, data) -> None:
    number = payload + luhn_check_digit(payload)
    assert both(guest, "luhn", group(number, sep).encode())
    # Any single-digit substitution breaks the checksum.
    k = data.draw(st.integers(0, len(number) - 1))
    d = data.draw(st.sampled_from([c for c in string.digits if c != number[k]]))
    bad = number[:k] + d + number[k + 1 :]
    assert not both(guest, "luhn", group(bad, sep).encode())


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("4111 1111 1111 1112", False),
        ("378282246310005", True),
        ("6011111111111117", True),
        ("79927398713", True),
        ("79927398710", False),
        ("0", False),
        ("00", True),
        ("4111.1111.1111.1111", False),
        ("4111 1111 1111 111a", False),
        ("", False),
        (" - ", False),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else str(v),
)
def test_luhn_table(guest, value: str, valid: bool) -> None:
    assert both(guest, "luhn", value.encode()) is valid


# --- payment cards ---------------------------------------------------------------------

# Independent of CARD_BRANDS: (prefix, length) of documented test numbers.
KNOWN_CARDS = [
    ("4111111111111111", "visa"),
    ("4222222222222", "visa"),
    ("4012888888881881", "visa"),
    ("5555555555554444", "mastercard"),
    ("5105105105105100", "mastercard"),
    ("2223003122003222", "mastercard"),
    ("378282246310005", "amex"),
    ("371449635398431", "amex"),
    ("6011111111111117", "discover"),
    ("6011000990139424", "discover"),
    ("3530111333300000", "jcb"),
    ("3566002020360505", "jcb"),
    ("30569309025904", "diners"),
    ("38520000023237", "diners"),
    ("6200000000000005", "unionpay"),
]


@pytest.mark.parametrize(("number", "brand"), KNOWN_CARDS, ids=[b for _, b in KNOWN_CARDS])
def test_card_known(guest, number: str, brand: str) -> None:
    assert D.card_brand(number.encode()) == brand
    assert both(guest, "card_luhn", number.encode())
    assert both(guest, "card_luhn", group(number, " ").encode())
    assert both(guest, "card_luhn", group(number, "-").encode())
    last = str((int(number[-1]) + 1) % 10)
    assert not both(guest, "card_luhn", (number[:-1] + last).encode())


@pytest.mark.parametrize(
    "number",
    [
        "1234567812345670",  # no brand starts with 1
        "7111111111111114",  # nor 7
        "411111111111119",  # Visa with 15 digits
        "37828224631000",  # Amex with 14 digits
        "5655555555554443",  # 56 is not Mastercard
        "2220999999999998",  # just below the 2-series
        "41111111111111111110",  # 20 digits
        "4111 1111 1111 111x",
        "",
    ],
)
def test_card_invalid(guest, number: str) -> None:
    assert not both(guest, "card_luhn", number.encode())


def test_card_table_matches_python(guest) -> None:
    """Every 4-digit prefix, at 16 digits (Luhn-completed): C == Python."""
    valid = 0
    for prefix in range(10000):
        payload = f"{prefix:04d}" + "00000000000"
        number = payload + luhn_check_digit(payload)
        valid += both(guest, "card_luhn", number.encode())
    # 4xxx: 1000, 51-55: 500, 2221-2720: 500, Discover 6011/644-649/65: 1+60+100,
    # JCB: 62, Diners 300-305/3095/36/38-39: 60+1+300, UnionPay 62: 100
    assert valid == 1000 + 500 + 500 + 161 + 62 + 361 + 100


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 9999), st.integers(12, 20), st.sampled_from(["", " ", "-"]))
def test_card_generated(guest, prefix: int, length: int, sep: str) -> None:
    payload = (f"{prefix:04d}" + "3" * 20)[: length - 1]
    number = payload + luhn_check_digit(payload)
    expected = D.card_brand(number.encode()) is not None
    assert both(guest, "card_luhn", group(number, sep).encode()) == expected


# --- IBAN -------------------------------------------------------------------------------


def iban_numeric(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def make_iban(country: str, bban: str) -> str:
    check = 98 - iban_numeric(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def test_country_table_matches_python(guest) -> None:
    for a in string.ascii_uppercase:
        for b in string.ascii_uppercase:
            got = guest.ptr("aipol_test_iban_country_len", ord(a), ord(b))
            assert got == D.IBAN_LENGTHS.get(a + b, 0), a + b
    # and every country, at its length, yields a valid generated IBAN (and ±1 is invalid)
    for cc, n in D.IBAN_LENGTHS.items():
        iban = make_iban(cc, "1" * (n - 4))
        assert both(guest, "iban_mod97", iban.encode()), iban
        assert not both(guest, "iban_mod97", make_iban(cc, "1" * (n - 3)).encode())
        assert not both(guest, "iban_mod97", make_iban(cc, "1" * (n - 5)).encode())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(D.IBAN_LENGTHS)),
    st.data(),
    st.booleans(),
    st.booleans(),
)
def test_iban_generated(guest, country: str, data, spaced: bool, lower: bool) -> None:
    n = D.IBAN_LENGTHS[country]
    bban = data.draw(
        st.text(alphabet=string.digits + string.ascii_uppercase, min_size=n - 4, max_size=n - 4)
    )
    iban = make_iban(country, bban)
    assume(2 <= int(iban[2:4]) <= 98)
    text = group(iban, " " if spaced else "")
    text = text.lower() if lower else text
    assert both(guest, "iban_mod97", text.encode())
    # A digit replaced by another digit is always caught by mod 97.
    digits = [k for k, c in enumerate(iban) if k >= 2 and c.isdigit()]
    k = data.draw(st.sampled_from(digits))
    d = data.draw(st.sampled_from([c for c in string.digits if c != iban[k]]))
    bad = iban[:k] + d + iban[k + 1 :]
    assert not both(guest, "iban_mod97", group(bad, " " if spaced else "").encode())
    # Any other single-character change: C and Python agree (mod 97 may collide).
    k2 = data.draw(st.integers(0, n - 1))
    other = iban[:k2] + data.draw(st.sampled_from("0A9Z")) + iban[k2 + 1 :]
    assert both(guest, "iban_mod97", other.encode()) == (
        other == iban
        or (
            other[:2] in D.IBAN_LENGTHS
            and other[2:4].isdigit()
            and 2 <= int(other[2:4]) <= 98
            and iban_numeric(other[4:] + other[:4]) % 97 == 1
        )
    )


REAL_IBANS = [
    "DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819", "GB82 WEST 1234 5698 7654 32",
    "FR1420041010050500013M02606", "NL91ABNA0417164300", "BE68539007547034",
    "CH9300762011623852957", "ES9121000418450200051332", "IT60X0542811101000000123456",
    "NO9386011117947", "PL61109010140000071219812874", "AT611904300234573201",
    "MT84MALT011000012345MTLCAST001S", "LC55HEMM000100010012001200023015",
    "SE4550000000058398257466", "DK5000400440116243", "FI2112345600000785",
    "IE29AIBK93115212345678", "PT50000201231234567890154", "BR1800360305000010009795493C1",
    "SA0380000000608010167519",
]  # fmt: skip


@pytest.mark.parametrize("iban", REAL_IBANS)
def test_iban_real(guest, iban: str) -> None:
    assert both(guest, "iban_mod97", iban.encode())
    assert both(guest, "iban_mod97", iban.lower().encode())


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 01",  # checksum
        "DE88370400440532013000",  # check digits
        "DE8937040044053201300",  # length for DE
        "XX89370400440532013000",  # unknown country
        "DE00370400440532013000",  # check digits 00
        "DE99370400440532013000",  # check digits 99
        "DE89-3704-0044-0532-0130-00",  # dashes are not IBAN separators
        "1289370400440532013000",
        "DEAB370400440532013000",
        "DE89",
        "",
    ],
)
def test_iban_invalid(guest, iban: str) -> None:
    assert not both(guest, "iban_mod97", iban.encode())


# --- US SSN -----------------------------------------------------------------------------


def ssn_ok(area: int, grp: int, serial: int) -> bool:
    return area not in (0, 666) and not 900 <= area <= 999 and grp != 0 and serial != 0


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.integers(0, 999), st.sampled_from([0, 665, 666, 667, 899, 900, 999])),
    st.one_of(st.integers(0, 99), st.just(0)),
    st.one_of(st.integers(0, 9999), st.just(0)),
    st.sampled_from(["-", " ", ""]),
)
def test_ssn_generated(guest, area: int, grp: int, serial: int, sep: str) -> None:
    text = f"{area:03d}{sep}{grp:02d}{sep}{serial:04d}"
    assert both(guest, "us_ssn", text.encode()) == ssn_ok(area, grp, serial)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("123-45-6789", True),
        ("078 05 1121", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("900-12-3456", False),
        ("899-12-3456", True),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("123-45-678", False),
        ("123-45-67890", False),
        ("123.45.6789", False),
    ],
)
def test_ssn_table(guest, value: str, valid: bool) -> None:
    assert both(guest, "us_ssn", value.encode()) is valid


# --- IPv4 / IPv6 ---------------------------------------------------------------------------


def ipaddress_ok(cls, s: str) -> bool:
    try:
        cls(s)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=3, max_size=5), st.lists(st.booleans(), max_size=5))
def test_ipv4_generated(guest, octets: list[int], pad: list[bool]) -> None:
    parts = [("0" if k < len(pad) and pad[k] else "") + str(o) for k, o in enumerate(octets)]
    text = ".".join(parts)
    expected = (
        len(octets) == 4
        and all(o <= 255 for o in octets)
        and not any(p.startswith("0") and len(p) > 1 for p in parts)
    )
    assert both(guest, "ipv4_octets", text.encode()) == expected
    assert expected == ipaddress_ok(ipaddress.IPv4Address, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.", max_size=18))
def test_ipv4_vs_ipaddress(guest, text: str) -> None:
    assert both(guest, "ipv4_octets", text.encode()) == ipaddress_ok(ipaddress.IPv4Address, text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123fF:", max_size=40))
def test_ipv6_vs_ipaddress(guest, text: str) -> None:
    assert both(guest, "ipv6_groups", text.encode()) == ipaddress_ok(ipaddress.IPv6Address, text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=9),
    st.integers(-1, 9),
    st.booleans(),
)
def test_ipv6_generated(guest, groups: list[int], gap: int, upper: bool) -> None:
    """Well-formed text with an optional `::` at position `gap`."""
    hexes = [format(g, "X" if upper else "x") for g in groups]
    if 0 <= gap <= len(hexes):
        text = ":".join(hexes[:gap]) + "::" + ":".join(hexes[gap:])
    else:
        text = ":".join(hexes)
    expected = len(groups) <= 7 if 0 <= gap <= len(hexes) else len(groups) == 8
    assert both(guest, "ipv6_groups", text.encode()) == expected
    assert expected == ipaddress_ok(ipaddress.IPv6Address, text)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2001:db8:85a3::8a2e:370:7334", True),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", True),
        ("::", True),
        ("::1", True),
        ("1::", True),
        (":::", False),
        ("1::2::3", False),
        ("12:30:45", False),
        ("00:1a:2b:3c:4d:5e", False),
        ("1:2:3:4:5:6:7:8:9", False),
        ("12345::1", False),
        ("::ffff:192.0.2.1", False),  # embedded IPv4 is not matched by the detector
        ("fe80::1%eth0", False),
    ],
)
def test_ipv6_table(guest, value: str, valid: bool) -> None:
    assert both(guest, "ipv6_groups", value.encode()) is valid


# --- phone -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 +().-/", max_size=30))
def test_phone_digits_generated(guest, text: str) -> None:
    assert both(guest, "phone_digits", text.encode()) == (8 <= sum(c.isdigit() for c in text) <= 15)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("+44 20 7946 0958", True),
        ("(555) 123-4567", True),
        ("089/1234567", True),
        ("+1234567", False),
        ("+12345678901234567", False),
        ("555-123-4567 x12", False),
    ],
)
def test_phone_table(guest, value: str, valid: bool) -> None:
    assert both(guest, "phone_digits", value.encode()) is valid


# --- masking ---------------------------------------------------------------------------------


def c_mask(guest, s: bytes, cap: int | None = None) -> tuple[int, bytes]:
    cap = len(s) if cap is None else cap
    p = guest.alloc(s)
    out = guest.alloc(b"\x01" * (max(cap, len(s)) + 8))
    n = guest.ptr("aipol_test_mask_keep_last4", p, len(s), out, cap)
    got = guest.read(out, max(cap, len(s)) + 8)
    guest.free(p)
    guest.free(out)
    return n, got


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60), st.text(alphabet='ab19 -@.\\u0fé"n', max_size=40).map(str.encode)
    )
)
def test_mask_matches_reference(guest, s: bytes) -> None:
    n, got = c_mask(guest, s)
    assert n == len(s)
    assert got[: len(s)] == D.mask_keep_last4(s)
    assert got[len(s) :] == b"\x01" * 8  # nothing written past the output


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (b"4111 1111 1111 1111", b"**** **** **** 1111"),
        (b"378282246310005", b"***********0005"),
        (b"DE89 3704 0044 0532 0130 00", b"**** **** **** **** **30 00"),
        (b"+44 20 7946 0958", b"+** ** **** 0958"),
        (b"ab", b"ab"),
        (b'"x\\"y\\u00e9z12"', b'"*\\"y******z12"'),
    ],
    ids=["card", "amex", "iban", "phone", "short", "json"],
)
def test_mask_table(guest, value: bytes, masked: bytes) -> None:
    assert D.mask_keep_last4(value) == masked
    assert c_mask(guest, value)[1][: len(value)] == masked


def test_mask_cap_too_small_writes_nothing(guest) -> None:
    n, got = c_mask(guest, b"4111111111111111", cap=15)
    assert n == 16
    assert got[:16] == b"\x01" * 16


# --- HMAC and hash tokens ------------------------------------------------------------------------


def c_hmac(guest, key: bytes, msg: bytes) -> bytes:
    k, m, out = guest.alloc(key), guest.alloc(msg), guest.ptr("malloc", 32)
    guest.call("aipol_test_hmac_sha256", k, len(key), m, len(msg), out)
    digest = guest.read(out, 32)
    for p in (k, m, out):
        guest.free(p)
    return digest


def c_token(guest, label: bytes, key: bytes, s: bytes, cap: int = 64) -> tuple[int, bytes]:
    lp, kp, sp = guest.alloc(label), guest.alloc(key), guest.alloc(s)
    out = guest.alloc(b"\x01" * max(cap, 1))
    n = guest.ptr("aipol_test_hash_token", lp, len(label), kp, len(key), sp, len(s), out, cap)
    got = guest.read(out, max(cap, 1))
    for p in (lp, kp, sp, out):
        guest.free(p)
    return n, got


def test_hmac_rfc4231(guest) -> None:
    assert c_hmac(guest, b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    # Test case 6: a key longer than the block size is hashed first.
    assert (
        c_hmac(
            guest, b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
        ).hex()
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=150), st.binary(max_size=300))
def test_hmac_random(guest, key: bytes, msg: bytes) -> None:
    assert c_hmac(guest, key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([d.label.encode() for d in D.DETECTORS.values()] + [b""]),
    st.binary(max_size=80),
    st.binary(max_size=100),
)
def test_hash_token_matches_reference(guest, label: bytes, key: bytes, s: bytes) -> None:
    n, got = c_token(guest, label, key, s)
    expected = D.hash_token(label, key, s)
    assert n == len(expected) == len(label) + 11
    assert got[:n] == expected
    assert got[n:] == b"\x01" * (64 - n)


def test_hash_token_example(guest) -> None:
    n, got = c_token(guest, b"EMAIL", b"secret", b"john@example.com")
    mac = hmac.new(b"secret", b"john@example.com", hashlib.sha256).hexdigest()
    assert got[:n] == b"[EMAIL:" + mac[:8].encode() + b"]"


def test_hash_token_cap_too_small_writes_nothing(guest) -> None:
    n, got = c_token(guest, b"EMAIL", b"k", b"x", cap=15)
    assert n == 16
    assert got == b"\x01" * 15


def test_heap_intact(guest) -> None:
    assert guest.heap_ok() == 0
