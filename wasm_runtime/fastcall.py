"""Low-overhead calls between Python and wasmtime.

wasmtime-py's ``Func.__call__`` re-reads the function type and boxes every value on
each call, and its host trampoline builds ``Val`` objects per parameter: about 30 us per
round trip. The harness runs thousands of requests with a dozen callbacks each, so it
uses the ``*_unchecked`` C API instead: parameters and results travel in one raw array.
Signatures are checked once, when the module is linked (see ``host.py``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from ctypes import byref, c_void_p, cast
from typing import Any

import wasmtime._func as _wfunc
from wasmtime import Func, FuncType, Store, Trap, WasmtimeError
from wasmtime import _ffi as ffi

_RAW = ffi.wasmtime_val_raw_t
_MASK32 = 0xFFFFFFFF

# env id -> (python function, param kinds ("i32"/"i64"), has_result)
_HOST_FUNCS: dict[int, tuple[Callable[..., Any], tuple[str, ...], bool]] = {}
_next_env = 1


@ffi.wasmtime_func_unchecked_callback_t
def _trampoline(env: int, _caller: Any, vals: Any, _n: int) -> int:
    try:
        fn, kinds, has_result = _HOST_FUNCS[env or 0]
        args = [
            (vals[i].i32 & _MASK32) if k == "i" else vals[i].i64 for i, k in enumerate(kinds)
        ]
        result = fn(*args)
        if has_result:
            vals[0].i32 = result
        return 0
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller of the export
        _wfunc.LAST_EXCEPTION = exc
        trap = Trap("python exception")._consume()
        return cast(trap, c_void_p).value or 0


@ctypes.CFUNCTYPE(None, c_void_p)
def _finalize(env: int) -> None:
    _HOST_FUNCS.pop(env or 0, None)


def host_func(
    store: Store, ty: FuncType, kinds: Sequence[str], fn: Callable[..., Any]
) -> Func:
    """A host function of type ``ty``; ``kinds``: "i" (unsigned i32) or "I" (i64) per param."""
    global _next_env
    env = _next_env
    _next_env += 1
    _HOST_FUNCS[env] = (fn, tuple(kinds), bool(ty.results))
    raw = ffi.wasmtime_func_t()
    ffi.wasmtime_func_new_unchecked(store._context(), ty.ptr(), _trampoline, env, _finalize,
                                    byref(raw))
    return Func._from_raw(raw)


class Export:
    """A cached exported function, called with i32 arguments; returns the unsigned i32 result."""

    __slots__ = ("_store", "_func", "_n", "_nres", "name")

    def __init__(self, store: Store, func: Func, nparams: int, nresults: int, name: str) -> None:
        self._store = store
        self._func = func
        self._n = max(nparams, nresults, 1)
        self._nres = nresults
        self.name = name

    def __call__(self, *args: int) -> int | None:
        vals = (_RAW * self._n)()
        for i, a in enumerate(args):
            vals[i].i32 = a
        store = self._store
        with _wfunc.enter_wasm(store) as trap:
            err = ffi.wasmtime_func_call_unchecked(
                store._context(), byref(self._func._func), vals, self._n, trap
            )
            if err:
                raise WasmtimeError._from_ptr(err)
        if self._nres:
            return vals[0].i32 & _MASK32
        return None
