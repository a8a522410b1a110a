"""`require jwt`: Envoy's stock jwt_authn + header_mutation, built by envoy/jwt.py.

Unit tests of the builders, `envoy --mode validate` on rendered bootstraps,
and one real Envoy 1.40 (module scope) in front of a mock provider with a tiny
wasm filter (`jwt/claims_filter.c`) that echoes what reached it. Tokens are
signed in the test with RSA keys made here (PyJWT + cryptography): valid,
expired, wrong audience, wrong issuer, signed by another key.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
import yaml
from aipol.compiler import ir
from aipol.compiler.ir import Backend, Policy, Route
from aipol.envoy import EnvoyConfigError, validate
from aipol.envoy import jwt as envoy_jwt
from aipol.envoy.bootstrap import build_bootstrap, render_bootstrap
from aipol.envoy.jwt import (
    PRINCIPAL_HEADER,
    STRIP_CLIENT_FILTER,
    STRIP_UPSTREAM_FILTER,
    TEAM_HEADER,
    TIER_HEADER,
    JwtProvider,
)
from aipol.envoy.launch import EnvoyProcess
from aipol.sidecar.mocks.openai import MockOpenAI
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

HERE = Path(__file__).parent
ISSUER = "https://idp.test.aipol"
REMOTE_ISSUER = "https://remote-idp.test.aipol"
AUDIENCE = "aipol-gateway"
CA = "/etc/ssl/certs/ca-certificates.crt"


# -- keys, JWKS and tokens ----------------------------------------------------------
@dataclass(frozen=True)
class Key:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return jwk

    def jwks(self) -> str:
        return json.dumps({"keys": [self.jwk()]})

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice@example.com",
            "team": "blue",
            "tier": "gold",
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return pyjwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


def new_key(kid: str) -> Key:
    return Key(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    # "other" has the same kid as "corp": only the signature tells them apart.
    return {"corp": new_key("k1"), "other": new_key("k1"), "remote": new_key("r1")}


@pytest.fixture(scope="module")
def jwks_file(keys: dict[str, Key], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "corp.jwks.json"
    path.write_text(keys["corp"].jwks())
    return path


@pytest.fixture(scope="module")
def claims_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wasm") / "claims.wasm"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "--target=wasm32-freestanding",
            "-O2",
            "-nostdlib",
            "-Wl,--no-entry",
            "-o",
            str(out),
            str(HERE / "jwt" / "claims_filter.c"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path_factory.getbasetemp(),
    )
    return out


# -- policies -------------------------------------------------------------------------
def with_jwt(route: Route, provider: Any) -> Route:
    """`route` with `Route.jwt` set, whether or not the IR has that field yet
    (model_copy(update=...) does not validate)."""
    return route.model_copy(update={"jwt": provider})


def corp(jwks: Path | str, **kw: Any) -> JwtProvider:
    return JwtProvider(
        name="corp",
        issuer=ISSUER,
        jwks_file=str(jwks),
        audiences=(AUDIENCE,),
        claim_team="team",
        claim_tier="tier",
        **kw,
    )


def jwt_policy(corp_provider: JwtProvider, remote: JwtProvider, backend_url: str) -> Policy:
    """r0 JWT only, r1 key or JWT, r2 open, r3 remote-JWKS JWT, r4 catch-all JWT."""
    routes = (
        with_jwt(
            Route(id="r0", path="/v1/chat/completions", prefix=False, backends=("mock",)),
            corp_provider,
        ),
        with_jwt(
            Route(
                id="r1", path="/v1/embeddings", prefix=False, require_key=True, backends=("mock",)
            ),
            corp_provider,
        ),
        Route(id="r2", path="/v1/models", prefix=False, backends=("mock",)),
        with_jwt(Route(id="r3", path="/v1/models/", prefix=True, backends=("mock",)), remote),
        with_jwt(Route(id="r4", path="/v1/", prefix=True, backends=("mock",)), corp_provider),
    )
    return Policy(
        name="jwt",
        gateway=ir.Gateway(
            listen=ir.Address(host="127.0.0.1", port=0),
            admin=ir.Address(host="127.0.0.1", port=0),
        ),
        backends=(Backend(name="mock", provider="openai", url=backend_url),),
        routes=routes,
    )


def plain_policy() -> Policy:
    return Policy(
        name="plain",
        backends=(Backend(name="mock", provider="openai", url="http://127.0.0.1:9000"),),
        routes=(Route(id="r0", path="/v1/chat/completions", prefix=False, backends=("mock",)),),
    )


def hcm_of(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


# -- unit tests of the builders -------------------------------------------------------
def test_provider_needs_exactly_one_jwks_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JwtProvider(name="p", issuer=ISSUER)
    with pytest.raises(ValueError, match="exactly one"):
        JwtProvider(name="p", issuer=ISSUER, jwks_file="/a", jwks_url="https://x/jwks")
    with pytest.raises(ValueError, match="http"):
        JwtProvider(name="p", issuer=ISSUER, jwks_url="file:///etc/jwks")
    with pytest.raises(ValueError, match="name"):
        JwtProvider(name="a b", issuer=ISSUER, jwks_file="/a")
    with pytest.raises(ValueError, match="extra"):
        JwtProvider(name="p", issuer=ISSUER, jwks_file="/a", extra=1)


def test_provider_config_local_jwks() -> None:
    config = envoy_jwt.provider_config(corp("/etc/aipol/jwks.json"))
    assert config == {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "require_expiration": True,
        "local_jwks": {"filename": "/etc/aipol/jwks.json"},
        "forward": False,
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "claim_to_headers": [
            {"header_name": PRINCIPAL_HEADER, "claim_name": "sub"},
            {"header_name": TEAM_HEADER, "claim_name": "team"},
            {"header_name": TIER_HEADER, "claim_name": "tier"},
        ],
    }


def test_provider_config_remote_jwks_and_default_claims() -> None:
    provider = JwtProvider(
        name="okta",
        issuer=ISSUER,
        jwks_url="https://login.example.com/keys",
        claim_principal="email",
    )
    config = envoy_jwt.provider_config(provider)
    assert "audiences" not in config and "local_jwks" not in config
    assert config["remote_jwks"] == {
        "http_uri": {
            "uri": "https://login.example.com/keys",
            "cluster": "jwks_okta",
            "timeout": "5s",
        },
        "cache_duration": "300s",
        "async_fetch": {},
    }
    assert config["claim_to_headers"] == [{"header_name": PRINCIPAL_HEADER, "claim_name": "email"}]


def test_jwks_cluster_https_dns_name_checks_san() -> None:
    provider = JwtProvider(name="okta", issuer=ISSUER, jwks_url="https://login.example.com/keys")
    cluster = envoy_jwt.jwks_cluster(provider, ca_bundle=CA)
    assert cluster["name"] == "jwks_okta"
    assert cluster["type"] == "STRICT_DNS"
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "login.example.com", "port_value": 443}
    tls = cluster["transport_socket"]["typed_config"]
    assert tls["sni"] == "login.example.com"
    validation = tls["common_tls_context"]["validation_context"]
    assert validation["trusted_ca"] == {"filename": CA}
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "login.example.com"}}
    ]


def test_jwks_cluster_plain_http_ip() -> None:
    provider = JwtProvider(name="local", issuer=ISSUER, jwks_url="http://127.0.0.1:8081/jwks")
    cluster = envoy_jwt.jwks_cluster(provider, ca_bundle=CA)
    assert cluster["type"] == "STATIC"
    assert "transport_socket" not in cluster and "dns_lookup_family" not in cluster
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 8081}


def test_route_rules_jwt_only_key_or_jwt_and_open() -> None:
    p = corp("/a")
    strict = Route(id="r0", path="/v1/chat/completions", prefix=False)
    assert envoy_jwt.route_rules(strict, [p]) == [
        {"match": {"path": "/v1/chat/completions"}, "requires": {"provider_name": "corp"}}
    ]
    keyed = Route(id="r1", path="/v1/", prefix=True, require_key=True)
    assert envoy_jwt.route_rules(keyed, [p]) == [
        {
            "match": {
                "prefix": "/v1/",
                "headers": [{"name": "authorization", "string_match": {"contains": "."}}],
            },
            "requires": {
                "requires_any": {"requirements": [{"provider_name": "corp"}, {"allow_missing": {}}]}
            },
        },
        {"match": {"prefix": "/v1/"}},
    ]
    assert envoy_jwt.route_rules(strict, []) == [{"match": {"path": "/v1/chat/completions"}}]


def test_two_providers_on_a_route_any_of_them() -> None:
    a = corp("/a")
    b = JwtProvider(name="b", issuer="https://b", jwks_file="/b", routes=("r0",))
    route = with_jwt(Route(id="r0", path="/x", prefix=False), a)
    chosen = envoy_jwt.route_providers(route, [a, b])
    assert [p.name for p in chosen] == ["corp", "b"]
    assert envoy_jwt.route_rules(route, chosen)[0]["requires"] == {
        "requires_any": {"requirements": [{"provider_name": "corp"}, {"provider_name": "b"}]}
    }


def test_rules_follow_route_order_with_terminators() -> None:
    policy = jwt_policy(corp("/a"), corp("/a"), "http://127.0.0.1:1")
    rules = envoy_jwt.jwt_authn_filter(policy)["typed_config"]["rules"]
    summary = [(r["match"].get("path") or r["match"]["prefix"], "requires" in r) for r in rules]
    assert summary == [
        ("/v1/chat/completions", True),
        ("/v1/embeddings", True),  # only with a dotted authorization value
        ("/v1/embeddings", False),
        ("/v1/models", False),  # open route: not captured by the /v1/ rule below
        ("/v1/models/", True),
        ("/v1/", True),
    ]


def test_reads_the_irs_jwt_requirement_shape() -> None:
    """The IR's `JwtRequirement` has no name or routes: `provider_name` names it."""
    requirement = SimpleNamespace(
        provider_name="jwt_0123456789ab",
        issuer=ISSUER,
        jwks_file="/a",
        jwks_url=None,
        audiences=(AUDIENCE,),
        claim_principal="sub",
        claim_team=None,
        claim_tier="plan",
    )
    provider = envoy_jwt.as_provider(requirement)
    assert provider.name == "jwt_0123456789ab" and provider.routes == ()
    assert provider.claim_headers() == [(PRINCIPAL_HEADER, "sub"), (TIER_HEADER, "plan")]
    policy = Policy(
        name="p",
        backends=(Backend(name="m", provider="openai", url="http://127.0.0.1:9"),),
        routes=(
            with_jwt(Route(id="r0", path="/a", prefix=False, backends=("m",)), requirement),
            Route(id="r1", path="/b", prefix=False, backends=("m",)),
        ),
    )
    assert [p.name for p in envoy_jwt.providers_of(policy)] == ["jwt_0123456789ab"]
    assert envoy_jwt.uses_jwt(policy)


