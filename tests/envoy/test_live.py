"""Real Envoy 1.40 with the generated bootstrap, a tiny test filter and two mocks.

One Envoy (and two mock providers) for the whole module. The filter
(`pick_filter.c`) picks the backend from the body (`pick=<name>;...`) or the
`x-pick` header, from its body callback, which proves the wasm -> buffer ->
router chain routes on the body.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aipol.compiler.ir import Address, Backend, Credential, Gateway, Policy, Route
from aipol.envoy.bootstrap import render_bootstrap
from aipol.envoy.launch import EnvoyProcess
from aipol.envoy.ports import free_port
from aipol.sidecar.mocks.openai import MockOpenAI

pytestmark = pytest.mark.envoy

MAX_BODY = 64 * 1024


@dataclass
class Live:
    envoy: EnvoyProcess
    alpha: MockOpenAI
    beta: MockOpenAI
    secret_a: str
    secret_b: str
    config_dir: Path
    access_log: Path


@pytest.fixture(scope="module")
def live(pick_wasm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    secret_a = "sk-alpha-" + secrets.token_hex(8)
    secret_b = "sk-beta-" + secrets.token_hex(8)
    secret_file = tmp / "beta.key"
    secret_file.write_text(secret_b)
    access_log = tmp / "access.log"
    with (
        MockOpenAI("alpha", api_key=secret_a) as alpha,
        MockOpenAI("beta", prefix="/beta-api") as beta,
    ):
        policy = Policy(
            name="live",
            gateway=Gateway(
                listen=Address(host="127.0.0.1", port=0),
                admin=Address(host="127.0.0.1", port=0),
                max_body=MAX_BODY,
            ),
            backends=(
                Backend(
                    name="alpha",
                    provider="openai",
                    url="https://api.openai.com",
                    credential=Credential(source="env", ref="AIPOL_TEST_ALPHA_KEY"),
                ),
                Backend(
                    name="beta",
                    provider="anthropic",
                    url="https://api.anthropic.com",
                    credential=Credential(source="file", ref=str(secret_file)),
                ),
                # Nothing listens there: Envoy's own 503.
                Backend(name="down", provider="vllm", url=f"http://127.0.0.1:{free_port()}"),
            ),
            routes=(
                Route(
                    id="r0",
                    path="/v1/chat/completions",
                    prefix=False,
                    methods=("POST",),
                    backends=("alpha", "beta", "down"),
                ),
                Route(id="r1", path="/v1/", prefix=True, backends=("alpha",)),
            ),
        )
        config = render_bootstrap(
            policy,
            pick_wasm,
            '{"policy": "live"}',
            backend_urls={"alpha": alpha.url, "beta": beta.url + "/beta-api/"},
            access_log_path=str(access_log),
        )
        (tmp / "envoy.yaml").write_text(config)
        env = {**os.environ, "AIPOL_TEST_ALPHA_KEY": secret_a}
        with EnvoyProcess(config, env=env) as envoy:
            yield Live(envoy, alpha, beta, secret_a, secret_b, tmp, access_log)
        envoy.cleanup()


def request(
    live: Live,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(live.envoy.listen_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def chat(pick: str, text: str = "hello") -> bytes:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return f"pick={pick};".encode() + json.dumps(body).encode()


def access_entries(live: Live, request_id: str, timeout: float = 5.0) -> dict[str, object]:
    """The access log entry of one request (the log is flushed asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.access_log.exists():
            for line in live.access_log.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    return entry
        time.sleep(0.1)
    raise AssertionError(f"no access log entry for {request_id}")


def test_routes_on_body_to_alpha_with_injected_bearer(live: Live) -> None:
    live.alpha.clear()
    status, headers, body = request(
        live,
        "POST",
        "/v1/chat/completions",
        chat("alpha"),
        {"content-type": "application/json", "authorization": "Bearer client-gateway-key"},
    )
    assert status == 200, body
    assert headers["x-mock-backend"] == "alpha"
    received = live.alpha.last
    # The injector replaced the client's key with the provider's secret.
    assert received.header("authorization") == f"Bearer {live.secret_a}"
    assert received.header("host") == urlsplit(live.alpha.url).netloc
    assert received.path == "/v1/chat/completions"
    # The filter drained the "pick=alpha;" prefix: Envoy re-framed the body.
    assert received.json["messages"][0]["content"] == "hello"
    assert received.header("content-length") == str(len(received.body)) or received.chunked


def test_routes_on_body_to_beta_with_prefix_rewrite_and_x_api_key(live: Live) -> None:
    live.beta.clear()
    status, headers, body = request(
        live,
        "POST",
        "/v1/chat/completions",
        chat("beta", "second"),
        {"x-api-key": "client-key", "authorization": "Bearer client-key"},
    )
    assert status == 200, body
    assert headers["x-mock-backend"] == "beta"
    assert json.loads(body)["choices"][0]["message"]["content"].startswith("[beta] second")
    received = live.beta.last
    assert received.path == "/beta-api/v1/chat/completions"
    assert received.header("x-api-key") == live.secret_b
    assert received.header("authorization") is None


def test_header_pick_from_body_callback(live: Live) -> None:
    """No `pick=` in the body: the filter uses the header it saw earlier."""
    status, headers, _ = request(
        live, "POST", "/v1/chat/completions", b'{"model":"m","messages":[]}', {"x-pick": "beta"}
    )
    assert status == 400  # the mock rejects empty messages, but beta answered
    assert headers["x-mock-backend"] == "beta"


def test_prefix_route(live: Live) -> None:
    status, headers, body = request(
        live, "POST", "/v1/embeddings", b'pick=alpha;{"model":"x","input":"hi"}'
    )
    assert status == 200, body
    assert headers["x-mock-backend"] == "alpha"
    assert json.loads(body)["object"] == "list"


def test_access_log_has_filter_state(live: Live) -> None:
    status, headers, _ = request(live, "POST", "/v1/chat/completions", chat("alpha"))
    assert status == 200
    live.alpha.clear()
    status, headers, _ = request(
        live, "POST", "/v1/chat/completions", chat("alpha"), {"x-request-id": "ignored"}
    )
    assert status == 200
    request_id = live.alpha.last.header("x-request-id")
    assert request_id and request_id != "ignored"  # generated, not trusted from outside
    entry = access_entries(live, request_id)
    assert entry["backend"] == "alpha"
    assert entry["principal"] == "alice"
    assert entry["team"] == "blue"
    assert entry["response_code"] == 200
    assert entry["upstream_cluster"] == "backend_alpha"
    assert entry["route_name"] == "r0.alpha"
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/chat/completions"


def test_no_backend_chosen_is_503_json(live: Live) -> None:
    status, headers, body = request(live, "POST", "/v1/chat/completions", b'{"model":"m"}')
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": {
            "message": "No backend was selected for this request",
            "type": "server_error",
            "param": None,
            "code": "no_backend",
        }
    }


