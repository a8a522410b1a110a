"""Resolve: the syntax tree of one `.aipol` file -> the checked policy IR.

Names are looked up (backends, policies, principals, teams), `apply` is
inlined, the keys file is read, and every rule that would make the policy
ambiguous or dead is refused with an error pointing at the source: unknown
or duplicate names, splits that do not add up to 100%, models allowed that no
backend serves, `when` branches that an earlier branch already catches. All
errors of a file are reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from aipol.compiler import ir
from aipol.compiler.resolve_security import resolve_security
from aipol.dsl import ast
from aipol.dsl.errors import AipolError, AipolErrors

PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
RESERVED_HEADERS = {"content-length", "transfer-encoding", "host", "connection"}
DEFAULT_CHAT_PATH = "/v1/chat/completions"
# Statements the parser knows but the code generator does not enforce yet:
# refused, so that a policy never looks enforced when it is not.
NOT_YET_COMPILED: tuple[type, ...] = ()


class Resolver:
    def __init__(self, tree: ast.File, source: str, base_dir: Path) -> None:
        self.tree = tree
        self.source = source
        self.base_dir = base_dir
        self.errors: list[AipolError] = []
        self.backends: dict[str, ir.Backend] = {}
        self.backend_spans: dict[str, ast.Span] = {}
        self.policies: dict[str, ast.Policy] = {}
        self.principals: tuple[ir.Principal, ...] = ()
        self.keys_span: ast.Span | None = None
        self.detectors: dict[str, ir.Detector] = {}

    # -- reporting -------------------------------------------------------------

    def error(
        self,
        message: str,
        span: ast.Span | None,
        expected: Sequence[str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.errors.append(AipolError(message, span, self.source, expected=expected, hint=hint))

    def raise_errors(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise AipolErrors(self.errors)

    def single(self, stmts: Iterable[ast.Node], cls: type, what: str) -> list:
        """Statements of type `cls`; a second one is an error."""
        found = [s for s in stmts if isinstance(s, cls)]
        for extra in found[1:]:
            self.error(
                f"duplicate `{what}`", extra.span, hint=f"first given at line {found[0].span.line}"
            )
        return found

    # -- the file ----------------------------------------------------------------

    def resolve(self, name: str) -> ir.Policy:
        gateway = self.gateway()
        self.keys()
        self.collect_backends()
        self.collect_policies()
        routes = self.routes()
        tests = self.tests()
        self.raise_errors()
        return ir.Policy(
            name=name,
            gateway=gateway,
            principals=self.principals,
            backends=tuple(self.backends.values()),
            routes=routes,
            tests=tests,
            detectors=tuple(self.detectors[n] for n in sorted(self.detectors)),
        )

    def gateway(self) -> ir.Gateway:
        blocks = self.single(self.tree.items, ast.Gateway, "gateway")
        if not blocks:
            return ir.Gateway()
        body = blocks[0].body
        values: dict = {}
        listen = self.single(body, ast.Listen, "listen")
        if listen:
            values["listen"] = self.address(listen[0].address)
        admin = self.single(body, ast.Admin, "admin")
        if admin:
            values["admin"] = self.address(admin[0].address)
        max_body = self.single(body, ast.MaxBody, "max_body")
        if max_body:
            size = max_body[0].size
            if size.bytes <= 0 or size.bytes > 64 * 1024 * 1024:
                self.error("max_body must be between 1 byte and 64MiB", size.span)
            else:
                values["max_body"] = size.bytes
        failure = self.single(body, ast.OnSidecarFailure, "on_sidecar_failure")
        if failure:
            values["on_sidecar_failure"] = failure[0].mode
        if "listen" in values and "admin" in values and values["listen"] == values["admin"]:
            self.error("admin must not use the listen address", admin[0].span)
        return ir.Gateway(**values)

    def address(self, addr: ast.Address) -> ir.Address:
        if not 0 <= addr.port <= 65535:
            self.error("port must be between 0 and 65535", addr.span)
        return ir.Address(host=addr.host, port=addr.port)

    # -- keys ------------------------------------------------------------------------

    def keys(self) -> None:
        stmts = self.single(self.tree.items, ast.KeysFile, "keys file")
        if not stmts:
            return
        stmt = stmts[0]
        self.keys_span = stmt.path.span
        path = (self.base_dir / stmt.path.value).resolve()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.error(
                f"keys file not found: {stmt.path.value}",
                stmt.path.span,
                hint="the path is relative to the .aipol file",
            )
            return
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.error(f"cannot read keys file {stmt.path.value}: {first}", stmt.path.span)
            return
        if data is None:
            data = []
        if isinstance(data, dict) and "principals" in data:
            data = data["principals"]
        if not isinstance(data, list):
            self.error(
                f"keys file {stmt.path.value} must be a list of principals",
                stmt.path.span,
                hint="each entry: {name, team, tier, sha256}",
            )
            return
        principals: list[ir.Principal] = []
        names: set[str] = set()
        hashes: set[str] = set()
        for i, entry in enumerate(data, start=1):
            where = f"{stmt.path.value} entry {i}"
            if not isinstance(entry, dict):
                self.error(
                    f"{where}: expected a mapping with name, team, tier, sha256", stmt.path.span
                )
                continue
            if "key" in entry or "api_key" in entry:
                self.error(
                    f"{where}: plain keys are not accepted; store only their sha256",
                    stmt.path.span,
                    hint="printf %s 'sk-...' | sha256sum",
                )
                continue
            fields = {}
            for key in ("name", "team", "tier", "sha256"):
                value = entry.get(key, "default" if key == "tier" else None)
                if not isinstance(value, str) or not value:
                    self.error(f"{where}: `{key}` is missing or not a string", stmt.path.span)
                    break
                fields[key] = value
            else:
                extra = sorted(set(entry) - {"name", "team", "tier", "sha256"})
                if extra:
                    self.error(f"{where}: unknown fields {', '.join(extra)}", stmt.path.span)
                    continue
                bad = [k for k in ("name", "team", "tier") if not PRINCIPAL_NAME.match(fields[k])]
                if bad:
                    self.error(
                        f"{where}: `{bad[0]}` may only contain letters, digits, _ . @ -",
                        stmt.path.span,
                    )
                    continue
                digest = fields["sha256"].lower()
                if not SHA256_HEX.match(digest):
                    self.error(f"{where}: sha256 must be 64 hex digits", stmt.path.span)
                    continue
                if fields["name"] in names:
                    self.error(f"{where}: duplicate principal `{fields['name']}`", stmt.path.span)
                    continue
                if digest in hashes:
                    self.error(f"{where}: two principals share one key", stmt.path.span)
                    continue
                names.add(fields["name"])
                hashes.add(digest)
                principals.append(
                    ir.Principal(
                        name=fields["name"], team=fields["team"], tier=fields["tier"], sha256=digest
                    )
                )
        self.principals = tuple(principals)

    # -- backends and policies -----------------------------------------------------------

    def collect_backends(self) -> None:
        for block in self.tree.backends:
            name = block.name.value
            if name in self.backends:
                self.error(
                    f"duplicate backend `{name}`",
                    block.name.span,
                    hint=f"first defined at line {self.backend_spans[name].line}",
                )
                continue
            backend = self.backend(block)
            if backend is not None:
                self.backends[name] = backend
                self.backend_spans[name] = block.name.span

    def backend(self, block: ast.Backend) -> ir.Backend | None:
        body = block.body
        provider = self.single(body, ast.Provider, "provider")
        url = self.single(body, ast.Url, "url")
        model = self.single(body, ast.Model, "model")
        creds = [
            s
            for s in body
            if isinstance(s, ast.CredentialEnv | ast.CredentialFile | ast.CredentialNone)
        ]
        for extra in creds[1:]:
            self.error("duplicate `credential`", extra.span)
        price = self.single(body, ast.Price, "price")
        ok = True
        if not provider:
            self.error(f"backend `{block.name.value}` needs a `provider`", block.name.span)
            ok = False
        if not url:
            self.error(f"backend `{block.name.value}` needs a `url`", block.name.span)
            ok = False
        else:
            parts = urlsplit(url[0].url.value)
            try:
                port_ok = parts.port is None or 0 < parts.port < 65536
            except ValueError:
                port_ok = False
            if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
                self.error(
                    "url must be http:// or https:// with a host",
                    url[0].url.span,
                    hint='for example "https://api.openai.com"',
                )
                ok = False
            elif parts.query or parts.fragment or parts.username:
                self.error("url must not carry a query, fragment or user info", url[0].url.span)
                ok = False
        if not ok:
            return None
        credential = ir.Credential()
        if creds:
            c = creds[0]
            if isinstance(c, ast.CredentialEnv):
                credential = ir.Credential(source="env", ref=c.var.value)
            elif isinstance(c, ast.CredentialFile):
                credential = ir.Credential(source="file", ref=c.path.value)
        ir_price = None
        if price:
            per = Decimal(price[0].per_tokens.value)
            if per <= 0:
                self.error("price must be per a positive number of tokens", price[0].span)
            else:
                ir_price = ir.Price(
                    input_per_token=price[0].input.amount / per,
                    output_per_token=price[0].output.amount / per,
                )
        return ir.Backend(
            name=block.name.value,
            provider=provider[0].name.value,
            model=model[0].name.value if model else None,
            url=url[0].url.value,
            credential=credential,
            price=ir_price,
        )

    def collect_policies(self) -> None:
        for block in self.tree.policies:
            name = block.name.value
            if name in self.policies:
                self.error(
                    f"duplicate policy `{name}`",
                    block.name.span,
                    hint=f"first defined at line {self.policies[name].name.span.line}",
                )
                continue
            self.policies[name] = block

    def backend_ref(self, name: ast.Name) -> str | None:
        if name.value in self.backends:
            return name.value
        if name.value not in {b.name.value for b in self.tree.backends}:
            self.error(
                f"unknown backend `{name.value}`", name.span, expected=sorted(self.backends) or None
            )
        return None

    # -- routes ------------------------------------------------------------------------

    def routes(self) -> tuple[ir.Route, ...]:
        routes: list[ir.Route] = []
        seen: dict[tuple[str, bool], ast.Route] = {}
        for i, block in enumerate(self.tree.routes):
            raw = block.path.value
            prefix = raw.endswith("*")
            path = raw[:-1] if prefix else raw
            if not path.startswith("/"):
                self.error('a route path starts with "/"', block.path.span)
                continue
            if "*" in path or "?" in path:
                self.error(
                    '"*" may only end a route path, and no query is allowed', block.path.span
                )
                continue
            if (path, prefix) in seen:
                self.error(
                    f"duplicate route {raw!r}",
                    block.path.span,
                    hint=f"first defined at line {seen[(path, prefix)].span.line}",
                )
                continue
            seen[(path, prefix)] = block
            route = self.route(f"r{i}", path, prefix, block)
            if route is not None:
                routes.append(route)
        self.check_shadowed(routes)
        return tuple(routes)

    def check_shadowed(self, routes: list[ir.Route]) -> None:
        """A route after a prefix route that already catches its paths is dead."""
        blocks = {f"r{i}": b for i, b in enumerate(self.tree.routes)}
        for j, later in enumerate(routes):
            for earlier in routes[:j]:
                if earlier.prefix and later.path.startswith(earlier.path):
                    if not earlier.methods or (
                        later.methods and set(later.methods) <= set(earlier.methods)
                    ):
                        self.error(
                            f"route {later.path + ('*' if later.prefix else '')!r} is unreachable",
                            blocks[later.id].path.span,
                            hint=f"the route at line {blocks[earlier.id].span.line} matches first",
                        )
                        break

    def expand(
        self, body: Iterable[ast.Node], trail: tuple[str, ...]
    ) -> list[tuple[ast.Node, tuple[str, ...]]]:
        """Route statements with `apply` inlined (policy statements in place)."""
        out: list[tuple[ast.Node, tuple[str, ...]]] = []
        for stmt in body:
            if not isinstance(stmt, ast.Apply):
                out.append((stmt, trail))
                continue
            for name in stmt.policies:
                policy = self.policies.get(name.value)
                if policy is None:
                    self.error(
                        f"unknown policy `{name.value}`",
                        name.span,
                        expected=sorted(self.policies) or None,
                    )
                    continue
                if name.value in trail:
                    self.error(f"policy `{name.value}` is applied twice", name.span)
                    continue
                out.extend(self.expand(policy.body, (*trail, name.value)))
        return out

    def route(self, rid: str, path: str, prefix: bool, block: ast.Route) -> ir.Route | None:
        stmts = self.expand(block.body, ())
        applied = tuple(dict.fromkeys(name for _, trail in stmts for name in trail))
        nodes = [s for s, _ in stmts]
        methods_stmts = self.single(nodes, ast.Methods, "methods")
        methods = tuple(m.value.upper() for m in methods_stmts[0].methods) if methods_stmts else ()
        require_key = any(isinstance(s, ast.RequireKey) for s in nodes)
        if require_key and self.keys_span is None and not self.tree.keys:
            first = next(s for s in nodes if isinstance(s, ast.RequireKey))
            self.error("`require key` needs a `keys file` at the top level", first.span)

        backends: list[str] = []

        def use(name: str | None) -> None:
            if name is not None and name not in backends:
                backends.append(name)

        when: list[ir.WhenModel] = []
        when_spans: list[ast.When] = []
        fallthrough: ir.Target | None = None
        fall_span: ast.Node | None = None
        for stmt in nodes:
            if isinstance(stmt, ast.When):
                target = self.target(stmt.target)
                raw = stmt.condition.pattern.value
                pattern, is_prefix = (raw[:-1], True) if raw.endswith("*") else (raw, False)
                if "*" in pattern or not raw:
                    self.error(
                        'a model pattern is a name, or a name prefix ending in "*"',
                        stmt.condition.pattern.span,
                    )
                    continue
                for earlier, espan in zip(when, when_spans, strict=True):
                    covered = (earlier.prefix and pattern.startswith(earlier.pattern)) or (
                        not earlier.prefix and not is_prefix and pattern == earlier.pattern
                    )
                    if covered:
                        self.error(
                            f"unreachable `when`: model {raw!r} is already matched",
                            stmt.condition.pattern.span,
                            hint=f"the `when` at line {espan.span.line} catches it first",
                        )
                        break
                if target is not None:
                    for arm in target.arms:
                        use(arm.backend)
                    when.append(ir.WhenModel(pattern=pattern, prefix=is_prefix, target=target))
                    when_spans.append(stmt)
            elif isinstance(stmt, ast.Split | ast.Default):
                if fall_span is not None:
                    self.error(
                        "a route has one fallthrough (`split` or `default`)",
                        stmt.span,
                        hint=f"another is at line {fall_span.span.line}",
                    )
                    continue
                fall_span = stmt
                target = self.target(stmt if isinstance(stmt, ast.Split) else stmt.backend)
                if target is not None:
                    fallthrough = target
                    for arm in target.arms:
                        use(arm.backend)

        allow = []
        for stmt in nodes:
            if isinstance(stmt, ast.Allow):
                rule = self.allow(stmt, backends)
                if rule is not None:
                    allow.append(rule)
                    for b in rule.backends or ():
                        use(b)
        has_jwt = any(isinstance(s, ast.RequireJwt) for s in nodes)
        if allow and not (require_key or has_jwt) and any(r.kind != "any" for r in allow):
            first = next(s for s in nodes if isinstance(s, ast.Allow) and s.subject != "any")
            self.error(
                "`allow` for teams, principals or tiers needs `require key` or `require jwt`",
                first.span,
            )

        # A backend serves its own model name on this route without a `when`,
        # unless it is an arm of a split: then the split decides (A/B tests).
        covered = [(w.pattern, w.prefix) for w in when]
        in_splits = {
            arm.backend
            for target in [fallthrough, *(w.target for w in when)]
            if target is not None and len(target.arms) > 1
            for arm in target.arms
        }
        implicit: list[tuple[str, str]] = []
        for name in backends:
            model = self.backends[name].model
            if name in in_splits:
                continue
            if model is None or any(model == m for m, _ in implicit):
                continue
            if any((p and model.startswith(pat)) or (not p and model == pat) for pat, p in covered):
                continue
            implicit.append((model, name))
        decides = any(isinstance(s, ast.When | ast.Split | ast.Default) for s in nodes)
        if not backends and not decides:
            self.error(
                "this route sends nowhere: add `default <backend>`, `split`, or `when model`",
                block.path.span,
            )

        system = tuple(
            ir.SystemInjection(position=s.position, text=s.text.value)
            for s in nodes
            if isinstance(s, ast.SystemPrompt)
        )
        req_headers, resp_headers = self.header_ops(nodes)
        for stmt in nodes:
            if isinstance(stmt, NOT_YET_COMPILED):
                self.error(
                    "this statement is parsed but not compiled yet by this version of aipol",
                    stmt.span,
                    hint="remove it for now: a policy must never look enforced when it is not",
                )
        security = resolve_security(
            nodes,
            base_dir=self.base_dir,
            error=self.error,
            detector=self.detector_ref,
            custom_pattern=self.custom_pattern,
            principals=self.principals,
        )
        return ir.Route(
            id=rid,
            path=path,
            prefix=prefix,
            methods=methods,
            require_key=require_key,
            allow=tuple(allow),
            when=tuple(when),
            fallthrough=fallthrough,
            implicit_models=tuple(implicit),
            system=system,
            request_headers=req_headers,
            response_headers=resp_headers,
            backends=tuple(backends),
            applied=applied,
            **security.as_route_fields(),
        )

    # -- detectors (dlp) ----------------------------------------------------------------

    def detector_ref(self, name: ast.Name) -> str | None:
        """The detector `name` (built in, or a custom pattern defined earlier)."""
        from aipol.compiler import detectors

        if name.value in self.detectors:
            return name.value
        builtin = detectors.DETECTORS.get(name.value)
        if builtin is None:
            self.error(
                f"unknown detector `{name.value}`",
                name.span,
                expected=sorted({*detectors.DETECTORS, *self.detectors}),
            )
            return None
        self.detectors[name.value] = ir.Detector(
            name=builtin.name,
            label=builtin.label,
            patterns=tuple(builtin.patterns),
            case_insensitive=builtin.ignore_case,
            validator=builtin.validator,
            max_len=builtin.max_len,
            builtin=True,
        )
        return name.value

    def custom_pattern(self, stmt: ast.DlpPattern) -> str | None:
        from aipol.compiler import detectors, regex

        name = stmt.name.value
        if name in detectors.DETECTORS:
            self.error(f"`{name}` is a built-in detector; choose another name", stmt.name.span)
            return None
        flags = stmt.regex.flags
        if set(flags) - {"i"}:
            self.error("only the `i` flag is supported for patterns", stmt.regex.span)
            return None
        try:
            compiled = regex.compile_set(
                [regex.Pattern(stmt.regex.pattern, ignore_case="i" in flags, name=name)]
            )
        except regex.RegexError as err:
            span = stmt.regex.span
            column = span.column + 1 + err.offset  # past the opening slash
            at = ast.Span(span.file, span.line, column, span.line, column + 1)
            self.error(f"invalid pattern: {err.message}", at)
            return None
        detector = ir.Detector(
            name=name,
            label=name.upper(),
            patterns=(stmt.regex.pattern,),
            case_insensitive="i" in flags,
            max_len=compiled.patterns[0].max_len or 65536,
            builtin=False,
        )
        if name in self.detectors and self.detectors[name] != detector:
            self.error(f"pattern `{name}` is defined twice differently", stmt.name.span)
            return None
        self.detectors[name] = detector
        return name

    def target(self, node: ast.Name | ast.Split) -> ir.Target | None:
        if isinstance(node, ast.Name):
            name = self.backend_ref(node)
            return (
                None if name is None else ir.Target(arms=(ir.SplitArm(backend=name, weight=10000),))
            )
        arms: list[ir.SplitArm] = []
        total = Decimal(0)
        ok = True
        seen: set[str] = set()
        for arm in node.arms:
            name = self.backend_ref(arm.backend)
            total += arm.weight.value
            if arm.weight.value <= 0:
                self.error("a split weight must be above 0%", arm.weight.span)
                ok = False
            if name is None:
                ok = False
                continue
            if name in seen:
                self.error(f"backend `{name}` appears twice in this split", arm.backend.span)
                ok = False
            seen.add(name)
            basis = arm.weight.value * 100
            if basis != basis.to_integral_value():
                self.error("split weights have at most two decimals", arm.weight.span)
                ok = False
            arms.append(ir.SplitArm(backend=name, weight=int(basis)))
        if total != 100:
            self.error(f"split weights add up to {total.normalize():f}%, not 100%", node.span)
            ok = False
        return ir.Target(arms=tuple(arms)) if ok and arms else None

    def allow(self, stmt: ast.Allow, route_backends: list[str]) -> ir.AllowRule | None:
        names = tuple(n.value for n in stmt.subjects)
        known = {
            "team": sorted({p.team for p in self.principals}),
            "principal": sorted({p.name for p in self.principals}),
            "tier": sorted({p.tier for p in self.principals}),
        }
        if stmt.subject != "any" and self.principals:
            for n in stmt.subjects:
                if n.value not in known[stmt.subject]:
                    self.error(
                        f"no principal in the keys file has {stmt.subject} `{n.value}`",
                        n.span,
                        expected=known[stmt.subject],
                    )
        if isinstance(stmt.targets, ast.Wildcard):
            return ir.AllowRule(kind=stmt.subject, names=names, backends=None)
        backends: list[str] = []
        if stmt.target == "backends":
            for target in stmt.targets:
                name = self.backend_ref(target)  # type: ignore[arg-type]
                if name is not None and name not in backends:
                    backends.append(name)
        else:
            for target in stmt.targets:
                raw = target.value
                prefix = raw.endswith("*")
                pattern = raw[:-1] if prefix else raw
                serving = [
                    b.name
                    for b in self.backends.values()
                    if b.model is not None
                    and (b.model.startswith(pattern) if prefix else b.model == pattern)
                ]
                in_route = [b for b in serving if b in route_backends] or serving
                if not in_route:
                    served = sorted({b.model for b in self.backends.values() if b.model})
                    self.error(
                        f"no backend serves model {raw!r}",
                        target.span,
                        expected=[repr(m) for m in served] or None,
                    )
                for b in in_route:
                    if b not in backends:
                        backends.append(b)
        return ir.AllowRule(kind=stmt.subject, names=names, backends=tuple(backends))

    def header_ops(
        self, nodes: list[ast.Node]
    ) -> tuple[tuple[ir.HeaderOp, ...], tuple[ir.HeaderOp, ...]]:
        request: list[ir.HeaderOp] = []
        response: list[ir.HeaderOp] = []
        for stmt in nodes:
            if not isinstance(stmt, ast.HeaderSet | ast.HeaderRemove):
                continue
            name = stmt.name.value.lower()
            if not HEADER_NAME.match(name):
                self.error(f"invalid header name {stmt.name.value!r}", stmt.name.span)
                continue
            if name in RESERVED_HEADERS:
                self.error(
                    f"header {name!r} is managed by Envoy and cannot be changed", stmt.name.span
                )
                continue
            if isinstance(stmt, ast.HeaderSet):
                if any(c in stmt.value.value for c in "\r\n\x00"):
                    self.error("a header value cannot contain line breaks or NUL", stmt.value.span)
                    continue
                op = ir.HeaderOp(action="set", name=name, value=stmt.value.value)
            else:
                op = ir.HeaderOp(action="remove", name=name)
            (request if stmt.direction == "request" else response).append(op)
        return tuple(request), tuple(response)

    # -- tests -----------------------------------------------------------------------------

    def tests(self) -> tuple[ir.PolicyTest, ...]:
        out: list[ir.PolicyTest] = []
        seen: dict[str, int] = {}
        for block in self.tree.tests:
            name = block.name.value
            if name in seen:
                self.error(
                    f"duplicate test {name!r}",
                    block.name.span,
                    hint=f"first defined at line {seen[name]}",
                )
                continue
            seen[name] = block.span.line
            send = block.send
            if send.chat is not None and send.body is not None:
                self.error("a test sends either `chat` or `body`, not both", send.span)
                continue
            has_body = send.chat is not None or send.body is not None or send.model is not None
            method = send.method or ("POST" if has_body else "GET")
            path = send.path.value if send.path is not None else DEFAULT_CHAT_PATH
            request = ir.TestRequest(
                method=method,
                path=path,
                key=send.key.value if send.key else None,
                model=send.model.value if send.model else None,
                chat=send.chat.value if send.chat else None,
                body=send.body.value if send.body else None,
                stream=send.stream,
                headers=tuple((k.value, v.value) for k, v in send.headers),
            )
            out.append(
                ir.PolicyTest(
                    name=name,
                    request=request,
                    expects=tuple(self.expect(e) for e in block.expects),
                    line=block.span.line,
                )
            )
        return tuple(out)

    def expect(self, e: ast.Node) -> ir.Expectation:
        line = e.span.line
        if isinstance(e, ast.ExpectStatus):
            if not 100 <= e.code <= 599:
                self.error("an HTTP status is between 100 and 599", e.span)
            return ir.Expectation(kind="status", value=str(e.code), line=line)
        if isinstance(e, ast.ExpectRoute):
            self.backend_ref(e.backend)
            return ir.Expectation(kind="route", value=e.backend.value, line=line)
        if isinstance(e, ast.ExpectBody):
            kind = ("upstream_body" if e.side == "upstream" else "body") + (
                "_not_contains" if e.negated else "_contains"
            )
            return ir.Expectation(kind=kind, value=e.text.value, line=line)  # type: ignore[arg-type]
        assert isinstance(e, ast.ExpectHeader)
        prefix = "upstream_header" if e.side == "upstream" else "header"
        if e.value is None:
            return ir.Expectation(kind=f"{prefix}_absent", name=e.name.value.lower(), line=line)  # type: ignore[arg-type]
        return ir.Expectation(
            kind=prefix, name=e.name.value.lower(), value=e.value.value, line=line
        )  # type: ignore[arg-type]


def resolve(tree: ast.File, source: str, base_dir: Path, name: str | None = None) -> ir.Policy:
    """The checked IR of `tree`; raises AipolError / AipolErrors."""
    stem = name or Path(tree.span.file).stem if tree.span.file else "policy"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "policy"
    return Resolver(tree, source, base_dir).resolve(stem)
