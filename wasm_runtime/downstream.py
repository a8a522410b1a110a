"""What Envoy 1.40's HTTP/1 codec and HTTP connection manager do to a request (and the
codec to an upstream response) before the wasm filter sees the header map.

Two things, each matching stock Envoy 1.40 under aipol's bootstrap:

Header coalescing (``HeaderMapImpl::insertByKey``, ``source/common/http/header_map_impl.cc``):
the codec adds each received header with ``addViaMove``; a repeated *inline* (O(1)) header is
appended to the existing entry with ``,`` (``; `` for ``cookie``, which is not inline by
default), an empty repeated value is dropped (``appendToHeader`` returns early on empty
data) and a repeated header after an empty first one gets no delimiter. ``host`` is the
legacy name of ``:authority`` and coalesces into it. Other headers stay separate entries.
The inline sets are the ones Envoy 1.40 logs at startup ("HTTP header map info"): the
built-in ``INLINE_REQ_HEADERS``/``INLINE_REQ_RESP_HEADERS``/``INLINE_RESP_HEADERS`` of
``envoy/http/header_map.h`` plus the custom inline headers registered by the extensions
compiled into the stock binary (``authorization``, ``accept``, ``origin``, ...).

Path normalisation (``ConnectionManagerUtility::maybeNormalizePath``): a ``:path`` with a
``#`` is rejected (``http_reject_path_with_fragment``); with ``normalize_path`` the path part
(before ``?``) goes through ``PathUtil::canonicalPath``: ``..;x``/``.;x`` segments lose their
parameters (``strip_dotdot_segments_with_parameters``), then Chromium's
``url::CanonicalizePath`` removes dot segments (also ``%2e``; never above the root:
``/../x`` is ``/x``), turns ``\\`` into ``/``, decodes percent-encoded unreserved characters
(``%63`` -> ``c``; others, ``%2F`` included, are kept as sent), percent-encodes ``"<>^`{|}``
and fails (400 ``path_normalization_failed``) on ``%00``; with ``merge_slashes``,
``PathUtil::mergeSlashes`` then collapses repeated slashes of the path part (a path of only
slashes becomes ``//``: Envoy keeps both the leading and the trailing one). aipol's bootstrap
leaves ``path_with_escaped_slashes_action`` at its default, ``KEEP_UNCHANGED``.

Before all that the HTTP/1 codec refuses a request target with bytes outside ``0x21-0x7e``
(400 ``Bad Request``, ``http1.invalid_characters`` for control characters,
``http1.codec_error`` otherwise). Rejections happen before the filter chain is created:
the wasm filter sees nothing of such a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Envoy 1.40 (stock binary), "HTTP header map info" at startup.
INLINE_REQUEST_HEADERS: frozenset[bytes] = frozenset(
    h.encode()
    for h in (
        ":authority :method :path :protocol :scheme accept accept-encoding "
        "access-control-request-headers access-control-request-method "
        "access-control-request-private-network authentication authorization cache-control "
        "cdn-loop connection content-encoding content-length content-type expect "
        "grpc-accept-encoding grpc-timeout if-match if-modified-since if-none-match if-range "
        "if-unmodified-since keep-alive origin pragma proxy-connection proxy-status referer te "
        "transfer-encoding upgrade user-agent via x-client-trace-id x-envoy-attempt-count "
        "x-envoy-decorator-operation x-envoy-downstream-service-cluster "
        "x-envoy-downstream-service-node x-envoy-expected-rq-timeout-ms "
        "x-envoy-external-address x-envoy-force-trace x-envoy-hedge-on-per-try-timeout "
        "x-envoy-internal x-envoy-ip-tags x-envoy-is-timeout-retry x-envoy-max-retries "
        "x-envoy-original-host x-envoy-original-path x-envoy-original-url "
        "x-envoy-retriable-header-names x-envoy-retriable-status-codes x-envoy-retry-grpc-on "
        "x-envoy-retry-on x-envoy-upstream-alt-stat-name "
        "x-envoy-upstream-rq-per-try-timeout-ms x-envoy-upstream-rq-timeout-alt-response "
        "x-envoy-upstream-rq-timeout-ms x-envoy-upstream-stream-duration-ms "
        "x-forwarded-client-cert x-forwarded-for x-forwarded-host x-forwarded-port "
        "x-forwarded-proto x-request-id"
    ).split()
)
INLINE_RESPONSE_HEADERS: frozenset[bytes] = frozenset(
    h.encode()
    for h in (
        ":status access-control-allow-credentials access-control-allow-headers "
        "access-control-allow-methods access-control-allow-origin "
        "access-control-allow-private-network access-control-expose-headers "
        "access-control-max-age age cache-control connection content-encoding content-length "
        "content-type date etag expires grpc-message grpc-status keep-alive last-modified "
        "location proxy-connection proxy-status server transfer-encoding upgrade vary via "
        "x-envoy-attempt-count x-envoy-decorator-operation x-envoy-degraded "
        "x-envoy-immediate-health-check-fail x-envoy-ratelimited x-envoy-upstream-canary "
        "x-envoy-upstream-healthchecked-cluster x-envoy-upstream-service-time x-request-id"
    ).split()
)
# HeaderMapImpl's static lookup table maps the legacy `host` to `:authority`.
_LEGACY_ALIASES = {b"host": b":authority"}


def coalesce(
    pairs: Iterable[tuple[bytes, bytes]], *, response: bool = False
) -> list[tuple[bytes, bytes]]:
    """Build a header list the way Envoy's codec fills a request (or response) header map
    (``addViaMove``): repeated inline headers joined, others kept apart, order kept."""
    inline = INLINE_RESPONSE_HEADERS if response else INLINE_REQUEST_HEADERS
    out: list[tuple[bytes, bytes]] = []
    where: dict[bytes, int] = {}
    for key, value in pairs:
        key = key.lower()
        if not response:
            key = _LEGACY_ALIASES.get(key, key)
        if key not in inline:
            out.append((key, value))
            continue
        i = where.get(key)
        if i is None:
            where[key] = len(out)
            out.append((key, value))
        elif value:  # appendToHeader: nothing to append, no delimiter
            old = out[i][1]
            delimiter = b"; " if key == b"cookie" else b","
            out[i] = (key, old + delimiter + value if old else value)
    return out


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rejection:
    """Envoy answers the request itself, before any HTTP filter exists."""

    status: int
    details: str
    body: bytes


PATH_NORMALIZATION_FAILED = Rejection(400, "path_normalization_failed", b"")


def check_request_target(path: bytes) -> Rejection | None:
    """The HTTP/1 codec (balsa) accepts only visible ASCII in the request target."""
    for c in path:
        if c < 0x21 or c > 0x7E:
            control = (c < 0x20 and c != 0x09) or c == 0x7F
            return Rejection(
                400, "http1.invalid_characters" if control else "http1.codec_error", b"Bad Request"
            )
    return None


# Chromium url_canon_path.cc kPathCharLookup (Envoy's copy); flags per byte.
_SPECIAL, _ESCAPE_BIT, _UNESCAPE, _INVALID_BIT = 1, 2, 4, 8
_ESCAPE = _ESCAPE_BIT | _SPECIAL
_INVALID = _INVALID_BIT | _SPECIAL


def _path_table() -> bytes:
    table = bytearray([_ESCAPE]) * 256
    table[0] = _INVALID
    for c in b"!$&'()*+,:;=@[]":
        table[c] = 0  # PASS
    for c in b"-_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        table[c] = _UNESCAPE
    table[ord(".")] = _SPECIAL
    table[ord("/")] = 0
    # `"#%<>?\^`{|}`, space, control characters, DEL and the high half stay ESCAPE
    # ('%' and '\' are handled before the escape test).
    return bytes(table)


_TABLE = _path_table()
_HEX = b"0123456789abcdefABCDEF"
_NOT_A_DIRECTORY, _DIRECTORY_CUR, _DIRECTORY_UP = 0, 1, 2


def _is_dot(spec: bytes, i: int, end: int) -> int:
    if spec[i] == 0x2E:
        return 1
    if spec[i] == 0x25 and i + 3 <= end and spec[i + 1] == 0x32 and spec[i + 2] in b"eE":
        return 3
    return 0


def _is_slash(c: int) -> bool:
    return c in (0x2F, 0x5C)


def _classify_after_dot(spec: bytes, after: int, end: int) -> tuple[int, int]:
    if after == end:
        return _DIRECTORY_CUR, 0
    if _is_slash(spec[after]):
        return _DIRECTORY_CUR, 1
    second = _is_dot(spec, after, end)
    if second:
        after2 = after + second
        if after2 == end:
            return _DIRECTORY_UP, second
        if _is_slash(spec[after2]):
            return _DIRECTORY_UP, second + 1
    return _NOT_A_DIRECTORY, 0


def _back_up_to_previous_slash(begin: int, out: bytearray) -> None:
    i = len(out) - 1
    if i == begin:
        return
    i -= 1
    while out[i] != 0x2F and i > begin:
        i -= 1
    del out[i + 1 :]


def _decode_escaped(spec: bytes | bytearray, i: int, end: int) -> int | None:
    if i + 3 > end or spec[i + 1] not in _HEX or spec[i + 2] not in _HEX:
        return None
    return int(bytes(spec[i + 1 : i + 3]), 16)


def _check_nested_escapes(spec: bytes, next_i: int, end: int, pct: int, out: bytearray) -> None:
    length = len(out)
    last = out[-1]
    append_next = pct == length - 2
    if append_next:
        if next_i == end or spec[next_i] >= 0x80:
            return
        out.append(spec[next_i])
    if _decode_escaped(out, pct, len(out)) is not None:
        if not append_next:
            out.append(out[pct + 1])
        out[pct + 1] = 0x32
        out[pct + 2] = 0x35
        out.append(last)
    elif append_next:
        del out[length:]


def canonicalize_path(spec: bytes) -> bytes | None:
    """Chromium's ``url::CanonicalizePath`` on a path (no query); None where it fails."""
    out = bytearray()
    if not spec:
        return b"/"
    if not _is_slash(spec[0]):
        out.append(0x2F)
    begin, end, ok = 0, len(spec), True
    last_invalid_percent = -(1 << 30)
    i = 0
    while i < end:
        c = spec[i]
        flags = _TABLE[c]
        if not flags & _SPECIAL:
            out.append(c)
        elif dotlen := _is_dot(spec, i, end):
            if len(out) > begin and out[-1] == 0x2F:
                disposition, consumed = _classify_after_dot(spec, i + dotlen, end)
                if disposition == _NOT_A_DIRECTORY:
                    out.append(0x2E)
                    i += dotlen - 1
                else:
                    if disposition == _DIRECTORY_UP:
                        _back_up_to_previous_slash(begin, out)
                    i += dotlen + consumed - 1
            else:
                out.append(0x2E)
                i += dotlen - 1
        elif c == 0x5C:  # backslash
            out.append(0x2F)
        elif c == 0x25:  # '%'
            value = _decode_escaped(spec, i, end)
            if value is None:
                last_invalid_percent = len(out)
                out.append(0x25)
            else:
                i += 2
                if _TABLE[value] & _UNESCAPE:
                    out.append(value)
                    if last_invalid_percent >= len(out) - 3:
                        _check_nested_escapes(spec, i + 1, end, last_invalid_percent, out)
                else:
                    out += spec[i - 2 : i + 1]  # kept as sent, hex case included
                    if _TABLE[value] & _INVALID_BIT:
                        ok = False
        elif flags & _INVALID_BIT:
            out += b"%%%02X" % c
            ok = False
        elif flags & _ESCAPE_BIT:
            out += b"%%%02X" % c
        i += 1
    return bytes(out) if ok else None


