"""Sticky A/B splits through real Envoy: proportions, per-principal prediction by
the Python twin of the filter's bucket (aipol.compiler.sticky), stickiness, and
examples/ab_test.aipol itself."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator

import pytest
from aipol.compiler import pipeline, sticky
from aipol.envoy.gateway import Gateway
from e2e_support import ALICE, BOB, CAROL, DAVE, chat, httpx, start_gateway

pytestmark = pytest.mark.envoy

PRINCIPALS = 1000
ARMS = [("a", 9000), ("b", 1000)]  # `split a 90%, b 10%`, in basis points
SEED = "r0.split"  # the split of route r0 (the first route of the file)

SPLIT_POLICY = """\
gateway {
  listen 127.0.0.1:8080
  admin 127.0.0.1:9901
}

keys file "keys.yaml"

backend a {
  provider openai
  model "model-a"
  url "https://a.example.com"
  credential none
}

backend b {
  provider openai
  model "model-b"
  url "https://b.example.com"
  credential none
}

route "/v1/chat/completions" {
  require key
  split a 90%, b 10%
}
"""


def key_of(i: int) -> str:
    return f"sk-e2e-split-{i:04d}-" + hashlib.sha256(str(i).encode()).hexdigest()[:16]


def name_of(i: int) -> str:
    return f"p{i:04d}"


@pytest.fixture(scope="module")
def split_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("split")
    lines = []
    for i in range(PRINCIPALS):
        digest = hashlib.sha256(key_of(i).encode()).hexdigest()
        lines += [f"- name: {name_of(i)}", "  team: t", "  tier: free", f"  sha256: {digest}"]
    (tmp / "keys.yaml").write_text("\n".join(lines) + "\n")
    (tmp / "split.aipol").write_text(SPLIT_POLICY)
    art = pipeline.compile_file(tmp / "split.aipol", tmp / "out")
    assert [r.id for r in art.policy.routes] == ["r0"]
    assert [(a.backend, a.weight) for a in art.policy.routes[0].fallthrough.arms] == ARMS
    gateway = start_gateway(art)
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def ab_gw(ab_test: pipeline.Artifacts) -> Iterator[Gateway]:
    gateway = start_gateway(ab_test)
    try:
        yield gateway
    finally:
        gateway.stop()


def _send(client: httpx.Client, gw: Gateway, key: str) -> str:
    r = client.post(
        gw.url + "/v1/chat/completions",
        json={"model": "whatever", "messages": chat()},
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    return r.headers["x-mock-backend"]


def test_split_proportions_and_per_principal_prediction(split_gw):
    split_gw.mock.clear()
    with httpx.Client() as client:
        arms = {name_of(i): _send(client, split_gw, key_of(i)) for i in range(PRINCIPALS)}
    predicted = {name_of(i): sticky.pick(ARMS, SEED, name_of(i)) for i in range(PRINCIPALS)}
    mismatched = {n: (arms[n], predicted[n]) for n in arms if arms[n] != predicted[n]}
    assert mismatched == {}
    share_b = Counter(arms.values())["b"] / PRINCIPALS
    assert 0.07 <= share_b <= 0.13, share_b
    # Every request reached the arm it was routed to, with the arm's model.
    assert len(split_gw.mock["a"].requests) + len(split_gw.mock["b"].requests) == PRINCIPALS
    assert {r.json["model"] for r in split_gw.mock["b"].requests} == {"model-b"}
    assert {r.json["model"] for r in split_gw.mock["a"].requests} == {"model-a"}


def test_a_principal_sticks_to_its_arm(split_gw):
    on_b = next(i for i in range(PRINCIPALS) if sticky.pick(ARMS, SEED, name_of(i)) == "b")
    on_a = next(i for i in range(PRINCIPALS) if sticky.pick(ARMS, SEED, name_of(i)) == "a")
    with httpx.Client() as client:
        for i, arm in ((on_b, "b"), (on_a, "a")):
            assert {_send(client, split_gw, key_of(i)) for _ in range(20)} == {arm}


@pytest.mark.parametrize("key", [ALICE, BOB, CAROL, DAVE], ids=["alice", "bob", "carol", "dave"])
def test_ab_test_example(ab_gw, ab_test, key):
    """examples/ab_test.aipol: sticky arm per principal, model rewritten to the
    arm's, the system prompt appended after the user's messages, the response
    header set."""
    ab_gw.mock.clear()
    name = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave"}[key]
    route = ab_test.policy.routes[0]
    arms = [(a.backend, a.weight) for a in route.fallthrough.arms]
    expected = sticky.pick(arms, f"{route.id}.split", name)
    model = {b.name: b.model for b in ab_test.policy.backends}[expected]
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "bonjour"},
    ]
    with httpx.Client() as client:
        r = client.post(
            ab_gw.url + "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": messages},
            headers={"authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200, r.text
    assert r.headers["x-mock-backend"] == expected
    assert r.headers["x-aipol-experiment"] == "gpt-4.1-vs-gpt-4o"
    body = ab_gw.mock[expected].last.json
    assert body["model"] == model
    assert body["messages"][:-1] == messages
    assert body["messages"][-1] == {
        "role": "system",
        "content": "Reply in the language of the question.",
    }
