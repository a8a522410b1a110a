"""Compiled policies in the harness: what a client and a provider would see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aipol.compiler import pipeline, plugin_config, sticky
from aipol.wasm_runtime import Harness

CHAT = "/v1/chat/completions"
ALICE = "sk-aipol-demo-alice"  # team research
CAROL = "sk-aipol-demo-carol"  # team support
KEYS = Path(__file__).resolve().parents[2] / "examples" / "keys.yaml"


def chat(key: str | None, model: str = "gpt-4o", **extra) -> dict:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return {"method": "POST", "path": CHAT, "headers": headers, "body": json.dumps(body)}


@pytest.fixture(scope="module")
def quickstart(example_harness) -> Harness:
    return example_harness("quickstart")


@pytest.fixture(scope="module")
def ab(example_harness) -> Harness:
    return example_harness("ab_test")


def error_of(r) -> dict:
    assert r.headers.get("content-type") == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize(
    ("key", "model", "status", "code", "route"),
    [
        (None, "gpt-4o", 401, "missing_api_key", None),
        ("sk-wrong", "gpt-4o", 401, "invalid_api_key", None),
        (CAROL, "gpt-4o", 403, "model_not_allowed", None),
        (CAROL, "gpt-4o-mini", 200, None, "mini"),
        (ALICE, "gpt-4o", 200, None, "gpt4o"),
        (ALICE, "llama-3.1-70b", 200, None, "local"),
        (ALICE, "gpt-3.5-turbo", 200, None, "mini"),
    ],
    ids=[
        "no-key",
        "wrong-key",
        "team-not-allowed",
        "support-mini",
        "research-gpt4o",
        "prefix-rule",
        "fallthrough",
    ],
)
def test_auth_and_routing(quickstart, key, model, status, code, route) -> None:
    r = quickstart.request(**chat(key, model))
    assert not r.trapped
    assert r.status == status
    if code:
        assert error_of(r)["code"] == code
        assert not r.reached_upstream
        if key:
            assert key not in r.body.decode()
    else:
        assert r.route == route


def test_upstream_request_is_rewritten_as_the_policy_says(quickstart) -> None:
    r = quickstart.request(**chat(ALICE, "gpt-3.5-turbo", temperature=0.5))
    assert r.status == 200
    body = r.upstream_json()
    assert body["model"] == "gpt-4o-mini"  # rewritten to the backend's model
    assert body["temperature"] == 0.5  # everything else intact
    assert body["messages"] == [
        {"role": "system", "content": "You are ACME's assistant. Answer briefly."},
        {"role": "user", "content": "hi"},
    ]
    up = r.upstream_headers
    assert up.get("x-gateway") == "aipol"
    assert up.get("authorization") is None and up.get("x-api-key") is None
    assert r.headers.get("x-served-by") == "aipol"
    assert r.headers.get("server") is None
    assert r.filter_state["wasm.aipol_principal"] == b"alice"
    assert r.filter_state["wasm.aipol_team"] == b"research"


def test_system_append_goes_after_the_last_message(ab) -> None:
    req = chat(ALICE)
    req["body"] = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        }
    )
    r = ab.request(**req)
    messages = r.upstream_json()["messages"]
    assert messages[:2] == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert messages[2] == {"role": "system", "content": "Reply in the language of the question."}


def test_x_api_key_header_authenticates_too(quickstart) -> None:
    req = chat(None)
    req["headers"]["x-api-key"] = ALICE
    r = quickstart.request(**req)
    assert r.status == 200 and r.route == "gpt4o"
    assert r.upstream_headers.get("x-api-key") is None


def test_split_is_sticky_and_matches_the_python_reference(ab) -> None:
    # alice's arm is fixed by the FNV bucket of (r0.split, alice).
    expected = sticky.pick([("current", 9000), ("candidate", 1000)], "r0.split", "alice")
    routes = {ab.request(**chat(ALICE)).route for _ in range(10)}
    assert routes == {expected}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"model": "gpt-4o", "messages": [', {}, 400, "invalid_json"),
        (b"not json at all", {}, 400, "invalid_json"),
        (b'["model"]', {}, 400, "invalid_request"),
        (b'{"model": 5, "messages": []}', {}, 400, "invalid_request"),
        (
            b'{"model": "gpt-4o", "model": "gpt-4o-mini", "messages": []}',
            {},
            400,
            "invalid_request",
        ),
        (b'{"model": "gpt-4o"}', {"content-type": "text/plain"}, 415, None),
    ],
    ids=[
        "truncated",
        "not-json",
        "not-an-object",
        "model-not-string",
        "duplicate-model",
        "text-plain",
    ],
)
def test_bad_bodies_get_openai_errors(quickstart, body, headers, status, code) -> None:
    h = {"content-type": "application/json", "authorization": f"Bearer {ALICE}", **headers}
    r = quickstart.request("POST", CHAT, headers=h, body=body)
    assert r.status == status
    err = error_of(r)
    if code:
        assert err["code"] == code
    assert not r.reached_upstream


@pytest.mark.parametrize("chunks", [None, 100], ids=["one-piece", "chunked"])
def test_body_over_max_body_is_413(quickstart, chunks) -> None:
    big = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 1100000}]})
    h = {"content-type": "application/json", "authorization": f"Bearer {ALICE}"}
    if chunks:
        h["transfer-encoding"] = "chunked"
    r = quickstart.request("POST", CHAT, headers=h, body=big, chunks=chunks and 65536)
    assert r.status == 413
    assert not r.reached_upstream


def test_unknown_path_is_404_in_openai_format(quickstart) -> None:
    r = quickstart.request("POST", "/v1/nope", headers={"authorization": f"Bearer {ALICE}"})
    assert r.status == 404
    assert error_of(r)["code"] == "unknown_url"


def test_get_without_body_routes_by_default(quickstart) -> None:
    r = quickstart.request(
        "GET", "/v1/models?limit=5", headers={"authorization": f"Bearer {ALICE}"}
    )
    assert r.status == 200 and r.route == "mini"


def test_metrics_count_denials_by_reason(quickstart) -> None:
    r = quickstart.request(**chat(ALICE))
    assert r.metrics == {}  # the happy path costs no metric calls: Envoy counts requests
    r = quickstart.request(**chat(None))
    assert r.metrics.get("aipol.denied.missing_api_key") == 1


def test_unknown_model_without_fallthrough_is_400(tmp_path: Path) -> None:
    (tmp_path / "keys.yaml").write_text(KEYS.read_text())
    src = tmp_path / "strict.aipol"
    src.write_text(
        'keys file "keys.yaml"\n'
        'backend a {\n  provider openai\n  model "gpt-4o"\n  url "http://127.0.0.1:1"\n}\n'
        'route "/v1/chat/completions" {\n  require key\n  allow any backends a\n}\n'
    )
    policy = pipeline.check_file(src)
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path / "out")
    h = Harness.load(wasm, plugin_config=plugin_config.render_plugin_config(policy).encode())
    r = h.request(**chat(ALICE, "gpt-5"))
    assert r.status == 400
    err = error_of(r)
    assert err["code"] == "model_not_found" and "gpt-5" in err["message"]
    r = h.request(**chat(ALICE, "gpt-4o"))
    assert r.status == 200 and r.route == "a"
    r = h.request("POST", CHAT, headers={"authorization": f"Bearer {ALICE}"}, body={"messages": []})
    assert r.status == 400 and error_of(r)["code"] == "missing_model"


def test_system_prompts_keep_the_order_the_policy_wrote(tmp_path: Path) -> None:
    src = tmp_path / "order.aipol"
    src.write_text(
        'backend a {\n  provider openai\n  model "m"\n  url "http://127.0.0.1:1"\n}\n'
        'policy first {\n  system prepend "P1"\n}\n'
        'route "/v1/chat/completions" {\n  apply first\n  system prepend "P2"\n'
        '  system append "A1"\n  system append "A2"\n  default a\n}\n'
    )
    policy = pipeline.check_file(src)
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path / "out")
    h = Harness.load(wasm)
    r = h.request(**chat(None, "m"))
    contents = [m["content"] for m in r.upstream_json()["messages"]]
    assert contents == ["P1", "P2", "hi", "A1", "A2"]


@pytest.fixture(scope="module")
def jwt_route(tmp_path_factory) -> Harness:
    cases = Path(__file__).parent / "cases"
    policy = pipeline.check_file(cases / "jwt.aipol")
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path_factory.mktemp("jwt"))
    return Harness.load(wasm, plugin_config=plugin_config.render_plugin_config(policy).encode())


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-aipol-jwt-principal": "erin", "x-aipol-jwt-team": "research"}, 200, None),
        ({"x-aipol-jwt-principal": "sam", "x-aipol-jwt-team": "support"}, 403,
         "model_not_allowed"),
        ({"authorization": f"Bearer {ALICE}"}, 200, None),
        ({}, 401, "missing_api_key"),
        ({"authorization": "Bearer nope"}, 401, "invalid_api_key"),
    ],
    ids=["jwt-research", "jwt-support", "api-key", "nothing", "bad-key"],
)
def test_jwt_claims_from_envoy_make_the_principal(jwt_route, headers, status, code) -> None:
    # In Envoy, jwt_authn validates the token and sets x-aipol-jwt-*; the harness
    # has no jwt_authn, so the test plays its part by sending those headers.
    r = jwt_route.request("POST", CHAT, headers={"content-type": "application/json", **headers},
                          body={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert r.status == status
    if code:
        assert r.json()["error"]["code"] == code
    else:
        assert r.route == "gpt4o"
        principal = headers.get("x-aipol-jwt-principal", "alice")
        assert r.filter_state["wasm.aipol_principal"] == principal.encode()


@pytest.fixture(scope="module")
def params_route(tmp_path_factory) -> Harness:
    cases = Path(__file__).parent / "cases"
    policy = pipeline.check_file(cases / "params.aipol")
    wasm = pipeline.build_wasm(pipeline.generate_c(policy), tmp_path_factory.mktemp("params"))
    return Harness.load(wasm, plugin_config=plugin_config.render_plugin_config(policy).encode())


BOB = "sk-aipol-demo-bob"  # team research, tier free


@pytest.mark.parametrize(
    ("key", "extra", "broken"),
    [
        (ALICE, {"max_tokens": 1000, "temperature": 1, "top_p": 0.5}, None),
        (ALICE, {"max_tokens": 1001}, "param max_tokens <= 1000"),
        (ALICE, {"max_completion_tokens": 5000}, "param max_tokens <= 1000"),
        (BOB, {"max_tokens": 201}, "param max_tokens <= 200 for tier free"),
        (ALICE, {"max_tokens": 201}, None),
        (ALICE, {"temperature": 1.0001}, "param temperature <= 1"),
        (ALICE, {"temperature": "hot"}, "param temperature <= 1"),
        (ALICE, {"temperature": None}, None),
        (ALICE, {"temperature": 1e-3}, None),
        (ALICE, {"top_p": 0}, "param top_p > 0"),
        (ALICE, {"tools": [{"type": "function"}]}, "param tools deny"),
        (ALICE, {"tools": None}, None),
        (CAROL, {"stream": True}, "param stream deny for team support"),
        (CAROL, {"stream": False}, None),
        (ALICE, {"stream": True}, None),
    ],
    ids=["within", "max-tokens", "max-completion-tokens", "free-tier", "enterprise-tier",
         "temperature", "temperature-not-a-number", "temperature-null", "exponent", "top-p",
         "tools", "tools-null", "support-stream", "support-no-stream", "research-stream"],
)
def test_param_rules(params_route, key, extra, broken) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], **extra}
    r = params_route.request("POST", CHAT, headers={"authorization": f"Bearer {key}"}, body=body)
    if broken is None:
        assert r.status == 200, r.body
        assert r.upstream_json() == body
    else:
        assert r.status == 403 and not r.reached_upstream
        err = error_of(r)
        assert err["code"] == "param_not_allowed"
        assert f"`{broken}`" in err["message"]


def test_param_rules_see_through_a_repeated_key(params_route) -> None:
    body = b'{"model":"gpt-4o","messages":[],"temperature":0.5,"temperature":9}'
    r = params_route.request("POST", CHAT, headers={"authorization": f"Bearer {ALICE}",
                                                    "content-type": "application/json"}, body=body)
    assert r.status == 400 and error_of(r)["code"] == "invalid_request"
