"""Build stage: C sources -> filter.wasm with the `ziglang` wheel's clang.

The flags are fixed so that the output is a pure function of the sources:
no timestamps, no absolute paths in the module (no debug info), `-O2`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from aipol import filters

TARGET_FLAGS = (
    "--target=wasm32-freestanding",
    "-O2",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin-printf",
    "-Wall",
    "-Werror=implicit-function-declaration",
    "-Werror=return-type",
    "-Wl,--no-entry",
    "-Wl,--strip-all",
    "-Wl,-z,stack-size=131072",
    "-Wl,--initial-memory=1048576",
)


class BuildError(Exception):
    """zig cc failed; the message carries the compiler's diagnostics."""


def runtime_dir() -> Path:
    """Folder holding the filter runtime library (`filters/`)."""
    return Path(filters.__file__).resolve().parent


def runtime_sources() -> list[Path]:
    """The runtime's translation units, sorted for a stable link order."""
    return sorted(runtime_dir().glob("*.c"))


def compile_wasm(
    sources: Sequence[Path],
    out: Path,
    defines: Sequence[str] = (),
    include_dirs: Sequence[Path] = (),
    extra_flags: Sequence[str] = (),
) -> Path:
    """Compile and link `sources` into the wasm module `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET_FLAGS]
    cmd += [f"-I{runtime_dir()}"] + [f"-I{d}" for d in include_dirs]
    cmd += [f"-D{d}" for d in defines]
    cmd += list(extra_flags)
    cmd += [str(s) for s in sources]
    cmd += ["-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(proc.stderr.strip() or proc.stdout.strip())
    return out
