"""The allocator: random malloc/free/realloc/calloc sequences keep blocks
disjoint, contents intact and the heap's invariants (checked by a walk in
the guest) true."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .guest import Guest

sizes = st.one_of(
    st.integers(min_value=0, max_value=64),
    st.integers(min_value=65, max_value=2100),
    st.integers(min_value=2100, max_value=70_000),
    st.integers(min_value=70_000, max_value=300_000),
)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("malloc"), sizes),
        st.tuples(st.just("calloc"), st.integers(0, 40), st.integers(0, 200)),
        st.tuples(st.just("free"), st.integers(min_value=0)),
        st.tuples(st.just("realloc"), st.integers(min_value=0), sizes),
    ),
    max_size=60,
)


def pattern(tag: int, n: int) -> bytes:
    return bytes((tag * 31 + i * 7) & 0xFF for i in range(n))


class Model:
    """The live blocks as Python sees them: ptr -> (size, contents)."""

    def __init__(self, g: Guest) -> None:
        self.g = g
        self.live: dict[int, bytes] = {}
        self.tag = 0

    def check_disjoint(self, p: int, n: int) -> None:
        assert p % 8 == 0, "blocks are 8-byte aligned"
        assert self.g.call("aipol_test_usable", p) >= n
        for q, data in self.live.items():
            qn = max(len(data), 1)
            assert p + max(n, 1) <= q or q + qn <= p, f"overlap {p:#x}+{n} / {q:#x}+{qn}"

    def add(self, p: int, n: int, fill: bytes | None = None) -> None:
        self.check_disjoint(p, n)
        self.tag += 1
        data = pattern(self.tag, n) if fill is None else fill
        self.g.write(p, data)
        self.live[p] = data

    def verify(self) -> None:
        for p, data in self.live.items():
            assert self.g.read(p, len(data)) == data, f"block {p:#x} corrupted"
        assert self.g.heap_ok() == 0


@settings(max_examples=60, deadline=None)
@given(ops)
def test_random_sequences(engine, module, seq) -> None:
    g = Guest(engine, module)
    m = Model(g)
    for op in seq:
        if op[0] == "malloc":
            p = g.ptr("aipol_test_malloc", op[1])
            assert p
            m.add(p, op[1])
        elif op[0] == "calloc":
            n = op[1] * op[2]
            p = g.ptr("aipol_test_calloc", op[1], op[2])
            assert p
            assert g.read(p, n) == bytes(n), "calloc memory is zeroed"
            m.add(p, n, bytes(n))
        elif m.live:
            p = sorted(m.live)[op[1] % len(m.live)]
            if op[0] == "free":
                g.free(p)
                del m.live[p]
            else:
                old = m.live.pop(p)
                q = g.ptr("aipol_test_realloc", p, op[2])
                assert q
                keep = old[: op[2]]
                assert g.read(q, len(keep)) == keep, "realloc keeps the contents"
                m.add(q, op[2], keep + pattern(m.tag + 1, op[2] - len(keep)))
        assert g.heap_ok() == 0
    m.verify()
    for p in list(m.live):
        g.free(p)
    assert g.heap_ok() == 0


def test_memory_is_reused(engine, module) -> None:
    """Freeing everything lets the same work run again without growth."""
    g = Guest(engine, module)

    def churn() -> None:
        ptrs = [g.ptr("aipol_test_malloc", (i * 997) % 40_000 + 1) for i in range(300)]
        for p in ptrs[::2] + ptrs[1::2]:
            g.free(p)

    churn()
    top = g.ptr("aipol_test_heap_top")
    for _ in range(5):
        churn()
    assert g.ptr("aipol_test_heap_top") == top
    assert g.heap_ok() == 0


def test_large_blocks_coalesce(engine, module) -> None:
    g = Guest(engine, module)
    guard = g.ptr("aipol_test_malloc", 100_000)
    a = g.ptr("aipol_test_malloc", 50_000)
    b = g.ptr("aipol_test_malloc", 50_000)
    c = g.ptr("aipol_test_malloc", 50_000)
    end_guard = g.ptr("aipol_test_malloc", 10)
    for p in (a, c, b):
        g.free(p)
    assert g.heap_ok() == 0
    big = g.ptr("aipol_test_malloc", 150_000)
    assert big == a, "three freed neighbours merge into one block"
    for p in (big, guard, end_guard):
        g.free(p)
    assert g.heap_ok() == 0


def test_small_classes_reuse(engine, module) -> None:
    g = Guest(engine, module)
    p = g.ptr("aipol_test_malloc", 20)
    g.free(p)
    assert g.ptr("aipol_test_malloc", 17) == p


@pytest.mark.parametrize("n", [0x40000001, 0x7FFFFFFF, 0xFFFFFFFF])
def test_huge_requests_fail_cleanly(engine, module, n: int) -> None:
    g = Guest(engine, module)
    assert g.ptr("aipol_test_malloc", n) == 0
    assert g.ptr("aipol_test_calloc", 0x10000, 0x10000) == 0
    p = g.ptr("aipol_test_malloc", 10)
    assert g.ptr("aipol_test_realloc", p, n) == 0
    assert g.read(p, 0) == b""
    assert g.heap_ok() == 0


def test_bad_frees_are_ignored(engine, module) -> None:
    g = Guest(engine, module)
    small = g.ptr("aipol_test_malloc", 24)
    large = g.ptr("aipol_test_malloc", 10_000)
    keep = g.ptr("aipol_test_malloc", 10)
    for bogus in (0, 3, small + 4, 0xFFFFFFF0, g.ptr("aipol_test_heap_top") + 64):
        g.free(bogus)
    g.free(small)
    g.free(small)  # double free of a small block
    g.free(large)
    g.free(large)  # double free of a large block
    assert g.heap_ok() == 0
    a, b = g.ptr("aipol_test_malloc", 24), g.ptr("aipol_test_malloc", 24)
    assert a != b
    g.free(keep)
    assert g.heap_ok() == 0


def test_host_allocation_export(engine, module) -> None:
    g = Guest(engine, module)
    p = g.ptr("proxy_on_memory_allocate", 100)
    q = g.ptr("malloc", 100)
    assert p and q and p != q
    g.free(p)
    g.free(q)
    assert g.heap_ok() == 0
