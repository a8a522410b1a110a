"""C code generation: lowered policy -> `policy.c`.

The file skeleton is a jinja2 template (`templates/policy.c.j2`); the body of
each route phase comes from `CGenerator`, which dispatches every lowered
operation through `TRANSFORMS` to a `<op>_c` method (as sqlglot's generator
does). Strings become C literals with octal escapes, so any byte is safe and
the output is a pure function of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import jinja2
from aipol.compiler import lower as lo
from aipol.compiler.regex import emit as regex_emit

INDENT = "  "


def cstr(text: str | bytes) -> str:
    """A C string literal for `text` (UTF-8), printable ASCII kept as is."""
    data = text.encode() if isinstance(text, str) else text
    out = ['"']
    for byte in data:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "?":
            out.append("\\?")  # no trigraphs, ever
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def blen(text: str | bytes) -> str:
    """Byte length of `text` as a C unsigned literal."""
    data = text.encode() if isinstance(text, str) else text
    return f"{len(data)}u"


def str_args(text: str) -> str:
    """`"text", len` for the runtime's (const char *, uint32_t) parameters."""
    return f"{cstr(text)}, {blen(text)}"


def bytes_args(text: str) -> str:
    """`(const uint8_t *)"text", len` for (const uint8_t *, uint32_t) parameters."""
    return f"(const uint8_t *){cstr(text)}, {blen(text)}"


