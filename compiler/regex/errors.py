"""The one exception of the regex compiler."""

from __future__ import annotations


class RegexError(Exception):
    """A pattern the compiler refuses.

    ``offset`` is the index (in characters of the pattern string) of the
    offending character, so the caller can put a caret under it; ``pattern``
    is the index of the pattern in the set when the error concerns one
    pattern of a set (``None`` for errors about the set as a whole).
    """

    def __init__(self, message: str, offset: int, pattern: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.pattern = pattern

    def __repr__(self) -> str:
        return f"RegexError({self.message!r}, {self.offset}, pattern={self.pattern})"
