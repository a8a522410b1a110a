"""Plugin configuration parsing, the principal table and key lookup."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .guest import Guest


def h(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse(g: Guest, text: bytes) -> int:
    p = g.alloc(text)
    r = g.ptr("aipol_test_config_parse", p, len(text))
    g.free(p)
    return r


def principal_at(g: Guest, i: int) -> tuple[bytes, bytes, bytes]:
    out = g.ptr("malloc", 24)
    assert g.call("aipol_test_principal_at", i, out)
    words = [g.u32(out + 4 * k) for k in range(6)]
    g.free(out)
    return tuple(g.read(words[2 * k], words[2 * k + 1]) for k in range(3))


def lookup(g: Guest, key: bytes) -> int:
    p = g.alloc(key)
    r = g.call("aipol_test_key_lookup", p, len(key))
    g.free(p)
    return r


HEADER = "aipol-config 1\n"
GOOD = {
    "empty": ("", 0),
    "header-only": (HEADER, 0),
    "comments-only": ("# nothing here\n\n", 0),
    "one-key": (HEADER + f"key {h('k1')} alice team-a gold\n", 1),
    "no-final-newline": (HEADER + f"key {h('k1')} alice team-a gold", 1),
    "crlf": (HEADER.replace("\n", "\r\n") + f"key {h('k1')} alice team-a gold\r\n", 1),
    "comments-and-blanks": (
        f"# keys\n\n{HEADER}\n# alice\nkey {h('k1')} alice t gold\n  \nkey {h('k2')} bob t free\n",
        2,
    ),
    "name-charset": (HEADER + f"key {h('k1')} a.b_c-d@e.f T-1 t.2\n", 1),
}
BAD = {
    "no-header": (f"key {h('k1')} alice t gold\n", 1),
    "wrong-version": ("aipol-config 2\n", 1),
    "header-extra-field": ("aipol-config 1 x\n", 1),
    "header-double-space": ("aipol-config  1\n", 1),
    "unknown-directive": (HEADER + "user alice\n", 2),
    "missing-tier": (HEADER + f"key {h('k1')} alice team\n", 2),
    "extra-field": (HEADER + f"key {h('k1')} alice team gold x\n", 2),
    "double-space": (HEADER + f"key {h('k1')}  alice team gold\n", 2),
    "trailing-space": (HEADER + f"key {h('k1')} alice team gold \n", 2),
    "tab-separator": (HEADER + f"key\t{h('k1')} alice team gold\n", 2),
    "uppercase-hex": (HEADER + f"key {h('k1').upper()} alice team gold\n", 2),
    "short-hash": (HEADER + f"key {h('k1')[:-1]} alice team gold\n", 2),
    "non-hex": (HEADER + f"key {'g' * 64} alice team gold\n", 2),
    "bad-name": (HEADER + f"key {h('k1')} al/ice team gold\n", 2),
    "bad-team": (HEADER + f"key {h('k1')} alice te:am gold\n", 2),
    "unicode-name": (HEADER + f"key {h('k1')} alicé team gold\n", 2),
    "duplicate-hash": (
        HEADER + f"key {h('k1')} alice t gold\n# c\nkey {h('k1')} bob t gold\n",
        4,
    ),
    "bad-line-after-good": (HEADER + f"key {h('k1')} alice t gold\nkey x\n", 3),
}


@pytest.mark.parametrize("text,count", GOOD.values(), ids=GOOD.keys())
def test_accepts(engine, module, text: str, count: int) -> None:
    g = Guest(engine, module)
    assert parse(g, text.encode()) == 0
    assert g.call("aipol_test_config_count") == count


@pytest.mark.parametrize("text,line", BAD.values(), ids=BAD.keys())
def test_rejects(engine, module, text: str, line: int) -> None:
    g = Guest(engine, module)
    assert parse(g, text.encode()) == line
    assert g.heap_ok() == 0


names = st.text(alphabet="abcXYZ019_.@-", min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.binary(min_size=1, max_size=20), st.tuples(names, names, names), max_size=40)
)
def test_table_lookup(engine, module, entries) -> None:
    g = Guest(engine, module)
    lines = [HEADER] + [
        f"key {hashlib.sha256(k).hexdigest()} {n} {t} {tier}\n"
        for k, (n, t, tier) in entries.items()
    ]
    assert parse(g, "".join(lines).encode()) == 0
    assert g.call("aipol_test_config_count") == len(entries)
    for k, (n, t, tier) in entries.items():
        i = lookup(g, k)
        assert i >= 0
        assert principal_at(g, i) == (n.encode(), t.encode(), tier.encode())
    assert lookup(g, b"not-a-configured-key\x00") == -1
    # The table is sorted by hash (binary search depends on it).
    hashes = sorted(hashlib.sha256(k).digest() for k in entries)
    for i, digest in enumerate(hashes):
        p = g.alloc(digest)
        assert g.call("aipol_test_principal_find", p) == i
        g.free(p)


def test_reconfigure_replaces_table(engine, module) -> None:
    g = Guest(engine, module)
    assert parse(g, (HEADER + f"key {h('k1')} alice t gold\n").encode()) == 0
    assert lookup(g, b"k1") == 0
    assert parse(g, (HEADER + f"key {h('k2')} bob t gold\n").encode()) == 0
    assert lookup(g, b"k1") == -1
    assert lookup(g, b"k2") == 0
    assert parse(g, b"garbage") == 1
    assert lookup(g, b"k2") == 0, "a rejected configuration leaves the active one"
    assert g.heap_ok() == 0


BEARER = {
    "plain": ("Bearer sk-1", "sk-1"),
    "lower": ("bearer sk-1", "sk-1"),
    "upper": ("BEARER sk-1", "sk-1"),
    "spaces": ("  Bearer   sk-1  ", "sk-1"),
    "tab": ("Bearer\tsk-1", "sk-1"),
    "empty-key": ("Bearer ", ""),
    "basic": ("Basic abc", None),
    "no-space": ("Bearersk-1", None),
    "scheme-only": ("Bearer", ""),
}


@pytest.mark.parametrize("value,key", BEARER.values(), ids=BEARER.keys())
def test_bearer_token(guest, value: str, key: str | None) -> None:
    v = value.encode()
    p = guest.alloc(v)
    out = guest.ptr("malloc", 8)
    ok = guest.call("aipol_test_bearer", p, len(v), out)
    if key is None:
        assert ok == 0
    else:
        assert ok == 1
        off, n = guest.u32(out), guest.u32(out + 4)
        assert v[off : off + n].decode() == key
    guest.free(p)
    guest.free(out)