class CGenerator:
    """Turns lowered ops into C statements; one method per op type."""

    TRANSFORMS: dict[type[lo.Op], Callable[[CGenerator, lo.LoweredRoute, lo.Op], list[str]]] = {}

    def __init__(self, policy: lo.LoweredPolicy) -> None:
        self.policy = policy

    # -- helpers used by the template --------------------------------------

    cstr = staticmethod(cstr)
    blen = staticmethod(blen)

    @staticmethod
    def comment(text: str) -> str:
        return (
            text.replace("*/", "*\\/")
            .replace("/*", "/\\*")
            .encode("ascii", "backslashreplace")
            .decode()
        )

    @staticmethod
    def path_test(route: lo.LoweredRoute) -> str:
        fn = "aipol_bytes_prefix" if route.prefix else "aipol_bytes_eq"
        return f"{fn}(path, path_len, {str_args(route.path)})"

    @staticmethod
    def method_test(route: lo.LoweredRoute) -> str:
        if not route.methods:
            return ""
        tests = " || ".join(
            f"aipol_bytes_eq(method, method_len, {str_args(m)})" for m in route.methods
        )
        return f" && ({tests})"

    def ops(self, route: lo.LoweredRoute, ops: Sequence[lo.Op]) -> str:
        lines: list[str] = []
        for op in ops:
            lines.extend(self.TRANSFORMS[type(op)](self, route, op))
        return "\n".join(INDENT + line if line else line for line in lines)

    def choice(self, choice: lo.Choice) -> list[str]:
        """Statements assigning `backend` for a single backend or a sticky split."""
        if len(choice.arms) == 1:
            return [f"backend = {choice.arms[0].backend};"]
        lines = [f"uint32_t bucket = aipol_sticky_bucket(s, {str_args(choice.seed)});"]
        for i, arm in enumerate(choice.arms):
            if i == len(choice.arms) - 1:
                lines.append(f"else backend = {arm.backend};")
            else:
                kw = "if" if i == 0 else "else if"
                lines.append(f"{kw} (bucket < {arm.below}u) backend = {arm.backend};")
        return ["{", *[INDENT + x for x in lines], "}"]

    # -- header phase --------------------------------------------------------

    def authenticate_c(self, route: lo.LoweredRoute, op: lo.Authenticate) -> list[str]:
        missing_key = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        missing_jwt = "Jwt is missing: send a bearer token issued by the configured issuer."
        invalid = "Incorrect API key provided."
        lines = ["{", "  int auth = AIPOL_AUTH_MISSING;"]
        if op.jwt:
            lines.append("  auth = aipol_auth_jwt(s); /* claims of a token Envoy validated */")
        if op.key and op.jwt:
            lines.append("  if (auth != AIPOL_AUTH_OK) auth = aipol_auth_api_key(s);")
        elif op.key:
            lines.append("  auth = aipol_auth_api_key(s);")
        code, msg = ("missing_api_key", missing_key) if op.key else ("missing_jwt", missing_jwt)
        lines += [
            "  switch (auth) {",
            "    case AIPOL_AUTH_OK: break;",
            "    case AIPOL_AUTH_MISSING:",
            f'      return aipol_send_error(s, 401, "invalid_request_error", "{code}",',
            f"                              {bytes_args(msg)});",
            "    default:",
            '      return aipol_send_error(s, 401, "invalid_request_error", "invalid_api_key",',
            f"                              {bytes_args(invalid)});",
            "  }",
            "}",
        ]
        return lines

    def record_principal_c(self, route: lo.LoweredRoute, op: lo.RecordPrincipal) -> list[str]:
        return [
            "if (s->principal) {",
            '  aipol_set_state("aipol_principal", 15u, s->principal->name);',
            '  aipol_set_state("aipol_team", 10u, s->principal->team);',
            "}",
        ]

    def strip_client_credentials_c(
        self, route: lo.LoweredRoute, op: lo.StripClientCredentials
    ) -> list[str]:
        return [
            f"aipol_request_header_remove({str_args('authorization')});",
            f"aipol_request_header_remove({str_args('x-api-key')});",
        ]

    def header_set_c(self, route: lo.LoweredRoute, op: lo.HeaderSet) -> list[str]:
        side = "response" if op.response else "request"
        return [f"aipol_{side}_header_set({str_args(op.name)}, {bytes_args(op.value)});"]

    def header_remove_c(self, route: lo.LoweredRoute, op: lo.HeaderRemove) -> list[str]:
        side = "response" if op.response else "request"
        return [f"aipol_{side}_header_remove({str_args(op.name)});"]

    # -- body phase ------------------------------------------------------------

    def select_backend_c(self, route: lo.LoweredRoute, op: lo.SelectBackend) -> list[str]:
        lines: list[str] = []
        if op.rules:
            lines.append("if (req && req->has_model) {")
            for i, rule in enumerate(op.rules):
                fn = "aipol_bytes_prefix" if rule.prefix else "aipol_bytes_eq"
                kw = "if" if i == 0 else "} else if"
                lines.append(
                    f"  {kw} ({fn}(req->model.ptr, req->model.len, {str_args(rule.pattern)})) {{"
                )
                lines += [INDENT * 2 + x for x in self.choice(rule.choice)]
            lines += ["  }", "}"]
        if op.fallthrough is not None:
            lines.append("if (backend < 0) {")
            lines += [INDENT + x for x in self.choice(op.fallthrough)]
            lines.append("}")
        lines.append("if (backend < 0) return gen_unknown_model(s, req);")
        return lines

    def authorize_c(self, route: lo.LoweredRoute, op: lo.Authorize) -> list[str]:
        lines = ["{", "  const aipol_principal *p = s->principal;", "  int allowed = 0;"]
        field = {"team": "team", "principal": "name", "tier": "tier"}
        for rule in op.rules:
            if rule.backends is None:
                grant = "allowed = 1;"
            elif rule.backends:
                cond = " || ".join(f"backend == {b}" for b in rule.backends)
                grant = f"if ({cond}) allowed = 1;"
            else:
                continue
            if rule.kind == "any":
                lines.append(f"  {grant}")
                continue
            f = field[rule.kind]
            who = " || ".join(
                f"aipol_bytes_eq(p->{f}.ptr, p->{f}.len, {str_args(name)})" for name in rule.names
            )
            lines.append(f"  if (p && ({who})) {{ {grant} }}")
        lines += ["  (void)p;", "  if (!allowed) return gen_forbidden(s, backend);", "}"]
        return lines

    def check_params_c(self, route: lo.LoweredRoute, op: lo.CheckParams) -> list[str]:
        field = {"team": "team", "principal": "name", "tier": "tier"}
        lines = ["if (req) {"]
        for rule in op.rules:
            lines.append(f"  /* {self.comment(rule.describe())} (line {rule.line}) */")
            cond = "1"
            if rule.scope_kind:
                f = field[rule.scope_kind]
                who = " || ".join(
                    f"aipol_bytes_eq(s->principal->{f}.ptr, s->principal->{f}.len, {str_args(n)})"
                    for n in rule.scope_names
                )
                cond = f"s->principal && ({who})"
            msg = f"The request breaks `{rule.describe()}` (policy line {rule.line})."
            refuse = (
                'return aipol_send_error(s, 403, "permission_error", "param_not_allowed", '
                f"{bytes_args(msg)});"
            )
            lines.append(f"  if ({cond}) {{")
            lines += [INDENT * 2 + x for x in self._param_test(rule, refuse)]
            lines.append("  }")
        lines.append("}")
        return lines

    @staticmethod
    def _param_test(rule, refuse: str) -> list[str]:
        """C statements that run `refuse` when `rule` is broken."""
        if rule.name == "stream":
            return [f"if (req->has_stream && req->stream) {refuse}"]
        if rule.name in ("max_tokens", "max_completion_tokens"):
            if rule.op == "deny":
                return [f"if (req->has_max_tokens) {refuse}"]
            bound = repr(float(rule.value))
            return [
                f"if (req->has_max_tokens && !((double)req->max_tokens {rule.op} {bound})) {refuse}"
            ]
        lookup = f"const aipol_field *f = aipol_chat_field(req, {str_args(rule.name)});"
        # Past 32 top-level members the field may be there unseen: refuse.
        unknown = f"if (!f && req->fields_overflow) {refuse}"
        if rule.op == "deny":
            return [
                "{",
                f"  {lookup}",
                f"  {unknown}",
                f"  if (f && req->body[f->start] != 'n') {refuse}",
                "}",
            ]
        bound = repr(float(rule.value))
        return [
            "{",
            f"  {lookup}",
            f"  {unknown}",
            "  double v;",
            "  if (f && req->body[f->start] != 'n' &&",
            f"      (!aipol_field_number(req, f, &v) || !(v {rule.op} {bound}))) {refuse}",
            "}",
        ]

    def scan_text_c(self, route: lo.LoweredRoute, op: lo.ScanText) -> list[str]:
        if op.response:
            return [
                f"if (aipol_dlp_response(s, resp, &{op.name}_cfg) == AIPOL_STOP) "
                "return AIPOL_STOP;"
            ]
        return [f"if (aipol_dlp_request(s, req, &{op.name}_cfg) == AIPOL_STOP) return AIPOL_STOP;"]

    def scan_tables(self) -> str:
        """File-level static data of every ScanText op: the DFA set (unless
        the op runs another op's), one rule per pattern, and the aipol_dlp
        that ties them together."""
        from aipol.compiler import detectors

        actions = {"redact": 0, "mask": 1, "hash": 2, "block": 3, "log": 4}
        out: list[str] = []
        for route in self.policy.routes:
            for op in (*route.body_ops, *route.response_body_ops):
                if not isinstance(op, lo.ScanText):
                    continue
                if op.dfa_name == op.name:
                    out.append(regex_emit.emit_c(compiled_scan_set(op), op.name))
                rows = []
                for rule in op.rules:
                    rows.append(
                        f"  {{{actions[rule.action]}u, {detectors.validator_id(rule.validator)}u, "
                        f"{str_args(rule.detector)}, {str_args(rule.label)}, "
                        f"{str_args(rule.metric)}, AIPOL_DLP_ALL_ROLES}},"
                    )
                out.append(
                    f"static const aipol_dlp_rule {op.name}_rules[{len(op.rules)}] = {{\n"
                    + "\n".join(rows)
                    + "\n};\n"
                )
                out.append(
                    f"static const aipol_dlp {op.name}_cfg = {{&{op.dfa_name}, {op.name}_rules, "
                    f"{cstr(op.block_code)}}};\n"
                )
        return "\n".join(out)

    def guard_prompt_c(self, route: lo.LoweredRoute, op: lo.GuardPrompt) -> list[str]:
        return [f"if (aipol_guard_request(s, req, &{op.name}) == AIPOL_STOP) return AIPOL_STOP;"]

    def guard_tables(self) -> str:
        """File-level static data of the GuardPrompt ops: the model tables
        (once, shared by every route) and one aipol_guard per op."""
        from aipol.compiler import guard

        ops = [
            op
            for route in self.policy.routes
            for op in route.body_ops
            if isinstance(op, lo.GuardPrompt)
        ]
        if not ops:
            return ""
        out = [guard.model_c()]
        modes = {"detect": "AIPOL_GUARD_DETECT", "block": "AIPOL_GUARD_BLOCK"}
        for op in ops:
            out.append(
                f"static const aipol_guard {op.name} = {{{modes[op.mode]}, {op.threshold}u, "
                f"{str_args(op.metric)}, &{guard.NAME}}};\n"
            )
        return "\n".join(out)

    def rewrite_model_c(self, route: lo.LoweredRoute, op: lo.RewriteModel) -> list[str]:
        cases = [(i, model) for i, model in enumerate(op.models) if model is not None]
        if not cases:
            return []
        lines = ["if (req && req->has_model) {", "  switch (backend) {"]
        for i, model in cases:
            literal = lo.json_string(model)
            same = f"aipol_bytes_eq(req->model.ptr, req->model.len, {str_args(model)})"
            lines.append(f"    case {i}: if (!{same})")
            lines.append(f"      aipol_chat_set_model(s, req, {str_args(literal)});")
            lines.append("      break;")
        lines += ["    default: break;", "  }", "}"]
        return lines

    def insert_system_c(self, route: lo.LoweredRoute, op: lo.InsertSystem) -> list[str]:
        return [
            f"if (req) aipol_chat_insert_system(s, req, {1 if op.at_end else 0}, "
            f"{str_args(op.json_text)});"
        ]

    def route_to_c(self, route: lo.LoweredRoute, op: lo.RouteTo) -> list[str]:
        # Requests per backend are counted by Envoy's cluster stats already.
        return ["aipol_route_to(s, backend, BACKENDS[backend].name, BACKENDS[backend].len);"]


def _register() -> None:
    import re

    for name, cls in vars(lo).items():
        if isinstance(cls, type) and issubclass(cls, lo.Op) and cls is not lo.Op:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
            CGenerator.TRANSFORMS[cls] = getattr(CGenerator, f"{snake}_c")


_register()


@cache
def _compile_patterns(patterns: tuple[tuple[str, bool, str], ...]):  # -> regex.DfaSet
    from aipol.compiler import regex

    return regex.compile_set(
        [regex.Pattern(src, ignore_case=ic, name=name) for src, ic, name in patterns]
    )


def compiled_scan_set(op: lo.ScanText):
    """The DFA set of a ScanText op, compiled once per process (codegen and
    the manifest both need it; DFA construction is the slow part)."""
    return _compile_patterns(
        tuple(
            (src, ic, rule.detector) for (src, ic), rule in zip(op.patterns, op.rules, strict=True)
        )
    )


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aipol.compiler", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("policy.c.j2")


def generate_c(policy: lo.LoweredPolicy) -> str:
    """The policy's C source."""
    return _template().render(policy=policy, c=CGenerator(policy))
