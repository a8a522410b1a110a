"""Bounds-checked access to the guest's linear memory (§4.1)."""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from ctypes import byref

from wasmtime import Memory, Store
from wasmtime import _ffi as ffi

from .abi import WasmResult

_u32 = struct.Struct("<I")
_u64 = struct.Struct("<Q")


class GuestMemory:
    """Reads and writes guest memory; copies results out through the guest allocator.

    The base address is fetched on every access because any call into the guest
    (``malloc`` above all) may grow, and so move, the memory.
    """

    def __init__(self, store: Store, memory: Memory, allocate: Callable[[int], int]) -> None:
        self._ctx = store._context()
        self._mem = byref(memory._memory)
        self._allocate = allocate

    def _base_size(self) -> tuple[int, int]:
        base = ctypes.cast(ffi.wasmtime_memory_data(self._ctx, self._mem), ctypes.c_void_p).value
        return base or 0, ffi.wasmtime_memory_data_size(self._ctx, self._mem)

    def size(self) -> int:
        return self._base_size()[1]

    def read(self, ptr: int, n: int) -> bytes | None:
        """``n`` bytes at ``ptr``, or None when the range is outside memory."""
        if n == 0:
            return b""
        base, size = self._base_size()
        if ptr + n > size:
            return None
        return ctypes.string_at(base + ptr, n)

    def write(self, ptr: int, data: bytes) -> bool:
        n = len(data)
        base, size = self._base_size()
        if ptr + n > size:
            return False
        if n:
            ctypes.memmove(base + ptr, data, n)
        return True

    def write_u32(self, ptr: int, value: int) -> bool:
        return self.write(ptr, _u32.pack(value & 0xFFFFFFFF))

    def write_u64(self, ptr: int, value: int) -> bool:
        return self.write(ptr, _u64.pack(value & 0xFFFFFFFFFFFFFFFF))

    def read_u32(self, ptr: int) -> int | None:
        b = self.read(ptr, 4)
        return None if b is None else _u32.unpack(b)[0]

    def copy_out(self, data: bytes, ptr_ptr: int, len_ptr: int) -> WasmResult:
        """Allocate ``len(data)`` bytes in the guest, copy, write ptr and len (§2).

        Empty data writes 0/0 without calling the allocator. A null allocation or an
        out-of-range address gives InvalidMemoryAccess.
        """
        n = len(data)
        if n == 0:
            ok = self.write_u32(ptr_ptr, 0) and self.write_u32(len_ptr, 0)
            return WasmResult.Ok if ok else WasmResult.InvalidMemoryAccess
        ptr = self._allocate(n)
        if not ptr or not self.write(ptr, data):
            return WasmResult.InvalidMemoryAccess
        if not (self.write_u32(ptr_ptr, ptr) and self.write_u32(len_ptr, n)):
            return WasmResult.InvalidMemoryAccess
        return WasmResult.Ok
