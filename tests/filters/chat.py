"""Calling the guest's JSON routines from the tests."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .guest import Guest


@dataclass
class GuestMessage:
    start: int
    end: int
    role: bytes
    content: bytes


@dataclass
class GuestChat:
    status: int
    has_model: int = 0
    model_start: int = 0
    model_end: int = 0
    has_stream: int = 0
    stream: int = 0
    has_max_tokens: int = 0
    max_tokens: int = 0
    has_messages: int = 0
    messages_open: int = 0
    messages_close: int = 0
    message_count: int = 0
    root_open: int = 0
    root_close: int = 0
    model: bytes = b""
    messages: list[GuestMessage] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u32(self) -> int:
        v = struct.unpack_from("<I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def blob(self) -> bytes:
        n = self.u32()
        b = self.data[self.pos : self.pos + n]
        self.pos += (n + 3) & ~3
        return b


def parse_chat(g: Guest, data: bytes) -> GuestChat:
    p = g.alloc(data)
    r = g.ptr("aipol_test_json_parse_chat", p, len(data))
    g.free(p)
    assert r, "parse result allocation failed"
    size = g.u32(r)
    rd = _Reader(g.read(r, size))
    g.free(r)
    rd.u32()
    out = GuestChat(rd.u32())
    if out.status != 0:
        return out
    (
        out.has_model, out.model_start, out.model_end, out.has_stream, out.stream,
        out.has_max_tokens, lo, hi, out.has_messages, out.messages_open, out.messages_close,
        out.message_count, out.root_open, out.root_close,
    ) = (rd.u32() for _ in range(14))  # fmt: skip
    out.max_tokens = struct.unpack("<q", struct.pack("<II", lo, hi))[0]
    out.model = rd.blob()
    for _ in range(min(out.message_count, 256)):
        start, end = rd.u32(), rd.u32()
        out.messages.append(GuestMessage(start, end, rd.blob(), rd.blob()))
    assert rd.pos == size
    return out


def escape(g: Guest, s: bytes, cap: int | None = None) -> bytes | None:
    cap = 6 * len(s) + 2 if cap is None else cap
    p = g.alloc(s)
    out = g.ptr("malloc", max(cap, 1))
    n = g.ptr("aipol_test_escape", p, len(s), out, cap)
    res = g.read(out, n) if n else None
    g.free(p)
    g.free(out)
    return res


def _call_with_out(g: Guest, name: str, *args: int) -> tuple[int, int]:
    out_len = g.ptr("malloc", 4)
    r = g.ptr(name, *args, out_len)
    n = g.u32(out_len)
    g.free(out_len)
    return r, n


def apply_edits(g: Guest, body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes | None:
    bp = g.alloc(body)
    texts = [g.alloc(t) for _, _, t in edits]
    quads = b"".join(
        struct.pack("<IIII", s, e, tp, len(t)) for (s, e, t), tp in zip(edits, texts, strict=True)
    )
    qp = g.alloc(quads)
    r, n = _call_with_out(g, "aipol_test_apply_edits", bp, len(body), qp, len(edits))
    res = g.read(r, n) if r else None
    for p in (bp, qp, *texts, r):
        g.free(p)
    return res


SET_MODEL, INSERT_FIRST, INSERT_LAST = 0, 1, 2


def chat_edit(g: Guest, body: bytes, ops: list[tuple[int, bytes]]) -> tuple[bytes | None, int]:
    """Runs aipol_chat_set_model / aipol_chat_insert_system; returns the new
    body, or None and the failure code."""
    bp = g.alloc(body)
    texts = [g.alloc(t) for _, t in ops]
    triples = b"".join(
        struct.pack("<III", k, tp, len(t)) for (k, t), tp in zip(ops, texts, strict=True)
    )
    op = g.alloc(triples)
    r, n = _call_with_out(g, "aipol_test_chat_edit", bp, len(body), op, len(ops))
    res = g.read(r, n) if r else None
    for p in (bp, op, *texts, r):
        g.free(p)
    return res, n
