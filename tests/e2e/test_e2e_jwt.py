"""`require jwt` end to end: tokens signed here by a local RSA key, validated by
Envoy's jwt_authn, claims mapped onto the principal by the filter, so `allow`
works the same for JWT and API-key callers (official openai SDK as client)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import jwt as pyjwt
import openai
import pytest
from aipol.compiler import pipeline
from aipol.envoy.gateway import Gateway
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e_support import ALICE, EXAMPLES, chat, start_gateway

ISSUER = "https://idp.example.test"
POLICY = f"""
keys file "keys.yaml"

backend gpt4o {{
  provider openai
  model "gpt-4o"
  url "https://api.openai.com"
  credential env OPENAI_API_KEY
}}

backend mini {{
  provider openai
  model "gpt-4o-mini"
  url "https://api.openai.com"
  credential env OPENAI_API_KEY
}}

route "/v1/chat/completions" {{
  require key
  require jwt issuer "{ISSUER}" jwks file "jwks.json" audience "aipol"
  claims principal "sub" team "team" tier "plan"
  allow team research backends gpt4o, mini
  allow team support backends mini
  when model "gpt-4o" -> gpt4o
  default mini
}}
"""


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, signing_key) -> Iterator[Gateway]:
    src = tmp_path_factory.mktemp("jwt-policy")
    shutil.copy(EXAMPLES / "keys.yaml", src / "keys.yaml")
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update(kid="k1", alg="RS256", use="sig")
    (src / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (src / "jwt.aipol").write_text(POLICY)
    art = pipeline.compile_file(src / "jwt.aipol", src / "out")
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


def token(key, **claims) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": "aipol",
        "sub": "erin",
        "team": "research",
        "plan": "pro",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return pyjwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def client(gw: Gateway, bearer: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=bearer, max_retries=0)


def test_a_valid_token_is_a_principal_with_its_team(gw, signing_key) -> None:
    gw.mock.clear()
    raw = client(gw, token(signing_key)).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=chat()
    )
    assert raw.headers["x-mock-backend"] == "gpt4o"
    seen = gw.mock["gpt4o"].last
    assert "x-aipol-jwt-principal" not in seen.headers  # claims never reach a provider
    assert not seen.headers.get("authorization", "").startswith("Bearer ey")


def test_team_from_the_token_is_authorized_like_a_key_team(gw, signing_key) -> None:
    gw.mock.clear()
    support = client(gw, token(signing_key, sub="sam", team="support"))
    with pytest.raises(openai.PermissionDeniedError) as info:
        support.chat.completions.create(model="gpt-4o", messages=chat())
    assert info.value.body["code"] == "model_not_allowed"
    assert "sam" in info.value.body["message"]
    ok = support.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=chat())
    assert ok.headers["x-mock-backend"] == "mini"
    assert [r.json["model"] for r in gw.mock.requests] == ["gpt-4o-mini"]


def test_api_keys_still_work_on_a_key_or_jwt_route(gw) -> None:
    raw = client(gw, ALICE).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=chat()
    )
    assert raw.headers["x-mock-backend"] == "gpt4o"


@pytest.mark.parametrize(
    "make",
    [
        lambda key: token(key, exp=int(time.time()) - 600),  # beyond the 60 s clock skew
        lambda key: token(key, aud="someone-else"),
        lambda key: token(key, iss="https://evil.example"),
        lambda key: token(new_key()),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "wrong-signature"],
)
def test_bad_tokens_are_401_in_openai_format(gw, signing_key, make) -> None:
    gw.mock.clear()
    with pytest.raises(openai.AuthenticationError) as info:
        client(gw, make(signing_key)).chat.completions.create(model="gpt-4o", messages=chat())
    assert info.value.body["code"] == "invalid_jwt"
    assert gw.mock.requests == []


def test_forged_claim_headers_do_not_make_a_principal(gw) -> None:
    gw.mock.clear()
    forged = openai.OpenAI(
        base_url=gw.base_url,
        api_key="not-a-key",
        max_retries=0,
        default_headers={"x-aipol-jwt-principal": "mallory", "x-aipol-jwt-team": "research"},
    )
    with pytest.raises(openai.AuthenticationError) as info:
        forged.chat.completions.create(model="gpt-4o", messages=chat())
    assert info.value.body["code"] == "invalid_api_key"
    assert gw.mock.requests == []
