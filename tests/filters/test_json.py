"""The chat request scanner against Python's json module (made strict),
on generated requests, mutations of them, random bytes and depth bombs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import reference as ref
from .chat import parse_chat

# Strings with everything JSON must handle: controls, quotes, backslashes,
# non-BMP characters, and (escaped only) lone surrogates.
any_char = st.characters(codec=None, categories=None)
text = st.text(
    alphabet=st.one_of(st.sampled_from('"\\/\b\f\n\r\t\x00\x1f\x7f é€😀'), any_char), max_size=12
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": values}),
    st.fixed_dictionaries({}, optional={"type": values, "text": values}),
    values,
)
content = st.one_of(text, st.none(), st.lists(part, max_size=4), values)
message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": content}
    ),
    st.fixed_dictionaries({}, optional={"role": st.one_of(text, values), "content": content}),
    values,
)
chat_request = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(text, st.sampled_from(["gpt-4o", "gpt-4o-mini"]), values),
        "messages": st.one_of(st.lists(message, max_size=5), values),
        "stream": st.one_of(st.booleans(), st.none(), values),
        "max_tokens": st.one_of(st.integers(-(2**64), 2**64), st.none(), values),
        "max_completion_tokens": st.one_of(st.integers(0, 10**6), values),
        "temperature": values,
        "n\u00e9sted": values,
    },
)


@st.composite
def serialized(draw, doc_strategy=chat_request) -> bytes:
    """A document as JSON text, with varied whitespace and escaping."""
    doc = draw(doc_strategy)
    ensure_ascii = draw(st.booleans())
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    seps = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    s = json.dumps(doc, ensure_ascii=ensure_ascii, indent=indent, separators=seps)
    if draw(st.booleans()):
        s = " \r\n" + s + "\t\n"
    # Lone surrogates cannot be UTF-8: with ensure_ascii=False they make the
    # bytes invalid (CESU-8), which must be rejected.
    return s.encode("utf-8", errors="surrogatepass")


def check(guest, data: bytes) -> None:
    got = parse_chat(guest, data)
    exp = ref.parse_chat(data)
    if exp.status == ref.SYNTAX:
        assert got.status in (ref.SYNTAX, ref.TOO_DEEP), data
        return
    assert got.status == exp.status, (data, got.status, exp.status)
    if exp.status != ref.OK:
        return
    # Structure offsets.
    assert data[got.root_open : got.root_open + 1] == b"{"
    assert data[got.root_close : got.root_close + 1] == b"}"
    assert data[got.root_close + 1 :].strip(b" \t\r\n") == b""
    assert data[: got.root_open].strip(b" \t\r\n") == b""
    # Fields.
    assert bool(got.has_model) == (exp.model is not None)
    if exp.model is not None:
        assert got.model.decode("utf-8") == exp.model
        raw = data[got.model_start : got.model_end]
        assert ref._fix_surrogates(json.loads(raw)) == exp.model
    assert bool(got.has_stream) == (exp.stream is not None)
    if exp.stream is not None:
        assert bool(got.stream) == exp.stream
    assert bool(got.has_max_tokens) == (exp.max_tokens is not None)
    if exp.max_tokens is not None:
        assert got.max_tokens == exp.max_tokens
    assert bool(got.has_messages) == (exp.messages is not None)
    if exp.messages is not None:
        assert data[got.messages_open : got.messages_open + 1] == b"["
        assert data[got.messages_close : got.messages_close + 1] == b"]"
        assert got.message_count == exp.message_count
        assert len(got.messages) == len(exp.messages)
        for gm, em in zip(got.messages, exp.messages, strict=True):
            assert gm.role.decode("utf-8") == em.role
            assert gm.content.decode("utf-8") == em.content
            obj = ref.loads_strict(data[gm.start : gm.end])
            assert isinstance(obj, dict)


settings.register_profile("filters", deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serialized())
def test_generated_requests(guest, data: bytes) -> None:
    check(guest, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serialized(values))
def test_any_document(guest, data: bytes) -> None:
    check(guest, data)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(serialized()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        i = draw(st.integers(0, len(data)))
        if kind == "flip" and i < len(data):
            data[i] = draw(st.sampled_from(b'{}[]",:\\ \x00\x1f\x80\xc3\xed\xf4\xff0-.eEtfnu'))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 4))]
        elif kind == "truncate":
            del data[i:]
        elif kind == "dup":
            j = draw(st.integers(i, len(data)))
            data[j:j] = data[i:j]
    return bytes(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations(guest, data: bytes) -> None:
    check(guest, data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes(guest, data: bytes) -> None:
    check(guest, data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789-.eE+ tfnrulasx\\u', max_size=40))
def test_json_alphabet_soup(guest, s: str) -> None:
    check(guest, s.encode())


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"messages":[' + b'{"content":[' * 40_000,
        b'{"messages":[{"role":"user","content":[{"type":"text","text":' + b"[" * 70,
    ],
    ids=["open-brackets", "balanced-brackets", "nested-objects", "nested-content", "deep-text"],
)
def test_depth_bombs(guest, data: bytes) -> None:
    assert parse_chat(guest, data).status == ref.TOO_DEEP


@pytest.mark.parametrize("depth", [63, 64, 65])
def test_depth_limit(guest, depth: int) -> None:
    doc = b'{"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    expected = ref.OK if depth <= 64 else ref.TOO_DEEP
    assert parse_chat(guest, doc).status == expected


CASES = {
    "minimal": (b"{}", ref.OK),
    "empty-input": (b"", ref.SYNTAX),
    "whitespace-only": (b" \n", ref.SYNTAX),
    "array-top": (b"[]", ref.NOT_OBJECT),
    "string-top": (b'"x"', ref.NOT_OBJECT),
    "trailing-garbage": (b"{} x", ref.SYNTAX),
    "two-docs": (b"{}{}", ref.SYNTAX),
    "trailing-comma": (b'{"a":1,}', ref.SYNTAX),
    "nan": (b'{"a":NaN}', ref.SYNTAX),
    "infinity": (b'{"a":-Infinity}', ref.SYNTAX),
    "leading-zero": (b'{"a":01}', ref.SYNTAX),
    "bom": (b"\xef\xbb\xbf{}", ref.SYNTAX),
    "raw-newline-in-string": (b'{"a":"x\ny"}', ref.SYNTAX),
    "bad-escape": (b'{"a":"\\x41"}', ref.SYNTAX),
    "short-unicode-escape": (b'{"a":"\\u12"}', ref.SYNTAX),
    "overlong-utf8": (b'{"a":"\xc0\xaf"}', ref.SYNTAX),
    "encoded-surrogate": (b'{"a":"\xed\xa0\x80"}', ref.SYNTAX),
    "model-number": (b'{"model":4}', ref.BAD_FIELD),
    "model-null": (b'{"model":null}', ref.BAD_FIELD),
    "duplicate-model": (b'{"model":"a","model":"b"}', ref.BAD_FIELD),
    "duplicate-escaped-model": (b'{"model":"a","mod\\u0065l":"b"}', ref.BAD_FIELD),
    "duplicate-messages": (b'{"messages":[],"messages":[]}', ref.BAD_FIELD),
    "duplicate-stream": (b'{"stream":true,"stream":false}', ref.BAD_FIELD),
    "duplicate-max-tokens": (b'{"max_tokens":1,"max_tokens":2}', ref.BAD_FIELD),
    "duplicate-role": (b'{"messages":[{"role":"user","role":"system"}]}', ref.BAD_FIELD),
    "stream-string": (b'{"stream":"yes"}', ref.BAD_FIELD),
    "stream-null": (b'{"stream":null}', ref.OK),
    "max-tokens-float": (b'{"max_tokens":1.0}', ref.BAD_FIELD),
    "max-tokens-exp": (b'{"max_tokens":1e3}', ref.BAD_FIELD),
    "max-tokens-int64-max": (b'{"max_tokens":9223372036854775807}', ref.OK),
    "max-tokens-overflow": (b'{"max_tokens":9223372036854775808}', ref.BAD_FIELD),
    "max-tokens-int64-min": (b'{"max_tokens":-9223372036854775808}', ref.OK),
    "messages-object": (b'{"messages":{}}', ref.BAD_FIELD),
    "message-not-object": (b'{"messages":["hi"]}', ref.BAD_FIELD),
    "role-number": (b'{"messages":[{"role":1}]}', ref.BAD_FIELD),
    "content-number": (b'{"messages":[{"content":1}]}', ref.BAD_FIELD),
    "content-null": (b'{"messages":[{"role":"user","content":null}]}', ref.OK),
    "part-not-object": (b'{"messages":[{"content":["x"]}]}', ref.BAD_FIELD),
    "text-part-without-text": (b'{"messages":[{"content":[{"type":"text"}]}]}', ref.BAD_FIELD),
    "image-part": (b'{"messages":[{"content":[{"type":"image_url","image_url":{}}]}]}', ref.OK),
    "bad-field-then-syntax": (b'{"model":1,', ref.SYNTAX),
    "lone-surrogates": (b'{"model":"\\ud800x\\udc00\\ud83d\\ude00"}', ref.OK),
}


@pytest.mark.parametrize("data,status", CASES.values(), ids=CASES.keys())
def test_cases(guest, data: bytes, status: int) -> None:
    assert ref.parse_chat(data).status == status or status == ref.SYNTAX
    assert parse_chat(guest, data).status == status
    check(guest, data)


def test_surrogates_decode(guest) -> None:
    got = parse_chat(guest, b'{"model":"\\ud800x\\udc00\\ud83d\\ude00\\u00e9"}')
    assert got.model.decode() == "\ufffdx\ufffd\U0001f600\u00e9"


def test_content_parts_joined(guest) -> None:
    body = json.dumps(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                        {"text": "b", "type": "text"},
                    ],
                }
            ]
        }
    ).encode()
    got = parse_chat(guest, body)
    assert got.status == ref.OK
    assert got.messages[0].content == b"a\nb"


def test_many_messages_counted_not_kept(guest) -> None:
    msgs = [{"role": "user", "content": str(i)} for i in range(300)]
    body = json.dumps({"messages": msgs}).encode()
    got = parse_chat(guest, body)
    assert got.status == ref.OK
    assert got.message_count == 300
    assert len(got.messages) == 256
    assert got.messages[255].content == b"255"
    assert guest.heap_ok() == 0


def test_both_max_token_keys_keep_the_larger(guest) -> None:
    got = parse_chat(guest, b'{"max_completion_tokens":10,"max_tokens":99}')
    assert got.has_max_tokens and got.max_tokens == 99
    got = parse_chat(guest, b'{"max_completion_tokens":100,"max_tokens":9}')
    assert got.max_tokens == 100


def test_no_leaks(guest) -> None:
    """Parsing (successful or not) frees everything it allocated."""
    docs = [
        b'{"model":"m","messages":[{"role":"u","content":[{"type":"text","text":"x"}]}]}',
        b'{"model":"m","messages":[{"role":"u","content":[{"type":"text","text":"x"}]}],}',
        b'{"model":"m","model":"n"}',
    ]
    for d in docs:
        parse_chat(guest, d)
    top = guest.ptr("aipol_test_heap_top")
    for _ in range(50):
        for d in docs:
            parse_chat(guest, d)
    assert guest.ptr("aipol_test_heap_top") == top
    assert guest.heap_ok() == 0


def test_reference_rejects_huge_ints_as_wrong_type() -> None:
    assert ref.parse_chat(b'{"max_tokens":' + b"9" * 5000 + b"}").status == ref.BAD_FIELD