def test_reads_the_real_ir_model_when_present() -> None:
    requirement_type = getattr(ir, "JwtRequirement", None)
    if requirement_type is None:
        pytest.skip("the IR has no JwtRequirement yet")
    requirement = requirement_type(issuer=ISSUER, jwks_file="/a", audiences=(AUDIENCE,))
    provider = envoy_jwt.as_provider(requirement)
    assert provider.name == requirement.provider_name
    assert provider.issuer == ISSUER and provider.audiences == (AUDIENCE,)


def test_same_name_different_providers_is_an_error() -> None:
    a = corp("/a")
    b = corp("/other-jwks")
    policy = Policy(
        name="p",
        routes=(
            with_jwt(Route(id="r0", path="/a", prefix=False), a),
            with_jwt(Route(id="r1", path="/b", prefix=False), b),
        ),
    )
    with pytest.raises(ValueError, match="corp"):
        envoy_jwt.providers_of(policy)


def test_no_jwt_leaves_the_bootstrap_unchanged(tmp_path: Path) -> None:
    config = build_bootstrap(plain_policy(), tmp_path / "f.wasm", "{}", ca_bundle=CA)
    hcm = hcm_of(config)
    names = [f["name"] for f in hcm["http_filters"]]
    assert names == [
        "envoy.filters.http.wasm",
        "envoy.filters.http.buffer",
        "envoy.filters.http.router",
    ]
    assert "jwt_authn" not in json.dumps(config) and "x-aipol-jwt" not in json.dumps(config)
    # Unbound providers (no route names them) change nothing either.
    unbound = plain_policy().model_copy(update={"jwt_providers": (corp("/a"),)})
    assert not envoy_jwt.uses_jwt(unbound)


