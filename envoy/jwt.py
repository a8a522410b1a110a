"""JWT authentication with Envoy's stock `jwt_authn` filter (no JWT code in wasm).

`require jwt issuer "..." jwks file|url "..." audience "..."` becomes:

* `envoy.filters.http.header_mutation` (first in the chain): removes every
  client-supplied `x-aipol-jwt-*` request header, on every request, so the
  headers below can only come from a verified token. (jwt_authn 1.40 itself
  drops client copies of the headers its providers map, even on rules without
  a requirement, but not the others: with a provider that maps no tier, a
  client's `x-aipol-jwt-tier` would otherwise reach the filter; tested.)
* `envoy.filters.http.jwt_authn`: one provider per `JwtProvider` (JWKS from a
  local file, or fetched from a URL through a generated `jwks_<name>`
  cluster), the token taken from `authorization: Bearer ...` and removed after
  verification (`forward: false`), the chosen claims copied into
  `x-aipol-jwt-principal` / `-team` / `-tier` (`claim_to_headers`). The wasm
  filter reads those headers and sets the same principal an API key gives;
* a second `header_mutation` right before the router: the claim headers are
  for the wasm filter only and are never sent to a provider. It runs after
  the buffer filter, so the wasm filter can read them from its body callback
  too.

Rules, one group per policy route in file order (jwt_authn, like the route
table, uses the first rule whose match fits):

* route with JWT only: the provider(s) are required (a missing, malformed,
  expired, wrongly signed token... is a 401);
* route with `require key` and `require jwt`: an `authorization` value with a
  dot (every JWS compact token has two) must be a valid JWT (`requires_any`
  provider(s) or `allow_missing`: a present but invalid token is rejected);
  any other request is not checked by jwt_authn and the wasm filter enforces
  the API key. The split is needed because API keys arrive as `Bearer <key>`
  too, and jwt_authn fails a token it cannot parse even under `allow_missing`
  (only a *missing* token passes: authenticator.cc, `doneWithStatus`);
* route without JWT: a rule with no requirement, so a later, broader JWT route
  (a `/v1/*` prefix) does not capture its requests.

Failures are local replies with response code details
`jwt_authn_access_denied{<status>}`; a local reply mapper placed before the
bootstrap's generic ones turns them into OpenAI-format JSON 401s with code
`invalid_jwt` (`missing_jwt` when no token was sent). jwt_authn answers 403 for
a wrong audience: the mapper makes it 401 like every other invalid token.

Verified on Envoy 1.40.0 (`envoy --mode validate` and live tests in
tests/envoy/test_jwt.py): JwtProvider.claim_to_headers (header_name,
claim_name), forward, from_headers (name, value_prefix), local_jwks.filename,
remote_jwks (http_uri, cache_duration, async_fetch), require_expiration;
JwtRequirement.requires_any / allow_missing; RequirementRule without
`requires`; header_mutation's `remove_on_match.key_matcher`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from aipol.compiler.ir import Node, Policy, Route
from pydantic import model_validator

from . import clusters

JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
JWT_AUTHN_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
# Two header_mutation filters: distinct names (the extension is chosen by @type).
STRIP_CLIENT_FILTER = "aipol.jwt.strip_client_claims"
STRIP_UPSTREAM_FILTER = "aipol.jwt.strip_upstream_claims"
HEADER_MUTATION_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
)
HCM_TYPE = (
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
CEL_FILTER_TYPE = (
    "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
)
ROUTER_FILTER = "envoy.filters.http.router"
WASM_FILTER = "envoy.filters.http.wasm"

CLAIM_HEADER_PREFIX = "x-aipol-jwt-"
PRINCIPAL_HEADER = CLAIM_HEADER_PREFIX + "principal"
TEAM_HEADER = CLAIM_HEADER_PREFIX + "team"
TIER_HEADER = CLAIM_HEADER_PREFIX + "tier"

TOKEN_HEADER = "authorization"
TOKEN_PREFIX = "Bearer "

JWKS_CLUSTER_PREFIX = "jwks_"
JWKS_FETCH_TIMEOUT = "5s"
JWKS_CACHE_DURATION = "300s"

# Response code details of jwt_authn's local replies: generateRcDetails() in
# filter.cc, the status string with spaces replaced by underscores.
RC_DETAILS_PREFIX = "jwt_authn_access_denied"
RC_DETAILS_MISSING = RC_DETAILS_PREFIX + "{Jwt_is_missing}"
INVALID_CODE = "invalid_jwt"
MISSING_CODE = "missing_jwt"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class JwtProvider(Node):
    """One trusted token issuer (the IR's `Policy.jwt_providers` entry).

    `routes` are ids of routes that require this provider (a route may also
    name it in `Route.jwt`). Claims named by `claim_*` become the principal,
    team and tier; a claim the token lacks is simply not set.
    """

    name: str
    issuer: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    audiences: tuple[str, ...] = ()
    claim_principal: str = "sub"
    claim_team: str | None = None
    claim_tier: str | None = None
    routes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> JwtProvider:
        if not _NAME.match(self.name):
            raise ValueError(f"JWT provider name {self.name!r}: use letters, digits, _ . -")
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError(f"JWT provider {self.name!r}: give exactly one of jwks_file, jwks_url")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"JWT provider {self.name!r}: jwks url must be http(s)://host/...")
        if not self.issuer:
            raise ValueError(f"JWT provider {self.name!r}: issuer must not be empty")
        return self

    @property
    def cluster(self) -> str:
        return JWKS_CLUSTER_PREFIX + self.name

    def claim_headers(self) -> list[tuple[str, str]]:
        """(header, claim) pairs, principal first."""
        pairs = [(PRINCIPAL_HEADER, self.claim_principal)]
        if self.claim_team:
            pairs.append((TEAM_HEADER, self.claim_team))
        if self.claim_tier:
            pairs.append((TIER_HEADER, self.claim_tier))
        return pairs


# -- reading the policy (tolerant until the IR has JWT) --------------------------
def as_provider(value: Any) -> JwtProvider:
    """A `JwtProvider` from this module's model or any object with the same
    fields (the IR's `JwtRequirement`, named by its `provider_name`)."""
    if isinstance(value, JwtProvider):
        return value
    name = getattr(value, "name", None) or value.provider_name
    return JwtProvider(
        name=name,
        issuer=value.issuer,
        jwks_file=value.jwks_file,
        jwks_url=value.jwks_url,
        audiences=tuple(value.audiences),
        claim_principal=value.claim_principal,
        claim_team=value.claim_team,
        claim_tier=value.claim_tier,
        routes=tuple(getattr(value, "routes", ()) or ()),
    )


def _route_jwt(route: Route) -> list[JwtProvider]:
    """Providers given on the route itself (`Route.jwt`: one, a sequence, or None)."""
    value = getattr(route, "jwt", None)
    if value is None:
        return []
    if hasattr(value, "issuer"):  # one provider (a pydantic model is iterable too)
        value = [value]
    return [as_provider(v) for v in value]


def providers_of(policy: Policy) -> tuple[JwtProvider, ...]:
    """Every provider of the policy (`Policy.jwt_providers` and `Route.jwt`), by name."""
    found: dict[str, JwtProvider] = {}
    listed = [as_provider(p) for p in getattr(policy, "jwt_providers", ()) or ()]
    for provider in listed + [p for r in policy.routes for p in _route_jwt(r)]:
        previous = found.setdefault(provider.name, provider)
        if previous.model_dump(exclude={"routes"}) != provider.model_dump(exclude={"routes"}):
            raise ValueError(f"two different JWT providers are named {provider.name!r}")
    return tuple(found.values())


def route_providers(route: Route, providers: Sequence[JwtProvider]) -> tuple[JwtProvider, ...]:
    """The providers `route` requires: its own `Route.jwt`, then every provider
    whose `routes` lists the route's id."""
    chosen = {p.name: p for p in _route_jwt(route)}
    for provider in providers:
        if route.id in provider.routes:
            chosen.setdefault(provider.name, provider)
    return tuple(chosen.values())


def uses_jwt(policy: Policy) -> bool:
    providers = providers_of(policy)
    return any(route_providers(r, providers) for r in policy.routes)


# -- filters -----------------------------------------------------------------------
def strip_claim_headers_filter(name: str = STRIP_CLIENT_FILTER) -> dict[str, Any]:
    """header_mutation removing every `x-aipol-jwt-*` request header."""
    return {
        "name": name,
        "typed_config": {
            "@type": HEADER_MUTATION_TYPE,
            "mutations": {
                "request_mutations": [
                    {
                        "remove_on_match": {
                            "key_matcher": {"prefix": CLAIM_HEADER_PREFIX, "ignore_case": True}
                        }
                    }
                ]
            },
        },
    }


def provider_config(provider: JwtProvider) -> dict[str, Any]:
    config: dict[str, Any] = {"issuer": provider.issuer}
    if provider.audiences:
        config["audiences"] = list(provider.audiences)
    # Tokens without `exp` would be valid forever.
    config["require_expiration"] = True
    if provider.jwks_file is not None:
        config["local_jwks"] = {"filename": provider.jwks_file}
    else:
        assert provider.jwks_url is not None
        config["remote_jwks"] = {
            "http_uri": {
                "uri": provider.jwks_url,
                "cluster": provider.cluster,
                "timeout": JWKS_FETCH_TIMEOUT,
            },
            "cache_duration": JWKS_CACHE_DURATION,
            # Fetch when Envoy starts, not on the first request.
            "async_fetch": {},
        }
    config["forward"] = False  # the token never goes upstream
    config["from_headers"] = [{"name": TOKEN_HEADER, "value_prefix": TOKEN_PREFIX}]
    config["claim_to_headers"] = [
        {"header_name": header, "claim_name": claim} for header, claim in provider.claim_headers()
    ]
    return config


def _requirement(providers: Sequence[JwtProvider]) -> dict[str, Any]:
    if len(providers) == 1:
        return {"provider_name": providers[0].name}
    return {"requires_any": {"requirements": [{"provider_name": p.name} for p in providers]}}


def _path_match(route: Route) -> dict[str, Any]:
    return {"prefix": route.path} if route.prefix else {"path": route.path}


def route_rules(route: Route, providers: Sequence[JwtProvider]) -> list[dict[str, Any]]:
    """The jwt_authn rules of one route (see the module docstring)."""
    if not providers:
        return [{"match": _path_match(route)}]  # no requirement: not checked
    if not getattr(route, "require_key", False):
        return [{"match": _path_match(route), "requires": _requirement(providers)}]
    looks_like_jwt = {
        **_path_match(route),
        "headers": [{"name": TOKEN_HEADER, "string_match": {"contains": "."}}],
    }
    any_of = [{"provider_name": p.name} for p in providers] + [{"allow_missing": {}}]
    return [
        {"match": looks_like_jwt, "requires": {"requires_any": {"requirements": any_of}}},
        {"match": _path_match(route)},  # an API key (or nothing): the wasm filter decides
    ]


def jwt_authn_filter(policy: Policy) -> dict[str, Any]:
    providers = providers_of(policy)
    rules: list[dict[str, Any]] = []
    for route in policy.routes:
        rules.extend(route_rules(route, route_providers(route, providers)))
    return {
        "name": JWT_AUTHN_FILTER,
        "typed_config": {
            "@type": JWT_AUTHN_TYPE,
            "providers": {p.name: provider_config(p) for p in providers},
            "rules": rules,
        },
    }


# -- JWKS clusters ----------------------------------------------------------------
def jwks_cluster(provider: JwtProvider, *, ca_bundle: str) -> dict[str, Any]:
    """The cluster jwt_authn fetches a remote JWKS through (TLS for https)."""
    assert provider.jwks_url is not None
    parts = urlsplit(provider.jwks_url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    static = clusters.is_ip_literal(host)
    cluster: dict[str, Any] = {
        "name": provider.cluster,
        "type": "STATIC" if static else "STRICT_DNS",
        "connect_timeout": clusters.CONNECT_TIMEOUT,
        "lb_policy": "ROUND_ROBIN",
    }
    if not static:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = {
        "cluster_name": provider.cluster,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {"socket_address": {"address": host, "port_value": port}}
                        }
                    }
                ]
            }
        ],
    }
    if tls:
        validation: dict[str, Any] = {"trusted_ca": {"filename": ca_bundle}}
        if not static:
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": host}}
            ]
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": clusters.TLS_TYPE,
                "sni": host,
                "common_tls_context": {"validation_context": validation},
            },
        }
    return cluster


