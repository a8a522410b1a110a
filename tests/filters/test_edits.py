"""JSON string escaping, raw body edits, and the chat edit helpers
(aipol_chat_set_model / aipol_chat_insert_system)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import reference as ref
from .chat import INSERT_FIRST, INSERT_LAST, SET_MODEL, apply_edits, chat_edit, escape
from .test_json import chat_request, serialized

# ---- escape ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_escape_round_trips(guest, s: str) -> None:
    out = escape(guest, s.encode())
    assert out is not None
    assert json.loads(out.decode("utf-8")) == s
    assert out == json.dumps(s, ensure_ascii=False).encode()
    assert all(b >= 0x20 for b in out), "no raw control characters"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_escape_replaces_invalid_utf8(guest, b: bytes) -> None:
    out = escape(guest, b)
    assert out is not None
    assert json.loads(out.decode("utf-8")) == b.decode("utf-8", errors="replace")


def test_escape_forms(guest) -> None:
    assert escape(guest, b'a"\\\n\t\r\b\f\x01\x7f/') == b'"a\\"\\\\\\n\\t\\r\\b\\f\\u0001\x7f/"'
    assert escape(guest, b"") == b'""'


@pytest.mark.parametrize("s", [b"", b"abc", b'"\\', b"\x00" * 5, "é😀".encode()])
def test_escape_capacity(guest, s: bytes) -> None:
    full = escape(guest, s)
    assert full is not None
    assert escape(guest, s, cap=len(full)) == full
    assert escape(guest, s, cap=len(full) - 1) is None


# ---- apply_edits -------------------------------------------------------------


@st.composite
def body_and_edits(draw):
    body = draw(st.binary(max_size=60))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=10)))
    edits = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        if draw(st.booleans()):
            b = a  # an insertion
        edits.append((a, b, draw(st.binary(max_size=8))))
    return body, edits


def apply_py(body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out, pos = b"", 0
    for a, b, t in edits:
        out += body[pos:a] + t
        pos = b
    return out + body[pos:]


@settings(max_examples=300, deadline=None)
@given(body_and_edits())
def test_apply_edits(guest, case) -> None:
    body, edits = case
    assert apply_edits(guest, body, edits) == apply_py(body, edits)


@pytest.mark.parametrize(
    "edits",
    [
        [(2, 4, b"x"), (3, 5, b"y")],  # overlapping
        [(4, 5, b"x"), (1, 2, b"y")],  # unsorted
        [(3, 2, b"x")],  # start > end
        [(0, 11, b"x")],  # past the end
        [(2, 4, b"x"), (2, 2, b"y")],  # insertion inside an earlier replacement
    ],
    ids=["overlap", "unsorted", "reversed", "past-end", "insert-after-replace"],
)
def test_apply_edits_rejects(guest, edits) -> None:
    assert apply_edits(guest, b"0123456789", edits) is None


def test_apply_edits_same_position(guest) -> None:
    assert apply_edits(guest, b"abc", [(1, 1, b"X"), (1, 1, b"Y"), (1, 2, b"Z")]) == b"aXYZc"


# ---- chat edits --------------------------------------------------------------

MODEL = "gpt-routed"
SYSTEM_TEXTS = st.text(max_size=8)
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just(SET_MODEL), st.sampled_from(["a", "gpt-routed", 'x"y', "é"])),
        st.tuples(st.sampled_from([INSERT_FIRST, INSERT_LAST]), SYSTEM_TEXTS),
    ),
    min_size=1,
    max_size=5,
)


def expected_after(doc: dict, ops) -> dict:
    doc = dict(doc)
    msgs = list(doc.get("messages", [])) if "messages" in doc else None
    for kind, arg in ops:
        if kind == SET_MODEL:
            doc["model"] = arg
        else:
            m = {"role": "system", "content": arg}
            msgs = [] if msgs is None else msgs
            if kind == INSERT_FIRST:
                msgs.insert(0, m)
            else:
                msgs.append(m)
    if msgs is not None:
        doc["messages"] = msgs
    return doc


def run_ops(guest, body: bytes, ops) -> dict:
    wire = [(k, json.dumps(a, ensure_ascii=False).encode()) for k, a in ops]
    out, code = chat_edit(guest, body, wire)
    assert out is not None, f"edit failed with code {code}"
    return json.loads(out.decode("utf-8"))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(serialized(chat_request), ops_strategy)
def test_chat_edits_keep_json_valid(guest, data: bytes, ops) -> None:
    if ref.parse_chat(data).status != ref.OK:
        return
    doc = json.loads(data.decode("utf-8", errors="surrogatepass"))
    got = run_ops(guest, data, ops)
    assert got == expected_after(doc, ops)


BODIES = {
    "empty-root": b"{}",
    "spaced-empty-root": b"{ \n }",
    "model-only": b'{"model":"m"}',
    "empty-messages": b'{"messages":[]}',
    "spaced-empty-messages": b'{"model":"m", "messages": [ \n ] }',
    "one-message": b'{"messages":[{"role":"user","content":"hi"}]}',
    "two-messages": b'{"messages":[{"role":"user","content":"a"} , {"content":"b"}],"x":1}',
    "messages-first": b'{"messages":[{"role":"user","content":"hi"}],"model":"m"}',
}
OPS = {
    "set-model": [(SET_MODEL, MODEL)],
    "set-model-twice": [(SET_MODEL, "a"), (SET_MODEL, MODEL)],
    "first": [(INSERT_FIRST, "s1")],
    "last": [(INSERT_LAST, "s1")],
    "first-first": [(INSERT_FIRST, "s1"), (INSERT_FIRST, "s2")],
    "last-first-last": [(INSERT_LAST, "s1"), (INSERT_FIRST, "s2"), (INSERT_LAST, "s3")],
    "system-then-model": [(INSERT_FIRST, "s"), (SET_MODEL, MODEL)],
    "model-then-system": [(SET_MODEL, MODEL), (INSERT_LAST, "s")],
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("ops", OPS.values(), ids=OPS.keys())
def test_chat_edit_shapes(guest, body: bytes, ops) -> None:
    assert run_ops(guest, body, ops) == expected_after(json.loads(body), ops)


def test_many_messages_insert_last(guest) -> None:
    doc = {"messages": [{"role": "user", "content": str(i)} for i in range(300)]}
    ops = [(INSERT_LAST, "end"), (INSERT_FIRST, "start")]
    assert run_ops(guest, json.dumps(doc).encode(), ops) == expected_after(doc, ops)
