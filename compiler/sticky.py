"""Python twin of the filter's sticky split bucket (`aipol_sticky_bucket`).

A principal always lands in the same bucket of a route's split, so an A/B
test does not flip a user between models from one request to the next.
"""

from __future__ import annotations

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
BUCKETS = 10_000


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(seed: str, who: str) -> int:
    """Bucket in [0, 10000) of principal (or request id) `who` for split `seed`."""
    return fnv1a32(seed.encode() + b"\x00" + who.encode()) % BUCKETS


def pick(arms: list[tuple[str, int]], seed: str, who: str) -> str:
    """The arm a split with (backend, basis points) `arms` gives to `who`."""
    b = bucket(seed, who)
    upto = 0
    for backend, weight in arms:
        upto += weight
        if b < upto:
            return backend
    return arms[-1][0]
