"""Loading the filter runtime into wasmtime for the runtime's own tests.

`build_module` compiles `filters/*.c` plus the test policy stub (with
`-DAIPOL_TEST_EXPORTS`, which adds an exported wrapper per routine);
`Guest` instantiates it and moves bytes in and out of its memory.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import wasmtime
from aipol.compiler import build

HERE = Path(__file__).resolve().parent
STUB = HERE / "policy_stub.c"

FLAGS = list(build.TARGET_FLAGS)


def build_module(out: Path, test_exports: bool = True, extra: tuple[str, ...] = ()) -> str:
    """Compiles runtime + stub into `out`; returns the compiler's diagnostics."""
    cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, "-Wextra", *extra]
    cmd += [f"-I{build.runtime_dir()}"]
    if test_exports:
        cmd += ["-DAIPOL_TEST_EXPORTS"]
    cmd += [str(s) for s in build.runtime_sources()] + [str(STUB), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise build.BuildError(proc.stderr)
    # zig's driver notes about unused arguments are not compiler warnings.
    return "\n".join(
        line for line in proc.stderr.splitlines() if line and not line.startswith("zig: warning")
    )


U32 = struct.Struct("<I")


class Guest:
    """One instance of the test module; `imports` maps env.<name> to a
    (FuncType, callable(caller, *args)) pair. Other imports trap."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        module: wasmtime.Module,
        imports: dict[str, tuple[wasmtime.FuncType, Callable[..., object]]] | None = None,
    ) -> None:
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        for name, (ty, fn) in (imports or {}).items():
            linker.define_func("env", name, ty, fn, access_caller=True)
        linker.define_unknown_imports_as_traps(module)
        self.instance = linker.instantiate(self.store, module)
        self.exports = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = self.exports["memory"]

    def call(self, name: str, *args: int) -> int:
        r = self.exports[name](self.store, *args)
        return r

    def ptr(self, name: str, *args: int) -> int:
        """Calls an export returning a pointer or u32 (wasmtime gives i32)."""
        return self.call(name, *args) & 0xFFFFFFFF

    def read(self, ptr: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, ptr, ptr + n))

    def write(self, ptr: int, data: bytes) -> None:
        if data:
            self.memory.write(self.store, data, ptr)

    def u32(self, ptr: int) -> int:
        return U32.unpack(self.read(ptr, 4))[0]

    def alloc(self, data: bytes) -> int:
        p = self.ptr("malloc", max(len(data), 1))
        assert p != 0, "guest malloc failed"
        self.write(p, data)
        return p

    def free(self, p: int) -> None:
        self.call("aipol_test_free", p)

    def heap_ok(self) -> int:
        return self.call("aipol_test_heap_check")
