"""Parsing: the whole language (values and spans), layout rules, names vs keywords."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from aipol.dsl import ast
from aipol.dsl.ast import NO_SPAN, Span
from aipol.dsl.errors import AipolError
from aipol.dsl.parser import parse, parse_file, parse_with_comments

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CASES = sorted((HERE / "cases").glob("*.aipol"))
EXAMPLES = sorted((ROOT / "examples").glob("*.aipol"))
FULL = "full.aipol"


@pytest.fixture(scope="module")
def full() -> ast.File:
    return parse_file(HERE / "cases" / FULL)


def S(line: int, col: int, end_line: int, end_col: int) -> Span:  # noqa: N802
    return Span(str(HERE / "cases" / FULL), line, col, end_line, end_col)


def names(ns: tuple[ast.Name, ...]) -> list[str]:
    return [n.value for n in ns]


@pytest.mark.parametrize("path", CASES + EXAMPLES, ids=[p.name for p in CASES + EXAMPLES])
def test_valid_files_parse(path: Path) -> None:
    tree = parse_file(path)
    assert tree.items
    assert tree.source == path.read_text(encoding="utf-8")


def test_full_top_level(full: ast.File) -> None:
    kinds = [type(i).__name__ for i in full.items]
    assert kinds == [
        "Gateway",
        "KeysFile",
        "Backend",
        "Backend",
        "Backend",
        "Policy",
        "Policy",
        "Route",
        "Route",
        "Test",
        "Test",
        "Test",
    ]
    assert [b.name.value for b in full.backends] == ["gpt4o", "sonnet", "mini"]
    assert [p.name.value for p in full.policies] == ["common", "other"]
    assert [r.path.value for r in full.routes] == ["/v1/chat/completions", "/v1/*"]
    assert len(full.gateways) == 1 and len(full.keys) == 1 and len(full.tests) == 3
    assert full.keys[0].path == ast.Str("keys.yaml", S(11, 11, 11, 22))


def test_full_gateway(full: ast.File) -> None:
    gw = full.gateways[0]
    assert gw.body == (
        ast.Listen(ast.Address("0.0.0.0", 8080, S(5, 10, 5, 22)), S(5, 3, 5, 22)),
        ast.Admin(ast.Address("::1", 9901, NO_SPAN), NO_SPAN),
        ast.MaxBody(ast.Size(4 * 1024 * 1024, "MiB", NO_SPAN), NO_SPAN),
        ast.OnSidecarFailure("closed", NO_SPAN),
    )
    # spans are not part of equality; check them explicitly
    listen = gw.body[0]
    assert isinstance(listen, ast.Listen)
    assert listen.span == S(5, 3, 5, 22)
    assert listen.address.span == S(5, 10, 5, 22)
    assert gw.span == S(4, 1, 9, 2)
    max_body = gw.body[2]
    assert isinstance(max_body, ast.MaxBody)
    assert max_body.size.span == S(7, 12, 7, 16)


def test_full_backends(full: ast.File) -> None:
    gpt4o, sonnet, mini = full.backends
    assert gpt4o.name == ast.Name("gpt4o", NO_SPAN)
    assert gpt4o.name.span == S(13, 9, 13, 14)
    assert gpt4o.span == S(13, 1, 19, 2)
    provider, model, url, cred, price = gpt4o.body
    assert isinstance(provider, ast.Provider) and provider.name.value == "openai"
    assert isinstance(model, ast.Model) and model.name.value == "gpt-4o"
    assert isinstance(url, ast.Url) and url.url.value == "https://api.openai.com"
    assert isinstance(cred, ast.CredentialEnv) and cred.var.value == "OPENAI_API_KEY"
    assert isinstance(price, ast.Price)
    assert price.input.amount == Decimal("2.50") and price.output.amount == Decimal("10")
    assert price.per_tokens.value == 1_000_000
    assert price.span == S(18, 3, 18, 48)
    assert price.input.span == S(18, 15, 18, 20)

    assert isinstance(sonnet.body[3], ast.CredentialFile)
    assert sonnet.body[3].path.value == "/run/secrets/anthropic"
    sonnet_price = sonnet.body[4]
    assert isinstance(sonnet_price, ast.Price)
    assert sonnet_price.per_tokens.value == 1000 and sonnet_price.input.amount == 3
    assert isinstance(mini.body[3], ast.CredentialNone)
    assert isinstance(mini.body[2], ast.Url) and mini.body[2].url.value == "http://localhost:8000"


def test_full_policies(full: ast.File) -> None:
    common, other = full.policies
    assert other.body == ()
    assert [type(s).__name__ for s in common.body] == [
        "RequireKey",
        "Allow",
        "HeaderSet",
        "HeaderRemove",
        "HeaderSet",
        "HeaderRemove",
        "SystemPrompt",
        "SystemPrompt",
    ]
    h = common.body[2]
    assert isinstance(h, ast.HeaderSet)
    assert (h.direction, h.name.value, h.value.value) == ("request", "x-gateway", "aipol")
    r = common.body[5]
    assert isinstance(r, ast.HeaderRemove) and (r.direction, r.name.value) == ("response", "server")
    sp = common.body[6]
    assert isinstance(sp, ast.SystemPrompt) and sp.position == "prepend"
    assert isinstance(common.body[7], ast.SystemPrompt) and common.body[7].position == "append"


def test_full_route(full: ast.File) -> None:
    route = full.routes[0]
    body = route.body
    methods = body[0]
    assert isinstance(methods, ast.Methods) and names(methods.methods) == ["POST", "GET"]
    assert isinstance(body[1], ast.RequireKey)

    team, principal, tier, anyone = body[2:6]
    assert isinstance(team, ast.Allow)
    assert (team.subject, names(team.subjects), team.target) == (
        "team",
        ["research", "ml"],
        "backends",
    )
    assert isinstance(team.targets, tuple)
    assert [t.value for t in team.targets] == ["gpt4o", "sonnet"]
    assert team.subjects[1].span == S(52, 24, 52, 26)
    assert isinstance(principal, ast.Allow) and principal.target == "models"
    assert principal.targets == (ast.Str("gpt-4o", NO_SPAN), ast.Str("claude-*", NO_SPAN))
    assert isinstance(tier, ast.Allow) and isinstance(tier.targets, ast.Wildcard)
    assert isinstance(anyone, ast.Allow)
    assert anyone.subject == "any" and anyone.subjects == () and anyone.target == "models"
    assert isinstance(anyone.targets, ast.Wildcard)

    when1, when2, split, default = body[6:10]
    assert isinstance(when1, ast.When)
    assert when1.condition.pattern.value == "gpt-4o"
    assert when1.target == ast.Name("gpt4o", NO_SPAN)
    assert when1.target.span == S(56, 26, 56, 31)
    assert when1.span == S(56, 3, 56, 31)
    assert isinstance(when2, ast.When) and isinstance(when2.target, ast.Split)
    assert [(a.backend.value, a.weight.value) for a in when2.target.arms] == [
        ("gpt4o", 50),
        ("mini", 50),
    ]
    assert isinstance(split, ast.Split)
    arms = [(a.backend.value, a.weight.value) for a in split.arms]
    assert arms == [("gpt4o", 90), ("sonnet", 10)]
    assert split.arms[1].weight.span == S(58, 27, 58, 30)
    assert isinstance(default, ast.Default) and default.backend.value == "gpt4o"

    system = body[10]
    assert isinstance(system, ast.SystemPrompt)
    assert system.text.value == "You are ACME's assistant.\nAnswer briefly."
    apply = body[-1]
    assert isinstance(apply, ast.Apply) and names(apply.policies) == ["common", "other"]
    assert full.routes[1].path.value == "/v1/*"


def test_full_tests(full: ast.File) -> None:
    t1, t2, t3 = full.tests
    assert t1.name.value == "emails never reach the model"
    assert t1.send == ast.Send(
        None,
        None,
        ast.Str("sk-test-alice", NO_SPAN),
        None,
        ast.Str("write to bob@example.com", NO_SPAN),
        None,
        (),
        False,
        NO_SPAN,
    )
    n = NO_SPAN
    assert t1.expects == (
        ast.ExpectStatus(200, n),
        ast.ExpectRoute(ast.Name("gpt4o", n), n),
        ast.ExpectBody("upstream", False, ast.Str("hello", n), n),
        ast.ExpectBody("upstream", True, ast.Str("bob@example.com", n), n),
        ast.ExpectHeader("upstream", ast.Str("x-gateway", n), ast.Str("aipol", n), n),
        ast.ExpectHeader("upstream", ast.Str("x-debug", n), None, n),
        ast.ExpectHeader(
            "downstream", ast.Str("content-type", n), ast.Str("application/json", n), n
        ),
        ast.ExpectHeader("downstream", ast.Str("server", n), None, n),
        ast.ExpectBody("downstream", False, ast.Str("invalid_api_key", n), n),
        ast.ExpectBody("downstream", True, ast.Str("sk-", n), n),
    )
    assert t1.body[0] is t1.send
    send = t2.send
    assert (send.method, send.path and send.path.value) == ("POST", "/v1/chat/completions")
    assert send.key and send.key.value == "sk-test-bob"
    assert send.model and send.model.value == "gpt-4o"
    assert send.stream is True and send.chat is None
    assert send.body and send.body.value == '{"model": "gpt-4o"}'
    assert [(k.value, v.value) for k, v in send.headers] == [("x-trace", "1"), ("x-b", "2")]
    assert t3.send.method == "GET" and t3.send.key is None and t3.send.stream is False


# ------------------------------------------------------------ security.aipol

SECURITY = "security.aipol"


@pytest.fixture(scope="module")
def security() -> ast.File:
    return parse_file(HERE / "cases" / SECURITY)


def SS(line: int, col: int, end_line: int, end_col: int) -> Span:  # noqa: N802
    return Span(str(HERE / "cases" / SECURITY), line, col, end_line, end_col)


def test_security_policy(security: ast.File) -> None:
    n = NO_SPAN
    (policy,) = security.policies
    assert policy.name.value == "llm_security" and policy.span == SS(4, 1, 22, 2)
    dlp, empty_dlp, guard, detect, words, words_file = policy.body

    assert isinstance(dlp, ast.Dlp)
    assert dlp.directions == ("request", "response")
    assert dlp.span == SS(5, 3, 16, 4)
    assert dlp.body == (
        ast.DlpAction(
            "redact",
            (ast.Name("email", n), ast.Name("phone", n), ast.Name("iban", n)),
            n,
        ),
        ast.DlpAction("mask", (ast.Name("credit_card", n),), n),
        ast.DlpAction("hash", (ast.Name("email", n),), n),
        ast.DlpAction("block", (ast.Name("us_ssn", n),), n),
        ast.DlpAction("log", (ast.Name("ipv4", n),), n),
        ast.DlpPattern(
            ast.Name("personal_id", n), ast.Regex("personal_id:[0-9]{9}", "", n), "redact", n
        ),
        ast.DlpPattern(ast.Name("ticket", n), ast.Regex("TICKET-\\d{6}", "i", n), "mask", n),
        # `\/` is a slash; `#` and `"` are plain characters inside a regex
        ast.DlpPattern(ast.Name("url_path", n), ast.Regex('a/b#c "d"', "ims", n), "block", n),
    )
    redact = dlp.body[0]
    assert isinstance(redact, ast.DlpAction)
    assert redact.span == SS(6, 5, 6, 30)
    assert [d.span for d in redact.detectors] == [
        SS(6, 12, 6, 17),
        SS(6, 19, 6, 24),
        SS(6, 26, 6, 30),
    ]
    pattern = dlp.body[5]
    assert isinstance(pattern, ast.DlpPattern)
    assert pattern.span == SS(13, 5, 13, 54)
    assert pattern.name.span == SS(13, 13, 13, 24)
    assert pattern.regex.span == SS(13, 25, 13, 47)

    assert empty_dlp == ast.Dlp(("response",), (), n)
    assert empty_dlp.span == SS(17, 3, 17, 18)

    assert guard == ast.PromptGuard("injection", "block", ast.Count(70, n), n)
    assert isinstance(guard, ast.PromptGuard) and guard.threshold is not None
    assert guard.span == SS(18, 3, 18, 44) and guard.threshold.span == SS(18, 42, 18, 44)
    assert detect == ast.PromptGuard("injection", "detect", None, n)

    assert words == ast.DenyWords((ast.Str("kill", n), ast.Str("bomb", n)), None, ("request",), n)
    assert isinstance(words, ast.DenyWords) and words.words is not None
    assert words.span == SS(20, 3, 20, 39) and words.words[1].span == SS(20, 22, 20, 28)
    assert words_file == ast.DenyWords(None, ast.Str("denylist.txt", n), ("request", "response"), n)
    assert isinstance(words_file, ast.DenyWords) and words_file.file is not None
    assert words_file.file.span == SS(21, 19, 21, 33)


def test_security_route(security: ast.File) -> None:
    n = NO_SPAN
    (route,) = security.routes
    body = route.body
    assert isinstance(body[0], ast.RequireKey)  # `require key` and `require jwt` coexist

    jwt_file, jwt_url, jwt_bare = body[1:4]
    assert jwt_file == ast.RequireJwt(
        ast.Str("https://idp.example.com", n),
        ast.Str("jwks.json", n),
        None,
        (ast.Str("aipol", n),),
        n,
    )
    assert isinstance(jwt_file, ast.RequireJwt) and jwt_file.jwks_file is not None
    assert jwt_file.span == SS(26, 3, 26, 86)
    assert jwt_file.issuer.span == SS(26, 22, 26, 47)
    assert jwt_file.jwks_file.span == SS(26, 58, 26, 69)
    assert jwt_file.audiences[0].span == SS(26, 79, 26, 86)
    assert jwt_url == ast.RequireJwt(
        ast.Str("https://other.example.com", n),
        None,
        ast.Str("https://other.example.com/jwks", n),
        (ast.Str("a", n), ast.Str("b", n)),
        n,
    )
    assert jwt_bare == ast.RequireJwt(ast.Str("x", n), ast.Str("/etc/jwks.json", n), None, (), n)

    claims, claims_reordered = body[4:6]
    assert claims == ast.Claims(ast.Str("sub", n), ast.Str("groups", n), ast.Str("plan", n), n)
    assert claims.span == SS(29, 3, 29, 51)
    assert isinstance(claims, ast.Claims) and claims.team is not None
    assert claims.team.span == SS(29, 31, 29, 39)
    assert claims_reordered == ast.Claims(ast.Str("email", n), None, ast.Str("plan", n), n)

    params = body[6:16]
    assert all(isinstance(p, ast.Param) for p in params)

    def p(name: str, op: str, value: str | None, kind: str | None = None, *scope: str) -> ast.Param:
        number = None if value is None else Decimal(value)
        names_ = tuple(ast.Name(s, n) for s in scope)
        return ast.Param(ast.Name(name, n), op, number, kind, names_, n)  # type: ignore[arg-type]

    assert params == (
        p("max_tokens", "<=", "1000"),
        p("temperature", "<=", "1.5"),
        p("tools", "deny", None),
        p("stream", "deny", None),
        p("max_tokens", "<=", "200", "tier", "free"),
        p("presence_penalty", ">=", "-2"),
        p("n", "==", "1", "team", "research", "ml"),
        p("top_p", "<", "1", "principal", "alice"),
        p("seed", ">", "0"),
        p("tool_choice", "deny", None, "tier", "free", "trial"),
    )
    temperature = params[1]
    assert isinstance(temperature, ast.Param) and isinstance(temperature.value, Decimal)
    assert temperature.span == SS(32, 3, 32, 27) and temperature.name.span == SS(32, 9, 32, 20)
    scoped = params[6]
    assert isinstance(scoped, ast.Param)
    assert scoped.span == SS(37, 3, 37, 37)
    assert [s.span for s in scoped.scope_names] == [SS(37, 25, 37, 33), SS(37, 35, 37, 37)]

    dlp = body[16]
    assert dlp == ast.Dlp(("request",), (ast.DlpAction("redact", (ast.Name("email", n),), n),), n)
    assert dlp.span == SS(41, 3, 43, 4)
    assert isinstance(body[17], ast.Apply)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('route "/v1/a/b/" {}\n', id="route-path"),
        pytest.param('policy p {\n  system prepend "/a/ b /c/i"\n}\n', id="system-text"),
        pytest.param('policy p {\n  deny words "/etc/passwd", "a/b/" in request\n}\n', id="words"),
        pytest.param('policy p {\n  deny words file "/lists/deny.txt" in request\n}\n', id="file"),
    ],
)
def test_slashes_in_strings_are_not_regexes(text: str) -> None:
    tree = parse(text)
    assert "/" in repr(tree) and "Regex" not in repr(tree)


def test_regex_keeps_comment_and_quote_characters() -> None:
    text = 'policy p {\n  dlp request {\n    pattern x /"a" # b\\/c/ log  # real\n  }\n}\n'
    tree, comments = parse_with_comments(text)
    dlp = tree.policies[0].body[0]
    assert isinstance(dlp, ast.Dlp)
    pattern = dlp.body[0]
    assert isinstance(pattern, ast.DlpPattern)
    assert pattern.regex == ast.Regex('"a" # b/c', "", NO_SPAN)
    assert [c.text for c in comments] == ["# real"]


def test_file_span_and_source() -> None:
    text = "gateway {}\n"
    tree = parse(text, "f.aipol")
    assert tree.span == Span("f.aipol", 1, 1, 1, 11)
    assert tree.source == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n  \n", id="blank"),
        pytest.param("# only a comment", id="comment-no-newline"),
        pytest.param("# a\n\n# b\n", id="comments"),
    ],
)
def test_files_without_items(text: str) -> None:
    assert parse(text).items == ()


LAYOUT_BASE = 'gateway {\n  listen 0.0.0.0:80\n}\nkeys file "k"\n'


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(LAYOUT_BASE, id="plain"),
        pytest.param(LAYOUT_BASE.rstrip("\n"), id="no-final-newline"),
        pytest.param(LAYOUT_BASE.replace("\n", "\r\n"), id="crlf"),
        pytest.param("\n\n" + LAYOUT_BASE.replace("\n", "\n\n\n"), id="blank-lines"),
        pytest.param(LAYOUT_BASE.replace("  ", "\t\t"), id="tabs"),
        pytest.param(
            "# head\ngateway { # a\n  # b\n\n  listen 0.0.0.0:80 # c\n  # d\n} # e\n# f\n"
            'keys file "k" # g\n# h',
            id="comments-everywhere",
        ),
        pytest.param('gateway {\n  listen   0.0.0.0:80   \n}   \nkeys    file  "k"\n', id="spaces"),
    ],
)
def test_layout_variants_mean_the_same(text: str) -> None:
    assert parse(text) == parse(LAYOUT_BASE)


def test_hash_inside_string_is_not_a_comment() -> None:
    tree, comments = parse_with_comments('keys file "a#b"  # real\n')
    assert tree.keys[0].path.value == "a#b"
    assert [c.text for c in comments] == ["# real"]


def test_comment_positions() -> None:
    _, comments = parse_with_comments("# one\ngateway {  # two\n}\n")
    assert [(c.text, c.line, c.column) for c in comments] == [("# one", 1, 1), ("# two", 2, 12)]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("backend default {\n  provider default\n}\n", id="backend-named-default"),
        pytest.param("backend split {}\n", id="backend-named-split"),
        pytest.param("backend backend {}\n", id="backend-named-backend"),
        pytest.param('route "/x" {\n  split default 50%, split 50%\n}\n', id="split-arms"),
        pytest.param('route "/x" {\n  default default\n}\n', id="default-default"),
        pytest.param('route "/x" {\n  when model "a" -> default\n}\n', id="when-default"),
        pytest.param(
            'route "/x" {\n  allow team backends, models backends any, key, team\n}\n',
            id="allow-keywords-as-names",
        ),
        pytest.param('route "/x" {\n  apply require, route\n}\n', id="apply-keywords"),
        pytest.param('test "t" {\n  send key "k"\n  expect route expect\n}\n', id="expect-route"),
        pytest.param("backend a {\n  credential env env\n}\n", id="env-env"),
        pytest.param("policy gateway {}\n", id="policy-named-gateway"),
        pytest.param("backend dlp {}\npolicy deny {}\n", id="security-block-names"),
        pytest.param(
            'route "/x" {\n  allow team param, claims backends jwt, dlp\n}\n',
            id="allow-security-keywords",
        ),
        pytest.param(
            "policy p {\n  dlp request {\n    redact block, log, pattern\n  }\n}\n",
            id="detectors-named-like-verbs",
        ),
        pytest.param(
            "policy p {\n  dlp request {\n    pattern pattern /x/ log\n  }\n}\n",
            id="pattern-named-pattern",
        ),
        pytest.param("policy p {\n  param deny deny\n}\n", id="param-named-deny"),
        pytest.param(
            "policy p {\n  param for <= 1 for tier for, in, tier\n}\n", id="param-scope-keywords"
        ),
    ],
)
def test_keywords_usable_as_names(text: str) -> None:
    parse(text)


def test_keyword_prefix_is_not_split_off() -> None:
    with pytest.raises(AipolError) as info:
        parse("gateway {\n  listenx 0.0.0.0:80\n}\n", "f")
    assert "unknown statement `listenx`" in str(info.value)


@pytest.mark.parametrize(
    "line",
    [
        'send key "k" chat "hi" header "a" "b" stream model "m"',
        'send stream model "m" header "a" "b" key "k" chat "hi"',
        'send header "a" "b" chat "hi" model "m" key "k" stream',
    ],
)
def test_send_options_in_any_order(line: str) -> None:
    send = parse(f'test "t" {{\n  {line}\n  expect status 200\n}}\n').tests[0].send
    assert (send.key, send.model, send.chat) == (
        ast.Str("k", send.span),
        ast.Str("m", send.span),
        ast.Str("hi", send.span),
    )
    assert send.stream and len(send.headers) == 1


@pytest.mark.parametrize("method", ["get", "GET", "Post", "put", "DELETE", "patch"])
def test_send_method_is_case_insensitive(method: str) -> None:
    text = f'test "t" {{\n  send {method} "/p" key "k"\n  expect status 200\n}}\n'
    send = parse(text).tests[0].send
    assert send.method == method.upper()
    assert send.path is not None and send.path.value == "/p"


def test_methods_are_upper_cased_and_keep_spans() -> None:
    route = parse('route "/x" {\n  methods get, Head\n}\n').routes[0]
    methods = route.body[0]
    assert isinstance(methods, ast.Methods)
    assert names(methods.methods) == ["GET", "HEAD"]
    assert methods.methods[1].span.column == 16


def test_equality_ignores_spans_but_not_values() -> None:
    a = parse("backend a {}\n")
    b = parse("\n\n  backend    a {\n}\n")
    c = parse("backend b {}\n")
    assert a == b and a != c
    assert a.backends[0].name.span != b.backends[0].name.span