def test_filter_order_mappers_and_clusters(tmp_path: Path) -> None:
    remote = JwtProvider(
        name="remote", issuer=REMOTE_ISSUER, jwks_url="https://login.example.com/jwks"
    )
    policy = jwt_policy(corp("/a"), remote, "http://127.0.0.1:9000")
    config = build_bootstrap(policy, tmp_path / "f.wasm", "{}", ca_bundle=CA)
    hcm = hcm_of(config)
    names = [f["name"] for f in hcm["http_filters"]]
    assert names == [
        STRIP_CLIENT_FILTER,
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.wasm",
        "envoy.filters.http.buffer",
        STRIP_UPSTREAM_FILTER,
        "envoy.filters.http.router",
    ]
    strip = hcm["http_filters"][0]["typed_config"]
    assert strip["@type"].endswith("header_mutation.v3.HeaderMutation")
    assert strip["mutations"]["request_mutations"] == [
        {"remove_on_match": {"key_matcher": {"prefix": "x-aipol-jwt-", "ignore_case": True}}}
    ]
    mappers = hcm["local_reply_config"]["mappers"]
    assert len(mappers) == 4  # ours first, then the bootstrap's two generic ones
    assert [m.get("status_code") for m in mappers[:2]] == [401, 401]
    codes = [m["body_format_override"]["json_format"]["error"]["code"] for m in mappers]
    assert codes[:2] == ["missing_jwt", "invalid_jwt"]
    cluster_names = [c["name"] for c in config["static_resources"]["clusters"]]
    assert cluster_names == ["backend_mock", "jwks_remote"]


