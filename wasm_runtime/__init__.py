"""aipol.wasm_runtime: a proxy-wasm ABI 0.2.1 host on wasmtime that emulates Envoy 1.40.

``Harness`` is the high-level test API; ``Host`` is the ABI-level host it drives.
"""

from .abi import BufferType, LogLevel, MapType, MetricType, StreamType, WasmResult
from .errors import RestrictedCallback, WasmLoadError
from .harness import Harness, Result, Stream, UpstreamResponse, openai_chat_completion
from .headers import HeaderMap, Headers
from .host import Host
from .http import LocalReply, UpstreamRequest
from .metrics import Stats
from .root import Callout, Connection
from .shared import SharedData

__all__ = [
    "BufferType", "Callout", "Connection", "HeaderMap", "Headers", "Harness", "Host",
    "LocalReply", "LogLevel", "MapType", "MetricType", "RestrictedCallback", "Result",
    "SharedData", "Stats", "Stream", "StreamType", "UpstreamRequest", "UpstreamResponse",
    "WasmLoadError", "WasmResult", "openai_chat_completion",
]
