"""Runs the `test` blocks of a policy in the harness (`aipol test FILE`).

Each test sends one request through the compiled filter, loaded in the
wasmtime harness that emulates Envoy, against a stand-in upstream that
answers like an OpenAI-compatible provider, and checks its expectations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aipol.compiler import ir

DEFAULT_MODEL = "gpt-4o"


@dataclass
class Outcome:
    test: ir.PolicyTest
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def build_request(policy: ir.Policy, req: ir.TestRequest) -> dict[str, Any]:
    """The harness request (method, path, headers, body) for a test's `send`."""
    headers: dict[str, str] = {}
    if req.key is not None:
        headers["authorization"] = f"Bearer {req.key}"
    body: bytes | None = None
    if req.body is not None:
        body = req.body.encode()
    elif req.chat is not None:
        model = req.model or _default_model(policy)
        doc: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": req.chat}]}
        if req.stream:
            doc["stream"] = True
        body = json.dumps(doc).encode()
    elif req.model is not None:
        body = json.dumps({"model": req.model, "messages": []}).encode()
    if body is not None:
        headers["content-type"] = "application/json"
    for name, value in req.headers:
        headers[name.lower()] = value
    return {"method": req.method, "path": req.path, "headers": headers, "body": body}


def _default_model(policy: ir.Policy) -> str:
    for backend in policy.backends:
        if backend.model:
            return backend.model
    return DEFAULT_MODEL


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _contains(haystack: str, needle: str) -> bool:
    """Plain containment, or containment of the needle as JSON would spell it."""
    return needle in haystack or json.dumps(needle)[1:-1] in haystack


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return None if value is None else str(value)


def check(result: Any, expect: ir.Expectation) -> str | None:
    """None if `expect` holds for the harness result, else what went wrong."""
    kind, value = expect.kind, expect.value
    upstream_body = _text(result.upstream_body) if result.reached_upstream else ""
    if kind == "status":
        return None if result.status == int(value) else f"got status {result.status}"
    if kind == "route":
        return None if result.route == value else f"routed to {result.route!r}"
    if kind in ("upstream_body_contains", "upstream_body_not_contains"):
        if not result.reached_upstream:
            return f"the request never reached the upstream (status {result.status})"
        found = _contains(upstream_body, value)
        want = kind == "upstream_body_contains"
        if found == want:
            return None
        return f"upstream body was: {upstream_body[:300]}"
    if kind in ("upstream_header", "upstream_header_absent"):
        if not result.reached_upstream:
            return f"the request never reached the upstream (status {result.status})"
        got = _header(result.upstream_headers, expect.name)
        if kind == "upstream_header_absent":
            return None if got is None else f"upstream header {expect.name} is present"
        return None if got == value else f"upstream header {expect.name} was {got!r}"
    if kind in ("header", "header_absent"):
        got = _header(result.headers, expect.name)
        if kind == "header_absent":
            return None if got is None else f"response header {expect.name} is present"
        return None if got == value else f"response header {expect.name} was {got!r}"
    body = _text(result.body)
    found = _contains(body, value)
    if found == (kind == "body_contains"):
        return None
    return f"response body was: {body[:300]}"


def describe(expect: ir.Expectation) -> str:
    words = {
        "status": f"status {expect.value}",
        "route": f"route {expect.value}",
        "upstream_body_contains": f"upstream body contains {json.dumps(expect.value)}",
        "upstream_body_not_contains": f"upstream body not contains {json.dumps(expect.value)}",
        "upstream_header": f"upstream header {json.dumps(expect.name)} {json.dumps(expect.value)}",
        "upstream_header_absent": f"upstream header {json.dumps(expect.name)} absent",
        "header": f"header {json.dumps(expect.name)} {json.dumps(expect.value)}",
        "header_absent": f"header {json.dumps(expect.name)} absent",
        "body_contains": f"body contains {json.dumps(expect.value)}",
        "body_not_contains": f"body not contains {json.dumps(expect.value)}",
    }
    return "expect " + words[expect.kind]


def run_tests(policy: ir.Policy, harness: Any) -> Iterable[Outcome]:
    for test in policy.tests:
        result = harness.request(**build_request(policy, test.request))
        outcome = Outcome(test)
        for expect in test.expects:
            problem = check(result, expect)
            if problem is not None:
                outcome.failures.append(f"{expect.line}: {describe(expect)}\n    {problem}")
        yield outcome


def report(filename: str, policy: ir.Policy, harness: Any, out: TextIO) -> bool:
    """Runs every test, prints pytest-style lines; True if all passed."""
    start = time.perf_counter()
    width = 78
    print(" aipol test session ".center(width, "="), file=out)
    print(f"{filename}: {len(policy.tests)} tests", file=out)
    outcomes = []
    for outcome in run_tests(policy, harness):
        outcomes.append(outcome)
        verdict = "PASSED" if outcome.passed else "FAILED"
        print(f"{filename}::{outcome.test.name} {verdict}", file=out)
    failed = [o for o in outcomes if not o.passed]
    if failed:
        print(" FAILURES ".center(width, "="), file=out)
        for o in failed:
            print(f" {o.test.name} ".center(width, "_"), file=out)
            for line in o.failures:
                print(f"{filename}:{line}", file=out)
    passed = len(outcomes) - len(failed)
    took = time.perf_counter() - start
    summary = f"{passed} passed" + (f", {len(failed)} failed" if failed else "")
    print(f" {summary} in {took:.2f}s ".center(width, "="), file=out)
    return not failed
