"""Pattern text -> byte-level syntax tree.

The tree has four node kinds: ``Bytes`` (a set of byte values, kept as a
256-bit int so unions, complements and case folding are single integer
operations), ``Seq``, ``Alt`` and ``Repeat``. Character classes, escapes, ``.``
and case-insensitivity are all resolved here, so the automaton stages only
ever see byte sets.

Non-ASCII characters are UTF-8 encoded: outside a class a character is one
atom (``é+`` repeats both bytes); in a positive class it becomes an
alternative of its byte sequence; negated classes and ranges must be ASCII
or ``\\xHH`` bytes (a negated multi-byte class has no byte-level meaning).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RegexError

ALL = (1 << 256) - 1
DIGIT = sum(1 << c for c in range(0x30, 0x3A))
UPPER = sum(1 << c for c in range(0x41, 0x5B))
LOWER = sum(1 << c for c in range(0x61, 0x7B))
WORD = DIGIT | UPPER | LOWER | (1 << 0x5F)
SPACE = sum(1 << c for c in b" \t\n\r\f\v")
NEWLINE = 1 << 0x0A

MAX_REPEAT = 1000
"""Largest count allowed in ``{n}``, ``{n,}``, ``{n,m}``."""
MAX_ATOMS = 20_000
"""Largest number of byte-set leaves after expanding counted repetitions."""
MAX_DEPTH = 100

CLASS_ESCAPES = {
    "d": DIGIT,
    "D": ALL ^ DIGIT,
    "w": WORD,
    "W": ALL ^ WORD,
    "s": SPACE,
    "S": ALL ^ SPACE,
}
CHAR_ESCAPES = {"n": 0x0A, "t": 0x09, "r": 0x0D, "f": 0x0C, "v": 0x0B, "a": 0x07, "0": 0x00}
ANCHOR_ESCAPES = "ABZzG"


@dataclass(frozen=True)
class Bytes:
    mask: int


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    node: Node
    min: int
    max: int | None  # None: unbounded


Node = Bytes | Seq | Alt | Repeat
EMPTY = Seq(())


@dataclass(frozen=True)
class Regex:
    """One parsed pattern: the tree plus the edge flags taken from ``\\b``."""

    source: str
    node: Node
    ignore_case: bool
    word_start: bool
    word_end: bool
    core: str  # the source without the leading (?i) and the edge \b's


def fold(mask: int) -> int:
    """ASCII case folding of a byte set."""
    return mask | ((mask << 32) & LOWER) | ((mask >> 32) & UPPER)


def bits(mask: int) -> list[int]:
    return [b for b in range(256) if mask >> b & 1]


def atoms(node: Node) -> int:
    """Number of byte-set leaves after expansion (the NFA size, roughly)."""
    if isinstance(node, Bytes):
        return 1
    if isinstance(node, Seq | Alt):
        return sum(atoms(n) for n in node.items)
    return atoms(node.node) * max(node.max if node.max is not None else node.min + 1, 1)


def nullable(node: Node) -> bool:
    """Whether ``node`` matches the empty string."""
    if isinstance(node, Bytes):
        return False
    if isinstance(node, Seq):
        return all(nullable(n) for n in node.items)
    if isinstance(node, Alt):
        return any(nullable(n) for n in node.items)
    return node.min == 0 or nullable(node.node)


def reverse(node: Node) -> Node:
    """The tree matching the reversed strings."""
    if isinstance(node, Seq):
        return Seq(tuple(reverse(n) for n in reversed(node.items)))
    if isinstance(node, Alt):
        return Alt(tuple(reverse(n) for n in node.items))
    if isinstance(node, Repeat):
        return Repeat(reverse(node.node), node.min, node.max)
    return node


def _word_b_at_end(src: str, start: int) -> bool:
    """``src`` ends with a ``\\b`` whose backslash is not itself escaped."""
    if len(src) - start < 2 or not src.endswith("\\b"):
        return False
    n, i = 0, len(src) - 2
    while i >= start and src[i] == "\\":
        n, i = n + 1, i - 1
    return n % 2 == 1


def _top_level_bar(src: str, start: int, end: int) -> bool:
    """Whether src[start:end] has a `|` outside every group and class: then a
    \\b written next to it binds to one alternative only. (The parsed node
    cannot tell: `(?:a|b)` and `a|b` parse to the same alternation.)"""
    depth, i, in_class = 0, start, False
    while i < end:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if src.startswith("]", i + 1) or src.startswith("^]", i + 1):
                i += 2 if src[i + 1] == "]" else 3  # a leading ] is a literal
                continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def parse(source: str, ignore_case: bool = False) -> Regex:
    """Parses one pattern; raises RegexError(message, offset)."""
    pos = 0
    if source.startswith("(?i)"):
        ignore_case, pos = True, 4
    word_start = source.startswith("\\b", pos)
    if word_start:
        pos += 2
    end = len(source)
    word_end = _word_b_at_end(source, pos)
    if word_end:
        end -= 2
    parser = _Parser(source, pos, end, ignore_case)
    node = parser.parse()
    if (word_start or word_end) and _top_level_bar(source, pos, end):
        at = pos - 2 if word_start else end
        raise RegexError(
            "\\b next to a top-level alternation applies to one alternative only; "
            "wrap the alternatives in (?:...)",
            at,
        )
    if nullable(node):
        raise RegexError("pattern can match the empty string", 0)
    return Regex(source, node, ignore_case, word_start, word_end, source[pos:end])


class _Parser:
    """Recursive descent over ``src[pos:end]`` (groups nest at most MAX_DEPTH)."""

    def __init__(self, src: str, pos: int, end: int, ignore_case: bool) -> None:
        self.src, self.pos, self.end, self.icase = src, pos, end, ignore_case
        self.depth = 0

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < self.end else ""

    def error(self, message: str, at: int | None = None) -> RegexError:
        return RegexError(message, self.pos if at is None else at)

    def parse(self) -> Node:
        node = self.alternation()
        if self.pos < self.end:  # only a stray ')' stops an alternation early
            raise self.error("unbalanced parenthesis")
        return node

    def alternation(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def sequence(self) -> Node:
        items: list[Node] = []
        while self.pos < self.end and self.peek() not in "|)":
            c = self.peek()
            if c in "*+?" or (c == "{" and self.counted() is not None):
                raise self.error("nothing to repeat")
            atom = self.atom()
            items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else Seq(tuple(items))

    def counted(self) -> tuple[int, int | None, int] | None:
        """Reads ``{n}``, ``{n,}``, ``{n,m}`` or ``{,m}`` at pos without moving:
        (min, max, length), or None when the brace is a literal (as in Python)."""
        i, src, end = self.pos + 1, self.src, self.end
        j = i
        while j < end and src[j].isdigit():
            j += 1
        lo = src[i:j]
        if j < end and src[j] == "}":
            return (int(lo), int(lo), j + 1 - self.pos) if lo else None
        if j >= end or src[j] != ",":
            return None
        k = j + 1
        while k < end and src[k].isdigit():
            k += 1
        hi = src[j + 1 : k]
        if k >= end or src[k] != "}":
            return None
        return int(lo or "0"), (int(hi) if hi else None), k + 1 - self.pos

    def quantified(self, atom: Node) -> Node:
        first = True
        while True:
            at, c = self.pos, self.peek()
            if c in ("*", "+", "?"):
                lo, hi, n = {"*": (0, None, 1), "+": (1, None, 1), "?": (0, 1, 1)}[c]
            elif c == "{" and (q := self.counted()) is not None:
                lo, hi, n = q
            else:
                return atom
            if not first:
                raise self.error("multiple repeat: wrap the repeated part in (?:...)")
            if hi is not None and lo > hi:
                raise self.error("min repeat greater than max repeat")
            if max(lo, hi or 0) > MAX_REPEAT:
                raise self.error(f"repeat count above {MAX_REPEAT}")
            self.pos += n
            nxt = self.peek()
            if nxt == "?":
                raise self.error(
                    "lazy quantifiers are not supported (matches are leftmost-longest)"
                )
            if nxt == "+":
                raise self.error("possessive quantifiers are not supported")
            atom = Repeat(atom, lo, hi)
            if atoms(atom) > MAX_ATOMS:
                raise self.error(f"repetition expands to more than {MAX_ATOMS} states", at)
            first = False

    def byteset(self, mask: int) -> Bytes:
        return Bytes(fold(mask) if self.icase else mask)

    def literal(self, ch: str) -> Node:
        data = ch.encode("utf-8")
        if len(data) == 1:
            return self.byteset(1 << data[0])
        return Seq(tuple(Bytes(1 << b) for b in data))

    def atom(self) -> Node:
        c, at = self.peek(), self.pos
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c in "^$":
            raise self.error(
                "anchors ^ and $ are not supported: patterns match anywhere in the text "
                "(use \\b at the start or end for word edges)"
            )
        self.pos += 1
        if c == ".":
            return Bytes(ALL ^ NEWLINE)
        if c != "\\":
            return self.literal(c)
        if self.pos >= self.end:
            if self.end < len(self.src):  # the \ of a trailing \b
                raise self.error("\\b is supported only at the very start or end of a pattern", at)
            raise self.error("pattern ends with a backslash", at)
        e = self.peek()
        self.pos += 1
        if e in CLASS_ESCAPES:
            return Bytes(CLASS_ESCAPES[e])
        if e == "b":
            raise self.error("\\b is supported only at the very start or end of a pattern", at)
        value = self.escape_value(e, at)
        return self.literal(e) if value is None else self.byteset(1 << value)

    def escape_value(self, e: str, at: int) -> int | None:
        """The byte of the escape ``\\e`` (after pos), None for an escaped literal
        character; raises for unsupported escapes."""
        if e in CHAR_ESCAPES:
            return CHAR_ESCAPES[e]
        if e == "x":
            h = self.src[self.pos : min(self.pos + 2, self.end)]
            if len(h) < 2 or any(ch not in "0123456789abcdefABCDEF" for ch in h):
                raise self.error("\\x needs two hex digits", at)
            self.pos += 2
            return int(h, 16)
        if e.isdigit():
            raise self.error("backreferences are not supported", at)
        if e in ANCHOR_ESCAPES or e == "B":
            raise self.error(f"anchor \\{e} is not supported", at)
        if e.isascii() and e.isalpha():
            raise self.error(f"unsupported escape \\{e}", at)
        return None

    def group(self) -> Node:
        at = self.pos
        self.pos += 1
        if self.peek() == "?":
            ext = self.src[self.pos + 1 : self.pos + 3]
            if ext.startswith(":"):
                self.pos += 2
            elif ext in ("<=", "<!") or ext[:1] in ("=", "!"):
                raise self.error("lookaround assertions are not supported", at)
            elif ext.startswith("P") or ext.startswith("<"):
                raise self.error("named groups are not supported; use (?:...)", at)
            elif ext[:1] in ("i", "m", "s", "x", "a", "u", "L", "-"):
                raise self.error("inline flags are supported only as a leading (?i)", at)
            else:
                raise self.error("unsupported group extension", at)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("groups nested too deeply", at)
        node = self.alternation()
        self.depth -= 1
        if self.peek() != ")":
            raise self.error("missing ), unterminated group", at)
        self.pos += 1
        return node

    def class_item(self) -> tuple[int | None, int, bytes | None]:
        """One class member: (single byte or None, mask, multi-byte sequence)."""
        c, at = self.peek(), self.pos
        self.pos += 1
        if c != "\\":
            data = c.encode("utf-8")
            if len(data) == 1:
                return data[0], 1 << data[0], None
            return None, 0, data
        if self.pos >= self.end:
            raise self.error("missing ], unterminated character class", at)
        e = self.peek()
        self.pos += 1
        if e in CLASS_ESCAPES:
            return None, CLASS_ESCAPES[e], None
        if e == "b":
            return 0x08, 1 << 0x08, None
        value = self.escape_value(e, at)
        if value is None:
            data = e.encode("utf-8")
            if len(data) > 1:
                return None, 0, data
            value = data[0]
        return value, 1 << value, None

    def char_class(self) -> Node:
        start = self.pos
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        mask, multi, first = 0, [], True
        while True:
            if self.pos >= self.end:
                raise self.error("missing ], unterminated character class", start)
            if self.peek() == "]" and not first:
                self.pos += 1
                break
            first = False
            at = self.pos
            lo, m, seq = self.class_item()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                hi_at = self.pos
                hi, _, hseq = self.class_item()
                if lo is None or hi is None:
                    raise self.error("bad character range (endpoints must be single bytes)", at)
                if hi < lo:
                    raise self.error("bad character range (end before start)", hi_at)
                m = sum(1 << b for b in range(lo, hi + 1))
                assert hseq is None
            if seq is not None:
                if negate:
                    raise self.error("a negated class cannot hold multi-byte characters", at)
                multi.append(seq)
            mask |= m
        if self.icase:
            mask = fold(mask)
        if negate:
            mask = ALL ^ mask
        if not multi:
            return Bytes(mask)
        alts: list[Node] = [Bytes(mask)] if mask else []
        alts += [Seq(tuple(Bytes(1 << b) for b in s)) for s in sorted(set(multi))]
        return alts[0] if len(alts) == 1 else Alt(tuple(alts))
