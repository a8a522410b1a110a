"""The policy IR: what a `.aipol` file means, after names are resolved and
checked, before any backend (C codegen, Envoy bootstrap, harness tests) runs.

Every model is frozen and JSON-serialisable (`Policy.model_dump_json()`), so
each later stage is a pure function of it and the IR can be stored next to
the artifacts for inspection. Principals carry only SHA-256 hashes of keys.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Node):
    host: str
    port: int


class Gateway(Node):
    listen: Address = Address(host="0.0.0.0", port=8080)
    admin: Address = Address(host="127.0.0.1", port=9901)
    max_body: int = 4 * 1024 * 1024
    on_sidecar_failure: Literal["open", "closed"] = "closed"


class Principal(Node):
    """One API key holder. `sha256` is the hex digest of the key."""

    name: str
    team: str
    tier: str
    sha256: str


class Credential(Node):
    """Where the upstream credential comes from, resolved only at run time."""

    source: Literal["env", "file", "none"] = "none"
    ref: str = ""  # environment variable name or file path


class Price(Node):
    input_per_token: Decimal
    output_per_token: Decimal


class Backend(Node):
    name: str
    provider: str
    model: str | None = None
    url: str
    credential: Credential = Credential()
    price: Price | None = None

    @property
    def cluster(self) -> str:
        return f"backend_{self.name}"

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def path_prefix(self) -> str:
        """Path of the url without a trailing slash ("" for the root)."""
        return urlsplit(self.url).path.rstrip("/")


class SplitArm(Node):
    backend: str
    weight: int  # basis points: 100% = 10000


class Target(Node):
    """Where a decision sends the request: one backend or a weighted split."""

    arms: tuple[SplitArm, ...]

    @property
    def single(self) -> str | None:
        return self.arms[0].backend if len(self.arms) == 1 else None


class WhenModel(Node):
    pattern: str
    prefix: bool  # the pattern ended in "*": match model names starting with it
    target: Target


class AllowRule(Node):
    """Principals matching `kind`/`names` may use `backends` (None = any)."""

    kind: Literal["team", "principal", "tier", "any"]
    names: tuple[str, ...] = ()
    backends: tuple[str, ...] | None = None


class HeaderOp(Node):
    action: Literal["set", "remove"]
    name: str  # lower-case
    value: str = ""


class SystemInjection(Node):
    position: Literal["prepend", "append"]
    text: str


class Detector(Node):
    """A DLP detector: a built-in one (email, credit_card, ...) or a custom
    `pattern`. `patterns` are regexes in aipol's byte-level subset."""

    name: str
    label: str  # shown in redactions: [REDACTED:<label>]
    patterns: tuple[str, ...]
    case_insensitive: bool = False
    validator: str | None = None  # checksum run after a DFA match (luhn, iban_mod97, ...)
    max_len: int = 256  # longest possible match in bytes (streaming hold-back)
    builtin: bool = True


Direction = Literal["request", "response"]


class DlpRule(Node):
    detector: str
    action: Literal["redact", "mask", "hash", "block", "log"]
    directions: tuple[Direction, ...]


class PromptGuard(Node):
    mode: Literal["detect", "block"]
    threshold: int


class DenyList(Node):
    words: tuple[str, ...]
    directions: tuple[Direction, ...]


class JwtRequirement(Node):
    """`require jwt`: Envoy's jwt_authn validates; the filter maps claims
    (copied into x-aipol-jwt-* headers by Envoy) onto the principal."""

    issuer: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    audiences: tuple[str, ...] = ()
    claim_principal: str = "sub"
    claim_team: str | None = None
    claim_tier: str | None = None

    @property
    def provider_name(self) -> str:
        """A stable name for Envoy's provider: independent of where the
        policy's folder is (the JWKS path is absolute), so builds are
        reproducible across checkouts."""
        import hashlib
        import os

        key = self.model_copy(
            update={"jwks_file": os.path.basename(self.jwks_file) if self.jwks_file else None}
        )
        return "jwt_" + hashlib.sha256(key.model_dump_json().encode()).hexdigest()[:12]


