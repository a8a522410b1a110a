"""Streaming (SSE) through real Envoy: nothing buffered, lost, duplicated or broken."""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import ALICE, DAVE, chat, httpx

pytestmark = pytest.mark.envoy

CASES = [(ALICE, "gpt-4o", "gpt4o"), (DAVE, "llama-3.1-8b-instruct", "local")]
IDS = ["gpt4o", "local"]
QUESTION = "tell me something long enough to span several chunks"


def sse_events(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE body; every event must be exactly `data: ...`."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-200:]
    events = text[:-2].split("\n\n")
    payloads = []
    for event in events:
        assert event.startswith("data: ") and "\n" not in event, event
        payloads.append(event[len("data: ") :])
    return payloads


def normalised(payloads: list[str]) -> list[object]:
    """Chunks without the per-response `id` and `created`."""
    out: list[object] = []
    for p in payloads:
        if p == "[DONE]":
            out.append(p)
            continue
        chunk = json.loads(p)
        chunk.pop("id")
        chunk.pop("created")
        out.append(chunk)
    return out


@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize(("key", "model", "backend"), CASES, ids=IDS)
def test_sdk_stream_matches_the_plain_answer(qs, sdk, key, model, backend, include_usage):
    client = sdk(key)
    plain = client.chat.completions.create(model=model, messages=chat(QUESTION))
    expected = plain.choices[0].message.content
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(model=model, messages=chat(QUESTION), stream=True, **options)
    )
    assert len(chunks) >= 4
    assert len({c.id for c in chunks}) == 1
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == expected
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    usage = [c.usage for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage) == 1 and chunks[-1].usage is not None and chunks[-1].choices == []
        assert usage[0].total_tokens == plain.usage.total_tokens
    else:
        assert usage == []
    assert qs.mock[backend].last.json["stream"] is True


@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize(("key", "model", "backend"), CASES, ids=IDS)
def test_raw_sse_is_what_the_backend_sent(qs, key, model, backend, include_usage):
    body = {"model": model, "messages": chat(QUESTION), "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    with httpx.Client() as client:
        r = client.post(
            qs.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-served-by"] == "aipol"
        through_envoy = sse_events(r.content)
        # The very request the backend got, sent to it directly: the same events.
        received = qs.mock[backend].last
        direct = client.post(
            qs.mock[backend].url + received.path,
            content=received.body,
            headers={"content-type": "application/json"},
        )
        direct_events = sse_events(direct.content)
    assert through_envoy[-1] == "[DONE]" and through_envoy.count("[DONE]") == 1
    assert normalised(through_envoy) == normalised(direct_events)
    assert len(through_envoy) == len(direct_events)


def test_chunks_arrive_as_they_are_produced(qs):
    """With the backend pausing 60 ms before each chunk, the first chunk reaches
    the client long before the last: Envoy and the filter do not buffer."""
    body = {"model": "gpt-4o", "messages": chat("one two three four five six"), "stream": True}
    headers = {"authorization": f"Bearer {ALICE}", "x-mock-delay-ms": "60"}
    arrivals: list[float] = []
    start = time.monotonic()
    with (
        httpx.Client() as client,
        client.stream("POST", qs.url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) >= 8
    assert arrivals[-1] - arrivals[0] > 0.3, arrivals
