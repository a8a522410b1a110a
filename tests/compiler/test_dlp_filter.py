"""DLP compiled into the filter, in the harness: what reaches the provider."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aipol.compiler import pipeline, plugin_config
from aipol.wasm_runtime import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = Path(__file__).parent / "cases"
CHAT = "/v1/chat/completions"
ALICE = "sk-aipol-demo-alice"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"


@pytest.fixture(scope="module")
def h(tmp_path_factory) -> Harness:
    policy = pipeline.check_file(CASES / "dlp.aipol")
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path_factory.mktemp("dlp"))
    assert len(wasm.read_bytes()) < 512 * 1024
    return Harness.load(wasm, plugin_config=plugin_config.render_plugin_config(policy).encode())


def send(h: Harness, content, raw: bytes | None = None):
    body = (
        raw
        if raw is not None
        else json.dumps(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
        ).encode()
    )
    return h.request(
        "POST",
        CHAT,
        headers={"authorization": f"Bearer {ALICE}", "content-type": "application/json"},
        body=body,
    )


def upstream_text(r) -> str:
    content = r.upstream_json()["messages"][0]["content"]
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content)
    return content


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob@example.com now", "mail [REDACTED:EMAIL] now"),
        ("call +44 20 7946 0958 today", "call [REDACTED:PHONE] today"),
        (f"card {CARD} ok", "card **** **** **** 1111 ok"),
        ("card 4111 1111 1111 1112 ok", "card 4111 1111 1111 1112 ok"),  # fails Luhn
        ("ticket-123456 closed", "[REDACTED:TICKET] closed"),
        ("host 10.1.2.3 is up", "host 10.1.2.3 is up"),  # log only
        ("nothing to see", "nothing to see"),
    ],
    ids=["email", "phone", "card-masked", "card-bad-luhn", "custom-pattern", "log-only", "clean"],
)
def test_actions_rewrite_what_reaches_the_provider(h, text, expected) -> None:
    r = send(h, text)
    assert r.status == 200, r.body
    assert upstream_text(r) == expected


def test_hash_is_a_stable_token(h) -> None:
    first, second = send(h, f"pay {IBAN}"), send(h, f"refund {IBAN}")
    token = re.search(r"\[IBAN:[0-9a-f]{8}\]", upstream_text(first)).group(0)
    assert token in upstream_text(second)
    assert "DE89" not in upstream_text(first)


@pytest.mark.parametrize(
    "text",
    [
        "my ssn is 123-45-6789",
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu"
        "\n-----END RSA PRIVATE KEY-----",
    ],
    ids=["ssn", "private-key"],
)
def test_block_is_a_400_naming_the_detector_not_the_value(h, text) -> None:
    r = send(h, text)
    assert r.status == 400 and not r.reached_upstream
    err = r.json()["error"]
    assert err["code"] == "dlp_blocked"
    assert "123-45-6789" not in r.body.decode() and "MIIB" not in r.body.decode()
    assert "`us_ssn`" in err["message"] or "`private_key`" in err["message"]


def test_escapes_are_decoded_before_scanning(h) -> None:
    raw = b'{"model":"gpt-4o","messages":[{"role":"user","content":"bob\\u0040example.com"}]}'
    r = send(h, None, raw)
    assert upstream_text(r) == "[REDACTED:EMAIL]"


def test_array_of_parts_and_every_message_are_scanned(h) -> None:
    many = [{"role": "user", "content": "hi"}] * 300  # past the 256 messages kept in full
    body = {
        "model": "gpt-4o",
        "messages": [
            *many,
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a bob@example.com"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                    {"type": "text", "text": "b eve@example.org"},
                ],
            },
        ],
    }
    r = send(h, None, json.dumps(body).encode())
    last = r.upstream_json()["messages"][-1]["content"]
    assert [p.get("text") for p in last] == ["a [REDACTED:EMAIL]", None, "b [REDACTED:EMAIL]"]


def test_metrics_count_by_detector_and_action(h) -> None:
    r = send(h, "bob@example.com and 10.0.0.1")
    assert r.metrics.get("aipol.dlp.r0.email.redact") == 1
    assert r.metrics.get("aipol.dlp.r0.ipv4.log") == 1
    assert all("bob@" not in msg for _, msg in r.logs)


EMAILS = st.from_regex(r"\A[a-z]{1,8}@[a-z]{1,8}\.(com|org|net)\Z")
noise = st.text(st.characters(codec="utf-8", exclude_characters="@"), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.one_of(noise, EMAILS), min_size=1, max_size=6))
def test_redacted_body_always_parses_and_no_email_survives(h, parts) -> None:
    text = " ".join(parts)
    r = send(h, text)
    assert r.status == 200, r.body
    out = upstream_text(r)  # the body reached the provider as valid JSON
    for part in parts:
        if "@" in part:
            assert part not in out


@pytest.fixture(scope="module")
def moderation(tmp_path_factory) -> Harness:
    policy = pipeline.check_file(CASES / "moderation.aipol")
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path_factory.mktemp("mod"))
    return Harness.load(wasm)


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("this mentions a Forbidden Phrase here", True),
        ("forbidden phrases are fine", False),  # whole words only
        ("a C++ EXPLOIT", True),
        ("KABOOM!", True),
        ("kaboomerang", False),
        ("the Secret Project X files", True),
        ("nothing wrong", False),
    ],
    ids=["inline", "word-boundary", "punctuation", "file", "inside-a-word", "file-phrase",
         "clean"],
)
def test_deny_lists_block_whole_words_case_insensitively(moderation, text, blocked) -> None:
    r = moderation.request("POST", CHAT, body={"model": "gpt-4o",
                                               "messages": [{"role": "user", "content": text}]})
    if blocked:
        assert r.status == 400 and not r.reached_upstream
        assert r.json()["error"]["code"] == "content_blocked"
        assert text not in r.body.decode()
    else:
        assert r.status == 200
