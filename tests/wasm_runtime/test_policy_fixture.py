"""The `policy_harness` fixture that aipol's pytest plugin gives every project."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_policy_harness_runs_a_policy_like_envoy(policy_harness) -> None:
    h = policy_harness(EXAMPLES / "quickstart.aipol")
    r = h.request(
        "POST",
        "/v1/chat/completions",
        headers={"authorization": "Bearer sk-aipol-demo-carol"},
        body={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status == 403 and not r.reached_upstream
    assert r.json()["error"]["code"] == "model_not_allowed"
    r = h.request(
        "POST",
        "/v1/chat/completions",
        headers={"authorization": "Bearer sk-aipol-demo-alice"},
        body={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status == 200 and r.route == "gpt4o"
    assert r.upstream_json()["messages"][0]["role"] == "system"