class ParamRule(Node):
    """A constraint on a request field: `param max_tokens <= 1000 [for tier free]`."""

    name: str
    op: Literal["<=", "<", ">=", ">", "==", "deny"]
    value: Decimal | None = None
    scope_kind: Literal["team", "tier", "principal"] | None = None
    scope_names: tuple[str, ...] = ()
    line: int = 0  # where the rule is written: named in the 403

    def describe(self) -> str:
        text = f"param {self.name} {self.op}"
        if self.value is not None:
            text += f" {self.value.normalize():f}"
        if self.scope_kind:
            text += f" for {self.scope_kind} {', '.join(self.scope_names)}"
        return text


class Route(Node):
    id: str  # r0, r1, ... in file order: stable names for Envoy and the C code
    path: str  # without the trailing "*" of a prefix match
    prefix: bool
    methods: tuple[str, ...] = ()  # upper-case; empty = any
    require_key: bool = False
    allow: tuple[AllowRule, ...] = ()
    when: tuple[WhenModel, ...] = ()
    fallthrough: Target | None = None  # `split` / `default`
    implicit_models: tuple[tuple[str, str], ...] = ()  # (model, backend) served by route backends
    system: tuple[SystemInjection, ...] = ()
    request_headers: tuple[HeaderOp, ...] = ()
    response_headers: tuple[HeaderOp, ...] = ()
    backends: tuple[str, ...] = ()  # every backend this route can send to
    applied: tuple[str, ...] = ()  # names of the policy blocks merged in
    dlp: tuple[DlpRule, ...] = ()
    prompt_guard: PromptGuard | None = None
    deny: tuple[DenyList, ...] = ()
    jwt: JwtRequirement | None = None
    params: tuple[ParamRule, ...] = ()

    @property
    def needs_body(self) -> bool:
        """Whether a request body is buffered and parsed (the model decides the
        backend, gets rewritten, or gets a system prompt): all routes except
        those that only accept body-less methods."""
        bodyless = {"GET", "HEAD", "DELETE", "OPTIONS"}
        return not (self.methods and set(self.methods) <= bodyless)


class TestRequest(Node):
    method: str = "POST"
    path: str = "/v1/chat/completions"
    key: str | None = None
    model: str | None = None
    chat: str | None = None
    body: str | None = None
    stream: bool = False
    headers: tuple[tuple[str, str], ...] = ()


class Expectation(Node):
    kind: Literal[
        "status",
        "route",
        "upstream_body_contains",
        "upstream_body_not_contains",
        "upstream_header",
        "upstream_header_absent",
        "header",
        "header_absent",
        "body_contains",
        "body_not_contains",
    ]
    name: str = ""  # header name
    value: str = ""  # expected text, status as text, or backend name
    line: int = 0  # source line, for reports


class PolicyTest(Node):
    name: str
    request: TestRequest
    expects: tuple[Expectation, ...]
    line: int = 0


class Policy(Node):
    """The root of the IR for one `.aipol` file."""

    name: str  # file stem
    gateway: Gateway = Gateway()
    principals: tuple[Principal, ...] = ()
    backends: tuple[Backend, ...] = ()
    routes: tuple[Route, ...] = ()
    tests: tuple[PolicyTest, ...] = Field(default=())
    detectors: tuple[Detector, ...] = ()  # every detector a route uses

    @property
    def jwt_providers(self) -> tuple[JwtRequirement, ...]:
        seen: dict[str, JwtRequirement] = {}
        for route in self.routes:
            if route.jwt is not None:
                seen.setdefault(route.jwt.provider_name, route.jwt)
        return tuple(seen.values())

    @property
    def buffer_limit(self) -> int:
        """Bytes the buffer filter after ours may hold: `max_body` (which the
        filter enforces on what the client sent) plus room for the filter's
        own edits (system prompts, model names), so an edited body just under
        the limit is never refused by Envoy."""
        import json

        edits = 0
        for route in self.routes:
            injected = sum(len(json.dumps(s.text)) + 64 for s in route.system)
            edits = max(edits, injected)
        models = max((len(b.model or "") for b in self.backends), default=0)
        return self.gateway.max_body + edits + models + 1024

    def backend(self, name: str) -> Backend:
        for backend in self.backends:
            if backend.name == name:
                return backend
        raise KeyError(name)
