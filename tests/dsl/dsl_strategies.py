"""Hypothesis strategies for valid aipol ASTs (every span is NO_SPAN)."""

from __future__ import annotations

import ipaddress

from aipol.dsl import ast, literals
from aipol.dsl.ast import NO_SPAN
from hypothesis import strategies as st

N = NO_SPAN

# keywords are valid names wherever the parser does not also accept a keyword
KEYWORD_NAMES = [
    "default",
    "split",
    "mini",
    "key",
    "backends",
    "models",
    "any",
    "team",
    "stream",
    "gateway",
    "route",
    "env",
    "none",
    "closed",
    "apply",
    "when",
    # security statements (issue 4)
    "dlp",
    "redact",
    "block",
    "log",
    "pattern",
    "deny",
    "words",
    "in",
    "param",
    "for",
    "claims",
    "jwt",
    "issuer",
    "jwks",
    "audience",
    "prompt_guard",
    "injection",
    "threshold",
]
ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
names = (ident | st.sampled_from(KEYWORD_NAMES)).map(lambda v: ast.Name(v, N))
# after `->` the keyword `split` wins, so a backend there cannot be called split
target_names = names.filter(lambda n: n.value != "split")
strings = st.text(max_size=20).map(lambda v: ast.Str(v, N))
paths = st.builds(
    lambda v, star: ast.Str("/" + v.replace("*", "") + star, N),
    st.text(max_size=12),
    st.sampled_from(["", "*"]),
)
header_names = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True).map(
    lambda v: ast.Str(v, N)
)
header_values = st.text(st.characters(blacklist_characters="\r\n\0"), max_size=12).map(
    lambda v: ast.Str(v, N)
)


def _pattern(v: str) -> ast.Str:
    return ast.Str(v.replace("*", "") + ("*" if v.endswith("*") else ""), N)


model_patterns = st.text(min_size=1, max_size=12).filter(lambda v: v != "*").map(_pattern)


def _tuple(strategy: st.SearchStrategy, min_size: int = 1) -> st.SearchStrategy[tuple]:
    return st.lists(strategy, min_size=min_size, max_size=3).map(tuple)


@st.composite
def addresses(draw: st.DrawFn) -> ast.Address:
    kind = draw(st.sampled_from(["v4", "v6", "host"]))
    if kind == "v4":
        host = str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
    elif kind == "v6":
        host = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
    else:
        host = draw(
            st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,5}){0,2}", fullmatch=True)
        )
    return ast.Address(host, draw(st.integers(1, 65535)), N)


sizes = st.builds(
    lambda n, unit: ast.Size(n, unit, N),
    st.integers(0, 10**12),
    st.sampled_from(["", *literals.SIZE_UNITS]),
)
money = st.decimals(min_value=0, max_value=1000, places=3).map(lambda d: ast.Money(d, N))
percents = st.decimals(min_value=0, max_value=100, places=2).map(lambda d: ast.Percent(d, N))
counts = st.integers(1, 10**7).map(lambda v: ast.Count(v, N))

gateway_stmts = st.one_of(
    addresses().map(lambda a: ast.Listen(a, N)),
    addresses().map(lambda a: ast.Admin(a, N)),
    sizes.map(lambda s: ast.MaxBody(s, N)),
    st.sampled_from(["closed", "open"]).map(lambda m: ast.OnSidecarFailure(m, N)),
)

urls = st.builds(
    lambda scheme, host: ast.Str(f"{scheme}://{host}", N),
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9.-]{1,12}(:[0-9]{1,5})?(/[a-z0-9/]{0,8})?", fullmatch=True),
)
backend_stmts = st.one_of(
    names.map(lambda n: ast.Provider(n, N)),
    strings.map(lambda s: ast.Model(s, N)),
    urls.map(lambda u: ast.Url(u, N)),
    names.map(lambda n: ast.CredentialEnv(n, N)),
    strings.map(lambda s: ast.CredentialFile(s, N)),
    st.just(ast.CredentialNone(N)),
    st.builds(lambda i, o, c: ast.Price(i, o, c, N), money, money, counts),
)


@st.composite
def allows(draw: st.DrawFn) -> ast.Allow:
    subject = draw(st.sampled_from(["team", "principal", "tier", "any"]))
    subjects = () if subject == "any" else draw(_tuple(names))
    target = draw(st.sampled_from(["backends", "models"]))
    if draw(st.booleans()):
        targets: object = ast.Wildcard(N)
    elif target == "backends":
        targets = draw(_tuple(names))
    else:
        targets = draw(_tuple(model_patterns))
    return ast.Allow(subject, subjects, target, targets, N)  # type: ignore[arg-type]


splits = _tuple(st.builds(lambda b, w: ast.SplitArm(b, w, N), names, percents)).map(
    lambda arms: ast.Split(arms, N)
)
# ------------------------------------------------------------ security

