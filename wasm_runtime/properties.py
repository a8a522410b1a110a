"""``proxy_get_property``: Envoy's attribute paths and value encodings (§4.3)."""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .abi import serialize_pairs

if TYPE_CHECKING:
    from .http import HttpStream

PropertyPath = tuple[str, ...]


def normalize_path(path: str | bytes | tuple[str, ...] | list[str]) -> PropertyPath:
    """``("request", "path")``, ``"request.path"`` or ``b"request\\0path"`` -> a tuple."""
    if isinstance(path, tuple | list):
        return tuple(path)
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    if "\0" in path:
        return tuple(path.rstrip("\0").split("\0"))
    return tuple(path.split("."))


def encode_value(value: Any) -> bytes:
    """Envoy's encodings: strings raw, ints int64 LE, bool 1 byte, maps/lists as pairs."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return struct.pack("<q" if value < (1 << 63) else "<Q", value)
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return struct.pack("<q", _timedelta_ns(delta))
    if isinstance(value, _dt.timedelta):
        return struct.pack("<q", _timedelta_ns(value))
    if isinstance(value, Mapping):
        return serialize_pairs((encode_value(k), encode_value(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return serialize_pairs((encode_value(v), b"") for v in value)
    raise TypeError(f"cannot encode property value {value!r}")


def _timedelta_ns(d: _dt.timedelta) -> int:
    return (d.days * 86400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


class Timestamp(int):
    """Nanoseconds since the epoch; encoded as int64 ns, like Envoy's timestamps."""


def _walk(value: Any, rest: PropertyPath) -> Any:
    for seg in rest:
        if isinstance(value, Mapping):
            if seg in value:
                value = value[seg]
            elif seg.encode() in value:
                value = value[seg.encode()]
            else:
                return None
        elif isinstance(value, list | tuple):
            if not seg.isdigit() or int(seg) >= len(value):
                return None
            value = value[int(seg)]
        else:
            return None
    return value


def resolve(
    path: PropertyPath,
    supplied: Mapping[PropertyPath, Any],
    builtins: Mapping[str, Any],
    stream: HttpStream | None,
) -> Any:
    """The value at ``path``, or None (NotFound).

    Order: values supplied by the caller (exact path, or a prefix holding a map), then the
    attributes Envoy derives (root-level ones in ``builtins``, per-stream ones from the
    stream), then the filter-state fallback ``wasm.<name>``.
    """
    if not path:
        return None
    for i in range(len(path), 0, -1):
        if path[:i] in supplied:
            return _walk(supplied[path[:i]], path[i:])
    top = path[0]
    if top in builtins:
        return _walk(builtins[top], path[1:])
    if stream is not None:
        derived = stream_attributes(stream, top)
        if derived is not None:
            return _walk(derived, path[1:])
        state = stream.filter_state.get("wasm." + top)
        if state is not None:
            return state if len(path) == 1 else None
    return None


def _joined_headers(stream_map: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in stream_map.pairs:
        ks, vs = k.decode("latin-1"), v.decode("latin-1")
        out[ks] = out[ks] + "," + vs if ks in out else vs
    return out


def stream_attributes(stream: HttpStream, top: str) -> Any:
    """The per-stream attribute groups: ``request``, ``response``, ``source`` and so on."""
    if top == "request":
        h = stream.request_headers_live
        if h is None:
            return None
        path = (h.get(b":path") or b"").decode("latin-1")
        url_path, _, query = path.partition("?")
        attrs: dict[str, Any] = {
            "path": path,
            "url_path": url_path,
            "host": (h.get(b":authority") or b"").decode("latin-1"),
            "scheme": (h.get(b":scheme") or b"").decode("latin-1"),
            "method": (h.get(b":method") or b"").decode("latin-1"),
            "headers": _joined_headers(h),
            "headers_bytes": h.byte_size(),
            "time": Timestamp(stream.start_time_ns),
            "protocol": stream.protocol,
            "query": query,
        }
        for name, header in (("id", b"x-request-id"), ("referer", b"referer"),
                             ("useragent", b"user-agent")):
            v = h.get(header)
            if v is not None:
                attrs[name] = v.decode("latin-1")
        if stream.complete_time_ns is not None:
            attrs["duration"] = stream.complete_time_ns - stream.start_time_ns
            attrs["size"] = stream.request_body_size
            attrs["total_size"] = stream.request_body_size + h.byte_size()
        return attrs
    if top == "response":
        h = stream.response_headers_live
        if h is None:
            return None
        code = h.get(b":status")
        attrs = {
            "code": int(code) if code and code.isdigit() else 0,
            "code_details": stream.response_code_details or "via_upstream",
            "flags": 0,
            "headers": _joined_headers(h),
            "headers_bytes": h.byte_size(),
            "size": len(stream.downstream_body),
            "total_size": len(stream.downstream_body) + h.byte_size(),
        }
        if stream.response_trailers_live is not None:
            attrs["trailers"] = _joined_headers(stream.response_trailers_live)
        return attrs
    conn = stream.connection
    if top == "source":
        return {"address": f"{conn.source_ip}:{conn.source_port}", "port": conn.source_port}
    if top == "destination":
        return {"address": f"{conn.destination_ip}:{conn.destination_port}",
                "port": conn.destination_port}
    if top == "connection":
        return {"id": conn.id, "mtls": False}
    if top == "connection_id":
        return conn.id
    if top == "xds" and stream.route is not None:
        return {"route_name": stream.route, "cluster_name": stream.route}
    if top == "filter_state":
        return dict(stream.filter_state)
    return None
