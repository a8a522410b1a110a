"""The `.aipol` syntax tree: frozen dataclasses, one per construct.

Conventions (the resolver relies on them):

* Every node has a ``span`` (last field). Spans are *metadata*: they are
  excluded from ``==`` and ``hash`` (``field(compare=False)``), so two trees
  parsed from differently formatted sources compare equal.
* Literals are already converted: sizes are bytes, durations milliseconds,
  money and percentages :class:`~decimal.Decimal`, strings unescaped. Literal
  nodes keep the unit the user wrote only so the formatter can print it back.
* Names the user chose (backends, policies, teams, env vars, ...) are
  :class:`Name` nodes so errors can point at them. Keyword choices
  (``"request"``/``"response"``, ``"prepend"``/``"append"``, ...) are plain
  ``str`` fields typed with ``Literal``.
* Block bodies are tuples of statements in source order (``body``);
  duplicates (two ``listen`` lines) are the resolver's business. The only
  block with a fixed shape is :class:`Test` (one ``send``, then ``expect`` s),
  which the parser enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeVar

__all__ = [
    "Span",
    "NO_SPAN",
    "Node",
    "Name",
    "Str",
    "Size",
    "Duration",
    "Money",
    "Percent",
    "Count",
    "Address",
    "Regex",
    "Wildcard",
    "File",
    "Gateway",
    "Listen",
    "Admin",
    "MaxBody",
    "OnSidecarFailure",
    "KeysFile",
    "Backend",
    "Provider",
    "Model",
    "Url",
    "CredentialEnv",
    "CredentialFile",
    "CredentialNone",
    "Price",
    "Policy",
    "Route",
    "RequireKey",
    "Allow",
    "SystemPrompt",
    "HeaderSet",
    "HeaderRemove",
    "Dlp",
    "DlpAction",
    "DlpPattern",
    "PromptGuard",
    "DenyWords",
    "RequireJwt",
    "Claims",
    "Param",
    "Methods",
    "ModelCondition",
    "SplitArm",
    "Split",
    "When",
    "Default",
    "Apply",
    "Test",
    "Send",
    "ExpectStatus",
    "ExpectRoute",
    "ExpectBody",
    "ExpectHeader",
    "Condition",
    "GatewayStmt",
    "BackendStmt",
    "DlpStmt",
    "CommonStmt",
    "PolicyStmt",
    "RouteStmt",
    "Expect",
    "TopItem",
    "Block",
    "Statement",
]


@dataclass(frozen=True, slots=True)
class Span:
    """A source range. Lines and columns are 1-based; ``end_column`` is
    exclusive (the column just past the last character), so a one-line span
    covers ``end_column - column`` characters."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


#: Placeholder span for nodes built in code (tests, generated trees).
NO_SPAN = Span("<generated>", 0, 0, 0, 0)


def _span() -> Span:
    return field(compare=False, repr=False)  # type: ignore[return-value]


class Node:
    """Marker base class of every AST node (each has a ``span`` field)."""

    __slots__ = ()
    span: Span


# ------------------------------------------------------------------ literals


@dataclass(frozen=True)
class Name(Node):
    """An identifier chosen by the user: ``[A-Za-z_][A-Za-z0-9_-]*``."""

    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Str(Node):
    """A string literal, already unescaped."""

    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Size(Node):
    """``4MiB`` -> ``Size(bytes=4194304, unit="MiB")``. ``unit`` is the
    canonical spelling of the unit written (``""`` for a bare byte count):
    one of ``"", B, KB, MB, GB, KiB, MiB, GiB``."""

    bytes: int
    unit: str
    span: Span = _span()


@dataclass(frozen=True)
class Duration(Node):
    """``5m`` -> ``Duration(ms=300000, unit="m")``; unit one of ms, s, m, h, d."""

    ms: int
    unit: str
    span: Span = _span()


@dataclass(frozen=True)
class Money(Node):
    """``$2.50`` -> ``Money(Decimal("2.50"))`` (US dollars)."""

    amount: Decimal
    span: Span = _span()


@dataclass(frozen=True)
class Percent(Node):
    """``12.5%`` -> ``Percent(Decimal("12.5"))``; always within 0..100."""

    value: Decimal
    span: Span = _span()


