"""Proxy-Wasm ABI 0.2.1 constants, signatures and the header-pair serialization (§3, §4.2)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from enum import IntEnum


class WasmResult(IntEnum):
    Ok = 0
    NotFound = 1
    BadArgument = 2
    SerializationFailure = 3
    ParseFailure = 4
    BadExpression = 5
    InvalidMemoryAccess = 6
    Empty = 7
    CasMismatch = 8
    ResultMismatch = 9
    InternalFailure = 10
    BrokenConnection = 11
    Unimplemented = 12


class MapType(IntEnum):
    HTTP_REQUEST_HEADERS = 0
    HTTP_REQUEST_TRAILERS = 1
    HTTP_RESPONSE_HEADERS = 2
    HTTP_RESPONSE_TRAILERS = 3
    GRPC_RECEIVE_INITIAL_METADATA = 4
    GRPC_RECEIVE_TRAILING_METADATA = 5
    HTTP_CALL_RESPONSE_HEADERS = 6
    HTTP_CALL_RESPONSE_TRAILERS = 7


class BufferType(IntEnum):
    HTTP_REQUEST_BODY = 0
    HTTP_RESPONSE_BODY = 1
    DOWNSTREAM_DATA = 2
    UPSTREAM_DATA = 3
    HTTP_CALL_RESPONSE_BODY = 4
    GRPC_RECEIVE_BUFFER = 5
    VM_CONFIGURATION = 6
    PLUGIN_CONFIGURATION = 7
    FOREIGN_FUNCTION_ARGUMENTS = 8


class StreamType(IntEnum):
    HTTP_REQUEST = 0
    HTTP_RESPONSE = 1
    DOWNSTREAM = 2
    UPSTREAM = 3


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    CRITICAL = 5


class MetricType(IntEnum):
    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


LOG_LEVEL_NAMES = ("trace", "debug", "info", "warn", "error", "critical")

# Envoy's FilterHeadersStatus / FilterDataStatus / FilterTrailersStatus numbers (§3.2).
HEADERS_CONTINUE = 0
HEADERS_STOP_ITERATION = 1
HEADERS_STOP_ALL_BUFFER = 3
HEADERS_STOP_ALL_WATERMARK = 4
DATA_CONTINUE = 0
DATA_STOP_BUFFER = 1
DATA_STOP_WATERMARK = 2
DATA_STOP_NO_BUFFER = 3

ABI_VERSION_EXPORTS = ("proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0")
UNSUPPORTED_ABI_EXPORTS = ("proxy_abi_version_0_1_0",)

# --- wasm signatures -------------------------------------------------------------------------
# "i" = i32, "I" = i64. (params, results)

I = "i"  # noqa: E741

HOST_FUNCTIONS: dict[str, tuple[str, str]] = {
    "proxy_log": ("iii", "i"),
    "proxy_get_log_level": ("i", "i"),
    "proxy_get_current_time_nanoseconds": ("i", "i"),
    "proxy_set_tick_period_milliseconds": ("i", "i"),
    "proxy_get_property": ("iiii", "i"),
    "proxy_set_property": ("iiii", "i"),
    "proxy_get_buffer_bytes": ("iiiii", "i"),
    "proxy_get_buffer_status": ("iii", "i"),
    "proxy_set_buffer_bytes": ("iiiii", "i"),
    "proxy_get_header_map_pairs": ("iii", "i"),
    "proxy_set_header_map_pairs": ("iii", "i"),
    "proxy_get_header_map_value": ("iiiii", "i"),
    "proxy_add_header_map_value": ("iiiii", "i"),
    "proxy_replace_header_map_value": ("iiiii", "i"),
    "proxy_remove_header_map_value": ("iii", "i"),
    "proxy_get_header_map_size": ("ii", "i"),
    "proxy_continue_stream": ("i", "i"),
    "proxy_close_stream": ("i", "i"),
    "proxy_send_local_response": ("iiiiiiii", "i"),
    "proxy_http_call": ("iiiiiiiiii", "i"),
    "proxy_grpc_call": ("iiiiiiiiiiii", "i"),
    "proxy_grpc_stream": ("iiiiiiiii", "i"),
    "proxy_grpc_send": ("iiii", "i"),
    "proxy_grpc_cancel": ("i", "i"),
    "proxy_grpc_close": ("i", "i"),
    "proxy_get_status": ("iii", "i"),
    "proxy_get_shared_data": ("iiiii", "i"),
    "proxy_set_shared_data": ("iiiii", "i"),
    "proxy_register_shared_queue": ("iii", "i"),
    "proxy_resolve_shared_queue": ("iiiii", "i"),
    "proxy_enqueue_shared_queue": ("iii", "i"),
    "proxy_dequeue_shared_queue": ("iii", "i"),
    "proxy_define_metric": ("iiii", "i"),
    "proxy_increment_metric": ("iI", "i"),
    "proxy_record_metric": ("iI", "i"),
    "proxy_get_metric": ("ii", "i"),
    "proxy_set_effective_context": ("i", "i"),
    "proxy_done": ("", "i"),
    "proxy_call_foreign_function": ("iiiiii", "i"),
    # Envoy-only
    "envoy_resolve_dns": ("iii", "i"),
}

# WASI functions Envoy registers, in both wasi_snapshot_preview1 and wasi_unstable.
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
WASI_FUNCTIONS: dict[str, tuple[str, str]] = {
    "fd_write": ("iiii", "i"),
    "fd_read": ("iiii", "i"),
    "fd_seek": ("iIii", "i"),
    "fd_close": ("i", "i"),
    "fd_fdstat_get": ("ii", "i"),
    "fd_fdstat_set_flags": ("ii", "i"),
    "fd_prestat_get": ("ii", "i"),
    "fd_prestat_dir_name": ("iii", "i"),
    "path_open": ("iiiiiIIii", "i"),
    "path_filestat_get": ("iiiii", "i"),
    "environ_get": ("ii", "i"),
    "environ_sizes_get": ("ii", "i"),
    "args_get": ("ii", "i"),
    "args_sizes_get": ("ii", "i"),
    "clock_time_get": ("iIi", "i"),
    "random_get": ("ii", "i"),
    "sched_yield": ("", "i"),
    "poll_oneoff": ("iiii", "i"),
    "proc_exit": ("i", ""),
}

# Host calls allowed while the VM runs in restricted mode (start-up hooks, the allocator).
RESTRICTED_ALLOWED = frozenset({"proxy_log"})

# Exported callbacks: name -> (number of i32 params, number of i32 results).
CALLBACKS: dict[str, tuple[int, int]] = {
    "proxy_on_context_create": (2, 0),
    "proxy_on_vm_start": (2, 1),
    "proxy_on_configure": (2, 1),
    "proxy_validate_configuration": (2, 1),
    "proxy_on_tick": (1, 0),
    "proxy_on_request_headers": (3, 1),
    "proxy_on_request_body": (3, 1),
    "proxy_on_request_trailers": (2, 1),
    "proxy_on_request_metadata": (2, 1),
    "proxy_on_response_headers": (3, 1),
    "proxy_on_response_body": (3, 1),
    "proxy_on_response_trailers": (2, 1),
    "proxy_on_response_metadata": (2, 1),
    "proxy_on_new_connection": (1, 1),
    "proxy_on_downstream_data": (3, 1),
    "proxy_on_upstream_data": (3, 1),
    "proxy_on_downstream_connection_close": (2, 0),
    "proxy_on_upstream_connection_close": (2, 0),
    "proxy_on_http_call_response": (5, 0),
    "proxy_on_grpc_receive_initial_metadata": (3, 0),
    "proxy_on_grpc_receive": (3, 0),
    "proxy_on_grpc_receive_trailing_metadata": (3, 0),
    "proxy_on_grpc_close": (3, 0),
    "proxy_on_queue_ready": (2, 0),
    "proxy_on_foreign_function": (3, 0),
    "proxy_on_done": (1, 1),
    "proxy_on_log": (1, 0),
    "proxy_on_delete": (1, 0),
    "envoy_on_resolve_dns": (3, 0),
    "envoy_on_stats_update": (2, 0),
    # start-up hooks
    "_initialize": (0, 0),
    "_start": (0, 0),
    "main": (2, 1),
    "__main_void": (0, 1),
    # allocators
    "malloc": (1, 1),
    "proxy_on_memory_allocate": (1, 1),
}

# --- header pairs (§4.2) ---------------------------------------------------------------------

Pairs = list[tuple[bytes, bytes]]

MAX_PAIRS_BYTES = 1 << 20
MAX_PAIRS = 1024


def serialize_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """u32 N, N x (u32 klen, u32 vlen), then N x (key NUL value NUL)."""
    pairs = list(pairs)
    if not pairs:
        return b""
    sizes = bytearray(struct.pack("<I", len(pairs)))
    data = bytearray()
    for k, v in pairs:
        sizes += struct.pack("<II", len(k), len(v))
        data += k
        data += b"\0"
        data += v
        data += b"\0"
    return bytes(sizes + data)


def deserialize_pairs(buf: bytes) -> Pairs | None:
    """Parse a serialized pair list; ``None`` where Envoy's ``toPairs`` rejects the buffer.

    An empty buffer is an empty map. Envoy then uses an empty map for rejected buffers,
    which callers model by treating ``None`` as ``[]``.
    """
    n_buf = len(buf)
    if n_buf == 0:
        return []
    if n_buf > MAX_PAIRS_BYTES or n_buf < 4:
        return None
    (n,) = struct.unpack_from("<I", buf, 0)
    if n > MAX_PAIRS:
        return None
    pos = 4 + 8 * n
    if pos > n_buf:
        return None
    out: Pairs = []
    for i in range(n):
        klen, vlen = struct.unpack_from("<II", buf, 4 + 8 * i)
        kend = pos + klen
        vend = kend + 1 + vlen
        if vend + 1 > n_buf or buf[kend] != 0 or buf[vend] != 0:
            return None
        out.append((bytes(buf[pos:kend]), bytes(buf[kend + 1 : vend])))
        pos = vend + 1
    if pos != n_buf:
        return None
    return out
