"""The proxy-wasm ABI 0.2.1 host: loading, start-up, callbacks and every ``env.proxy_*`` call.

Methods named ``proxy_*`` (and the WASI names, from :class:`WasiMixin`) are linked as the
module's imports, with the exact wasm signature of §2. Only what the module imports is
linked; an import Envoy does not provide fails loading, as in Envoy. Host calls the
harness does not implement raise ``NotImplementedError``, which traps the guest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime
from wasmtime import Engine, FuncType, Linker, Memory, Module, Store, ValType

from . import abi
from .abi import WasmResult, deserialize_pairs, serialize_pairs
from .errors import RestrictedCallback, WasmLoadError
from .fastcall import Export, host_func
from .headers import HeaderMap, Headers
from .http import HttpStream, sanitize_details
from .memory import GuestMemory
from .metrics import MetricIds, Stats
from .properties import PropertyPath, encode_value, normalize_path, resolve
from .root import Callout, Connection, RootContext
from .shared import SharedData
from .wasi import WasiMixin


def _engine() -> Engine:
    """Traps are reported without signal handlers: pytest's faulthandler (and any other
    SIGILL/SIGSEGV handler installed later) would otherwise kill the process on a trap."""
    config = wasmtime.Config()
    config.signals_based_traps = False
    return Engine(config)


_ENGINE = _engine()
_MODULE_CACHE: dict[bytes, Module] = {}
_TRAPS = (wasmtime.Trap, wasmtime.WasmtimeError, NotImplementedError, RestrictedCallback)
_VT = {"i": ValType.i32(), "I": ValType.i64()}
_ALLOC_ALLOWED = frozenset({"proxy_log", "fd_write", "clock_time_get", "poll_oneoff"})

LOG_LEVELS = {name: i for i, name in enumerate(abi.LOG_LEVEL_NAMES)} | {"off": 6}


def compile_module(wasm: bytes) -> Module:
    """Compile once per distinct module bytes (compilation dominates load time)."""
    key = hashlib.sha256(wasm).digest()
    module = _MODULE_CACHE.get(key)
    if module is None:
        try:
            module = Module(_ENGINE, wasm)
        except wasmtime.WasmtimeError as exc:
            raise WasmLoadError(f"Failed to load Wasm code: {exc}") from None
        _MODULE_CACHE[key] = module
    return module


def _functype(sig: tuple[str, str]) -> FuncType:
    return FuncType([_VT[c] for c in sig[0]], [_VT[c] for c in sig[1]])


def _sig_of(ft: FuncType) -> tuple[str, str]:
    def code(vt: ValType) -> str:
        return {"i32": "i", "i64": "I"}.get(str(vt), "?")

    return "".join(code(p) for p in ft.params), "".join(code(r) for r in ft.results)


class Host(WasiMixin):
    """One Wasm VM (one Envoy worker's copy of the plugin) with its root context 1."""

    root_id = 1

    def __init__(
        self,
        wasm: bytes,
        *,
        plugin_config: bytes = b"",
        vm_config: bytes = b"",
        properties: Mapping[Any, Any] | None = None,
        allow_on_headers_stop_iteration: bool = False,
        failure_policy: str = "closed",
        max_request_bytes: int | None = None,
        buffer_limit: int = 1 << 20,
        log_level: str | int = "info",
        plugin_name: str = "aipol",
        root_id: str = "",
        vm_id: str = "",
        environment: Mapping[str, str] | None = None,
        shared_data: SharedData | None = None,
        stats: Stats | None = None,
        clusters: set[str] | None = None,
        clock: Callable[[], int] | None = None,
        connection: Connection | None = None,
    ) -> None:
        if failure_policy not in ("closed", "open"):
            raise ValueError("failure_policy must be 'closed' or 'open'")
        self.plugin_config = bytes(plugin_config)
        self.vm_config = bytes(vm_config)
        self.supplied_properties: dict[PropertyPath, Any] = {
            normalize_path(k): v for k, v in (properties or {}).items()
        }
        self.allow_on_headers_stop_iteration = allow_on_headers_stop_iteration
        self.failure_policy = failure_policy
        self.max_request_bytes = max_request_bytes
        self.buffer_limit = buffer_limit
        self.log_level = LOG_LEVELS[log_level] if isinstance(log_level, str) else log_level
        self.plugin_name, self.plugin_root_id, self.vm_id = plugin_name, root_id, vm_id
        self.environment = dict(environment or {})
        self.shared_data = shared_data if shared_data is not None else SharedData()
        self.stats = stats if stats is not None else Stats()
        self.metric_ids = MetricIds(self.stats)
        self.clusters = clusters
        self._clock = clock or time.time_ns
        self.clock_offset_ns = 0
        self.connection = connection or Connection()
        self.foreign_functions: dict[str, Callable[[bytes], bytes | None]] = {}

        self.logs: list[tuple[str, str]] = []
        self.failed = False
        self.trap_message: str | None = None
        self.callouts: list[Callout] = []
        self._next_callout = 0
        self.streams: dict[int, HttpStream] = {}
        self._next_context_id = 2
        self.root = RootContext(self.root_id)
        self.effective = 0
        self.depth = 0
        self.restricted: str | None = None
        self._builtins = {
            "plugin_name": plugin_name,
            "plugin_root_id": root_id,
            "plugin_vm_id": vm_id,
        }

        self._store = Store(_ENGINE)
        self.module = compile_module(bytes(wasm))
        self._instantiate()
        self._start()

    # ------------------------------------------------------------------------ loading --
    def _instantiate(self) -> None:
        module, store = self.module, self._store
        exports = {e.name: e.type for e in module.exports}
        if not any(v in exports for v in abi.ABI_VERSION_EXPORTS):
            if any(v in exports for v in abi.UNSUPPORTED_ABI_EXPORTS):
                raise WasmLoadError("ABI 0.1.0 modules are not supported by this harness")
            raise WasmLoadError("Missing or unknown Proxy-Wasm ABI version")
        for name, (nparams, nresults) in abi.CALLBACKS.items():
            ty = exports.get(name)
            if ty is None:
                continue
            if not isinstance(ty, FuncType) or _sig_of(ty) != ("i" * nparams, "i" * nresults):
                raise WasmLoadError(f"Bad function signature for: {name}")
        if "malloc" not in exports and "proxy_on_memory_allocate" not in exports:
            raise WasmLoadError("Wasm module is missing malloc function.")

        linker = Linker(_ENGINE)
        imported_memory: Memory | None = None
        for imp in module.imports:
            mod, name, ty = imp.module, imp.name or "", imp.type
            if isinstance(ty, wasmtime.MemoryType):
                imported_memory = Memory(store, ty)
                linker.define(store, mod, name, imported_memory)
                continue
            if mod == "env" and name in abi.HOST_FUNCTIONS:
                sig = abi.HOST_FUNCTIONS[name]
            elif mod in abi.WASI_MODULES and name in abi.WASI_FUNCTIONS:
                sig = abi.WASI_FUNCTIONS[name]
            else:
                raise WasmLoadError(
                    f"Failed to load Wasm module due to a missing import: {mod}.{name}")
            if not isinstance(ty, FuncType) or _sig_of(ty) != sig:
                raise WasmLoadError(
                    f"Failed to load Wasm module due to an import type mismatch for "
                    f"function {mod}.{name}")
            linker.define(store, mod, name, host_func(store, _functype(sig), sig[0],
                                                      self._guarded(name)))
        try:
            instance = linker.instantiate(store, module)
        except _TRAPS as exc:
            raise WasmLoadError(f"Failed to instantiate Wasm module: {exc}") from None
        ex = instance.exports(store)
        memory = imported_memory
        if memory is None:
            # like cpp-host's V8 backend: the first exported memory, whatever its name
            memory = next((m for m in ex.by_index if isinstance(m, Memory)), None)
        if memory is None:
            raise WasmLoadError("Wasm module is missing a memory")
        self._exports: dict[str, Export] = {}
        for name, (nparams, nresults) in abi.CALLBACKS.items():
            if name in exports:
                self._exports[name] = Export(store, ex[name], nparams, nresults, name)
        self._malloc = self._exports.get("malloc") or self._exports["proxy_on_memory_allocate"]
        self.mem = GuestMemory(store, memory, self._allocate)

    def _guarded(self, name: str) -> Callable[..., Any]:
        """The host function for import ``name``, with Envoy's restricted-mode check."""
        method = getattr(self, name)
        is_proxy = name.startswith(("proxy_", "envoy_"))
        allowed_startup = not is_proxy or name in abi.RESTRICTED_ALLOWED
        allowed_alloc = name in _ALLOC_ALLOWED

        def fn(*args: int) -> Any:
            mode = self.restricted
            if mode is not None and not (allowed_alloc if mode == "alloc" else allowed_startup):
                raise RestrictedCallback(f"restricted_callback: {name} called during {mode}")
            return method(*args)

        return fn

    def _allocate(self, size: int) -> int:
        prev, self.restricted = self.restricted, "alloc"
        try:
            return self._malloc(size) or 0
        finally:
            self.restricted = prev

    def _start(self) -> None:
        ex = self._exports
        self.restricted = "startup"
        try:
            try:
                if "_initialize" in ex:
                    ex["_initialize"]()
                    if "main" in ex:
                        ex["main"](0, 0)
                    elif "__main_void" in ex:
                        ex["__main_void"]()
                elif "_start" in ex:
                    ex["_start"]()
            except _TRAPS as exc:
                raise WasmLoadError(f"Wasm start-up failed: {_trap_text(exc)}") from None
        finally:
            self.restricted = None
        rid = self.root_id
        self.call(rid, "proxy_on_context_create", rid, 0)
        self._check_startup("proxy_on_context_create")
        self.root.vm_config = self.vm_config
        ok = self.call(rid, "proxy_on_vm_start", rid, len(self.vm_config))
        self.root.vm_config = None
        self._check_startup("proxy_on_vm_start")
        if ok == 0:
            raise WasmLoadError("Wasm VM failed to start: proxy_on_vm_start returned false")
        self.root.plugin_config = self.plugin_config
        ok = self.call(rid, "proxy_on_configure", rid, len(self.plugin_config))
        self.root.plugin_config = None
        self._check_startup("proxy_on_configure")
        if ok == 0:
            raise WasmLoadError("Wasm VM failed to configure the plugin: "
                                "proxy_on_configure returned false")
        self._flush_stream_actions()

    def _check_startup(self, name: str) -> None:
        if self.failed:
            raise WasmLoadError(f"Wasm start-up failed in {name}: {self.trap_message}")

    # ---------------------------------------------------------------------- callbacks --
    def has_export(self, name: str) -> bool:
        return name in self._exports

    def call(self, ctx_id: int, name: str, *args: int) -> int | None:
        """Call an exported callback with ``ctx_id`` as the current context.

        Returns the raw result, or None when the export is absent (the caller applies
        Envoy's default) or the call trapped (then ``self.failed`` is set).
        """
        fn = self._exports.get(name)
        if fn is None or self.failed:
            return None
        prev = self.effective
        self.effective = ctx_id
        self.depth += 1
        try:
            return fn(*args)
        except _TRAPS as exc:
            self._fail(name, exc)
            return None
        finally:
            self.effective = prev
            self.depth -= 1
            if self.depth == 0 and self.shared_data.posted:
                self._drain_posted()

    def _fail(self, name: str, exc: BaseException) -> None:
        self.failed = True
        self.trap_message = f"Function: {name} failed: {_trap_text(exc)}"
        self.logs.append(("critical", self.trap_message))

    def _drain_posted(self) -> None:
        """Run work posted to idle workers (queue notifications)."""
        posted = self.shared_data.posted
        keep = []
        while posted:
            host, task = posted.popleft()
            if host.depth == 0:
                task()
            else:
                keep.append((host, task))
        posted.extend(keep)

    def _flush_stream_actions(self) -> None:
        """After a root callback: carry out what it asked of streams (continue, reply)."""
        for stream in list(self.streams.values()):
            if stream.pending_local_reply or stream.pending_continue or stream.pending_close:
                if not stream._after_call():
                    stream._run_continues()

    def new_stream(self, **kwargs: Any) -> HttpStream:
        sid = self._next_context_id
        self._next_context_id += 1
        stream = HttpStream(self, sid, self.connection, **kwargs)
        self.streams[sid] = stream
        return stream

    def now_ns(self) -> int:
        return self._clock() + self.clock_offset_ns

    @property
    def request_buffer_limit(self) -> int:
        return self.max_request_bytes if self.max_request_bytes is not None else self.buffer_limit

    # ---- root-level events ----
    def tick(self) -> bool:
        """Fire ``proxy_on_tick(root)`` if a tick period is set. True if it ran."""
        if self.root.tick_period_ms <= 0 or self.failed:
            return False
        self.call(self.root_id, "proxy_on_tick", self.root_id)
        self._flush_stream_actions()
        return True

    def advance_time(self, ms: int) -> int:
        """Move the clock forward, firing each tick that falls due. Returns ticks fired."""
        fired = 0
        target = self.clock_offset_ns + ms * 1_000_000
        while self.root.tick_period_ms > 0 and not self.failed:
            period_ns = self.root.tick_period_ms * 1_000_000
            due = self.root.next_tick_ms
            due_ns = due * 1_000_000 if due is not None else self.clock_offset_ns + period_ns
            if due_ns > target:
                break
            self.clock_offset_ns = due_ns
            self.root.next_tick_ms = (due_ns + period_ns) // 1_000_000
            self.tick()
            fired += 1
        self.clock_offset_ns = target
        return fired

    def deliver_queue_ready(self, root_id: int, qid: int) -> None:
        self.call(root_id, "proxy_on_queue_ready", root_id, qid)
        self._flush_stream_actions()

    def respond_http_call(self, token: int, headers: Any = None, body: bytes | str = b"",
                          trailers: Any = None, *, status: int | None = None) -> None:
        """Deliver the response of a ``proxy_http_call`` to the root context."""
        from .headers import to_pairs

        callout = self.root.callouts.get(token)
        if callout is None or not callout.pending:
            raise KeyError(f"no pending http call with token {token}")
        pairs = to_pairs(headers)
        if not any(k == b":status" for k, _ in pairs):
            pairs.insert(0, (b":status", str(status or 200).encode()))
        body_b = body.encode() if isinstance(body, str) else bytes(body)
        hmap, tmap = HeaderMap(pairs), HeaderMap(to_pairs(trailers))
        code = int(hmap.get(b":status") or b"0")
        callout.response = (code, hmap.view(), body_b)
        root = self.root
        root.call_response_headers, root.call_response_trailers = hmap, tmap
        root.call_response_body = bytearray(body_b)
        try:
            self.call(self.root_id, "proxy_on_http_call_response", self.root_id, token,
                      len(hmap), len(body_b), len(tmap))
        finally:
            root.call_response_headers = root.call_response_trailers = None
            root.call_response_body = None
        self._flush_stream_actions()

    def fail_http_call(self, token: int) -> None:
        """The call was reset: the callback gets (0, 0, 0) and status 11 "reset"."""
        callout = self.root.callouts.get(token)
        if callout is None or not callout.pending:
            raise KeyError(f"no pending http call with token {token}")
        callout.failed = True
        self.root.status = (int(WasmResult.BrokenConnection), b"reset")
        self.call(self.root_id, "proxy_on_http_call_response", self.root_id, token, 0, 0, 0)
        self._flush_stream_actions()

    def shutdown(self) -> None:
        """``proxy_on_done(root)``; ``proxy_on_delete(root)`` now or after ``proxy_done``."""
        if self.failed or self.root.deleted:
            return
        done = self.call(self.root_id, "proxy_on_done", self.root_id)
        if done == 0:
            self.root.done_pending = True
        else:
            self.root.deleted = True
            self.call(self.root_id, "proxy_on_delete", self.root_id)

    # ------------------------------------------------------------------- helpers -------
    def _stream(self) -> HttpStream | None:
        return self.streams.get(self.effective)

    def _read(self, ptr: int, n: int) -> bytes | None:
        return self.mem.read(ptr, n)

    def _log_text(self, level: int, text: str) -> None:
        if level >= self.log_level:
            self.logs.append((abi.LOG_LEVEL_NAMES[level], text))

    # ============================================================== host calls (§2) =====
    # --- logging and time ---
    def proxy_log(self, level: int, ptr: int, size: int) -> int:
        if level > 5:
            return WasmResult.BadArgument
        msg = self._read(ptr, size)
        if msg is None:
            return WasmResult.InvalidMemoryAccess
        self._log_text(level, msg.decode("utf-8", "replace"))
        return WasmResult.Ok

    def proxy_get_log_level(self, ret_ptr: int) -> int:
        return WasmResult.Ok if self.mem.write_u32(ret_ptr, self.log_level) \
            else WasmResult.InvalidMemoryAccess

    def proxy_get_current_time_nanoseconds(self, ret_ptr: int) -> int:
        return WasmResult.Ok if self.mem.write_u64(ret_ptr, self.now_ns()) \
            else WasmResult.InvalidMemoryAccess

    def proxy_set_tick_period_milliseconds(self, period: int) -> int:
        self.root.tick_period_ms = period
        self.root.next_tick_ms = (self.clock_offset_ns // 1_000_000 + period) if period else None
        return WasmResult.Ok

    # --- properties ---
    def proxy_get_property(self, path_ptr: int, path_len: int, ret_ptr: int, ret_len: int) -> int:
        raw = self._read(path_ptr, path_len)
        if raw is None:
            return WasmResult.InvalidMemoryAccess
        path = tuple(raw.decode("utf-8", "surrogateescape").rstrip("\0").split("\0"))
        value = resolve(path, self.supplied_properties, self._builtins, self._stream())
        if value is None:
            return WasmResult.NotFound
        try:
            data = encode_value(value)
        except TypeError:
            return WasmResult.SerializationFailure
        return self.mem.copy_out(data, ret_ptr, ret_len)

    def proxy_set_property(self, path_ptr: int, path_len: int, val_ptr: int, val_len: int) -> int:
        path, value = self._read(path_ptr, path_len), self._read(val_ptr, val_len)
        if path is None or value is None:
            return WasmResult.InvalidMemoryAccess
        stream = self._stream()
        if stream is None:
            return WasmResult.NotFound
        stream.filter_state["wasm." + path.decode("utf-8", "surrogateescape")] = value
        return WasmResult.Ok

    # --- buffers ---
    def _buffer(self, buf_type: int) -> tuple[bytearray | bytes | None, bool]:
        """(buffer or None if unavailable, writable)."""
        stream = self._stream()
        if buf_type == abi.BufferType.HTTP_REQUEST_BODY:
            return (stream.request_body if stream else None), True
        if buf_type == abi.BufferType.HTTP_RESPONSE_BODY:
            return (stream.response_body if stream else None), True
        if buf_type == abi.BufferType.HTTP_CALL_RESPONSE_BODY:
            return self.root.call_response_body, False
        if buf_type == abi.BufferType.VM_CONFIGURATION:
            return self.root.vm_config, False
        if buf_type == abi.BufferType.PLUGIN_CONFIGURATION:
            return self.root.plugin_config, False
        return None, False

    def proxy_get_buffer_bytes(self, buf_type: int, start: int, max_size: int, ret_ptr: int,
                               ret_len: int) -> int:
        if buf_type > 8:
            return WasmResult.BadArgument
        if start + max_size > 0xFFFFFFFF:
            return WasmResult.BadArgument
        buf, _ = self._buffer(buf_type)
        if buf is None:
            if buf_type in (abi.BufferType.HTTP_REQUEST_BODY, abi.BufferType.HTTP_RESPONSE_BODY) \
                    and self._stream() is not None:
                buf = b""  # Envoy's body Buffer wrapper always exists; it is just empty
            else:
                return WasmResult.NotFound
        return self.mem.copy_out(bytes(buf[start:start + max_size]), ret_ptr, ret_len)

    def proxy_get_buffer_status(self, buf_type: int, ret_len: int, ret_flags: int) -> int:
        if buf_type > 8:
            return WasmResult.BadArgument
        buf, _ = self._buffer(buf_type)
        if buf is None:
            if buf_type in (abi.BufferType.HTTP_REQUEST_BODY, abi.BufferType.HTTP_RESPONSE_BODY) \
                    and self._stream() is not None:
                buf = b""
            else:
                return WasmResult.NotFound
        ok = self.mem.write_u32(ret_len, len(buf)) and self.mem.write_u32(ret_flags, 0)
        return WasmResult.Ok if ok else WasmResult.InvalidMemoryAccess

    def proxy_set_buffer_bytes(self, buf_type: int, start: int, size: int, data_ptr: int,
                               data_len: int) -> int:
        if buf_type > 8:
            return WasmResult.BadArgument
        data = self._read(data_ptr, data_len)
        if data is None:
            return WasmResult.InvalidMemoryAccess
        buf, writable = self._buffer(buf_type)
        if buf is None:
            return WasmResult.NotFound
        if not writable or not isinstance(buf, bytearray):
            return WasmResult.BadArgument
        if start == 0:
            del buf[:size]  # drain `size` bytes, then prepend
            buf[0:0] = data
        elif start >= len(buf):
            buf += data
        else:
            return WasmResult.BadArgument
        return WasmResult.Ok

    # --- header maps (§5.1) ---
    def _map(self, map_type: int, write: bool) -> HeaderMap | None:
        if map_type == abi.MapType.HTTP_CALL_RESPONSE_HEADERS:
            return self.root.call_response_headers
        if map_type == abi.MapType.HTTP_CALL_RESPONSE_TRAILERS:
            return self.root.call_response_trailers
        stream = self._stream()
        if stream is None or map_type > 3:
            return None
        if stream.log_phase:
            if write:
                return None
            return (stream.request_headers_live, None, stream.response_headers_live,
                    stream.response_trailers_live)[map_type]
        return (stream.request_headers, stream.request_trailers, stream.response_headers,
                stream.response_trailers)[map_type]

    def _mutated(self, map_type: int) -> None:
        if map_type == abi.MapType.HTTP_REQUEST_HEADERS:
            stream = self._stream()
            if stream is not None:
                # ABI 0.2.x: every request-header mutation clears the route cache
                stream.header_mutation_clears += 1
                stream.clear_route_cache()

    def proxy_get_header_map_pairs(self, map_type: int, ret_ptr: int, ret_len: int) -> int:
        if map_type > 7:
            return WasmResult.BadArgument
        m = self._map(map_type, False)
        data = serialize_pairs(m.pairs) if m is not None else b""
        return self.mem.copy_out(data, ret_ptr, ret_len)

    def proxy_set_header_map_pairs(self, map_type: int, ptr: int, size: int) -> int:
        if map_type > 7:
            return WasmResult.BadArgument
        raw = self._read(ptr, size)
        if raw is None:
            return WasmResult.InvalidMemoryAccess
        m = self._map(map_type, True)
        if m is None:
            return WasmResult.BadArgument
        m.set_all(deserialize_pairs(raw) or [])
        self._mutated(map_type)
        return WasmResult.Ok

    def proxy_get_header_map_value(self, map_type: int, key_ptr: int, key_len: int, ret_ptr: int,
                                   ret_len: int) -> int:
        if map_type > 7:
            return WasmResult.BadArgument
        key = self._read(key_ptr, key_len)
        if key is None:
            return WasmResult.InvalidMemoryAccess
        m = self._map(map_type, False)
        if m is None:
            stream = self._stream()
            return WasmResult.NotFound if stream and stream.log_phase else WasmResult.BadArgument
        value = m.get(key)
        if value is None:
            return WasmResult.NotFound
        return self.mem.copy_out(value, ret_ptr, ret_len)

    def _kv(self, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> tuple[bytes, bytes]:
        key, value = self._read(key_ptr, key_len), self._read(val_ptr, val_len)
        if key is None or value is None:
            raise _BadMemory
        return key, value

    def _write_header(self, map_type: int, key_ptr: int, key_len: int, val_ptr: int,
                      val_len: int, replace: bool) -> int:
        """add (append another entry) or replace (set, dropping the others)."""
        if map_type > 7:
            return WasmResult.BadArgument
        try:
            key, value = self._kv(key_ptr, key_len, val_ptr, val_len)
        except _BadMemory:
            return WasmResult.InvalidMemoryAccess
        m = self._map(map_type, True)
        if m is None:
            return WasmResult.BadArgument
        if replace:
            m.replace(key, value)
        else:
            m.add(key, value)
        self._mutated(map_type)
        return WasmResult.Ok

    def proxy_add_header_map_value(self, map_type: int, key_ptr: int, key_len: int,
                                   val_ptr: int, val_len: int) -> int:
        return self._write_header(map_type, key_ptr, key_len, val_ptr, val_len, replace=False)

    def proxy_replace_header_map_value(self, map_type: int, key_ptr: int, key_len: int,
                                       val_ptr: int, val_len: int) -> int:
        return self._write_header(map_type, key_ptr, key_len, val_ptr, val_len, replace=True)

    def proxy_remove_header_map_value(self, map_type: int, key_ptr: int, key_len: int) -> int:
        if map_type > 7:
            return WasmResult.BadArgument
        key = self._read(key_ptr, key_len)
        if key is None:
            return WasmResult.InvalidMemoryAccess
        m = self._map(map_type, True)
        if m is None:
            return WasmResult.BadArgument
        m.remove(key)
        self._mutated(map_type)
        return WasmResult.Ok

    def proxy_get_header_map_size(self, map_type: int, ret_ptr: int) -> int:
        if map_type > 7:
            return WasmResult.BadArgument
        m = self._map(map_type, False)
        if m is None:
            return WasmResult.BadArgument
        return WasmResult.Ok if self.mem.write_u32(ret_ptr, m.byte_size()) \
            else WasmResult.InvalidMemoryAccess

    # --- stream control ---
    def proxy_continue_stream(self, stream_type: int) -> int:
        if stream_type > 3:
            return WasmResult.BadArgument
        if stream_type == abi.StreamType.UPSTREAM:
            return WasmResult.Unimplemented
        if stream_type == abi.StreamType.DOWNSTREAM:
            return WasmResult.BadArgument
        stream = self._stream()
        if stream is None:
            return WasmResult.Ok
        if stream_type == abi.StreamType.HTTP_REQUEST:
            stream.request_headers = stream.request_body = stream.request_trailers = None
        else:
            stream.response_headers = stream.response_body = stream.response_trailers = None
        stream.pending_continue.append(stream_type)
        return WasmResult.Ok

    def proxy_close_stream(self, stream_type: int) -> int:
        if stream_type > 3:
            return WasmResult.BadArgument
        stream = self._stream()
        if stream is not None and stream_type in (0, 1):
            stream.pending_close = True
        return WasmResult.Ok

    def proxy_send_local_response(self, status: int, details_ptr: int, details_len: int,
                                  body_ptr: int, body_len: int, pairs_ptr: int, pairs_len: int,
                                  grpc_status: int) -> int:
        from .http import LocalReply

        details = self._read(details_ptr, details_len)
        body = self._read(body_ptr, body_len)
        pairs_raw = self._read(pairs_ptr, pairs_len)
        if details is None or body is None or pairs_raw is None:
            return WasmResult.InvalidMemoryAccess
        stream = self._stream()
        if stream is None or stream.pending_local_reply is not None:
            return WasmResult.Ok
        pairs = deserialize_pairs(pairs_raw) or []
        gs = grpc_status - (1 << 32) if grpc_status >= 1 << 31 else grpc_status
        stream.pending_local_reply = LocalReply(
            status, sanitize_details(details), body,
            Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs),
            gs if 0 <= gs <= 16 else None)
        return WasmResult.Ok

    # --- HTTP calls (§5.6) ---
    def proxy_http_call(self, up_ptr: int, up_len: int, hdr_ptr: int, hdr_len: int,
                        body_ptr: int, body_len: int, trl_ptr: int, trl_len: int,
                        timeout_ms: int, ret_token: int) -> int:
        parts = [self._read(up_ptr, up_len), self._read(hdr_ptr, hdr_len),
                 self._read(body_ptr, body_len), self._read(trl_ptr, trl_len)]
        if any(p is None for p in parts):
            return WasmResult.InvalidMemoryAccess
        upstream_b, hdr_raw, body, trl_raw = (p or b"" for p in parts)
        upstream = upstream_b.decode("utf-8", "replace")
        if self.clusters is not None and upstream not in self.clusters:
            return WasmResult.BadArgument
        headers = HeaderMap(deserialize_pairs(hdr_raw) or [])
        if any(headers.get(k) is None for k in (b":method", b":path", b":authority")):
            return WasmResult.BadArgument
        if body:
            headers.replace(b"content-length", str(len(body)).encode())
        self._next_callout += 4
        token = self._next_callout
        callout = Callout(token, upstream, headers.view(), body,
                          HeaderMap(deserialize_pairs(trl_raw) or []).view(), timeout_ms,
                          self.effective)
        self.root.callouts[token] = callout
        self.callouts.append(callout)
        if not self.mem.write_u32(ret_token, token):
            return WasmResult.InvalidMemoryAccess
        return WasmResult.Ok

    def proxy_get_status(self, ret_code: int, ret_msg_ptr: int, ret_msg_len: int) -> int:
        code, msg = self.root.status
        if not self.mem.write_u32(ret_code, code):
            return WasmResult.InvalidMemoryAccess
        return self.mem.copy_out(msg, ret_msg_ptr, ret_msg_len)

    # --- gRPC: not emulated ---
    def proxy_grpc_call(self, *args: int) -> int:
        raise NotImplementedError("proxy_grpc_call is not implemented by the aipol harness")

    def proxy_grpc_stream(self, *args: int) -> int:
        raise NotImplementedError("proxy_grpc_stream is not implemented by the aipol harness")

    def proxy_grpc_send(self, *args: int) -> int:
        raise NotImplementedError("proxy_grpc_send is not implemented by the aipol harness")

    def proxy_grpc_cancel(self, *args: int) -> int:
        raise NotImplementedError("proxy_grpc_cancel is not implemented by the aipol harness")

    def proxy_grpc_close(self, *args: int) -> int:
        raise NotImplementedError("proxy_grpc_close is not implemented by the aipol harness")

    def envoy_resolve_dns(self, *args: int) -> int:
        raise NotImplementedError("envoy_resolve_dns is not implemented by the aipol harness")

    # --- shared data and queues (§5.7) ---
    def proxy_get_shared_data(self, key_ptr: int, key_len: int, ret_ptr: int, ret_len: int,
                              ret_cas: int) -> int:
        key = self._read(key_ptr, key_len)
        if key is None:
            return WasmResult.InvalidMemoryAccess
        entry = self.shared_data.get(self.vm_id, key.decode("utf-8", "surrogateescape"))
        if entry is None:
            return WasmResult.NotFound
        value, cas = entry
        result = self.mem.copy_out(value, ret_ptr, ret_len)
        if result == WasmResult.Ok and ret_cas and not self.mem.write_u32(ret_cas, cas):
            return WasmResult.InvalidMemoryAccess
        return result

    def proxy_set_shared_data(self, key_ptr: int, key_len: int, val_ptr: int, val_len: int,
                              cas: int) -> int:
        key, value = self._read(key_ptr, key_len), self._read(val_ptr, val_len)
        if key is None or value is None:
            return WasmResult.InvalidMemoryAccess
        return self.shared_data.set(self.vm_id, key.decode("utf-8", "surrogateescape"), value, cas)

    def proxy_register_shared_queue(self, name_ptr: int, name_len: int, ret_qid: int) -> int:
        name = self._read(name_ptr, name_len)
        if name is None:
            return WasmResult.InvalidMemoryAccess
        qid = self.shared_data.register_queue(self.vm_id, name.decode("utf-8", "replace"), self,
                                              self.root_id)
        return WasmResult.Ok if self.mem.write_u32(ret_qid, qid) \
            else WasmResult.InvalidMemoryAccess

    def proxy_resolve_shared_queue(self, vm_ptr: int, vm_len: int, name_ptr: int, name_len: int,
                                   ret_qid: int) -> int:
        vm, name = self._read(vm_ptr, vm_len), self._read(name_ptr, name_len)
        if vm is None or name is None:
            return WasmResult.InvalidMemoryAccess
        vm_id = vm.decode("utf-8", "replace") or self.vm_id
        qid = self.shared_data.resolve_queue(vm_id, name.decode("utf-8", "replace"))
        if qid is None:
            return WasmResult.NotFound
        return WasmResult.Ok if self.mem.write_u32(ret_qid, qid) \
            else WasmResult.InvalidMemoryAccess

    def proxy_enqueue_shared_queue(self, qid: int, val_ptr: int, val_len: int) -> int:
        value = self._read(val_ptr, val_len)
        if value is None:
            return WasmResult.InvalidMemoryAccess
        return self.shared_data.enqueue(qid, value)

    def proxy_dequeue_shared_queue(self, qid: int, ret_ptr: int, ret_len: int) -> int:
        result, value = self.shared_data.dequeue(qid)
        if result != WasmResult.Ok:
            return result
        return self.mem.copy_out(value, ret_ptr, ret_len)

    # --- metrics (§5.5) ---
    def proxy_define_metric(self, metric_type: int, name_ptr: int, name_len: int,
                            ret_id: int) -> int:
        name = self._read(name_ptr, name_len)
        if name is None:
            return WasmResult.InvalidMemoryAccess
        result, mid = self.metric_ids.define(metric_type, name.decode("utf-8", "replace"))
        if result == WasmResult.Ok and not self.mem.write_u32(ret_id, mid):
            return WasmResult.InvalidMemoryAccess
        return result

    def proxy_increment_metric(self, metric_id: int, delta: int) -> int:
        return self.metric_ids.increment(metric_id, delta)

    def proxy_record_metric(self, metric_id: int, value: int) -> int:
        return self.metric_ids.record(metric_id, value)

    def proxy_get_metric(self, metric_id: int, ret_ptr: int) -> int:
        result, value = self.metric_ids.get(metric_id)
        if result == WasmResult.Ok and not self.mem.write_u64(ret_ptr, value):
            return WasmResult.InvalidMemoryAccess
        return result

    # --- contexts and foreign functions ---
    def proxy_set_effective_context(self, ctx_id: int) -> int:
        if ctx_id != self.root_id and ctx_id not in self.streams:
            return WasmResult.BadArgument
        self.effective = ctx_id
        return WasmResult.Ok

    def proxy_done(self) -> int:
        if self.effective == self.root_id and self.root.done_pending:
            self.root.done_pending = False
            self.root.deleted = True
            self.call(self.root_id, "proxy_on_delete", self.root_id)
            return WasmResult.Ok
        return WasmResult.NotFound

    def register_foreign_function(self, name: str, fn: Callable[[bytes], bytes | None]) -> None:
        self.foreign_functions[name] = fn

    def proxy_call_foreign_function(self, name_ptr: int, name_len: int, args_ptr: int,
                                    args_len: int, ret_ptr: int, ret_len: int) -> int:
        name_b, args = self._read(name_ptr, name_len), self._read(args_ptr, args_len)
        if name_b is None or args is None:
            return WasmResult.InvalidMemoryAccess
        name = name_b.decode("utf-8", "replace")
        if name == "clear_route_cache" and name not in self.foreign_functions:
            stream = self._stream()
            if stream is not None:
                stream.route_cache_clears += 1
                stream.clear_route_cache()
            return WasmResult.Ok
        fn = self.foreign_functions.get(name)
        if fn is None:
            return WasmResult.NotFound
        out = fn(args)
        if isinstance(out, WasmResult):
            return out
        if out and ret_ptr and ret_len:
            return self.mem.copy_out(bytes(out), ret_ptr, ret_len)
        if ret_ptr and ret_len:
            return self.mem.copy_out(b"", ret_ptr, ret_len)
        return WasmResult.Ok


class _BadMemory(Exception):
    pass


def _trap_text(exc: BaseException) -> str:
    if isinstance(exc, wasmtime.Trap | wasmtime.WasmtimeError):
        return str(exc).strip()
    return f"{type(exc).__name__}: {exc}"
