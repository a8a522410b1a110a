"""DLP and deny lists on streamed chat completions (SSE), in the harness:
what the client sees of the upstream's event stream, however it is cut."""

from __future__ import annotations

import json
import re

import pytest
from aipol.wasm_runtime import UpstreamResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dlp_response import ALICE, CARD, CHAT, EMBED, ask, build, completion, contents

HEADERS = {"authorization": f"Bearer {ALICE}", "content-type": "application/json"}
EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dlp_stream"))[0]


def chunk(choices: list, usage=None, **extra) -> dict:
    doc = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o",
        "system_fingerprint": "fp_x",
        "choices": choices,
        **extra,
    }
    if usage is not None:
        doc["usage"] = usage
    return doc


def delta(content=None, index=0, finish=None, role=None) -> dict:
    d = {}
    if role:
        d["role"] = role
    if content is not None:
        d["content"] = content
    return {"index": index, "delta": d, "logprobs": None, "finish_reason": finish}


def stream_events(pieces: list[str], n: int = 1, usage: bool = False) -> list[dict]:
    evs = [chunk([delta("", i, role="assistant") for i in range(n)])]
    for p in pieces:
        evs.append(chunk([delta(p, i) for i in range(n)]))
    evs.append(chunk([delta(None, i, finish="stop") for i in range(n)]))
    if usage:
        evs.append(chunk([], {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}))
    return evs


