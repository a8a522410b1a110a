"""SHA-256 (one-shot and streaming) against hashlib."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def sha(guest, data: bytes, chunk: int | None = None) -> bytes:
    p = guest.alloc(data)
    out = guest.ptr("malloc", 32)
    if chunk is None:
        guest.call("aipol_test_sha256", p, len(data), out)
    else:
        guest.call("aipol_test_sha256_chunked", p, len(data), chunk, out)
    digest = guest.read(out, 32)
    guest.free(p)
    guest.free(out)
    return digest


@pytest.mark.parametrize("n", range(0, 201))
def test_lengths_around_block_boundaries(guest, n: int) -> None:
    data = bytes((i * 7 + n) & 0xFF for i in range(n))
    assert sha(guest, data) == hashlib.sha256(data).digest()


def test_known_vectors(guest) -> None:
    assert sha(guest, b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert sha(guest, b"").hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_large(guest) -> None:
    data = bytes(range(256)) * 4099  # ~1 MiB, not a multiple of 64
    assert sha(guest, data) == hashlib.sha256(data).digest()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=130))
def test_random_and_streaming(guest, data: bytes, chunk: int) -> None:
    expected = hashlib.sha256(data).digest()
    assert sha(guest, data) == expected
    assert sha(guest, data, chunk) == expected
