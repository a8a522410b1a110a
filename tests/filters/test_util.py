"""FNV-1a, sticky buckets, byte helpers, header pairs and error bodies."""

from __future__ import annotations

import json
import struct

from aipol.compiler import sticky
from hypothesis import given, settings
from hypothesis import strategies as st

from . import reference as ref


def call_bytes(g, name: str, *blobs: bytes) -> int:
    ptrs = [g.alloc(b) for b in blobs]
    args = [x for p, b in zip(ptrs, blobs, strict=True) for x in (p, len(b))]
    r = g.ptr(name, *args)
    for p in ptrs:
        g.free(p)
    return r


def test_fnv_vectors(guest) -> None:
    assert call_bytes(guest, "aipol_test_fnv", b"") == 2166136261
    assert call_bytes(guest, "aipol_test_fnv", b"a") == 0xE40C292C
    assert call_bytes(guest, "aipol_test_fnv", b"foobar") == 0xBF9CF968


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_fnv(guest, data: bytes) -> None:
    assert call_bytes(guest, "aipol_test_fnv", data) == ref.fnv1a32(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20), st.booleans())
def test_sticky_bucket(guest, seed: str, who: str, as_principal: bool) -> None:
    s, w = seed.encode(), who.encode()
    expected = ref.sticky_bucket(s, w)
    assert expected == sticky.bucket(seed, who)  # the compiler's twin agrees
    if as_principal and w:
        got = call_bytes(guest, "aipol_test_sticky", s, w, b"ignored-request-id")
    else:
        got = call_bytes(guest, "aipol_test_sticky", s, b"", w)
    assert got == expected
    assert 0 <= got < 10000


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=10), st.binary(max_size=10))
def test_bytes_eq_prefix(guest, a: bytes, b: bytes) -> None:
    assert call_bytes(guest, "aipol_test_bytes_eq", a, b) == (a == b)
    assert call_bytes(guest, "aipol_test_bytes_prefix", a, b) == a.startswith(b)


def parse_pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    """The host-side parser (ABI §4.2), strict like Envoy's toPairs."""
    (n,) = struct.unpack_from("<I", data, 0)
    sizes = [struct.unpack_from("<II", data, 4 + 8 * i) for i in range(n)]
    pos, out = 4 + 8 * n, []
    for kl, vl in sizes:
        k = data[pos : pos + kl]
        assert data[pos + kl] == 0
        pos += kl + 1
        v = data[pos : pos + vl]
        assert data[pos + vl] == 0
        pos += vl + 1
        out.append((k, v))
    assert pos == len(data), "no trailing bytes"
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=12)), max_size=6))
def test_header_pairs(guest, pairs) -> None:
    blobs = [g for kv in pairs for g in kv]
    ptrs = [guest.alloc(b) for b in blobs]
    quads = b"".join(struct.pack("<II", p, len(b)) for p, b in zip(ptrs, blobs, strict=True))
    qp = guest.alloc(quads)
    out_len = guest.ptr("malloc", 4)
    r = guest.ptr("aipol_test_header_pairs", qp, len(pairs), out_len)
    data = guest.read(r, guest.u32(out_len))
    assert parse_pairs(data) == pairs
    for p in (*ptrs, qp, out_len, r):
        guest.free(p)


def test_header_pairs_example(guest) -> None:
    blobs = [b"a", b"1", b"b", b"22"]
    ptrs = [guest.alloc(b) for b in blobs]
    qp = guest.alloc(
        b"".join(struct.pack("<II", p, len(b)) for p, b in zip(ptrs, blobs, strict=True))
    )
    out_len = guest.ptr("malloc", 4)
    r = guest.ptr("aipol_test_header_pairs", qp, 2, out_len)
    assert guest.read(r, guest.u32(out_len)).hex() == (
        "0200000001000000010000000100000002000000610031006200323200"
    )


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=40))
def test_error_body(guest, msg: bytes) -> None:
    t, c = guest.alloc(b"invalid_request_error\x00"), guest.alloc(b"some_code\x00")
    m = guest.alloc(msg)
    out_len = guest.ptr("malloc", 4)
    r = guest.ptr("aipol_test_error_body", t, c, m, len(msg), out_len)
    body = guest.read(r, guest.u32(out_len))
    assert json.loads(body) == {
        "error": {
            "message": msg.decode("utf-8", errors="replace"),
            "type": "invalid_request_error",
            "param": None,
            "code": "some_code",
        }
    }
    assert body.startswith(b'{"error":{"message":"')
    for p in (t, c, m, out_len, r):
        guest.free(p)