def _strip_parameters_from_dot_segments(path: bytes) -> bytes:
    cut = min((p for p in (path.find(b"?"), path.find(b"#")) if p >= 0), default=len(path))
    head, tail = path[:cut], path[cut:]
    if b".;" not in head:
        return path
    segments = [
        b".." if s.startswith(b"..;") else b"." if s.startswith(b".;") else s
        for s in head.split(b"/")
    ]
    return b"/".join(segments) + tail


def canonical_path(path: bytes) -> bytes | None:
    """``PathUtil::canonicalPath``: the path part canonicalised, the query kept as is."""
    path = _strip_parameters_from_dot_segments(path)
    q = path.find(b"?")
    head, query = (path, b"") if q < 0 else (path[:q], path[q:])
    canonical = canonicalize_path(head)
    return None if canonical is None else canonical + query


def merge_slashes(path: bytes) -> bytes:
    """``PathUtil::mergeSlashes``: on the path part only."""
    q = path.find(b"?")
    head, query = (path, b"") if q < 0 else (path[:q], path[q:])
    if b"//" not in head:
        return path
    prefix = b"/" if head.startswith(b"/") else b""
    suffix = b"/" if head.endswith(b"/") else b""
    return prefix + b"/".join(s for s in head.split(b"/") if s) + suffix + query


def normalize_request_path(
    path: bytes, *, normalize_path: bool = True, merge_slashes_: bool = True
) -> bytes | Rejection:
    """``ConnectionManagerUtility::maybeNormalizePath`` (escaped slashes: KEEP_UNCHANGED)."""
    if b"#" in path:
        return PATH_NORMALIZATION_FAILED
    if normalize_path:
        canonical = canonical_path(path)
        if canonical is None:
            return PATH_NORMALIZATION_FAILED
        path = canonical
    if merge_slashes_:
        path = merge_slashes(path)
    return path