def test_unknown_backend_name_is_503(live: Live) -> None:
    status, _, body = request(live, "POST", "/v1/chat/completions", chat("gamma"))
    assert status == 503
    assert json.loads(body)["error"]["code"] == "no_backend"


def test_unknown_path_is_404_json(live: Live) -> None:
    status, headers, body = request(live, "GET", "/nope")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"


def test_wrong_method_is_405_json(live: Live) -> None:
    status, _, body = request(live, "GET", "/v1/chat/completions")
    assert status == 405
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_body_over_max_body_is_413(live: Live) -> None:
    try:
        status, headers, body = request(
            live, "POST", "/v1/chat/completions", b"pick=alpha;" + b"x" * (MAX_BODY + 1024)
        )
    except (ConnectionResetError, BrokenPipeError):
        pytest.fail("connection reset instead of a 413")
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "request_payload_too_large"
    assert error["type"] == "invalid_request_error"


def test_header_flood_is_431(live: Live) -> None:
    headers = {f"x-flood-{i}": "v" for i in range(150)}
    status, resp_headers, body = request(
        live, "POST", "/v1/chat/completions", chat("alpha"), headers
    )
    assert status == 431
    assert json.loads(body)["error"]["code"] == "http1.too_many_headers"


def test_filter_local_reply_json_is_kept(live: Live) -> None:
    status, headers, body = request(live, "POST", "/v1/chat/completions", chat("deny"))
    assert status == 403
    assert json.loads(body)["error"]["code"] == "denied"


def test_upstream_down_is_503_json(live: Live) -> None:
    """Envoy's own plain-text errors are rewritten into OpenAI-format JSON."""
    status, headers, body = request(live, "POST", "/v1/chat/completions", chat("down"))
    assert status == 503
    error = json.loads(body)["error"]
    assert error["type"] == "server_error"
    assert error["code"].startswith("upstream_reset_before_response_started")


def test_chunked_request_body_is_routed(live: Live) -> None:
    parts = urlsplit(live.envoy.listen_url)
    live.alpha.clear()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        payload = chat("alpha", "chunked")
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        chunks = [payload[:7], payload[7:]]
        raw = head + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        sock.sendall(raw)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert b"[alpha] chunked" in response


def test_secrets_in_no_generated_file(live: Live) -> None:
    for path in live.config_dir.rglob("*"):
        if path.is_file() and path.name != "beta.key":
            text = path.read_text(errors="replace")
            assert live.secret_a not in text, path
            assert live.secret_b not in text, path
    assert live.envoy.workdir is not None
    config = (live.envoy.workdir / "envoy.yaml").read_text()
    assert live.secret_a not in config and live.secret_b not in config


def test_stats_and_logs(live: Live) -> None:
    stats = live.envoy.stats(r"^cluster\.backend_alpha\.upstream_rq_total$")
    assert stats["cluster.backend_alpha.upstream_rq_total"] >= 1
    assert "starting main dispatch loop" in live.envoy.logs()
