"""The WASI functions Envoy provides (``wasi_snapshot_preview1`` and ``wasi_unstable``).

Mixed into :class:`~aipol.wasm_runtime.host.Host`; method names are the WASI names.
Functions Envoy only stubs return the errno its stubs return.
"""

from __future__ import annotations

import os
import struct
import time
from typing import TYPE_CHECKING

ERRNO_SUCCESS = 0
ERRNO_BADF = 8
ERRNO_FAULT = 21
ERRNO_INVAL = 28
ERRNO_NOSYS = 52
ERRNO_NOTSUP = 58
RANDOM_GET_MAX = 64 * 1024

if TYPE_CHECKING:
    from .memory import GuestMemory


class WasiMixin:
    mem: GuestMemory
    environment: dict[str, str]

    def _log_text(self, level: int, text: str) -> None:  # provided by Host
        raise NotImplementedError

    def now_ns(self) -> int:  # provided by Host
        raise NotImplementedError

    def fd_write(self, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
        """fd 1 is logged at info, fd 2 at error; any other fd is EBADF."""
        if fd not in (1, 2):
            return ERRNO_BADF
        raw = self.mem.read(iovs, 8 * iovs_len)
        if raw is None:
            return ERRNO_FAULT
        out = bytearray()
        for i in range(iovs_len):
            ptr, n = struct.unpack_from("<II", raw, 8 * i)
            chunk = self.mem.read(ptr, n)
            if chunk is None:
                return ERRNO_FAULT
            out += chunk
        if not self.mem.write_u32(nwritten_ptr, len(out)):
            return ERRNO_FAULT
        text = out.decode("utf-8", "replace").rstrip("\n")
        if text:
            self._log_text(2 if fd == 1 else 4, text)
        return ERRNO_SUCCESS

    def fd_read(self, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
        return ERRNO_NOSYS

    def fd_seek(self, fd: int, offset: int, whence: int, newoffset_ptr: int) -> int:
        return ERRNO_NOSYS

    def fd_close(self, fd: int) -> int:
        return ERRNO_NOSYS

    def fd_fdstat_get(self, fd: int, stat_ptr: int) -> int:
        if fd not in (1, 2):
            return ERRNO_BADF
        # filetype CHARACTER_DEVICE (2), no flags, no rights
        ok = self.mem.write(stat_ptr, struct.pack("<BxHxxxxQQ", 2, 0, 0, 0))
        return ERRNO_SUCCESS if ok else ERRNO_FAULT

    def fd_fdstat_set_flags(self, fd: int, flags: int) -> int:
        return ERRNO_NOSYS

    def fd_prestat_get(self, fd: int, buf: int) -> int:
        return ERRNO_BADF  # no preopened directories

    def fd_prestat_dir_name(self, fd: int, path: int, path_len: int) -> int:
        return ERRNO_NOSYS

    def path_open(self, *args: int) -> int:
        return ERRNO_NOSYS

    def path_filestat_get(self, *args: int) -> int:
        return ERRNO_NOSYS

    def _environ(self) -> list[bytes]:
        return [f"{k}={v}".encode() + b"\0" for k, v in self.environment.items()]

    def environ_sizes_get(self, count_ptr: int, size_ptr: int) -> int:
        env = self._environ()
        ok = self.mem.write_u32(count_ptr, len(env)) and self.mem.write_u32(
            size_ptr, sum(len(e) for e in env))
        return ERRNO_SUCCESS if ok else ERRNO_FAULT

    def environ_get(self, environ_ptr: int, buf_ptr: int) -> int:
        for i, entry in enumerate(self._environ()):
            if not (self.mem.write_u32(environ_ptr + 4 * i, buf_ptr)
                    and self.mem.write(buf_ptr, entry)):
                return ERRNO_FAULT
            buf_ptr += len(entry)
        return ERRNO_SUCCESS

    def args_sizes_get(self, argc_ptr: int, size_ptr: int) -> int:
        ok = self.mem.write_u32(argc_ptr, 0) and self.mem.write_u32(size_ptr, 0)
        return ERRNO_SUCCESS if ok else ERRNO_FAULT

    def args_get(self, argv_ptr: int, buf_ptr: int) -> int:
        return ERRNO_SUCCESS

    def clock_time_get(self, clock_id: int, precision: int, ret_ptr: int) -> int:
        if clock_id == 0:
            value = self.now_ns()
        elif clock_id == 1:
            value = time.monotonic_ns()
        else:
            return ERRNO_NOTSUP
        return ERRNO_SUCCESS if self.mem.write_u64(ret_ptr, value) else ERRNO_FAULT

    def random_get(self, buf: int, buf_len: int) -> int:
        if buf_len > RANDOM_GET_MAX:
            return ERRNO_INVAL
        return ERRNO_SUCCESS if self.mem.write(buf, os.urandom(buf_len)) else ERRNO_FAULT

    def sched_yield(self) -> int:
        return ERRNO_SUCCESS

    def poll_oneoff(self, in_ptr: int, out_ptr: int, nsubs: int, nevents_ptr: int) -> int:
        return ERRNO_NOSYS

    def proc_exit(self, code: int) -> None:
        self._log_text(4, f"wasi proc_exit({code})")
