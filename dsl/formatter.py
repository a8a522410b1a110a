"""Canonical formatting: AST (+ comments) -> text. The parser's twin.

Canonical form: 2-space indent, one statement per line, one blank line
between top-level items, canonical literals (``4MiB``, ``$2.50``, ``90%``,
JSON-quoted strings, upper-case ``methods``, lower-case ``send`` methods,
``send`` options and ``claims`` in a fixed order, ``param`` numbers without
trailing zeros), items in the user's order. Nested blocks (``dlp``) indent
one more level and keep their comments like top-level blocks.

The formatter never loses user text: full-line comments stay right above
the statement they precede (or before the ``}`` / end of file they precede),
end-of-line comments stay on their line, and a single blank line the user
left between statements inside a block is kept.

``parse(to_source(tree)) == tree`` for every valid tree (spans aside) and
``format_source`` is idempotent; tests/dsl/test_formatter.py checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aipol.dsl import ast, literals
from aipol.dsl.lexing import Comment
from aipol.dsl.parser import parse_with_comments

__all__ = ["format_source", "to_source"]

INDENT = "  "


def format_source(text: str, filename: str = "<string>") -> str:
    """Reformat ``.aipol`` source text; raises AipolError if it does not parse."""
    tree, comments = parse_with_comments(text, filename)
    return _Printer(text, comments).file(tree)


def to_source(tree: ast.File) -> str:
    """Print a tree (e.g. built in code) in canonical form, without comments."""
    return _Printer(None, []).file(tree)


class _Printer:
    def __init__(self, source: str | None, comments: Sequence[Comment]) -> None:
        self.source_lines = source.split("\n") if source is not None else []
        self.out: list[str] = []
        self.leading: list[Comment] = []  # full-line comments, in order
        self.trailing: dict[int, Comment] = {}  # end-of-line comments by line
        for c in comments:
            before = self._line(c.line)[: c.column - 1]
            if before.strip():
                self.trailing[c.line] = c
            else:
                self.leading.append(c)

    # ------------------------------------------------------------ layout

    def _line(self, line: int) -> str:
        return self.source_lines[line - 1] if 1 <= line <= len(self.source_lines) else ""

    def _blank_above(self, line: int) -> bool:
        return line >= 2 and not self._line(line - 1).strip()

    def _emit(self, indent: int, text: str, lines: Sequence[int] = (), blank: bool = False) -> None:
        """Append one output line; ``lines`` are the source lines it stands
        for, whose end-of-line comments it takes."""
        if blank and self.out and self.out[-1] != "":
            self.out.append("")
        text = INDENT * indent + text
        for line in lines:
            if line in self.trailing:
                text += "  " + self.trailing.pop(line).text
        self.out.append(text)

    def file(self, tree: ast.File) -> str:
        prev: str | None = None  # None, "comment" or "item"

        def blank(line: int) -> bool:
            return prev == "item" or (prev == "comment" and self._blank_above(line))

        for item in tree.items:
            for c in list(self.leading):
                if c.line >= item.span.line:
                    break
                self._emit(0, self.leading.pop(0).text, blank=blank(c.line))
                prev = "comment"
            self._item(item, blank(item.span.line))
            prev = "item"
        for c in list(self.leading):
            self._emit(0, self.leading.pop(0).text, blank=blank(c.line))
            prev = "comment"
        return "\n".join(self.out) + "\n" if self.out else ""

    def _item(self, item: ast.TopItem, blank: bool) -> None:
        if isinstance(item, ast.KeysFile):
            self._emit(0, self.statement(item), (item.span.line,), blank)
        elif isinstance(item, ast.Gateway):
            self._block("gateway", item, item.body, blank)
        elif isinstance(item, ast.Backend):
            self._block(f"backend {item.name.value}", item, item.body, blank)
        elif isinstance(item, ast.Policy):
            self._block(f"policy {item.name.value}", item, item.body, blank)
        elif isinstance(item, ast.Route):
            self._block(f"route {_s(item.path)}", item, item.body, blank)
        elif isinstance(item, ast.Test):
            self._block(f"test {_s(item.name)}", item, item.body, blank)
        else:  # pragma: no cover - exhaustive
            raise TypeError(f"not a top-level item: {item!r}")

    def _block(
        self,
        header: str,
        node: ast.Node,
        body: Sequence[ast.Node],
        blank: bool,
        indent: int = 0,
    ) -> None:
        """A ``header { ... }`` block at ``indent``; its statements one level
        deeper. Blocks nest (``dlp`` inside a policy or route)."""
        start, end = node.span.line, node.span.end_line
        if not body and not any(start < c.line < end for c in self.leading):
            self._emit(indent, f"{header} {{}}", (start, end), blank)
            return
        self._emit(indent, f"{header} {{", (start,), blank)
        first = True
        for stmt in body:
            first = self._inner_comments(stmt.span.line, first, indent + 1)
            blank_above = not first and self._blank_above(stmt.span.line)
            if isinstance(stmt, ast.Dlp):
                self._block(self.dlp_header(stmt), stmt, stmt.body, blank_above, indent + 1)
            else:
                self._emit(indent + 1, self.statement(stmt), (stmt.span.line,), blank_above)
            first = False
        self._inner_comments(end, first, indent + 1)
        self._emit(indent, "}", (end,))

    def _inner_comments(self, line: int, first: bool, indent: int) -> bool:
        """Emit the block-level comments above ``line``; returns the new
        value of "nothing emitted in this block yet"."""
        while self.leading and self.leading[0].line < line:
            c = self.leading.pop(0)
            self._emit(indent, c.text, blank=not first and self._blank_above(c.line))
            first = False
        return first

    # ------------------------------------------------------------ statements

    def statement(self, node: ast.Node) -> str:
        method: Callable[[Any], str] = getattr(self, "p_" + type(node).__name__)
        return method(node)

    def p_Listen(self, n: ast.Listen) -> str:  # noqa: N802 - named after the class
        return f"listen {literals.format_address(n.address)}"

    def p_Admin(self, n: ast.Admin) -> str:  # noqa: N802
        return f"admin {literals.format_address(n.address)}"

    def p_MaxBody(self, n: ast.MaxBody) -> str:  # noqa: N802
        return f"max_body {literals.format_size(n.size)}"

    def p_OnSidecarFailure(self, n: ast.OnSidecarFailure) -> str:  # noqa: N802
        return f"on_sidecar_failure {n.mode}"

    def p_KeysFile(self, n: ast.KeysFile) -> str:  # noqa: N802
        return f"keys file {_s(n.path)}"

    def p_Provider(self, n: ast.Provider) -> str:  # noqa: N802
        return f"provider {n.name.value}"

    def p_Model(self, n: ast.Model) -> str:  # noqa: N802
        return f"model {_s(n.name)}"

    def p_Url(self, n: ast.Url) -> str:  # noqa: N802
        return f"url {_s(n.url)}"

    def p_CredentialEnv(self, n: ast.CredentialEnv) -> str:  # noqa: N802
        return f"credential env {n.var.value}"

    def p_CredentialFile(self, n: ast.CredentialFile) -> str:  # noqa: N802
        return f"credential file {_s(n.path)}"

    def p_CredentialNone(self, n: ast.CredentialNone) -> str:  # noqa: N802
        return "credential none"

    def p_Price(self, n: ast.Price) -> str:  # noqa: N802
        return (
            f"price input {literals.format_money(n.input)} output "
            f"{literals.format_money(n.output)} per {literals.format_count(n.per_tokens)} tokens"
        )

    def p_RequireKey(self, n: ast.RequireKey) -> str:  # noqa: N802
        return "require key"

    def p_Allow(self, n: ast.Allow) -> str:  # noqa: N802
        subject = n.subject if n.subject == "any" else f"{n.subject} {_names(n.subjects)}"
        if isinstance(n.targets, ast.Wildcard):
            targets = "*"
        else:
            targets = ", ".join(_s(t) if isinstance(t, ast.Str) else t.value for t in n.targets)
        return f"allow {subject} {n.target} {targets}"

    def p_SystemPrompt(self, n: ast.SystemPrompt) -> str:  # noqa: N802
        return f"system {n.position} {_s(n.text)}"

    def p_HeaderSet(self, n: ast.HeaderSet) -> str:  # noqa: N802
        return f"{n.direction} header set {_s(n.name)} {_s(n.value)}"

    def p_HeaderRemove(self, n: ast.HeaderRemove) -> str:  # noqa: N802
        return f"{n.direction} header remove {_s(n.name)}"

    def dlp_header(self, n: ast.Dlp) -> str:
        return f"dlp {', '.join(n.directions)}"

    def p_DlpAction(self, n: ast.DlpAction) -> str:  # noqa: N802
        return f"{n.action} {_names(n.detectors)}"

    def p_DlpPattern(self, n: ast.DlpPattern) -> str:  # noqa: N802
        return f"pattern {n.name.value} {literals.format_regex(n.regex)} {n.action}"

    def p_PromptGuard(self, n: ast.PromptGuard) -> str:  # noqa: N802
        threshold = "" if n.threshold is None else f" threshold {n.threshold.value}"
        return f"prompt_guard {n.kind} {n.mode}{threshold}"

    def p_DenyWords(self, n: ast.DenyWords) -> str:  # noqa: N802
        if n.file is not None:
            words = f"file {_s(n.file)}"
        else:
            words = ", ".join(_s(w) for w in n.words or ())
        return f"deny words {words} in {', '.join(n.directions)}"

    def p_RequireJwt(self, n: ast.RequireJwt) -> str:  # noqa: N802
        if n.jwks_url is not None:
            jwks = f"url {_s(n.jwks_url)}"
        else:
            assert n.jwks_file is not None
            jwks = f"file {_s(n.jwks_file)}"
        out = f"require jwt issuer {_s(n.issuer)} jwks {jwks}"
        if n.audiences:
            out += " audience " + ", ".join(_s(a) for a in n.audiences)
        return out

    def p_Claims(self, n: ast.Claims) -> str:  # noqa: N802
        parts = ["claims"]
        for keyword, value in (("principal", n.principal), ("team", n.team), ("tier", n.tier)):
            if value is not None:
                parts += [keyword, _s(value)]
        return " ".join(parts)

    def p_Param(self, n: ast.Param) -> str:  # noqa: N802
        if n.op == "deny":
            out = f"param {n.name.value} deny"
        else:
            assert n.value is not None
            out = f"param {n.name.value} {n.op} {literals.format_number(n.value)}"
        if n.scope_kind is not None:
            out += f" for {n.scope_kind} {_names(n.scope_names)}"
        return out

    def p_Methods(self, n: ast.Methods) -> str:  # noqa: N802
        return f"methods {_names(n.methods)}"

    def p_When(self, n: ast.When) -> str:  # noqa: N802
        target = self.p_Split(n.target) if isinstance(n.target, ast.Split) else n.target.value
        return f"when model {_s(n.condition.pattern)} -> {target}"

    def p_Split(self, n: ast.Split) -> str:  # noqa: N802
        arms = ", ".join(f"{a.backend.value} {literals.format_percent(a.weight)}" for a in n.arms)
        return f"split {arms}"

    def p_Default(self, n: ast.Default) -> str:  # noqa: N802
        return f"default {n.backend.value}"

    def p_Apply(self, n: ast.Apply) -> str:  # noqa: N802
        return f"apply {_names(n.policies)}"

    def p_Send(self, n: ast.Send) -> str:  # noqa: N802
        parts = ["send"]
        if n.method is not None and n.path is not None:
            parts += [n.method.lower(), _s(n.path)]
        for keyword, value in (("key", n.key), ("model", n.model)):
            if value is not None:
                parts += [keyword, _s(value)]
        if n.stream:
            parts.append("stream")
        for keyword, value in (("chat", n.chat), ("body", n.body)):
            if value is not None:
                parts += [keyword, _s(value)]
        for name, value in n.headers:
            parts += ["header", _s(name), _s(value)]
        return " ".join(parts)

    def p_ExpectStatus(self, n: ast.ExpectStatus) -> str:  # noqa: N802
        return f"expect status {n.code}"

    def p_ExpectRoute(self, n: ast.ExpectRoute) -> str:  # noqa: N802
        return f"expect route {n.backend.value}"

    def p_ExpectBody(self, n: ast.ExpectBody) -> str:  # noqa: N802
        side = "upstream " if n.side == "upstream" else ""
        negated = "not " if n.negated else ""
        return f"expect {side}body {negated}contains {_s(n.text)}"

    def p_ExpectHeader(self, n: ast.ExpectHeader) -> str:  # noqa: N802
        side = "upstream " if n.side == "upstream" else ""
        value = "absent" if n.value is None else _s(n.value)
        return f"expect {side}header {_s(n.name)} {value}"


def _s(s: ast.Str) -> str:
    return literals.format_string(s.value)


def _names(names: Sequence[ast.Name]) -> str:
    return ", ".join(n.value for n in names)
