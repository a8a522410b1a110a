"""Serialization (§4.2) and header-map semantics, without a VM."""

import pytest
from aipol.wasm_runtime import HeaderMap, Headers
from aipol.wasm_runtime.abi import deserialize_pairs, serialize_pairs


def test_pairs_example_from_the_reference():
    data = serialize_pairs([(b"a", b"1"), (b"b", b"22")])
    assert data.hex() == "02000000" "01000000" "01000000" "01000000" "02000000" \
        "6100" "3100" "6200" "323200"
    assert deserialize_pairs(data) == [(b"a", b"1"), (b"b", b"22")]


@pytest.mark.parametrize(
    "buf",
    [
        bytes.fromhex("01000000 01000000 01000000 61 00 31"),  # missing NUL
        bytes.fromhex("01000000 01000000 01000000 61 00 31 00 ff"),  # trailing bytes
        bytes.fromhex("01040000"),  # more than 1024 pairs
        b"\x01\x00",  # shorter than the count
    ],
    ids=["missing-nul", "trailing", "too-many", "short"],
)
def test_rejected_pair_buffers(buf):
    assert deserialize_pairs(buf) is None


def test_empty_maps():
    assert serialize_pairs([]) == b""
    assert deserialize_pairs(b"") == [] and deserialize_pairs(b"\0\0\0\0") == []


def test_header_map_semantics():
    m = HeaderMap([(b"X-A", b"1"), (b":path", b"/")])
    assert m.pairs == [(b":path", b"/"), (b"x-a", b"1")]  # pseudo-headers first, lower-cased
    m.add(b"x-a", b"2")
    m.add(b":authority", b"h")
    assert m.get(b"X-A") == b"1" and m.get_all(b"x-a") == [b"1", b"2"]
    m.replace(b"x-a", b"3")
    assert m.pairs == [(b":path", b"/"), (b":authority", b"h"), (b"x-a", b"3")]
    assert m.byte_size() == len(":path/:authorityhx-a3")
    m.remove(b"X-A")
    assert m.get(b"x-a") is None


def test_headers_view():
    h = Headers([("Set-Cookie", "a"), ("set-cookie", "b"), ("x", "1")])
    assert h["SET-COOKIE"] == "a" and h.get_all("set-cookie") == ["a", "b"]
    assert "X" in h and list(h) == ["set-cookie", "x"] and len(h) == 2
    assert h == {"set-cookie": "a", "x": "1"}
