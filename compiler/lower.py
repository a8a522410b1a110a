"""Lowering: the policy IR -> a flat list of operations per route and phase.

The lowered form is what the C generator walks. Each operation is a small
frozen dataclass carrying everything its C needs already computed: backend
indices instead of names, cumulative split thresholds instead of weights,
JSON-encoded string literals instead of raw text. The generator dispatches
on the operation's type (see `codegen.TRANSFORMS`), so adding a feature is
one op class here plus one `<op>_c` method there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from aipol.compiler import ir


@dataclass(frozen=True)
class Op:
    """Base class of lowered operations."""


# ---- header phase -----------------------------------------------------------


@dataclass(frozen=True)
class Authenticate(Op):
    """`require key` and/or `require jwt`: either one authenticates."""

    key: bool
    jwt: bool


@dataclass(frozen=True)
class StripClientCredentials(Op):
    """The gateway key must never reach a provider."""


@dataclass(frozen=True)
class HeaderSet(Op):
    response: bool
    name: str
    value: str


@dataclass(frozen=True)
class HeaderRemove(Op):
    response: bool
    name: str


@dataclass(frozen=True)
class RecordPrincipal(Op):
    """Expose principal and team as filter state for the access log."""


# ---- body phase -------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    backend: int
    below: int  # bucket threshold: this arm takes buckets < below


@dataclass(frozen=True)
class Choice:
    """One way to pick a backend: a single backend or a sticky split."""

    arms: tuple[Arm, ...]
    seed: str


@dataclass(frozen=True)
class ModelRule:
    pattern: str
    prefix: bool
    choice: Choice


@dataclass(frozen=True)
class SelectBackend(Op):
    rules: tuple[ModelRule, ...]
    fallthrough: Choice | None


@dataclass(frozen=True)
class AllowCheck:
    kind: str  # team | principal | tier | any
    names: tuple[str, ...]
    backends: tuple[int, ...] | None


@dataclass(frozen=True)
class Authorize(Op):
    rules: tuple[AllowCheck, ...]


@dataclass(frozen=True)
class CheckParams(Op):
    """`param` rules: a request field outside its bound is refused (403)."""

    rules: tuple[ir.ParamRule, ...]


@dataclass(frozen=True)
class ScanRule:
    """What to do with a match of one pattern of a scan set."""

    action: str  # redact | mask | hash | block | log
    detector: str
    label: str
    validator: str | None
    metric: str


@dataclass(frozen=True)
class ScanText(Op):
    """Scan every message text of the request (or, `response`, of the
    upstream's chat completion) with one DFA set: DLP detectors, or the
    phrases of deny lists (moderation). `name` names the op's tables; `dfa`
    the DFA set it runs, which is another op's when both scan the same
    patterns (a `dlp request, response` block compiles one set)."""

    name: str
    patterns: tuple[tuple[str, bool], ...]  # (regex source, case-insensitive)
    rules: tuple[ScanRule, ...]  # one per pattern
    block_code: str
    response: bool = False
    dfa: str = ""  # the DFA set's name; "" = `name`

    @property
    def dfa_name(self) -> str:
        return self.dfa or self.name


@dataclass(frozen=True)
class GuardPrompt(Op):
    """`prompt_guard injection`: score every user and tool message text with
    the injection model (compiler/injection.py, tables from compiler/guard.py);
    at or over `threshold`, `block` refuses (400 `prompt_injection`) and
    `detect` counts `metric` and lets the request through."""

    name: str
    mode: str  # detect | block
    threshold: int
    metric: str


@dataclass(frozen=True)
class RewriteModel(Op):
    """Set `model` to the chosen backend's model name where it differs."""

    models: tuple[str | None, ...]  # per global backend index


@dataclass(frozen=True)
class InsertSystem(Op):
    at_end: bool
    json_text: str  # JSON string literal, quotes included


@dataclass(frozen=True)
class RouteTo(Op):
    pass


@dataclass(frozen=True)
class LoweredRoute:
    index: int
    id: str
    path: str
    prefix: bool
    methods: tuple[str, ...]
    needs_body: bool
    header_ops: tuple[Op, ...]
    body_ops: tuple[Op, ...]
    response_ops: tuple[Op, ...]
    response_body_ops: tuple[Op, ...] = ()  # scanners of the upstream's response body

    @property
    def scans_response(self) -> bool:
        return bool(self.response_body_ops)


@dataclass(frozen=True)
class LoweredPolicy:
    name: str
    max_body: int
    backends: tuple[str, ...]  # global index -> backend name
    routes: tuple[LoweredRoute, ...] = field(default=())


def json_string(text: str) -> str:
    """The JSON string literal for `text`, as the filter inserts it."""
    return json.dumps(text, ensure_ascii=False)


def lower(policy: ir.Policy) -> LoweredPolicy:
    backends = tuple(b.name for b in policy.backends)
    index = {name: i for i, name in enumerate(backends)}
    routes = tuple(_lower_route(i, route, policy, index) for i, route in enumerate(policy.routes))
    return LoweredPolicy(
        name=policy.name, max_body=policy.gateway.max_body, backends=backends, routes=routes
    )


def _choice(target: ir.Target, seed: str, index: dict[str, int]) -> Choice:
    arms = []
    upto = 0
    for arm in target.arms:
        upto += arm.weight
        arms.append(Arm(backend=index[arm.backend], below=upto))
    return Choice(arms=tuple(arms), seed=seed)


def _lower_route(
    position: int, route: ir.Route, policy: ir.Policy, index: dict[str, int]
) -> LoweredRoute:
    request_scans = _scans(route, policy, "request")
    response_scans = _share_dfas(_scans(route, policy, "response"), request_scans)
    header_ops: list[Op] = []
    if route.require_key or route.jwt is not None:
        header_ops += [Authenticate(route.require_key, route.jwt is not None), RecordPrincipal()]
    header_ops.append(StripClientCredentials())
    if response_scans:
        # A compressed answer cannot be inspected (and would be refused):
        # ask the provider for an identity-encoded one.
        header_ops.append(HeaderRemove(False, "accept-encoding"))
    for op in route.request_headers:
        header_ops.append(
            HeaderSet(False, op.name, op.value)
            if op.action == "set"
            else HeaderRemove(False, op.name)
        )

    rules = [
        ModelRule(w.pattern, w.prefix, _choice(w.target, f"{route.id}.when{i}", index))
        for i, w in enumerate(route.when)
    ]
    rules += [
        ModelRule(
            model,
            False,
            _choice(ir.Target(arms=(ir.SplitArm(backend=b, weight=10000),)), route.id, index),
        )
        for model, b in route.implicit_models
    ]
    fallthrough = (
        _choice(route.fallthrough, f"{route.id}.split", index) if route.fallthrough else None
    )
    body_ops: list[Op] = [SelectBackend(tuple(rules), fallthrough)]
    if route.allow:
        body_ops.append(
            Authorize(
                tuple(
                    AllowCheck(
                        rule.kind,
                        rule.names,
                        None if rule.backends is None else tuple(index[b] for b in rule.backends),
                    )
                    for rule in route.allow
                )
            )
        )
    if route.params:
        body_ops.append(CheckParams(route.params))
    if route.prompt_guard is not None:
        body_ops.append(
            GuardPrompt(
                f"guard_{route.id}",
                route.prompt_guard.mode,
                route.prompt_guard.threshold,
                f"aipol.guard.{route.id}.detected",
            )
        )
    body_ops += request_scans
    body_ops.append(RewriteModel(tuple(b.model for b in policy.backends)))
    # The runtime puts each prepended message first, so prepends are emitted
    # last-to-first: the messages then appear in the order the policy wrote them.
    prepends = [s for s in route.system if s.position == "prepend"]
    appends = [s for s in route.system if s.position == "append"]
    for injection in reversed(prepends):
        body_ops.append(InsertSystem(False, json_string(injection.text)))
    for injection in appends:
        body_ops.append(InsertSystem(True, json_string(injection.text)))
    body_ops.append(RouteTo())

    response_ops: list[Op] = [
        HeaderSet(True, op.name, op.value) if op.action == "set" else HeaderRemove(True, op.name)
        for op in route.response_headers
    ]
    return LoweredRoute(
        index=position,
        id=route.id,
        path=route.path,
        prefix=route.prefix,
        methods=route.methods,
        needs_body=route.needs_body,
        header_ops=tuple(header_ops),
        body_ops=tuple(body_ops),
        response_ops=tuple(response_ops),
        response_body_ops=tuple(response_scans),
    )


def phrase_pattern(words: tuple[str, ...]) -> str:
    """One case-insensitive pattern for a deny list: whole words/phrases.
    Every byte that is not a letter, digit or space is written as \\xHH, so
    no phrase can inject regex syntax."""
    def esc(word: str) -> str:
        return "".join(
            ch if ch.isascii() and (ch.isalnum() or ch == " ") else
            "".join(f"\\x{b:02x}" for b in ch.encode())
            for ch in word
        )

    return r"\b(?:" + "|".join(esc(w) for w in words) + r")\b"


def _share_dfas(response: list[ScanText], request: list[ScanText]) -> list[ScanText]:
    """Response ops that scan exactly the patterns of a request op run its DFA
    set (the tables are the large part of a scan)."""
    by_patterns = {op.patterns: op.dfa_name for op in request}
    return [
        replace(op, dfa=by_patterns[op.patterns]) if op.patterns in by_patterns else op
        for op in response
    ]


def _scans(route: ir.Route, policy: ir.Policy, direction: ir.Direction) -> list[ScanText]:
    """ScanText ops for one side of a route: DLP, then deny lists. Request
    tables and metrics keep their names; the response side's have `resp` /
    `.response.` in theirs."""
    response = direction == "response"
    suffix = "_resp" if response else ""
    side = ".response" if response else ""
    ops: list[ScanText] = []
    detectors = {d.name: d for d in policy.detectors}
    patterns: list[tuple[str, bool]] = []
    rules: list[ScanRule] = []
    for rule in route.dlp:
        if direction not in rule.directions:
            continue
        d = detectors[rule.detector]
        metric = f"aipol.dlp.{route.id}{side}.{d.name}.{rule.action}"
        for source in d.patterns:
            patterns.append((source, d.case_insensitive))
            rules.append(ScanRule(rule.action, d.name, d.label, d.validator, metric))
    if patterns:
        ops.append(ScanText(f"dlp_{route.id}{suffix}", tuple(patterns), tuple(rules),
                            "dlp_blocked", response))
    deny_patterns: list[tuple[str, bool]] = []
    deny_rules: list[ScanRule] = []
    for i, deny in enumerate(route.deny):
        if direction not in deny.directions:
            continue
        # Chunks keep each DFA small; a list of thousands of phrases becomes
        # several patterns of one set.
        for start in range(0, len(deny.words), 200):
            deny_patterns.append((phrase_pattern(deny.words[start:start + 200]), True))
            deny_rules.append(ScanRule("block", "deny words", "DENY", None,
                                       f"aipol.deny.{route.id}{side}.list{i}.block"))
    if deny_patterns:
        ops.append(ScanText(f"deny_{route.id}{suffix}", tuple(deny_patterns), tuple(deny_rules),
                            "content_blocked", response))
    return ops
