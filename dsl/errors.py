"""The one error type of aipol: a message anchored to a source span.

``str(err)`` renders like rustc / cel-python::

    policy.aipol:12:26: error: unknown backend `gtp4o`
       12 |   when model "gpt-4o" -> gtp4o
          |                          ^^^^^
      expected one of: gpt4o, sonnet

Used by the parser for syntax errors and by the compiler for semantic ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aipol.dsl.ast import Span

__all__ = ["AipolError", "AipolErrors"]


class AipolError(Exception):
    """An error at ``span`` in ``source_text`` (the whole file's text).

    ``expected`` lists what would have been valid there (printed as
    ``expected one of: a, b``); ``hint`` is a free-form suggestion.
    Without ``source_text`` only the ``file:line:col: error:`` line and the
    notes are printed.
    """

    def __init__(
        self,
        message: str,
        span: Span | None,
        source_text: str | None = None,
        expected: Sequence[str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source_text = source_text
        self.expected = list(expected) if expected else []
        self.hint = hint

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"AipolError({self.message!r}, {self.span!r})"

    def with_source(self, source_text: str) -> AipolError:
        """Attach the source text if the error was raised without it."""
        if self.source_text is None:
            self.source_text = source_text
        return self

    def format(self) -> str:
        lines = [f"{self._location()}: error: {self.message}"]
        lines += self._snippet()
        if self.expected:
            if len(self.expected) == 1:
                lines.append(f"  expected: {self.expected[0]}")
            else:
                lines.append(f"  expected one of: {', '.join(self.expected)}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def _location(self) -> str:
        if self.span is None:
            return "<unknown>"
        return f"{self.span.file}:{self.span.line}:{self.span.column}"

    def _snippet(self) -> list[str]:
        span = self.span
        if span is None or self.source_text is None or span.line < 1:
            return []
        # split on "\n" only: str.splitlines() also breaks on \x0c, \u2028, ...
        # which the lexer treats as ordinary characters.
        source_lines = self.source_text.split("\n")
        if span.line > len(source_lines):
            return []
        text = source_lines[span.line - 1].rstrip("\r")
        start = max(span.column - 1, 0)
        if span.end_line == span.line:
            end = max(span.end_column - 1, start + 1)
        else:
            end = max(len(text), start + 1)
        # keep tabs under tabs so the carets line up in any terminal
        pad = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        pad += " " * (start - len(text)) if start > len(text) else ""
        number = str(span.line)
        width = len(number) + 3
        return [
            f"{number:>{width}} | {text}".rstrip(),
            f"{'':>{width}} | {pad}{'^' * (end - start)}",
        ]


class AipolErrors(AipolError):
    """Several errors reported at once; ``str()`` prints each of them,
    separated by blank lines. ``errors`` holds them in order."""

    def __init__(self, errors: Iterable[AipolError]) -> None:
        self.errors = list(errors)
        if not self.errors:
            raise ValueError("AipolErrors needs at least one error")
        first = self.errors[0]
        super().__init__(first.message, first.span, first.source_text, first.expected, first.hint)

    def __repr__(self) -> str:
        return f"AipolErrors({self.errors!r})"

    def format(self) -> str:
        return "\n\n".join(e.format() for e in self.errors)