@dataclass(frozen=True)
class Count(Node):
    """A count with an optional K/M multiplier: ``1M`` -> ``Count(1000000)``."""

    value: int
    span: Span = _span()


@dataclass(frozen=True)
class Address(Node):
    """``host:port``. ``host`` is an IPv4 address, a hostname, or an IPv6
    address (stored without the brackets of ``[::1]:80``)."""

    host: str
    port: int
    span: Span = _span()


@dataclass(frozen=True)
class Regex(Node):
    """``/pattern/flags``; ``pattern`` is the text between the slashes with
    ``\\/`` turned into ``/`` (other escapes are left for the regex engine).
    Reserved for later statements (dlp patterns)."""

    pattern: str
    flags: str
    span: Span = _span()


@dataclass(frozen=True)
class Wildcard(Node):
    """``*`` in ``allow ... backends *`` / ``models *``: everything."""

    span: Span = _span()


# ------------------------------------------------------------------ gateway


@dataclass(frozen=True)
class Listen(Node):
    address: Address
    span: Span = _span()


@dataclass(frozen=True)
class Admin(Node):
    address: Address
    span: Span = _span()


@dataclass(frozen=True)
class MaxBody(Node):
    size: Size
    span: Span = _span()


@dataclass(frozen=True)
class OnSidecarFailure(Node):
    mode: Literal["closed", "open"]
    span: Span = _span()


GatewayStmt = Listen | Admin | MaxBody | OnSidecarFailure


