"""Resolve the security statements of a route (issue 4): `dlp`, `prompt_guard`,
`deny words`, `require jwt` + `claims`, and `param` constraints.

Kept apart from `resolve.py` so the routing core stays readable; the
`Resolver` calls `resolve_security(...)` with the route's expanded
statements and merges the returned fields into the IR route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aipol.compiler import ir
from aipol.dsl import ast

# Request fields a `param` rule may constrain with a comparison.
NUMERIC_PARAMS = {
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "presence_penalty",
    "frequency_penalty", "top_logprobs", "seed",
}
# Fields a `param NAME deny` rule may forbid (any top-level field of a request).
KNOWN_PARAMS = NUMERIC_PARAMS | {
    "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "stream",
    "stream_options", "logprobs", "response_format", "logit_bias", "user", "store", "metadata",
    "modalities", "audio", "prediction", "reasoning_effort", "service_tier", "stop",
    "web_search_options",
}
MAX_DENY_WORDS = 5000

ErrorFn = Callable[..., None]


@dataclass
class SecurityFields:
    dlp: list[ir.DlpRule] = field(default_factory=list)
    prompt_guard: ir.PromptGuard | None = None
    deny: list[ir.DenyList] = field(default_factory=list)
    jwt: ir.JwtRequirement | None = None
    params: list[ir.ParamRule] = field(default_factory=list)

    def as_route_fields(self) -> dict[str, Any]:
        return {
            "dlp": tuple(self.dlp),
            "prompt_guard": self.prompt_guard,
            "deny": tuple(self.deny),
            "jwt": self.jwt,
            "params": tuple(self.params),
        }


def resolve_security(
    nodes: Sequence[ast.Node],
    *,
    base_dir: Path,
    error: ErrorFn,
    detector: Callable[[ast.Name], str | None],
    custom_pattern: Callable[[ast.DlpPattern], str | None],
    principals: Sequence[ir.Principal],
) -> SecurityFields:
    """The security fields of one route from its statements (policies inlined)."""
    out = SecurityFields()
    seen_rules: dict[tuple[str, str], ast.Node] = {}
    for stmt in nodes:
        if isinstance(stmt, ast.Dlp):
            for item in stmt.body:
                if isinstance(item, ast.DlpAction):
                    names = [(d, detector(d)) for d in item.detectors]
                    action = item.action
                else:
                    names = [(item.name, custom_pattern(item))]
                    action = item.action
                for node, name in names:
                    if name is None:
                        continue
                    for direction in stmt.directions:
                        key = (name, direction)
                        if key in seen_rules:
                            error(
                                f"detector `{name}` already has an action for {direction}s",
                                node.span,
                                hint=f"see line {seen_rules[key].span.line}",
                            )
                            continue
                        seen_rules[key] = node
                    out.dlp.append(
                        ir.DlpRule(detector=name, action=action, directions=stmt.directions)
                    )
        elif isinstance(stmt, ast.PromptGuard):
            if out.prompt_guard is not None:
                error("duplicate `prompt_guard`", stmt.span)
                continue
            from aipol.compiler import injection

            threshold = (
                stmt.threshold.value if stmt.threshold is not None else injection.DEFAULT_THRESHOLD
            )
            out.prompt_guard = ir.PromptGuard(mode=stmt.mode, threshold=threshold)
        elif isinstance(stmt, ast.DenyWords):
            words = _deny_words(stmt, base_dir, error)
            if words:
                out.deny.append(ir.DenyList(words=words, directions=stmt.directions))
        elif isinstance(stmt, ast.Param):
            rule = _param(stmt, error, principals)
            if rule is not None:
                out.params.append(rule)
    out.jwt = _jwt(nodes, error, base_dir)
    return out


def _deny_words(stmt: ast.DenyWords, base_dir: Path, error: ErrorFn) -> tuple[str, ...]:
    if stmt.file is not None:
        path = base_dir / stmt.file.value
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            error(f"deny list not found: {stmt.file.value}", stmt.file.span,
                  hint="the path is relative to the .aipol file")
            return ()
        except (OSError, UnicodeDecodeError) as err:
            error(f"cannot read deny list {stmt.file.value}: {err}", stmt.file.span)
            return ()
        words = [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
        span = stmt.file.span
    else:
        words = [w.value.strip() for w in stmt.words or ()]
        span = stmt.span
    words = list(dict.fromkeys(w for w in words if w))
    if not words:
        error("a deny list needs at least one word or phrase", span)
    if len(words) > MAX_DENY_WORDS:
        error(f"a deny list holds at most {MAX_DENY_WORDS} phrases", span)
        return ()
    return tuple(words)


def _param(
    stmt: ast.Param, error: ErrorFn, principals: Sequence[ir.Principal]
) -> ir.ParamRule | None:
    name = stmt.name.value
    if stmt.op == "deny":
        if name not in KNOWN_PARAMS:
            error(f"unknown request field `{name}`", stmt.name.span,
                  expected=sorted(KNOWN_PARAMS))
            return None
    elif name not in NUMERIC_PARAMS:
        error(f"`{name}` is not a numeric request field", stmt.name.span,
              expected=sorted(NUMERIC_PARAMS))
        return None
    scope_names = tuple(n.value for n in stmt.scope_names)
    if stmt.scope_kind and principals:
        attr = {"team": "team", "tier": "tier", "principal": "name"}[stmt.scope_kind]
        known = sorted({getattr(p, attr) for p in principals})
        for n in stmt.scope_names:
            if n.value not in known:
                error(f"no principal in the keys file has {stmt.scope_kind} `{n.value}`",
                      n.span, expected=known)
    return ir.ParamRule(
        name=name, op=stmt.op, value=stmt.value, scope_kind=stmt.scope_kind,
        scope_names=scope_names, line=stmt.span.line,
    )


def _jwt(nodes: Sequence[ast.Node], error: ErrorFn, base_dir: Path) -> ir.JwtRequirement | None:
    reqs = [s for s in nodes if isinstance(s, ast.RequireJwt)]
    claims = [s for s in nodes if isinstance(s, ast.Claims)]
    for extra in reqs[1:]:
        error("duplicate `require jwt`", extra.span)
    for extra in claims[1:]:
        error("duplicate `claims`", extra.span)
    if not reqs:
        if claims:
            error("`claims` maps JWT claims: it needs `require jwt`", claims[0].span)
        return None
    req = reqs[0]
    mapping: dict[str, Any] = {}
    if claims:
        c = claims[0]
        if c.principal is not None:
            mapping["claim_principal"] = c.principal.value
        if c.team is not None:
            mapping["claim_team"] = c.team.value
        if c.tier is not None:
            mapping["claim_tier"] = c.tier.value
    jwks_file = None
    if req.jwks_file is not None:
        # Envoy reads the file at start-up relative to its own working
        # directory: pin it to the policy's folder, like the keys file.
        path = (base_dir / req.jwks_file.value).resolve()
        if not path.is_file():
            error(f"JWKS file not found: {req.jwks_file.value}", req.jwks_file.span,
                  hint="the path is relative to the .aipol file")
        jwks_file = str(path)
    return ir.JwtRequirement(
        issuer=req.issuer.value,
        jwks_file=jwks_file,
        jwks_url=req.jwks_url.value if req.jwks_url else None,
        audiences=tuple(a.value for a in req.audiences),
        **mapping,
    )
