"""What Envoy 1.40's HTTP/1 codec and HCM do to a request before the filter sees it:
repeated inline headers coalesced, ``:path`` normalised (aipol's bootstrap: normalize_path,
merge_slashes), some requests answered before the filter chain exists.

Every expected value below was observed on stock Envoy 1.40 (a Lua filter dumping the
header map it sees, HCM with normalize_path and merge_slashes), see downstream.py.
"""

import pytest
from aipol.wasm_runtime import UpstreamResponse
from aipol.wasm_runtime.downstream import (
    INLINE_REQUEST_HEADERS,
    INLINE_RESPONSE_HEADERS,
    Rejection,
    canonical_path,
    check_request_target,
    coalesce,
    merge_slashes,
    normalize_request_path,
)


def log_lines(r, prefix):
    return [m for _, m in r.logs if m.startswith(prefix)]


def b(pairs):
    return [(k.encode(), v.encode()) for k, v in pairs]


# ----------------------------------------------------------------------- coalescing --
def test_repeated_inline_request_headers_are_comma_joined():
    got = coalesce(
        b(
            [
                ("authorization", "Bearer a"),
                ("Authorization", "Bearer b"),
                ("content-type", "application/json"),
                ("content-type", "application/json"),
                ("x-api-key", "k1"),
                ("x-api-key", "k2"),
                ("cookie", "a=1"),  # not inline in Envoy 1.40: two entries
                ("cookie", "b=2"),
                ("accept", "x"),
                ("accept", "y"),
                ("user-agent", "u1"),
                ("user-agent", "u2"),
            ]
        )
    )
    assert got == b(
        [
            ("authorization", "Bearer a,Bearer b"),
            ("content-type", "application/json,application/json"),
            ("x-api-key", "k1"),
            ("x-api-key", "k2"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("accept", "x,y"),
            ("user-agent", "u1,u2"),
        ]
    )


def test_empty_values_add_no_delimiter():
    # HeaderMapImpl::appendToHeader: an empty value appends nothing; an empty first
    # value gets the next one without a comma
    got = coalesce(
        b(
            [
                ("authorization", ""),
                ("authorization", "Bearer b"),
                ("accept", "x"),
                ("accept", ""),
                ("accept", "z"),
            ]
        )
    )
    assert got == b([("authorization", "Bearer b"), ("accept", "x,z")])


def test_host_is_the_legacy_authority():
    assert coalesce(b([("host", "a"), ("host", "b")])) == b([(":authority", "a,b")])
    assert coalesce(b([("host", "a"), ("host", "a")])) == b([(":authority", "a,a")])


def test_repeated_inline_response_headers():
    got = coalesce(
        b(
            [
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-type", "text/plain"),
                ("vary", "a"),
                ("vary", "b"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("cache-control", "no-cache"),
                ("cache-control", "no-store"),
                ("x-custom", "1"),
                ("x-custom", "2"),
            ]
        ),
        response=True,
    )
    assert got == b(
        [
            (":status", "200"),
            ("content-type", "application/json,text/plain"),
            ("vary", "a,b"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("cache-control", "no-cache,no-store"),
            ("x-custom", "1"),
            ("x-custom", "2"),
        ]
    )


def test_inline_sets_include_envoys_builtin_ones():
    # INLINE_REQ_HEADERS / INLINE_REQ_RESP_HEADERS / INLINE_RESP_HEADERS of header_map.h
    for name in (b"x-forwarded-for", b"x-request-id", b"content-length", b"te", b"via"):
        assert name in INLINE_REQUEST_HEADERS
    for name in (b"date", b"server", b"location", b"content-type", b"grpc-status"):
        assert name in INLINE_RESPONSE_HEADERS
    for name in (b"cookie", b"x-api-key", b"api-key", b"host"):
        assert name not in INLINE_REQUEST_HEADERS
    assert b"set-cookie" not in INLINE_RESPONSE_HEADERS
    assert b"authorization" not in INLINE_RESPONSE_HEADERS


# -------------------------------------------------------------------- normalisation --
ENVOY_PATHS = [
    ("/v1//chat/completions", "/v1/chat/completions"),
    ("/v1/x/../chat/./completions", "/v1/chat/completions"),
    ("/v1/chat/%63ompletions", "/v1/chat/completions"),
    ("/../x", "/x"),
    ("/a/../../x", "/x"),
    ("/..", "/"),
    ("/.", "/"),
    ("/./", "/"),
    ("//", "//"),  # mergeSlashes keeps a leading and a trailing slash
    ("///", "//"),
    ("/a//", "/a/"),
    ("//a", "/a"),
    ("/a/%2e%2E/b", "/b"),
    ("/a/.%2e/b", "/b"),
    ("/a%2eb", "/a.b"),
    ("/a/b/%2e", "/a/b/"),
    ("/a/b/%2e%2e", "/a/"),
    ("/a/%2F/b", "/a/%2F/b"),  # escaped slashes: KEEP_UNCHANGED
    ("/a/%2f%5C", "/a/%2f%5C"),
    ("/a\\b", "/a/b"),
    ("/a/..\\b", "/b"),
    ("/%zz", "/%zz"),  # invalid escapes pass through
    ("/%", "/%"),
    ("/%4", "/%4"),
    ("/%%30%30", "/%2500"),  # nested escapes
    ("/a/..;x/b", "/b"),  # strip_dotdot_segments_with_parameters
    ("/a/.;x/b", "/a/b"),
    ("/a?x=../y//z%63", "/a?x=../y//z%63"),  # the query is left alone
    ("/a/b/..?q", "/a/?q"),
    ("/%7e%41%5f%2d", "/~A_-"),
    ("/%7C|", "/%7C%7C"),
    ('/a"b', "/a%22b"),
    ("/a<b>", "/a%3Cb%3E"),
    ("/a{b}", "/a%7Bb%7D"),
    ("/a^b`", "/a%5Eb%60"),
    ("/a'b", "/a'b"),
    ("/a;b=c", "/a;b=c"),
    ("/%20", "/%20"),
    ("/%C3%A9", "/%C3%A9"),
    ("/%c3", "/%c3"),
    ("/a/./../b/", "/b/"),
]


@pytest.mark.parametrize(("raw", "normalized"), ENVOY_PATHS)
def test_path_normalisation_like_envoy(raw, normalized):
    assert normalize_request_path(raw.encode()) == normalized.encode()


@pytest.mark.parametrize("raw", ["/%00", "/a/%00/../b", "/a#frag", "/a?b#c", "#"])
def test_paths_envoy_refuses(raw):
    got = normalize_request_path(raw.encode())
    assert got == Rejection(400, "path_normalization_failed", b"")


def test_fragment_refused_even_without_normalisation():
    got = normalize_request_path(b"/a#x", normalize_path=False, merge_slashes_=False)
    assert isinstance(got, Rejection)


def test_each_step_on_its_own():
    assert canonical_path(b"/a//b/../c") == b"/a//c"
    assert merge_slashes(b"/a//b/../c//") == b"/a/b/../c/"
    assert merge_slashes(b"/a?b//c") == b"/a?b//c"
    raw = b"/a//b/./c"
    assert normalize_request_path(raw, normalize_path=False, merge_slashes_=False) == raw
    assert normalize_request_path(raw, normalize_path=False) == b"/a/b/./c"
    assert normalize_request_path(raw, merge_slashes_=False) == b"/a//b/c"


@pytest.mark.parametrize(
    ("raw", "details"),
    [
        (b"/a\x01b", "http1.invalid_characters"),
        (b"/a\x7fb", "http1.invalid_characters"),
        (b"/a\tb", "http1.codec_error"),
        (b"/a b", "http1.codec_error"),
        (b"/\xc3\xa9", "http1.codec_error"),
    ],
)
def test_request_target_refused_by_the_codec(raw, details):
    assert check_request_target(raw) == Rejection(400, details, b"Bad Request")


def test_visible_ascii_passes_the_codec():
    assert check_request_target(bytes(range(0x21, 0x7F))) is None


# ---------------------------------------------------------------- through the harness --
def test_filter_sees_coalesced_request_headers(probe):
    r = probe.request(
        "GET",
        "/x",
        headers=[
            ("authorization", "Bearer a"),
            ("authorization", "Bearer b"),
            ("x-api-key", "k1"),
            ("x-api-key", "k2"),
        ],
    )
    (line,) = log_lines(r, "rh ctx")
    # :authority :path :method :scheme authorization x-api-key x2 x-forwarded-proto x-request-id
    assert " n=9 " in line
    assert r.upstream_headers.get_all("authorization") == ["Bearer a,Bearer b"]
    assert r.upstream_headers.get_all("x-api-key") == ["k1", "k2"]


def test_repeated_host_becomes_one_authority(probe):
    r = probe.request("GET", "/x", headers=[("host", "a"), ("host", "b")])
    assert r.upstream.authority == "a,b"
    assert "host" not in r.upstream_headers


def test_coalescing_can_be_turned_off(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, coalesce_inline_headers=False)
    r = h.request("GET", "/x", headers=[("authorization", "a"), ("authorization", "b")])
    assert r.upstream_headers.get_all("authorization") == ["a", "b"]


def test_filter_sees_coalesced_upstream_response_headers(probe):
    up = UpstreamResponse(
        200,
        [
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
        b"{}",
    )
    r = probe.request("GET", "/x", upstream=up)
    (line,) = log_lines(r, "resph ")
    assert "ct=application/json,text/plain" in line
    assert r.headers.get_all("set-cookie") == ["a=1", "b=2"]


def test_filter_sees_the_normalised_path(probe):
    r = probe.request("GET", "/v1//x/../chat/%63ompletions?q=/../%63")
    (line,) = log_lines(r, "log path")
    assert line.startswith("log path r=0 v=/v1/chat/completions?q=/../%63 ")
    assert r.upstream.path == "/v1/chat/completions?q=/../%63"


def test_normalisation_can_be_turned_off(harness_factory, probe_wasm):
    h = harness_factory(probe_wasm, normalize_path=False, merge_slashes=False)
    r = h.request("GET", "/v1//x/../c")
    assert r.upstream.path == "/v1//x/../c"
    h = harness_factory(probe_wasm, normalize_path=False)
    assert h.request("GET", "/v1//x/../c").upstream.path == "/v1/x/../c"


@pytest.mark.parametrize(
    ("path", "details", "body"),
    [
        ("/v1/chat/completions%00", "path_normalization_failed", b""),
        ("/v1/chat/completions#top", "path_normalization_failed", b""),
        ("/v1/chat/\x7fcompletions", "http1.invalid_characters", b"Bad Request"),
        ("/v1/caf\u00e9", "http1.codec_error", b"Bad Request"),
    ],
)
def test_refused_requests_never_reach_the_filter(probe, path, details, body):
    before = dict(probe.stats.snapshot())
    r = probe.request("POST", path, headers={"authorization": "Bearer a"}, body={"x": 1})
    assert r.status == 400 and r.body == body
    assert r.local_reply is not None and r.local_reply.source == "envoy"
    assert r.response_code_details == details
    assert not r.reached_upstream
    assert r.logs == [] and r.metrics == {}  # no callback at all, not even proxy_on_log
    assert dict(probe.stats.snapshot()) == before
    assert not probe.host.streams
    # the next request is served normally
    assert probe.request("GET", "/ok").status == 200