@dataclass(frozen=True)
class Gateway(Node):
    """``gateway { ... }``."""

    body: tuple[GatewayStmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class KeysFile(Node):
    """``keys file "keys.yaml"``; the path is relative to the .aipol file."""

    path: Str
    span: Span = _span()


# ------------------------------------------------------------------ backend


@dataclass(frozen=True)
class Provider(Node):
    name: Name
    span: Span = _span()


@dataclass(frozen=True)
class Model(Node):
    """``model "gpt-4o"`` inside a backend: the upstream model name."""

    name: Str
    span: Span = _span()


@dataclass(frozen=True)
class Url(Node):
    url: Str
    span: Span = _span()


@dataclass(frozen=True)
class CredentialEnv(Node):
    """``credential env OPENAI_API_KEY``."""

    var: Name
    span: Span = _span()


@dataclass(frozen=True)
class CredentialFile(Node):
    """``credential file "/run/secrets/openai"``."""

    path: Str
    span: Span = _span()


@dataclass(frozen=True)
class CredentialNone(Node):
    """``credential none``."""

    span: Span = _span()


@dataclass(frozen=True)
class Price(Node):
    """``price input $2.50 output $10.00 per 1M tokens``: ``per_tokens`` is
    the token count the prices refer to (1000 or 1000000 usually)."""

    input: Money
    output: Money
    per_tokens: Count
    span: Span = _span()


BackendStmt = Provider | Model | Url | CredentialEnv | CredentialFile | CredentialNone | Price


@dataclass(frozen=True)
class Backend(Node):
    name: Name
    body: tuple[BackendStmt, ...]
    span: Span = _span()


# ------------------------------------------------------- policy/route statements


@dataclass(frozen=True)
class RequireKey(Node):
    """``require key``."""

    span: Span = _span()


@dataclass(frozen=True)
class Allow(Node):
    """``allow <subject> <names> (backends|models) <targets>``.

    * ``subject``: ``"team" | "principal" | "tier" | "any"``; ``subjects``
      holds the names (empty for ``any``).
    * ``target``: ``"backends"`` (``targets`` are :class:`Name`) or
      ``"models"`` (``targets`` are :class:`Str`, possibly ending in ``*``);
      ``targets`` is a :class:`Wildcard` for ``*``.
    """

    subject: Literal["team", "principal", "tier", "any"]
    subjects: tuple[Name, ...]
    target: Literal["backends", "models"]
    targets: tuple[Name, ...] | tuple[Str, ...] | Wildcard
    span: Span = _span()


@dataclass(frozen=True)
class SystemPrompt(Node):
    """``system prepend "..."`` / ``system append "..."``."""

    position: Literal["prepend", "append"]
    text: Str
    span: Span = _span()


@dataclass(frozen=True)
class HeaderSet(Node):
    """``request header set "x-a" "b"`` / ``response header set ...``."""

    direction: Literal["request", "response"]
    name: Str
    value: Str
    span: Span = _span()


@dataclass(frozen=True)
class HeaderRemove(Node):
    """``request header remove "x-debug"`` / ``response header remove ...``."""

    direction: Literal["request", "response"]
    name: Str
    span: Span = _span()


@dataclass(frozen=True)
class Methods(Node):
    """``methods POST, GET``; values upper-cased and validated."""

    methods: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ModelCondition(Node):
    """``model "gpt-4o"`` in a ``when``; a pattern may end in ``*`` (prefix)."""

    pattern: Str
    span: Span = _span()


@dataclass(frozen=True)
class SplitArm(Node):
    backend: Name
    weight: Percent
    span: Span = _span()


@dataclass(frozen=True)
class Split(Node):
    """``split a 90%, b 10%``: a statement (fallthrough) or a ``when`` target."""

    arms: tuple[SplitArm, ...]
    span: Span = _span()


Condition = ModelCondition


@dataclass(frozen=True)
class When(Node):
    """``when <condition> -> <backend>`` or ``-> split ...``."""

    condition: Condition
    target: Name | Split
    span: Span = _span()


@dataclass(frozen=True)
class Default(Node):
    """``default b``: fallthrough, same as ``split b 100%``."""

    backend: Name
    span: Span = _span()


@dataclass(frozen=True)
class Apply(Node):
    """``apply p1, p2``: merge named policies into this route."""

    policies: tuple[Name, ...]
    span: Span = _span()


# ------------------------------------------------------------ security


Direction = Literal["request", "response"]
DlpVerb = Literal["redact", "mask", "hash", "block", "log"]


@dataclass(frozen=True)
class DlpAction(Node):
    """``redact email, phone`` inside a ``dlp`` block: an action applied to
    the named built-in detectors (checked against the registry later)."""

    action: DlpVerb
    detectors: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class DlpPattern(Node):
    """``pattern ticket /TICKET-\\d{6}/i mask``: a custom detector."""

    name: Name
    regex: Regex
    action: DlpVerb
    span: Span = _span()


DlpStmt = DlpAction | DlpPattern


@dataclass(frozen=True)
class Dlp(Node):
    """``dlp request, response { ... }``: ``directions`` in the order written
    (no duplicates, enforced by the parser), ``body`` in source order."""

    directions: tuple[Direction, ...]
    body: tuple[DlpStmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class PromptGuard(Node):
    """``prompt_guard injection block threshold 70``; ``threshold`` is within
    0..100 (checked by the parser) or None when not written."""

    kind: Literal["injection"]
    mode: Literal["detect", "block"]
    threshold: Count | None
    span: Span = _span()


@dataclass(frozen=True)
class DenyWords(Node):
    """``deny words "a", "b" in request`` (``words`` set, ``file`` None) or
    ``deny words file "list.txt" in request, response`` (the other way round).
    Phrases are non-empty; ``directions`` as in :class:`Dlp`."""

    words: tuple[Str, ...] | None
    file: Str | None
    directions: tuple[Direction, ...]
    span: Span = _span()


@dataclass(frozen=True)
class RequireJwt(Node):
    """``require jwt issuer "..." jwks file "..."|url "..." [audience "a", ...]``.
    Exactly one of ``jwks_file`` / ``jwks_url`` is set; ``audiences`` is
    empty when no ``audience`` was written. May coexist with ``require key``."""

    issuer: Str
    jwks_file: Str | None
    jwks_url: Str | None
    audiences: tuple[Str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Claims(Node):
    """``claims principal "sub" team "groups" tier "plan"``: JWT claim names
    mapped onto the principal; any non-empty subset, in any order (each at
    most once). Printed in the order principal, team, tier."""

    principal: Str | None
    team: Str | None
    tier: Str | None
    span: Span = _span()


@dataclass(frozen=True)
class Param(Node):
    """``param max_tokens <= 1000 [for tier free, pro]`` or ``param tools deny``.

    ``value`` is None exactly when ``op == "deny"`` (the field must be
    absent). ``scope_kind`` is None (everyone) with empty ``scope_names``,
    or one of team/tier/principal with at least one name."""

    name: Name
    op: Literal["<=", "<", ">=", ">", "==", "deny"]
    value: Decimal | None
    scope_kind: Literal["team", "tier", "principal"] | None
    scope_names: tuple[Name, ...]
    span: Span = _span()


CommonStmt = (
    RequireKey
    | RequireJwt
    | Allow
    | SystemPrompt
    | HeaderSet
    | HeaderRemove
    | Dlp
    | PromptGuard
    | DenyWords
    | Claims
    | Param
)
PolicyStmt = CommonStmt
RouteStmt = CommonStmt | Methods | When | Split | Default | Apply


@dataclass(frozen=True)
class Policy(Node):
    name: Name
    body: tuple[PolicyStmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Route(Node):
    """``route "/path" { ... }``; a path ending in ``*`` is a prefix match."""

    path: Str
    body: tuple[RouteStmt, ...]
    span: Span = _span()


# --------------------------------------------------------------------- test


@dataclass(frozen=True)
class Send(Node):
    """The request of a test. ``method`` is upper-case (``"POST"``) or None;
    ``method`` and ``path`` are both set or both None. ``headers`` keeps
    the order written."""

    method: str | None
    path: Str | None
    key: Str | None
    model: Str | None
    chat: Str | None
    body: Str | None
    headers: tuple[tuple[Str, Str], ...]
    stream: bool
    span: Span = _span()


@dataclass(frozen=True)
class ExpectStatus(Node):
    code: int
    span: Span = _span()


@dataclass(frozen=True)
class ExpectRoute(Node):
    """``expect route gpt4o``: the request was served by that backend."""

    backend: Name
    span: Span = _span()


@dataclass(frozen=True)
class ExpectBody(Node):
    """``expect [upstream] body [not] contains "..."``. ``side`` is
    ``"upstream"`` (what the backend received) or ``"downstream"`` (the
    response the client got)."""

    side: Literal["upstream", "downstream"]
    negated: bool
    text: Str
    span: Span = _span()


@dataclass(frozen=True)
class ExpectHeader(Node):
    """``expect [upstream] header "name" "value"`` or ``... "name" absent``
    (``value`` is None)."""

    side: Literal["upstream", "downstream"]
    name: Str
    value: Str | None
    span: Span = _span()


Expect = ExpectStatus | ExpectRoute | ExpectBody | ExpectHeader


@dataclass(frozen=True)
class Test(Node):
    """``test "name" { send ...  expect ... }``: exactly one send, then >= 1
    expect (enforced by the parser)."""

    __test__ = False  # not a pytest test class

    name: Str
    send: Send
    expects: tuple[Expect, ...]
    span: Span = _span()

    @property
    def body(self) -> tuple[Send | Expect, ...]:
        return (self.send, *self.expects)


# --------------------------------------------------------------------- file

TopItem = Gateway | KeysFile | Backend | Policy | Route | Test
Block = Gateway | Backend | Policy | Route | Test
Statement = GatewayStmt | BackendStmt | RouteStmt | DlpStmt | Send | Expect

N = TypeVar("N", bound=Node)


@dataclass(frozen=True)
class File(Node):
    """A whole `.aipol` file: top-level items in source order. ``source`` is
    the text it was parsed from (for :class:`~aipol.dsl.errors.AipolError`);
    like spans it does not take part in equality."""

    items: tuple[TopItem, ...]
    source: str = field(compare=False, repr=False)
    span: Span = _span()

    def of_type(self, cls: type[N]) -> tuple[N, ...]:
        return tuple(i for i in self.items if isinstance(i, cls))

    @property
    def gateways(self) -> tuple[Gateway, ...]:
        return self.of_type(Gateway)

    @property
    def keys(self) -> tuple[KeysFile, ...]:
        return self.of_type(KeysFile)

    @property
    def backends(self) -> tuple[Backend, ...]:
        return self.of_type(Backend)

    @property
    def policies(self) -> tuple[Policy, ...]:
        return self.of_type(Policy)

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.of_type(Route)

    @property
    def tests(self) -> tuple[Test, ...]:
        return self.of_type(Test)