directions = st.permutations(["request", "response"]).flatmap(
    lambda p: st.integers(1, 2).map(lambda k: tuple(p[:k]))
)
nonempty_strings = strings.filter(lambda s: bool(s.value.strip()))
regexes = st.builds(
    lambda p, f: ast.Regex(p.replace("\\", "\\\\"), f, N),
    st.text(st.characters(blacklist_characters="\n\r"), min_size=1, max_size=12),
    st.sampled_from(["", "i", "m", "s", "im", "is", "ms", "ims"]),
)
dlp_verbs = st.sampled_from(["redact", "mask", "hash", "block", "log"])
dlp_stmts = st.one_of(
    st.builds(lambda a, d: ast.DlpAction(a, d, N), dlp_verbs, _tuple(names)),
    st.builds(lambda n, r, a: ast.DlpPattern(n, r, a, N), names, regexes, dlp_verbs),
)
dlps = st.builds(lambda d, b: ast.Dlp(d, b, N), directions, _tuple(dlp_stmts, 0))
prompt_guards = st.builds(
    lambda m, t: ast.PromptGuard("injection", m, t, N),
    st.sampled_from(["detect", "block"]),
    st.none() | st.integers(0, 100).map(lambda v: ast.Count(v, N)),
)
deny_words = st.one_of(
    st.builds(lambda w, d: ast.DenyWords(w, None, d, N), _tuple(nonempty_strings), directions),
    st.builds(lambda f, d: ast.DenyWords(None, f, d, N), nonempty_strings, directions),
)


@st.composite
def require_jwts(draw: st.DrawFn) -> ast.RequireJwt:
    jwks = draw(nonempty_strings)
    by_url = draw(st.booleans())
    if by_url:
        jwks = draw(urls)
    return ast.RequireJwt(
        draw(nonempty_strings),
        None if by_url else jwks,
        jwks if by_url else None,
        draw(_tuple(strings, 0)),
        N,
    )


claims = st.tuples(*[st.none() | nonempty_strings] * 3).filter(any).map(lambda t: ast.Claims(*t, N))


@st.composite
def params(draw: st.DrawFn) -> ast.Param:
    op = draw(st.sampled_from(["<=", "<", ">=", ">", "==", "deny"]))
    value = None if op == "deny" else draw(st.decimals(-1000, 10**6, places=3))
    kind = draw(st.sampled_from([None, "team", "tier", "principal"]))
    scope = () if kind is None else draw(_tuple(names))
    return ast.Param(draw(names), op, value, kind, scope, N)  # type: ignore[arg-type]


common_stmts = st.one_of(
    st.just(ast.RequireKey(N)),
    require_jwts(),
    dlps,
    prompt_guards,
    deny_words,
    claims,
    params(),
    allows(),
    st.builds(
        lambda p, t: ast.SystemPrompt(p, t, N), st.sampled_from(["prepend", "append"]), strings
    ),
    st.builds(
        lambda d, n, v: ast.HeaderSet(d, n, v, N),
        st.sampled_from(["request", "response"]),
        header_names,
        header_values,
    ),
    st.builds(
        lambda d, n: ast.HeaderRemove(d, n, N),
        st.sampled_from(["request", "response"]),
        header_names,
    ),
)
route_stmts = st.one_of(
    common_stmts,
    _tuple(st.sampled_from(literals.HTTP_METHODS).map(lambda m: ast.Name(m, N))).map(
        lambda ms: ast.Methods(ms, N)
    ),
    st.builds(
        lambda p, t: ast.When(ast.ModelCondition(p, N), t, N), model_patterns, target_names | splits
    ),
    splits,
    names.map(lambda n: ast.Default(n, N)),
    _tuple(names).map(lambda ps: ast.Apply(ps, N)),
)


@st.composite
def sends(draw: st.DrawFn) -> ast.Send:
    method = draw(st.sampled_from([None, "GET", "POST", "PUT", "DELETE", "PATCH"]))
    path = draw(paths) if method else None
    opt = st.none() | strings
    chat = draw(opt)
    body = None if chat is not None else draw(opt)
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=2).map(tuple))
    return ast.Send(method, path, draw(opt), draw(opt), chat, body, headers, draw(st.booleans()), N)


expects = st.one_of(
    st.integers(100, 599).map(lambda c: ast.ExpectStatus(c, N)),
    names.map(lambda n: ast.ExpectRoute(n, N)),
    st.builds(
        lambda s, neg, t: ast.ExpectBody(s, neg, t, N),
        st.sampled_from(["upstream", "downstream"]),
        st.booleans(),
        strings,
    ),
    st.builds(
        lambda s, n, v: ast.ExpectHeader(s, n, v, N),
        st.sampled_from(["upstream", "downstream"]),
        header_names,
        st.none() | strings,
    ),
)

top_items = st.one_of(
    _tuple(gateway_stmts, 0).map(lambda b: ast.Gateway(b, N)),
    strings.map(lambda p: ast.KeysFile(p, N)),
    st.builds(lambda n, b: ast.Backend(n, b, N), names, _tuple(backend_stmts, 0)),
    st.builds(lambda n, b: ast.Policy(n, b, N), names, _tuple(common_stmts, 0)),
    st.builds(lambda p, b: ast.Route(p, b, N), paths, _tuple(route_stmts, 0)),
    st.builds(lambda n, s, e: ast.Test(n, s, e, N), strings, sends(), _tuple(expects)),
)
files = st.lists(top_items, max_size=5).map(lambda items: ast.File(tuple(items), "", N))

__all__ = ["files"]
