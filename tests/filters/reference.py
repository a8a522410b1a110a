"""Python references for the filter runtime's pure routines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
MAX_DEPTH = 64
MAX_MESSAGES = 256

OK, SYNTAX, NOT_OBJECT, BAD_FIELD, TOO_DEEP, NO_MEMORY = range(6)


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def sticky_bucket(seed: bytes, who: bytes) -> int:
    """policy.h: FNV-1a 32 over seed, 0x00, principal (or request id); % 10000."""
    return fnv1a32(seed + b"\x00" + who) % 10000


# ---- JSON -------------------------------------------------------------------


class _Obj(dict):
    """A JSON object that remembers which keys were repeated."""

    dups: set[str]
    keys: list[str]  # every key in document order, repeats included


def _utf8(text: str) -> bytes:
    """The bytes the filter decodes `text` to (a lone surrogate becomes U+FFFD)."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode()


def _pairs(pairs: list[tuple[str, object]]) -> _Obj:
    o = _Obj()
    o.dups = set()
    o.keys = [k for k, _ in pairs]
    for k, v in pairs:
        if k in o:
            o.dups.add(k)
        o[k] = v
    return o


class _BigInt:
    """An integer literal too long for int() (Python limits digit counts)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_int(text: str) -> int | _BigInt:
    return int(text) if len(text) < 400 else _BigInt(text)


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard constant {name}")


def _fix_surrogates(s: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def _depth(v: object) -> int:
    """Nesting depth: a scalar is 0, [] / {} is 1."""
    best = 0
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            best = max(best, d + 1)
            stack.extend((y, d + 1) for y in x.values())
        elif isinstance(x, list):
            best = max(best, d + 1)
            stack.extend((y, d + 1) for y in x)
    return best


def loads_strict(data: bytes) -> object:
    """RFC 8259 parse of bytes (UTF-8 only); raises ValueError when invalid."""
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(
        text,
        object_pairs_hook=_pairs,
        parse_int=_parse_int,
        parse_constant=_reject_constant,
    )


@dataclass
class Message:
    role: str = ""
    content: str = ""


@dataclass
class Chat:
    status: int
    model: str | None = None
    stream: bool | None = None
    max_tokens: int | None = None
    messages: list[Message] | None = None
    message_count: int = 0
    extra: dict = field(default_factory=dict)


def _is_int64(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63


def _content(c: object) -> str | None:
    """The text of a message's content, or None if its type is wrong."""
    if c is None:
        return ""
    if isinstance(c, str):
        return _fix_surrogates(c)
    if not isinstance(c, list):
        return None
    texts = []
    for part in c:
        if not isinstance(part, dict) or part.dups & {"type", "text"}:
            return None
        if "type" in part and not isinstance(part["type"], str):
            return None
        if part.get("type") == "text":
            if not isinstance(part.get("text"), str):
                return None
            texts.append(_fix_surrogates(part["text"]))
    return "\n".join(texts)


def parse_chat(data: bytes) -> Chat:
    """What aipol_json_parse_chat must return for `data`."""
    try:
        doc = loads_strict(data)
    except (ValueError, RecursionError):
        return Chat(SYNTAX)  # or TOO_DEEP: the tests accept either for invalid input
    if _depth(doc) > MAX_DEPTH:
        return Chat(TOO_DEEP)
    if not isinstance(doc, dict):
        return Chat(NOT_OBJECT)
    bad = Chat(BAD_FIELD)
    decoded = {"model", "messages", "stream", "max_tokens", "max_completion_tokens"}
    if doc.dups & decoded:
        return bad
    # Other top-level keys are recorded (at most 32, keys of at most 24 bytes);
    # a repeat of a recorded key is refused too.
    recorded: list[str] = []
    for k in doc.keys:
        if k in decoded or len(_utf8(k)) > 24:
            continue
        if k in recorded:
            return bad
        if len(recorded) < 32:
            recorded.append(k)
    out = Chat(OK)
    if "model" in doc:
        if not isinstance(doc["model"], str):
            return bad
        out.model = _fix_surrogates(doc["model"])
    if "stream" in doc and doc["stream"] is not None:
        if not isinstance(doc["stream"], bool):
            return bad
        out.stream = doc["stream"]
    for key in ("max_tokens", "max_completion_tokens"):
        if key in doc and doc[key] is not None:
            if not _is_int64(doc[key]):
                return bad
            out.max_tokens = (
                max(out.max_tokens, doc[key]) if out.max_tokens is not None else doc[key]
            )
    if "messages" in doc:
        msgs = doc["messages"]
        if not isinstance(msgs, list):
            return bad
        out.messages = []
        for m in msgs:
            if not isinstance(m, dict) or m.dups & {"role", "content"}:
                return bad
            role = m.get("role", "")
            if not isinstance(role, str):
                return bad
            content = _content(m.get("content"))
            if content is None:
                return bad
            out.messages.append(Message(_fix_surrogates(role), content))
        out.message_count = len(out.messages)
        out.messages = out.messages[:MAX_MESSAGES]
    return out