def jwks_clusters(policy: Policy, *, ca_bundle: str) -> list[dict[str, Any]]:
    return [
        jwks_cluster(p, ca_bundle=ca_bundle) for p in providers_of(policy) if p.jwks_url is not None
    ]


# -- local replies ----------------------------------------------------------------
def _error_format(code: str) -> dict[str, Any]:
    return {
        "json_format": {
            "error": {
                "message": "%LOCAL_REPLY_BODY%",
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
        "content_type": "application/json",
    }


def _cel(expression: str) -> dict[str, Any]:
    return {
        "extension_filter": {
            "name": "envoy.access_loggers.extension_filters.cel",
            "typed_config": {"@type": CEL_FILTER_TYPE, "expression": expression},
        }
    }


def local_reply_mappers() -> list[dict[str, Any]]:
    """Mappers for jwt_authn's failures; they must come before the generic ones."""
    return [
        {
            "filter": _cel(f"response.code_details == '{RC_DETAILS_MISSING}'"),
            "status_code": 401,
            "body_format_override": _error_format(MISSING_CODE),
        },
        {
            "filter": _cel(f"response.code_details.startsWith('{RC_DETAILS_PREFIX}')"),
            "status_code": 401,
            "body_format_override": _error_format(INVALID_CODE),
        },
    ]


# -- the hook bootstrap.py calls ---------------------------------------------------
def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _index(filters: list[dict[str, Any]], name: str) -> int:
    for i, f in enumerate(filters):
        if f.get("name") == name:
            return i
    raise ValueError(f"no {name} in the HTTP filter chain")


def apply_to_hcm(hcm: dict[str, Any], policy: Policy) -> None:
    """Add the JWT filters and local reply mappers to one HttpConnectionManager."""
    filters: list[dict[str, Any]] = hcm["http_filters"]
    router = _index(filters, ROUTER_FILTER)
    filters.insert(router, strip_claim_headers_filter(STRIP_UPSTREAM_FILTER))
    filters[0:0] = [strip_claim_headers_filter(), jwt_authn_filter(policy)]
    reply = hcm.setdefault("local_reply_config", {})
    reply["mappers"] = local_reply_mappers() + list(reply.get("mappers", []))


def apply(static_resources: dict[str, Any], policy: Policy, *, ca_bundle: str) -> None:
    """Add JWT authentication to a bootstrap's static resources, in place.

    A no-op unless the policy has a JWT provider that some route requires.
    """
    if not uses_jwt(policy):
        return
    for listener in static_resources.get("listeners", []):
        for node in list(_walk(listener)):
            if node.get("@type") == HCM_TYPE:
                apply_to_hcm(node, policy)
    extra = jwks_clusters(policy, ca_bundle=ca_bundle)
    if extra:
        static_resources.setdefault("clusters", []).extend(extra)