def raw_stream(events: list[dict], done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def sse(raw: bytes, cuts: list[int] | None = None) -> UpstreamResponse:
    cuts = sorted(set(c for c in (cuts or []) if 0 < c < len(raw)))
    parts, at = [], 0
    for c in cuts + [len(raw)]:
        parts.append(raw[at:c])
        at = c
    return UpstreamResponse(200, {"content-type": "text/event-stream"}, parts)


def parse(body: bytes) -> list:
    """Every event of the client's body: well-formed `data: ...` + blank line."""
    text = body.decode()
    assert text.endswith("\n\n"), text[-200:]
    out = []
    for ev in text[:-2].split("\n\n"):
        assert ev.startswith("data: ") and "\n" not in ev, ev
        payload = ev[6:]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def texts(events: list, n: int = 1) -> list[str]:
    got = [""] * n
    for e in events:
        if isinstance(e, dict):
            for c in e.get("choices", []):
                got[c["index"]] += c["delta"].get("content") or ""
    return got


def stream(h, upstream, path=CHAT, **body):
    return ask(h, upstream, path=path, stream=True, **body)


def plain_redaction(h, text: str) -> str:
    return contents(ask(h, UpstreamResponse.json(completion(text))))[0]


def test_a_streaming_request_now_reaches_the_upstream(h) -> None:
    r = stream(h, sse(raw_stream(stream_events(["hello"]))))
    assert r.status == 200 and r.reached_upstream
    assert r.upstream_json()["stream"] is True


@pytest.mark.parametrize(
    "pieces",
    [
        ["mail bob@exa", "mple.com now"],
        ["mail ", "b", "o", "b", "@", "example", ".", "com", " now"],
        ["mail bob@example.com now"],
        ["mail bob@example.com"],  # ends the stream: flushed at finish_reason
    ],
    ids=["two-deltas", "char-deltas", "one-delta", "at-the-end"],
)
def test_an_email_straddling_deltas_is_redacted(h, pieces) -> None:
    raw = raw_stream(stream_events(pieces))
    r = stream(h, sse(raw))
    assert r.status == 200
    events = parse(r.body)
    assert events[-1] == "[DONE]"
    text = texts(events)[0]
    assert "bob@example.com" not in r.body.decode()
    assert text == plain_redaction(h, "".join(pieces))
    assert "[REDACTED:EMAIL]" in text
    assert r.metrics.get("aipol.dlp.r0.response.email.redact") == 1


def test_every_byte_split_of_the_stream_gives_the_same_answer(h) -> None:
    pieces = ["Reach ", "ali", "ce@exam", "ple.org or card 4111 1111 ",
              "1111 1111, ok \u00e9t\u00e9"]
    raw = raw_stream(stream_events(pieces, usage=True))
    expected = plain_redaction(h, "".join(pieces))
    for cut in range(1, len(raw)):
        r = stream(h, sse(raw, [cut]))
        events = parse(r.body)
        assert texts(events)[0] == expected, cut
        assert events[-1] == "[DONE]"


def test_other_fields_and_the_usage_chunk_are_kept(h) -> None:
    raw = raw_stream(stream_events(["hi ", "bob@example.com", " bye"], usage=True))
    events = parse(stream(h, sse(raw)).body)
    chunks = [e for e in events if isinstance(e, dict)]
    assert {(c["id"], c["model"], c["created"], c["object"]) for c in chunks} == {
        ("chatcmpl-s", "gpt-4o", 1700000000, "chat.completion.chunk")
    }
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes.count("stop") == 1 and finishes[-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 8
    assert texts(events) == ["hi [REDACTED:EMAIL] bye"]


def test_untouched_events_pass_byte_for_byte(h) -> None:
    raw = b": keep-alive\n\n" + raw_stream([chunk([delta("", role="assistant")])])
    raw += b'data: {"error": {"message": "x"}}\n\n'
    r = stream(h, sse(raw))
    assert r.body.startswith(b": keep-alive\n\n")
    assert r.body.endswith(b'data: {"error": {"message": "x"}}\n\n')


def test_crlf_and_multi_line_data_are_understood(h) -> None:
    events = stream_events(["a bob@exa", "mple.com b"])
    raw = b"".join(
        b"data: " + json.dumps(e, indent=1).replace("\n", "\r\ndata: ").encode() + b"\r\n\r\n"
        for e in events
    ) + b"data: [DONE]\r\n\r\n"
    body = stream(h, sse(raw, list(range(0, len(raw), 7)))).body
    # Rewritten events come out as one `data:` line; [DONE] passes as it came.
    assert body.endswith(b"data: [DONE]\r\n\r\n")
    events_out = parse(body.replace(b"\r\n", b"\n"))
    assert texts(events_out) == ["a [REDACTED:EMAIL] b"]
    assert events_out[-1] == "[DONE]"


def test_two_choices_have_their_own_windows(h) -> None:
    evs = [chunk([delta("", 0, role="assistant"), delta("", 1, role="assistant")])]
    evs.append(chunk([delta("x bob@ex", 0)]))
    evs.append(chunk([delta("y eve@ex", 1)]))
    evs.append(chunk([delta("ample.com", 1), delta("ample.com", 0)]))
    evs.append(chunk([delta(" end", 0, finish="stop")]))
    evs.append(chunk([delta(None, 1, finish="stop")]))
    events = parse(stream(h, sse(raw_stream(evs))).body)
    assert texts(events, 2) == ["x [REDACTED:EMAIL] end", "y [REDACTED:EMAIL]"]
    assert events[-1] == "[DONE]"


def test_mask_and_hash_apply_to_streamed_values(h) -> None:
    raw = raw_stream(stream_events(["card 4111 11", "11 1111 1111 ok"]))
    events = parse(stream(h, sse(raw)).body)
    assert texts(events) == [plain_redaction(h, f"card {CARD} ok")]
    assert "**** **** **** 1111" in texts(events)[0]


@pytest.mark.parametrize(
    ("pieces", "code", "detector"),
    [
        (["fine, my ssn is 123-4", "5-6789 and more", " text after"], "dlp_blocked", "us_ssn"),
        (["about Project Night", "ingale, secret"], "content_blocked", None),
    ],
    ids=["dlp", "deny-words"],
)
def test_a_block_ends_the_stream_with_an_error_event(h, pieces, code, detector) -> None:
    r = stream(h, sse(raw_stream(stream_events(pieces))))
    assert r.status == 200
    events = parse(r.body)
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    err = events[-2]["error"]
    assert err["code"] == code
    if detector:
        assert f"`{detector}`" in err["message"]
    body = r.body.decode()
    assert "6789" not in body and "Nightingale" not in body and "text after" not in body
    assert all("error" in e or e == "[DONE]" or "choices" in e for e in events)


def test_a_stream_without_done_is_flushed_at_its_end(h) -> None:
    raw = raw_stream(stream_events(["to bob@example.com"])[:-1], done=False)
    events = parse(stream(h, sse(raw)).body)
    assert "[DONE]" not in events
    assert texts(events) == ["to [REDACTED:EMAIL]"]


def test_a_compressed_stream_is_still_refused(h) -> None:
    up = UpstreamResponse(200, {"content-type": "text/event-stream", "content-encoding": "gzip"},
                          [b"\x1f\x8b garbage"])
    r = stream(h, up)
    assert r.json()["error"]["code"] == "response_not_inspectable"


def test_a_whole_completion_in_a_stream_fails_closed(h) -> None:
    r = stream(h, UpstreamResponse.sse([completion("bob@example.com")]))
    events = parse(r.body)
    assert events[-2]["error"]["code"] == "response_not_inspectable" and events[-1] == "[DONE]"
    assert b"bob@" not in r.body


def test_routes_without_response_scanning_stream_untouched(h) -> None:
    raw = raw_stream(stream_events(["bob@example.com"]))
    r = stream(h, sse(raw, [5, 50]), path=EMBED)
    assert r.body == raw


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(["bob@example.com", "a.b-c@mail.example.co.uk", "x@y.io", "hello",
                             " ", "\u00e9\u4e2d", ", ", "\n", "\"q\"", "not@", "@x"]),
            st.text(alphabet="abc @.", max_size=6),
        ),
        max_size=14,
    ),
    delta_cuts=st.lists(st.integers(0, 200), max_size=10),
    byte_cuts=st.lists(st.integers(0, 3000), max_size=12),
)
def test_no_email_reaches_the_client_however_the_stream_is_cut(
    h, words, delta_cuts, byte_cuts
) -> None:
    text = "".join(words)
    bounds = sorted(set([0, len(text)] + [c for c in delta_cuts if c < len(text)]))
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    raw = raw_stream(stream_events(pieces, usage=True))
    r = stream(h, sse(raw, byte_cuts))
    events = parse(r.body)  # every event parses
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    got = texts(events)[0]
    assert got == plain_redaction(h, text)
    assert not EMAIL.search(got.replace("[REDACTED:EMAIL]", " "))