# -- envoy --mode validate -----------------------------------------------------------------
def test_rendered_configs_pass_envoy_validate(
    claims_wasm: Path, jwks_file: Path, tmp_path: Path
) -> None:
    remote_https = JwtProvider(
        name="remote", issuer=REMOTE_ISSUER, jwks_url="https://login.example.com/.well-known/jwks"
    )
    remote_http = remote_https.model_copy(update={"jwks_url": "http://127.0.0.1:8089/jwks"})
    for remote in (remote_https, remote_http):
        policy = jwt_policy(corp(jwks_file), remote, "http://127.0.0.1:9000")
        config = render_bootstrap(policy, claims_wasm, "{}")
        (tmp_path / f"{remote.jwks_url.split(':')[0]}.envoy.yaml").write_text(config)
        validate(config)
    validate(render_bootstrap(plain_policy(), claims_wasm, "{}"))


def test_validate_rejects_a_jwks_without_keys(claims_wasm: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jwks.json"
    empty.write_text('{"keys": []}')
    remote = JwtProvider(name="remote", issuer=REMOTE_ISSUER, jwks_url="http://127.0.0.1:1/jwks")
    config = render_bootstrap(
        jwt_policy(corp(empty), remote, "http://127.0.0.1:9"), claims_wasm, "{}"
    )
    with pytest.raises(EnvoyConfigError, match="jwks"):
        validate(config)


# -- real Envoy ----------------------------------------------------------------------------
class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_server(keys: dict[str, Key]) -> Iterator[str]:
    handler = type("Handler", (_JwksHandler,), {"body": keys["remote"].jwks().encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Live:
    envoy: EnvoyProcess
    mock: MockOpenAI
    keys: dict[str, Key]
    access_log: Path
    config: str


@pytest.fixture(scope="module")
def live(
    claims_wasm: Path,
    jwks_file: Path,
    jwks_server: str,
    keys: dict[str, Key],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("jwt-live")
    access_log = tmp / "access.log"
    remote = JwtProvider(
        name="remote", issuer=REMOTE_ISSUER, jwks_url=jwks_server, audiences=(AUDIENCE,)
    )
    with MockOpenAI("mock") as mock:
        policy = jwt_policy(corp(jwks_file), remote, mock.url)
        config = render_bootstrap(policy, claims_wasm, "{}", access_log_path=str(access_log))
        (tmp / "envoy.yaml").write_text(config)
        with EnvoyProcess(config) as envoy:
            yield Live(envoy, mock, keys, access_log, config)
        envoy.cleanup()


def send(
    live: Live,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(live.envoy.listen_url)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    if body is not None:
        all_headers.setdefault("content-type", "application/json")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
EMBED = json.dumps({"model": "text-embedding-3-small", "input": "hi"}).encode()


def chat(live: Live, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    live.mock.clear()
    return send(live, "POST", "/v1/chat/completions", body=CHAT, **kw)


def assert_jwt_error(status: int, headers: dict[str, str], body: bytes, code: str) -> str:
    assert status == 401, body
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert error["code"] == code
    assert headers["www-authenticate"].startswith("Bearer realm=")
    return error["message"]


def jwt_headers_seen_upstream(live: Live) -> dict[str, str]:
    return {k: v for k, v in live.mock.last.headers.items() if k.startswith("x-aipol-jwt-")}


@pytest.mark.envoy
def test_valid_token_maps_claims_and_is_not_forwarded(live: Live) -> None:
    status, headers, body = chat(live, token=live.keys["corp"].token())
    assert status == 200, body
    assert headers["x-mock-backend"] == "mock"
    received = live.mock.last
    # What the wasm filter saw (echoed by the test filter):
    assert received.header("x-seen-principal") == "alice@example.com"
    assert received.header("x-seen-team") == "blue"
    assert received.header("x-seen-tier") == "gold"
    # forward: false: jwt_authn removed the token before the wasm filter.
    assert received.header("x-seen-authorization") is None
    assert received.header("authorization") is None
    # The claim headers are for the filter only, never for the provider.
    assert jwt_headers_seen_upstream(live) == {}


@pytest.mark.envoy
def test_principal_reaches_the_access_log(live: Live) -> None:
    token = live.keys["corp"].token(sub="bob@example.com", team="green")
    status, _, body = chat(live, token=token)
    assert status == 200, body
    request_id = live.mock.last.header("x-request-id")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if live.access_log.exists():
            for line in live.access_log.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    assert entry["principal"] == "bob@example.com"
                    assert entry["team"] == "green"
                    return
        time.sleep(0.1)
    raise AssertionError("no access log entry")


@pytest.mark.envoy
def test_expired_token_is_401(live: Live) -> None:
    past = int(time.time()) - 3600
    token = live.keys["corp"].token(iat=past - 600, exp=past)
    message = assert_jwt_error(*chat(live, token=token), code="invalid_jwt")
    assert message == "Jwt is expired"
    assert live.mock.requests == []


@pytest.mark.envoy
def test_token_without_exp_is_401(live: Live) -> None:
    token = live.keys["corp"].token(exp=None)
    assert_jwt_error(*chat(live, token=token), code="invalid_jwt")


@pytest.mark.envoy
def test_wrong_audience_is_401_not_403(live: Live) -> None:
    token = live.keys["corp"].token(aud="someone-else")
    message = assert_jwt_error(*chat(live, token=token), code="invalid_jwt")
    assert message == "Audiences in Jwt are not allowed"
    assert live.mock.requests == []


@pytest.mark.envoy
def test_wrong_signature_is_401(live: Live) -> None:
    token = live.keys["other"].token()  # same kid, other key
    message = assert_jwt_error(*chat(live, token=token), code="invalid_jwt")
    assert message == "Jwt verification fails"
    assert live.mock.requests == []


@pytest.mark.envoy
def test_tampered_payload_is_401(live: Live) -> None:
    header, _, signature = live.keys["corp"].token().split(".")
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": int(time.time()) + 600}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_jwt_error(*chat(live, token=f"{header}.{forged}.{signature}"), code="invalid_jwt")


@pytest.mark.envoy
def test_wrong_issuer_is_401(live: Live) -> None:
    token = live.keys["corp"].token(iss="https://evil.example.com")
    message = assert_jwt_error(*chat(live, token=token), code="invalid_jwt")
    assert message == "Jwt issuer is not configured"


@pytest.mark.envoy
def test_missing_token_on_jwt_route_is_401(live: Live) -> None:
    message = assert_jwt_error(*chat(live), code="missing_jwt")
    assert message == "Jwt is missing"


@pytest.mark.envoy
def test_api_key_on_jwt_only_route_is_401(live: Live) -> None:
    assert_jwt_error(*chat(live, token="sk-aipol-test-key"), code="invalid_jwt")


@pytest.mark.envoy
def test_client_claim_headers_are_stripped_with_a_token(live: Live) -> None:
    token = live.keys["corp"].token(tier=None)  # no tier claim
    status, _, body = chat(
        live,
        token=token,
        headers={TEAM_HEADER: "admin", TIER_HEADER: "enterprise", "X-AIPOL-JWT-Principal": "root"},
    )
    assert status == 200, body
    received = live.mock.last
    assert received.header("x-seen-team") == "blue"  # from the token only, not "admin, blue"
    assert received.header("x-seen-principal") == "alice@example.com"
    assert received.header("x-seen-tier") is None
    assert jwt_headers_seen_upstream(live) == {}


@pytest.mark.envoy
def test_client_claim_headers_are_stripped_without_a_token(live: Live) -> None:
    """Key-or-JWT route, no token: the request reaches the filter, claimless."""
    live.mock.clear()
    status, _, body = send(
        live, "POST", "/v1/embeddings", body=EMBED, headers={TEAM_HEADER: "admin"}
    )
    assert status == 200, body
    received = live.mock.last
    assert received.header("x-seen-team") is None
    assert received.header("x-seen-principal") is None
    assert jwt_headers_seen_upstream(live) == {}


@pytest.mark.envoy
def test_open_route_strips_client_claim_headers(live: Live) -> None:
    live.mock.clear()
    status, _, body = send(
        live, "GET", "/v1/models", headers={PRINCIPAL_HEADER: "root", TEAM_HEADER: "admin"}
    )
    assert status == 200, body  # r2 has no JWT; the /v1/ catch-all rule did not apply
    assert live.mock.last.header("x-seen-principal") is None
    assert live.mock.last.header("x-seen-team") is None


@pytest.mark.envoy
def test_key_or_jwt_route_passes_an_api_key_to_the_filter(live: Live) -> None:
    live.mock.clear()
    status, _, body = send(live, "POST", "/v1/embeddings", body=EMBED, token="sk-aipol-test-key")
    assert status == 200, body
    received = live.mock.last
    assert received.header("x-seen-authorization") == "Bearer sk-aipol-test-key"
    assert received.header("x-seen-principal") is None
    assert received.header("authorization") is None  # the route strips it upstream


@pytest.mark.envoy
def test_key_or_jwt_route_accepts_a_valid_token(live: Live) -> None:
    live.mock.clear()
    token = live.keys["corp"].token(sub="carol")
    status, _, body = send(live, "POST", "/v1/embeddings", body=EMBED, token=token)
    assert status == 200, body
    received = live.mock.last
    assert received.header("x-seen-principal") == "carol"
    assert received.header("x-seen-authorization") is None


@pytest.mark.envoy
@pytest.mark.parametrize("which", ["expired", "audience", "signature", "garbage"])
def test_key_or_jwt_route_rejects_an_invalid_token(live: Live, which: str) -> None:
    key = live.keys["corp"]
    token = {
        "expired": key.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "audience": key.token(aud="other"),
        "signature": live.keys["other"].token(),
        "garbage": "not.a.jwt",
    }[which]
    live.mock.clear()
    status, headers, body = send(live, "POST", "/v1/embeddings", body=EMBED, token=token)
    assert_jwt_error(status, headers, body, code="invalid_jwt")
    assert live.mock.requests == []


@pytest.mark.envoy
def test_catch_all_prefix_route_requires_jwt(live: Live) -> None:
    live.mock.clear()
    status, headers, body = send(live, "GET", "/v1/files")
    assert_jwt_error(status, headers, body, code="missing_jwt")
    status, _, _ = send(live, "GET", "/v1/files", token=live.keys["corp"].token())
    assert status == 404  # the mock has no /v1/files, but the request got there
    assert live.mock.last.header("x-seen-principal") == "alice@example.com"


@pytest.mark.envoy
def test_remote_jwks_through_generated_cluster(live: Live) -> None:
    live.mock.clear()
    token = live.keys["remote"].token(iss=REMOTE_ISSUER, sub="dave")
    status, _, body = send(live, "GET", "/v1/models/gpt-4o", token=token)
    assert status == 200, body
    assert live.mock.last.header("x-seen-principal") == "dave"
    # The corp key and issuer are not trusted on the remote provider's route.
    status, headers, body = send(live, "GET", "/v1/models/gpt-4o", token=live.keys["corp"].token())
    assert_jwt_error(status, headers, body, code="invalid_jwt")
    stats = live.envoy.stats(r"jwt_authn")
    assert any(k.endswith("jwks_fetch_success") and v >= 1 for k, v in stats.items()), stats


@pytest.mark.envoy
def test_live_config_passes_validate(live: Live) -> None:
    validate(live.config)
    assert yaml.safe_load(live.config)["static_resources"]["clusters"][-1]["name"] == "jwks_remote"


@pytest.mark.envoy
def test_unmapped_claim_headers_are_stripped_by_header_mutation(
    claims_wasm: Path, keys: dict[str, Key], tmp_path: Path
) -> None:
    """jwt_authn removes client copies of the headers its providers map, but
    not of the others: with a principal-only provider, a client-sent
    `x-aipol-jwt-tier` would reach the filter without header_mutation."""
    jwks = tmp_path / "corp.jwks.json"
    jwks.write_text(keys["corp"].jwks())
    provider = JwtProvider(name="corp", issuer=ISSUER, jwks_file=str(jwks), audiences=(AUDIENCE,))
    with MockOpenAI("mock") as mock:
        policy = Policy(
            name="principal-only",
            gateway=ir.Gateway(
                listen=ir.Address(host="127.0.0.1", port=0),
                admin=ir.Address(host="127.0.0.1", port=0),
            ),
            backends=(Backend(name="mock", provider="openai", url=mock.url),),
            routes=(
                with_jwt(Route(id="r0", path="/v1/", prefix=True, backends=("mock",)), provider),
            ),
        )
        with EnvoyProcess(render_bootstrap(policy, claims_wasm, "{}")) as envoy:
            live = Live(envoy, mock, keys, tmp_path / "unused.log", "")
            status, _, body = send(
                live,
                "GET",
                "/v1/models",
                token=keys["corp"].token(),
                headers={TIER_HEADER: "enterprise", TEAM_HEADER: "admin"},
            )
        envoy.cleanup()
    assert status == 200, body
    assert mock.last.header("x-seen-principal") == "alice@example.com"
    assert mock.last.header("x-seen-tier") is None
    assert mock.last.header("x-seen-team") is None
