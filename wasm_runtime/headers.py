"""Header maps: Envoy's HeaderMap as the filter sees it, and a read-only view for tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class HeaderMap:
    """An ordered multimap of lower-cased byte keys, pseudo-headers first (like Envoy's)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.pairs: list[tuple[bytes, bytes]] = []
        for k, v in pairs:
            self.add(k, v)

    def __len__(self) -> int:
        return len(self.pairs)

    def copy(self) -> HeaderMap:
        m = HeaderMap()
        m.pairs = list(self.pairs)
        return m

    def get(self, key: bytes) -> bytes | None:
        key = key.lower()
        for k, v in self.pairs:
            if k == key:
                return v
        return None

    def get_all(self, key: bytes) -> list[bytes]:
        key = key.lower()
        return [v for k, v in self.pairs if k == key]

    def add(self, key: bytes, value: bytes) -> None:
        key = key.lower()
        if key.startswith(b":"):
            i = 0
            while i < len(self.pairs) and self.pairs[i][0].startswith(b":"):
                i += 1
            self.pairs.insert(i, (key, value))
        else:
            self.pairs.append((key, value))

    def replace(self, key: bytes, value: bytes) -> None:
        """Set ``key``: the first entry keeps its position, later duplicates go."""
        key = key.lower()
        out: list[tuple[bytes, bytes]] = []
        done = False
        for k, v in self.pairs:
            if k == key:
                if not done:
                    out.append((k, value))
                    done = True
            else:
                out.append((k, v))
        self.pairs = out
        if not done:
            self.add(key, value)

    def remove(self, key: bytes) -> None:
        key = key.lower()
        self.pairs = [(k, v) for k, v in self.pairs if k != key]

    def set_all(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        self.pairs = []
        for k, v in pairs:
            self.add(k, v)

    def byte_size(self) -> int:
        """Envoy's ``HeaderMap::byteSize()``: the sum of key and value lengths."""
        return sum(len(k) + len(v) for k, v in self.pairs)

    def view(self) -> Headers:
        return Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in self.pairs)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive, multi-value aware headers for assertions.

    ``h["x"]`` is the *first* value (what ``proxy_get_header_map_value`` returns);
    ``h.get_all("x")`` gives every value; ``h.pairs`` the ordered (name, value) list.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, Any] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self.pairs: list[tuple[str, str]] = [(k.lower(), str(v)) for k, v in items]

    def __getitem__(self, key: str) -> str:
        key = key.lower()
        for k, v in self.pairs:
            if k == key:
                return v
        raise KeyError(key)

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self.pairs if k == key]

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _ in self.pairs:
            seen.setdefault(k)
        return iter(seen)

    def __len__(self) -> int:
        return len(set(k for k, _ in self.pairs))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(k == key.lower() for k, _ in self.pairs)

    def __repr__(self) -> str:
        return f"Headers({self.pairs!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.pairs == other.pairs
        if isinstance(other, Mapping):
            return dict(self) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def to_pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    """Accept a mapping, a ``Headers`` or an iterable of pairs (str or bytes)."""
    if headers is None:
        return []
    if isinstance(headers, Headers):
        items: Iterable[tuple[Any, Any]] = headers.pairs
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    out = []
    for k, v in items:
        kb = k if isinstance(k, bytes) else str(k).encode("latin-1")
        vb = v if isinstance(v, bytes) else str(v).encode("latin-1")
        out.append((kb.lower(), vb))
    return out
