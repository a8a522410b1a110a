"""The mock OpenAI provider, exercised with the official openai SDK."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from aipol.sidecar.mocks.openai import MockOpenAI, count_tokens

MODELS = ["gpt-4o", "text-embedding-3-small", "mock-error-503"]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockOpenAI]:
    with MockOpenAI("m1", models=MODELS) as server:
        yield server


@pytest.fixture
def client(mock: MockOpenAI) -> openai.OpenAI:
    mock.clear()
    return openai.OpenAI(base_url=mock.base_url, api_key="sk-client", max_retries=0, timeout=10)


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "ok"},
    {"role": "user", "content": "tell me a joke"},
]


def test_chat_completion(client: openai.OpenAI, mock: MockOpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers["x-mock-backend"] == "m1"
    reply = raw.parse()
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "gpt-4o"
    assert reply.created > 0
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "[m1] tell me a joke (system messages: 1)"
    assert choice.finish_reason == "stop"
    usage = reply.usage
    assert usage is not None
    assert usage.completion_tokens == count_tokens(choice.message.content)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    received = mock.last
    assert received.method == "POST" and received.path == "/v1/chat/completions"
    assert received.json["messages"] == MESSAGES
    assert received.header("authorization") == "Bearer sk-client"


def test_max_tokens_cuts_with_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=2)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream(client: openai.OpenAI, include_usage: bool) -> None:
    kwargs = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, **kwargs)
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == "[m1] tell me a joke (system messages: 1)"
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    if include_usage:
        last = chunks[-1]
        assert last.choices == [] and last.usage is not None
        assert last.usage.completion_tokens == count_tokens(text)
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert all(c.choices for c in chunks)
        assert all(c.usage is None for c in chunks)


def test_stream_wire_format(mock: MockOpenAI) -> None:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    req = urllib.request.Request(
        mock.base_url + "/chat/completions", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])
    first = json.loads(events[0].removeprefix("data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert first["usage"] is None
    usage_event = json.loads(events[-3].removeprefix("data: "))
    assert usage_event["choices"] == [] and usage_event["usage"]["total_tokens"] > 0


def test_models(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == MODELS
    assert all(m.object == "model" and m.owned_by == "m1" for m in models.data)
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_embeddings(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it.
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "bb"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8
    floats = client.embeddings.create(
        model="text-embedding-3-small", input="a", encoding_format="float", dimensions=4
    )
    assert len(floats.data[0].embedding) == 4
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    again = client.embeddings.create(model="text-embedding-3-small", input=["a", "bb"])
    assert again.data[0].embedding == result.data[0].embedding  # deterministic


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    assert info.value.response.headers["x-mock-backend"] == "m1"


def test_missing_messages_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.param == "messages"
    assert info.value.code == "missing_required_parameter"


def test_invalid_json_is_400(mock: MockOpenAI) -> None:
    req = urllib.request.Request(mock.base_url + "/chat/completions", data=b"{nope")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    error = json.loads(info.value.read())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_injected_errors_by_header(client: openai.OpenAI, status: int, exc: type) -> None:
    with pytest.raises(exc) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-mock-status": str(status)}
        )
    assert info.value.status_code == status
    if status == 429:
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.code == "rate_limit_exceeded"


def test_injected_error_by_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="mock-error-503", messages=MESSAGES)
    assert info.value.status_code == 503


def test_auth_required() -> None:
    with MockOpenAI("secure", api_key="sk-right") as secure:
        good = openai.OpenAI(base_url=secure.base_url, api_key="sk-right", max_retries=0)
        assert good.models.list().data
        bad = openai.OpenAI(base_url=secure.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.models.list()
        assert info.value.code == "invalid_api_key"
        req = urllib.request.Request(secure.base_url + "/models")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(req, timeout=10)
        assert missing.value.code == 401


def test_unknown_path_is_openai_404(mock: MockOpenAI) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(mock.url + "/v1/nope", timeout=10)
    assert info.value.code == 404
    assert json.loads(info.value.read())["error"]["message"] == "Invalid URL (GET /v1/nope)"


def test_chunked_request_body(mock: MockOpenAI) -> None:
    mock.clear()
    payload = json.dumps({"model": "gpt-4o", "messages": MESSAGES}).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    chunks = [payload[:10], payload[10:]]
    raw = head + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    with socket.create_connection((mock.host, mock.port), timeout=10) as sock:
        sock.sendall(raw)
        response = b""
        while data := sock.recv(65536):
            response += data
    assert response.startswith(b"HTTP/1.1 200")
    assert mock.last.chunked and mock.last.json["messages"] == MESSAGES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_standalone_several_listeners() -> None:
    ports = [free_port(), free_port()]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aipol.sidecar.mocks.openai",
            "--listen",
            f"a={ports[0]}",
            "--listen",
            f"b={ports[1]}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for name, port in zip("ab", ports, strict=True):
            deadline = time.monotonic() + 15
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models") as r:
                        assert r.headers["x-mock-backend"] == name
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
