"""lark parse tree -> :mod:`aipol.dsl.ast`.

One method per grammar rule (named like the rule or its ``-> alias``) and one
per literal terminal. Statement-local checks that need no other part of the
file (units, ports, header names, one ``send`` per test) happen here, so their
errors point at the exact token; cross-references are the resolver's job.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from aipol.dsl import ast, literals
from aipol.dsl.ast import Span
from aipol.dsl.errors import AipolError
from lark import Token, Transformer, v_args
from lark.tree import Meta

_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def token_span(file: str, token: Token) -> Span:
    assert token.line is not None and token.column is not None
    assert token.end_line is not None and token.end_column is not None
    return Span(file, token.line, token.column, token.end_line, token.end_column)


def _check_pattern(s: ast.Str, what: str) -> None:
    star = s.value.find("*")
    if star != -1 and star != len(s.value) - 1:
        raise AipolError(
            f"`*` is only allowed at the end of a {what}",
            s.span,
            hint=f"`{s.value[: star + 1]}` matches every {what.split()[0]} starting with "
            f"`{s.value[:star]}`",
        )


def _check_header_name(s: ast.Str) -> None:
    if not _HEADER_NAME_RE.match(s.value):
        raise AipolError(
            f"invalid header name {literals.format_string(s.value)}",
            s.span,
            hint="header names are letters, digits and !#$%&'*+-.^_`|~",
        )


def _check_header_value(s: ast.Str) -> None:
    if any(c in s.value for c in "\r\n\0"):
        raise AipolError("a header value cannot contain CR, LF or NUL", s.span)


class _Word(str):
    """A keyword choice (``request``) that remembers where it was written,
    for errors about it; stored in the AST as a plain ``str``."""

    span: Span

    def __new__(cls, value: str, span: Span) -> _Word:
        word = super().__new__(cls, value)
        word.span = span
        return word


@v_args(meta=True)
class ToAst(Transformer[Token, Any]):
    """Builds the AST; raises :class:`AipolError` (wrapped by lark in a
    ``VisitError``, unwrapped by the parser)."""

    def __init__(self, filename: str) -> None:
        super().__init__(visit_tokens=True)
        self.file = filename

    def _span(self, meta: Meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # ------------------------------------------------------------ terminals
    # (terminal callbacks receive the token only, v_args does not apply)

    def IDENT(self, token: Token) -> ast.Name:  # noqa: N802 - lark naming
        return ast.Name(str(token), token_span(self.file, token))

    def STRING(self, token: Token) -> ast.Str:  # noqa: N802
        return literals.parse_string(str(token), token_span(self.file, token))

    def SIZE(self, token: Token) -> ast.Size:  # noqa: N802
        return literals.parse_size(str(token), token_span(self.file, token))

    def DURATION(self, token: Token) -> ast.Duration:  # noqa: N802
        return literals.parse_duration(str(token), token_span(self.file, token))

    def MONEY(self, token: Token) -> ast.Money:  # noqa: N802
        return literals.parse_money(str(token), token_span(self.file, token))

    def PERCENT(self, token: Token) -> ast.Percent:  # noqa: N802
        return literals.parse_percent(str(token), token_span(self.file, token))

    def COUNT(self, token: Token) -> ast.Count:  # noqa: N802
        return literals.parse_count(str(token), token_span(self.file, token))

    def ADDRESS(self, token: Token) -> ast.Address:  # noqa: N802
        return literals.parse_address(str(token), token_span(self.file, token))

    def REGEX(self, token: Token) -> ast.Regex:  # noqa: N802
        return literals.parse_regex(str(token), token_span(self.file, token))

    # ------------------------------------------------------------ file

    def start(self, meta: Meta, items: list[ast.TopItem]) -> ast.File:
        if items:  # from the first item to the end of the last (not its newline)
            first, last = items[0].span, items[-1].span
            span = Span(self.file, first.line, first.column, last.end_line, last.end_column)
        else:
            span = Span(self.file, 1, 1, 1, 1)
        return ast.File(tuple(items), "", span)

    def name(self, meta: Meta, c: list[ast.Name]) -> ast.Name:
        return c[0]

    # ------------------------------------------------------------ gateway

    def gateway(self, meta: Meta, body: list[ast.GatewayStmt]) -> ast.Gateway:
        return ast.Gateway(tuple(body), self._span(meta))

    def listen(self, meta: Meta, c: list[ast.Address]) -> ast.Listen:
        return ast.Listen(c[0], self._span(meta))

    def admin(self, meta: Meta, c: list[ast.Address]) -> ast.Admin:
        return ast.Admin(c[0], self._span(meta))

    def max_body(self, meta: Meta, c: list[ast.Size]) -> ast.MaxBody:
        return ast.MaxBody(c[0], self._span(meta))

    def on_sidecar_failure(self, meta: Meta, c: list[Any]) -> ast.OnSidecarFailure:
        return ast.OnSidecarFailure(c[0], self._span(meta))

    def failure_mode(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def keys(self, meta: Meta, c: list[ast.Str]) -> ast.KeysFile:
        return ast.KeysFile(c[0], self._span(meta))

    # ------------------------------------------------------------ backend

    def backend(self, meta: Meta, c: list[Any]) -> ast.Backend:
        return ast.Backend(c[0], tuple(c[1:]), self._span(meta))

    def provider(self, meta: Meta, c: list[ast.Name]) -> ast.Provider:
        return ast.Provider(c[0], self._span(meta))

    def model(self, meta: Meta, c: list[ast.Str]) -> ast.Model:
        return ast.Model(c[0], self._span(meta))

    def url(self, meta: Meta, c: list[ast.Str]) -> ast.Url:
        url = c[0]
        if not re.match(r"https?://[^/\s]", url.value):
            raise AipolError(
                f"invalid backend url {literals.format_string(url.value)}",
                url.span,
                hint='a url starts with http:// or https://, e.g. "https://api.openai.com"',
            )
        return ast.Url(url, self._span(meta))

    def credential_env(self, meta: Meta, c: list[ast.Name]) -> ast.CredentialEnv:
        return ast.CredentialEnv(c[0], self._span(meta))

    def credential_file(self, meta: Meta, c: list[ast.Str]) -> ast.CredentialFile:
        return ast.CredentialFile(c[0], self._span(meta))

    def credential_none(self, meta: Meta, c: list[Any]) -> ast.CredentialNone:
        return ast.CredentialNone(self._span(meta))

    def price(self, meta: Meta, c: list[Any]) -> ast.Price:
        return ast.Price(c[0], c[1], c[2], self._span(meta))

    # ------------------------------------------------------------ policy / route

    def policy(self, meta: Meta, c: list[Any]) -> ast.Policy:
        return ast.Policy(c[0], tuple(c[1:]), self._span(meta))

    def route(self, meta: Meta, c: list[Any]) -> ast.Route:
        path: ast.Str = c[0]
        if not path.value.startswith("/"):
            raise AipolError(
                "a route path must start with `/`",
                path.span,
                hint=f'write "/{path.value}"' if path.value else None,
            )
        _check_pattern(path, "path prefix")
        return ast.Route(path, tuple(c[1:]), self._span(meta))

    def require_key(self, meta: Meta, c: list[Any]) -> ast.RequireKey:
        return ast.RequireKey(self._span(meta))

    def allow(self, meta: Meta, c: list[Any]) -> ast.Allow:
        (subject, subjects), (target, targets) = c
        return ast.Allow(subject, subjects, target, targets, self._span(meta))

    def subject_team(self, meta: Meta, c: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return "team", tuple(c)

    def subject_principal(self, meta: Meta, c: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return "principal", tuple(c)

    def subject_tier(self, meta: Meta, c: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return "tier", tuple(c)

    def subject_any(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Name, ...]]:
        return "any", ()

    def target_backends(self, meta: Meta, c: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return "backends", tuple(c)

    def target_all_backends(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Wildcard]:
        return "backends", ast.Wildcard(self._span(meta))

    def target_models(self, meta: Meta, c: list[ast.Str]) -> tuple[str, tuple[ast.Str, ...]]:
        for model in c:
            _check_pattern(model, "model pattern")
        return "models", tuple(c)

    def target_all_models(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Wildcard]:
        return "models", ast.Wildcard(self._span(meta))

    def system(self, meta: Meta, c: list[Any]) -> ast.SystemPrompt:
        return ast.SystemPrompt(c[0], c[1], self._span(meta))

    def system_position(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def direction(self, meta: Meta, c: list[Token]) -> _Word:
        return _Word(str(c[0]), self._span(meta))

    def header_set(self, meta: Meta, c: list[Any]) -> ast.HeaderSet:
        _check_header_name(c[1])
        _check_header_value(c[2])
        return ast.HeaderSet(str(c[0]), c[1], c[2], self._span(meta))

    def header_remove(self, meta: Meta, c: list[Any]) -> ast.HeaderRemove:
        _check_header_name(c[1])
        return ast.HeaderRemove(str(c[0]), c[1], self._span(meta))

    # ------------------------------------------------------------ security

    def _directions(self, words: list[_Word], what: str) -> tuple[str, ...]:
        """``request, response`` after ``dlp`` / ``in``: each at most once."""
        for i, word in enumerate(words):
            if word in words[:i]:
                raise AipolError(
                    f"direction `{word}` given twice in `{what}`",
                    word.span,
                    hint="write `request`, `response` or `request, response`",
                )
        return tuple(str(w) for w in words)

    def dlp(self, meta: Meta, c: list[Any]) -> ast.Dlp:
        directions = [x for x in c if isinstance(x, _Word)]
        body = [x for x in c if not isinstance(x, _Word)]
        return ast.Dlp(self._directions(directions, "dlp"), tuple(body), self._span(meta))

    def dlp_action(self, meta: Meta, c: list[Any]) -> ast.DlpAction:
        return ast.DlpAction(c[0], tuple(c[1:]), self._span(meta))

    def dlp_pattern(self, meta: Meta, c: list[Any]) -> ast.DlpPattern:
        name, regex, action = c
        return ast.DlpPattern(name, regex, action, self._span(meta))

    def dlp_verb(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def prompt_guard(self, meta: Meta, c: list[Any]) -> ast.PromptGuard:
        kind, mode, token = c
        threshold = None
        if token is not None:  # a NUMBER token, lenient so `70%` gets a clear message
            span = token_span(self.file, token)
            if not str(token).isdigit() or int(token) > 100:
                raise AipolError(
                    f"invalid threshold `{token}`",
                    span,
                    hint="a threshold is a whole score from 0 to 100, e.g. `threshold 70`",
                )
            threshold = ast.Count(int(token), span)
        return ast.PromptGuard(kind, mode, threshold, self._span(meta))

    def guard_kind(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def guard_mode(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def _deny_directions(self, c: list[Any]) -> tuple[str, ...]:
        return self._directions([x for x in c if isinstance(x, _Word)], "deny words")

    def deny_words(self, meta: Meta, c: list[Any]) -> ast.DenyWords:
        words = tuple(x for x in c if isinstance(x, ast.Str))
        for word in words:
            if not word.value.strip():
                raise AipolError("empty phrase in `deny words`", word.span)
        return ast.DenyWords(words, None, self._deny_directions(c), self._span(meta))

    def deny_words_file(self, meta: Meta, c: list[Any]) -> ast.DenyWords:
        path: ast.Str = c[0]
        if not path.value:
            raise AipolError("empty file name in `deny words file`", path.span)
        return ast.DenyWords(None, path, self._deny_directions(c[1:]), self._span(meta))

    def require_jwt(self, meta: Meta, c: list[Any]) -> ast.RequireJwt:
        issuer, (kind, jwks), audiences = c
        if not issuer.value:
            raise AipolError(
                "empty JWT issuer",
                issuer.span,
                hint='the `iss` claim, e.g. "https://idp.example.com"',
            )
        jwks_file = jwks if kind == "file" else None
        jwks_url = jwks if kind == "url" else None
        return ast.RequireJwt(issuer, jwks_file, jwks_url, audiences or (), self._span(meta))

    def jwks_file(self, meta: Meta, c: list[ast.Str]) -> tuple[str, ast.Str]:
        if not c[0].value:
            raise AipolError("empty JWKS file name", c[0].span)
        return "file", c[0]

    def jwks_url(self, meta: Meta, c: list[ast.Str]) -> tuple[str, ast.Str]:
        url = c[0]
        if not re.match(r"https?://[^/\s]", url.value):
            raise AipolError(
                f"invalid JWKS url {literals.format_string(url.value)}",
                url.span,
                hint='a url starts with http:// or https://, e.g. "https://idp.example.com/jwks"',
            )
        return "url", url

    def audiences(self, meta: Meta, c: list[ast.Str]) -> tuple[ast.Str, ...]:
        return tuple(c)

    def claims(self, meta: Meta, c: list[tuple[str, ast.Str, Span]]) -> ast.Claims:
        fields: dict[str, ast.Str | None] = {"principal": None, "team": None, "tier": None}
        seen: dict[str, Span] = {}
        for key, value, span in c:
            if key in seen:
                raise AipolError(
                    f"`{key}` given twice in `claims`",
                    span,
                    hint=f"the first one is at column {seen[key].column}",
                )
            if not value.value:
                raise AipolError("empty claim name", value.span, hint='e.g. "sub"')
            seen[key] = span
            fields[key] = value
        return ast.Claims(fields["principal"], fields["team"], fields["tier"], self._span(meta))

    def claim_principal(self, meta: Meta, c: list[ast.Str]) -> tuple[str, ast.Str, Span]:
        return "principal", c[0], self._span(meta)

    def claim_team(self, meta: Meta, c: list[ast.Str]) -> tuple[str, ast.Str, Span]:
        return "team", c[0], self._span(meta)

    def claim_tier(self, meta: Meta, c: list[ast.Str]) -> tuple[str, ast.Str, Span]:
        return "tier", c[0], self._span(meta)

    def param(self, meta: Meta, c: list[Any]) -> ast.Param:
        name, (op, value), scope = c
        kind, names = scope if scope is not None else (None, ())
        return ast.Param(name, op, value, kind, names, self._span(meta))

    def param_check(self, meta: Meta, c: list[Any]) -> tuple[str, Decimal]:
        op, token = c
        return op, literals.parse_number(str(token), token_span(self.file, token))

    def param_deny(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return "deny", None

    def param_op(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def param_scope(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Name, ...]]:
        return c[0], tuple(c[1:])

    def scope_kind(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    # ------------------------------------------------------------ route

    def methods(self, meta: Meta, c: list[ast.Name]) -> ast.Methods:
        out = []
        for name in c:
            upper = name.value.upper()
            if upper not in literals.HTTP_METHODS:
                raise AipolError(
                    f"unknown HTTP method `{name.value}`",
                    name.span,
                    expected=list(literals.HTTP_METHODS),
                )
            out.append(ast.Name(upper, name.span))
        return ast.Methods(tuple(out), self._span(meta))

    def when(self, meta: Meta, c: list[Any]) -> ast.When:
        return ast.When(c[0], c[1], self._span(meta))

    def model_condition(self, meta: Meta, c: list[ast.Str]) -> ast.ModelCondition:
        pattern = c[0]
        if not pattern.value:
            raise AipolError("empty model pattern", pattern.span, hint='use "*" to match any model')
        _check_pattern(pattern, "model pattern")
        return ast.ModelCondition(pattern, self._span(meta))

    def split(self, meta: Meta, c: list[ast.SplitArm]) -> ast.Split:
        return ast.Split(tuple(c), self._span(meta))

    def split_arm(self, meta: Meta, c: list[Any]) -> ast.SplitArm:
        return ast.SplitArm(c[0], c[1], self._span(meta))

    def default(self, meta: Meta, c: list[ast.Name]) -> ast.Default:
        return ast.Default(c[0], self._span(meta))

    def apply(self, meta: Meta, c: list[ast.Name]) -> ast.Apply:
        return ast.Apply(tuple(c), self._span(meta))

    # ------------------------------------------------------------ test

    def test(self, meta: Meta, c: list[Any]) -> ast.Test:
        name: ast.Str = c[0]
        body = c[1:]
        sends = [s for s in body if isinstance(s, ast.Send)]
        if not sends:
            raise AipolError(
                "test has no `send`",
                name.span,
                hint='start the test with a request, e.g. `send key "sk-..." chat "hi"`',
            )
        if len(sends) > 1:
            raise AipolError(
                "a test sends exactly one request; this is a second `send`",
                sends[1].span,
                hint="split it into another `test` block",
            )
        if body[0] is not sends[0]:
            raise AipolError(
                "`expect` before `send`", body[0].span, hint="put the `send` line first"
            )
        if len(body) == 1:
            raise AipolError(
                "test has no `expect`",
                name.span,
                hint="add a check after the send, e.g. `expect status 200`",
            )
        return ast.Test(name, sends[0], tuple(body[1:]), self._span(meta))

    def send(self, meta: Meta, c: list[Any]) -> ast.Send:
        request, *options = c
        fields: dict[str, Any] = {"key": None, "model": None, "chat": None, "body": None}
        seen: dict[str, Span] = {}
        headers: list[tuple[ast.Str, ast.Str]] = []
        stream = False
        for option, value, span in options:
            if option in seen:
                raise AipolError(
                    f"`{option}` given twice in `send`",
                    span,
                    hint=f"the first one is at line {seen[option].line}",
                )
            if option == "header":
                headers.append(value)
                continue
            seen[option] = span
            if option == "stream":
                stream = True
            else:
                fields[option] = value
        if fields["chat"] is not None and fields["body"] is not None:
            raise AipolError(
                "`send` has both `chat` and `body`",
                seen["body"],
                hint="`chat` builds the JSON body for you; use one or the other",
            )
        method, path = request if request is not None else (None, None)
        return ast.Send(
            method,
            path,
            fields["key"],
            fields["model"],
            fields["chat"],
            fields["body"],
            tuple(headers),
            stream,
            self._span(meta),
        )

    def send_request(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Str]:
        method, path = c
        if not path.value.startswith("/"):
            raise AipolError("a request path must start with `/`", path.span)
        return method, path

    def method(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0]).upper()

    def _option(self, meta: Meta, name: str, value: Any) -> tuple[str, Any, Span]:
        return name, value, self._span(meta)

    def opt_key(self, meta: Meta, c: list[ast.Str]) -> tuple[str, Any, Span]:
        return self._option(meta, "key", c[0])

    def opt_model(self, meta: Meta, c: list[ast.Str]) -> tuple[str, Any, Span]:
        return self._option(meta, "model", c[0])

    def opt_chat(self, meta: Meta, c: list[ast.Str]) -> tuple[str, Any, Span]:
        return self._option(meta, "chat", c[0])

    def opt_body(self, meta: Meta, c: list[ast.Str]) -> tuple[str, Any, Span]:
        return self._option(meta, "body", c[0])

    def opt_header(self, meta: Meta, c: list[ast.Str]) -> tuple[str, Any, Span]:
        _check_header_name(c[0])
        _check_header_value(c[1])
        return self._option(meta, "header", (c[0], c[1]))

    def opt_stream(self, meta: Meta, c: list[Any]) -> tuple[str, Any, Span]:
        return self._option(meta, "stream", True)

    def expect_status(self, meta: Meta, c: list[Token]) -> ast.ExpectStatus:
        token = c[0]
        code = literals.parse_status(str(token), token_span(self.file, token))
        return ast.ExpectStatus(code, self._span(meta))

    def expect_route(self, meta: Meta, c: list[ast.Name]) -> ast.ExpectRoute:
        return ast.ExpectRoute(c[0], self._span(meta))

    def expect_body(self, meta: Meta, c: list[Any]) -> ast.ExpectBody:
        upstream, negated, text = c
        side = "upstream" if upstream else "downstream"
        return ast.ExpectBody(side, negated is not None, text, self._span(meta))

    def expect_header(self, meta: Meta, c: list[Any]) -> ast.ExpectHeader:
        upstream, name, value = c
        _check_header_name(name)
        side = "upstream" if upstream else "downstream"
        return ast.ExpectHeader(side, name, value, self._span(meta))

    def expect_header_absent(self, meta: Meta, c: list[Any]) -> ast.ExpectHeader:
        upstream, name = c
        _check_header_name(name)
        side = "upstream" if upstream else "downstream"
        return ast.ExpectHeader(side, name, None, self._span(meta))

    def upstream(self, meta: Meta, c: list[Token]) -> str:
        return "upstream"

    def negated(self, meta: Meta, c: list[Token]) -> str:
        return "not"

    # ------------------------------------------------------------ lit_* starts

    def _lit(self, meta: Meta, c: list[Any]) -> Any:
        return c[0]

    lit_string = lit_name = lit_size = lit_duration = lit_money = _lit
    lit_percent = lit_address = lit_count = lit_regex = _lit

    def lit_number(self, meta: Meta, c: list[Token]) -> Decimal:
        return literals.parse_number(str(c[0]), token_span(self.file, c[0]))

    def lit_int(self, meta: Meta, c: list[Token]) -> int:
        return int(c[0])
