"""DLP and deny lists on non-streamed responses, in the harness: what the
client sees of the upstream's chat completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import wasmtime
from aipol.compiler import pipeline, plugin_config
from aipol.wasm_runtime import Harness, UpstreamResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = Path(__file__).parent / "cases"
CHAT = "/v1/chat/completions"
BOTH = "/v2/chat/completions"  # `dlp request, response { redact phone }`
EMBED = "/v1/embeddings"  # no response scanning
ALICE = "sk-aipol-demo-alice"
HEADERS = {"authorization": f"Bearer {ALICE}", "content-type": "application/json"}
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"


def build(tmp: Path, source: str | None = None) -> tuple[Harness, Path]:
    if source is None:
        policy = pipeline.check_file(CASES / "dlp_response.aipol")
    else:
        policy = pipeline.check_source(source, "inline.aipol", CASES)
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp)
    config = plugin_config.render_plugin_config(policy).encode()
    return Harness.load(wasm, plugin_config=config, buffer_limit=8 << 20), wasm


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Harness, Path]:
    return build(tmp_path_factory.mktemp("dlp_response"))


@pytest.fixture(scope="module")
def h(built) -> Harness:
    return built[0]


def completion(*contents, **message) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": c, **message},
                "finish_reason": "stop",
            }
            for i, c in enumerate(contents)
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def ask(h: Harness, upstream, path: str = CHAT, prompt: str = "hi", **body):
    return h.request(
        "POST",
        path,
        headers=HEADERS,
        body={"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}], **body},
        upstream=upstream,
    )


def contents(r) -> list:
    return [c["message"]["content"] for c in r.json()["choices"]]


def assert_framed(r) -> None:
    """The body the client gets is complete: content-length (when present)
    matches it. The filter removes it, so Envoy re-frames the body."""
    length = r.headers.get("content-length")
    assert length is None or int(length) == len(r.body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob@example.com", "write to [REDACTED:EMAIL]"),
        (f"card {CARD} ok", "card **** **** **** 1111 ok"),
        ("card 4111 1111 1111 1112 ok", "card 4111 1111 1111 1112 ok"),  # fails Luhn
        ("host 10.1.2.3 is up", "host 10.1.2.3 is up"),  # log only
        ("nothing to see", "nothing to see"),
        ('quote "a\\b" \u00e9 bob@example.com\n', 'quote "a\\b" \u00e9 [REDACTED:EMAIL]\n'),
    ],
    ids=["email", "card-masked", "card-bad-luhn", "log-only", "clean", "escapes"],
)
def test_rewrites_before_the_client_sees_the_answer(h, text, expected) -> None:
    r = ask(h, UpstreamResponse.json(completion(text)))
    assert r.status == 200
    assert contents(r) == [expected]
    assert r.headers.get("content-length") is None  # removed: the body may change
    assert_framed(r)
    body = r.json()  # still a valid chat completion, other fields untouched
    assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assert body["choices"][0]["finish_reason"] == "stop"


def test_untouched_bodies_pass_byte_for_byte(h) -> None:
    raw = json.dumps(completion("nothing to see"), indent=2).encode()
    r = ask(h, UpstreamResponse(200, {"content-type": "application/json"}, raw))
    assert r.body == raw


def test_hash_is_a_stable_token(h) -> None:
    first = contents(ask(h, UpstreamResponse.json(completion(f"pay {IBAN}"))))[0]
    second = contents(ask(h, UpstreamResponse.json(completion(f"refund {IBAN}"))))[0]
    token = re.search(r"\[IBAN:[0-9a-f]{8}\]", first).group(0)
    assert token in second and "DE89" not in first


def test_metrics_count_by_detector_and_action_on_the_response_side(h) -> None:
    r = ask(h, UpstreamResponse.json(completion("bob@example.com from 10.0.0.1")))
    assert r.metrics.get("aipol.dlp.r0.response.email.redact") == 1
    assert r.metrics.get("aipol.dlp.r0.response.ipv4.log") == 1
    assert all("bob@" not in msg for _, msg in r.logs)


def test_the_request_side_of_a_response_only_rule_is_not_scanned(h) -> None:
    r = ask(h, UpstreamResponse.json(completion("fine")), prompt="mail bob@example.com")
    assert r.upstream_json()["messages"][0]["content"] == "mail bob@example.com"


def test_request_and_response_rules_share_one_dfa(h) -> None:
    c_source = pipeline.generate_c(pipeline.check_file(CASES / "dlp_response.aipol"))
    assert "DFA set dlp_r1:" in c_source and "DFA set dlp_r1_resp" not in c_source
    assert "dlp_r1_resp_cfg = {&dlp_r1," in c_source
    r = ask(
        h, UpstreamResponse.json(completion("call +44 20 7946 0958")), path=BOTH,
        prompt="call +44 20 7946 0958",
    )
    assert r.upstream_json()["messages"][0]["content"] == "call [REDACTED:PHONE]"
    assert contents(r) == ["call [REDACTED:PHONE]"]


@pytest.mark.parametrize(
    ("text", "code", "detector"),
    [
        ("your ssn is 123-45-6789", "dlp_blocked", "us_ssn"),
        ("about Project NIGHTINGALE: it is on", "content_blocked", "deny words"),
    ],
    ids=["dlp-block", "deny-words"],
)
def test_block_replaces_the_body_with_an_openai_error(h, text, code, detector) -> None:
    r = ask(h, UpstreamResponse.json(completion("harmless first choice", text)))
    # The status was sent with the headers, before the body could be read.
    assert r.status == 200
    assert_framed(r)
    err = r.json()["error"]
    assert err["code"] == code and f"`{detector}`" in err["message"]
    assert "123-45-6789" not in r.body.decode() and "harmless" not in r.body.decode()
    assert r.metrics.get(f"aipol.denied.{code}") == 1


def test_deny_words_are_whole_words(h) -> None:
    r = ask(h, UpstreamResponse.json(completion("kaboomerang is a word")))
    assert contents(r) == ["kaboomerang is a word"]


def test_many_choices_tool_calls_and_parts_are_all_scanned(h) -> None:
    n = 300  # more than the 64 edits of a request
    body = completion(*[f"choice {i}: c{i}@example.com" for i in range(n)])
    body["choices"][0]["message"]["tool_calls"] = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "send", "arguments": json.dumps({"to": "eve@example.org"})},
        }
    ]
    body["choices"][1]["message"]["content"] = [
        {"type": "text", "text": "part eve@example.org"},
        {"type": "text", "text": "plain"},
    ]
    r = ask(h, UpstreamResponse.json(body))
    out = r.json()
    assert "@example" not in r.body.decode()
    assert out["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "send",
        "arguments": json.dumps({"to": "[REDACTED:EMAIL]"}),
    }
    assert out["choices"][0]["message"]["tool_calls"][0]["id"] == "call_1"
    assert out["choices"][1]["message"]["content"][0]["text"] == "part [REDACTED:EMAIL]"
    assert out["choices"][n - 1]["message"]["content"] == f"choice {n - 1}: [REDACTED:EMAIL]"
    assert r.metrics.get("aipol.dlp.r0.response.email.redact") == n + 1


def test_legacy_completion_text_is_scanned(h) -> None:
    body = {"object": "text_completion", "choices": [{"index": 0, "text": "bob@example.com"}]}
    r = ask(h, UpstreamResponse.json(body))
    assert r.json()["choices"][0]["text"] == "[REDACTED:EMAIL]"


def test_a_repeated_key_is_scanned_in_every_copy(h) -> None:
    raw = (
        b'{"choices":[{"message":{"content":"a@example.com","content":"b@example.com"}}],'
        b'"choices":[{"message":{"content":"c@example.com"}}]}'
    )
    r = ask(h, UpstreamResponse(200, {"content-type": "application/json"}, raw))
    assert b"@example" not in r.body


@pytest.mark.parametrize(
    "upstream",
    [
        UpstreamResponse(500, {"content-type": "text/plain"}, b"upstream exploded bob@example.com"),
        UpstreamResponse.json(
            {"error": {"message": "bad bob@example.com", "type": "x", "code": None}}, status=400
        ),
        UpstreamResponse(200, {"content-type": "application/json"}, b'{"choices": [1, '),
    ],
    ids=["text-plain-500", "json-error", "invalid-json"],
)
def test_what_is_not_a_chat_completion_passes_unchanged(h, upstream) -> None:
    r = ask(h, upstream)
    assert r.status == upstream.status
    assert r.body == upstream.chunks()[0]
    assert r.metrics.get("aipol.response.unscanned") == 1


def test_a_streaming_request_reaches_the_upstream(h) -> None:
    # Streamed answers are scanned (tests/compiler/test_dlp_stream.py).
    r = ask(h, UpstreamResponse.json(completion("x")), stream=True)
    assert r.status == 200 and r.reached_upstream
    r = ask(h, UpstreamResponse.json(completion("x")), path=EMBED, stream=True)
    assert r.status == 200


def test_the_client_cannot_ask_for_a_compressed_answer(h) -> None:
    r = h.request(
        "POST",
        CHAT,
        headers={**HEADERS, "accept-encoding": "gzip, br"},
        body={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status == 200 and "accept-encoding" not in r.upstream_headers


@pytest.mark.parametrize(
    "upstream",
    [
        UpstreamResponse(
            200,
            {"content-type": "text/event-stream", "content-encoding": "gzip"},
            b"\x1f\x8b\x08\x00 not really gzip bob@example.com",
        ),
        UpstreamResponse(
            200,
            {"content-type": "application/json", "content-encoding": "gzip"},
            b"\x1f\x8b\x08\x00 not really gzip bob@example.com",
        ),
    ],
    ids=["compressed-event-stream", "compressed"],
)
def test_a_body_that_cannot_be_inspected_is_replaced(h, upstream) -> None:
    r = ask(h, upstream)
    assert r.headers.get("content-type") == "application/json"
    assert r.headers.get("content-encoding") is None
    assert r.json()["error"]["code"] == "response_not_inspectable"
    assert b"bob@" not in r.body


def test_a_body_in_chunks_with_trailers_is_scanned(h) -> None:
    raw = json.dumps(completion("chunked bob@example.com")).encode()
    chunks = [raw[i:i + 7] for i in range(0, len(raw), 7)]
    up = UpstreamResponse(200, {"content-type": "application/json"}, chunks)
    assert contents(ask(h, up)) == ["chunked [REDACTED:EMAIL]"]
    up = UpstreamResponse(200, {"content-type": "application/json"}, chunks, {"x-t": "1"})
    r = ask(h, up)
    assert contents(r) == ["chunked [REDACTED:EMAIL]"]


def test_routes_without_response_scanning_pass_bodies_through(h) -> None:
    raw = json.dumps(completion("bob@example.com")).encode()
    r = ask(h, UpstreamResponse(200, {"content-type": "application/json"}, raw), path=EMBED)
    assert r.body == raw and r.headers.get("content-length") == str(len(raw))


def test_the_body_callbacks_are_exported_only_when_a_route_scans_responses(
    built, tmp_path
) -> None:
    engine = wasmtime.Engine()
    scanning = {e.name for e in wasmtime.Module.from_file(engine, str(built[1])).exports}
    assert {"proxy_on_response_body", "proxy_on_response_trailers"} <= scanning
    policy = pipeline.check_file(CASES / "dlp.aipol")
    plain = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path)
    exports = {e.name for e in wasmtime.Module.from_file(engine, str(plain)).exports}
    assert "proxy_on_response_body" not in exports
    assert "proxy_on_response_trailers" not in exports


SMALL = """
gateway {
  max_body 64KiB
}
backend gpt4o {
  provider openai
  model "gpt-4o"
  url "http://127.0.0.1:8000"
}
route "/v1/chat/completions" {
  dlp response {
    redact email
  }
  default gpt4o
}
"""


def test_a_response_over_the_limit_is_replaced_fail_closed(tmp_path) -> None:
    small, _ = build(tmp_path, SMALL)
    big = completion("bob@example.com " + "x" * (70 * 1024))
    raw = json.dumps(big).encode()
    chunks = [raw[i:i + 16384] for i in range(0, len(raw), 16384)]
    up = UpstreamResponse(200, {"content-type": "application/json"}, chunks)
    r = small.request("POST", CHAT, body={"model": "gpt-4o", "messages": [{"role": "user",
                                                                          "content": "hi"}]},
                      upstream=up)
    assert r.json()["error"]["code"] == "response_too_large"
    assert "65536 bytes" in r.json()["error"]["message"]
    assert r.metrics.get("aipol.response.too_large") == 1
    # Just under the limit: scanned.
    ok = completion("bob@example.com " + "x" * (60 * 1024))
    r = small.request("POST", CHAT, body={"model": "gpt-4o", "messages": [{"role": "user",
                                                                          "content": "hi"}]},
                      upstream=UpstreamResponse.json(ok))
    assert r.json()["choices"][0]["message"]["content"].startswith("[REDACTED:EMAIL] xxx")


EMAILS = st.from_regex(r"\A[a-z]{1,8}@[a-z]{1,8}\.(com|org|net)\Z")
noise = st.text(st.characters(codec="utf-8", exclude_characters="@"), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    choices=st.lists(st.lists(st.one_of(noise, EMAILS), min_size=1, max_size=5), min_size=1,
                     max_size=4),
    ascii_only=st.booleans(),
)
def test_no_email_ever_reaches_the_client_and_the_body_parses(h, choices, ascii_only) -> None:
    texts = [" ".join(parts) for parts in choices]
    raw = json.dumps(completion(*texts), ensure_ascii=ascii_only).encode()
    r = ask(h, UpstreamResponse(200, {"content-type": "application/json"}, raw))
    assert r.status == 200
    out = contents(r)  # parses: still valid JSON
    assert len(out) == len(texts)
    for parts, got in zip(choices, out, strict=True):
        for part in parts:
            if "@" in part:
                assert part not in got
