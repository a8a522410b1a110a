"""The machine-readable manifest written next to filter.wasm: what the filter
enforces, where each route can send traffic, and the artifacts' hashes and
sizes. Never contains key hashes or credentials."""

from __future__ import annotations

import hashlib
from typing import Any

from aipol.compiler import ir

COMPILER_VERSION = "0.1.0"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(
    policy: ir.Policy, source: bytes, c_source: str, wasm: bytes, envoy_yaml: str
) -> dict[str, Any]:
    routes = []
    for route in policy.routes:
        routes.append(
            {
                "id": route.id,
                "path": route.path + ("*" if route.prefix else ""),
                "methods": list(route.methods),
                "require_key": route.require_key,
                "buffers_body": route.needs_body,
                "backends": list(route.backends),
                "model_rules": [
                    {
                        "model": w.pattern + ("*" if w.prefix else ""),
                        "target": [[a.backend, a.weight / 100] for a in w.target.arms],
                    }
                    for w in route.when
                ]
                + [{"model": m, "target": [[b, 100.0]]} for m, b in route.implicit_models],
                "fallthrough": (
                    [[a.backend, a.weight / 100] for a in route.fallthrough.arms]
                    if route.fallthrough
                    else None
                ),
                "allow": [
                    {
                        "kind": rule.kind,
                        "names": list(rule.names),
                        "backends": None if rule.backends is None else list(rule.backends),
                    }
                    for rule in route.allow
                ],
                "system_prompts": [s.position for s in route.system],
                "request_headers": [f"{h.action} {h.name}" for h in route.request_headers],
                "response_headers": [f"{h.action} {h.name}" for h in route.response_headers],
                "policies": list(route.applied),
                "authentication": [
                    kind
                    for kind, on in (("key", route.require_key), ("jwt", route.jwt is not None))
                    if on
                ],
                "dlp": [
                    {"detector": r.detector, "action": r.action, "directions": list(r.directions)}
                    for r in route.dlp
                ],
                "deny_lists": [
                    {"phrases": len(d.words), "directions": list(d.directions)} for d in route.deny
                ],
                "params": [p.describe() for p in route.params],
            }
        )
    from aipol.compiler import codegen, lower
    from aipol.compiler.regex import emit

    tables = {}
    for route in lower.lower(policy).routes:
        for op in (*route.body_ops, *route.response_body_ops):
            if isinstance(op, lower.ScanText):
                ds = codegen.compiled_scan_set(op)
                tables[op.name] = {
                    "patterns": len(ds.patterns),
                    "scanners": len(ds.scans),
                    # A response set that runs the request side's DFA adds no tables.
                    "table_bytes": emit.table_bytes(ds) if op.dfa_name == op.name else 0,
                    "detectors": sorted({r.detector for r in op.rules}),
                    "direction": "response" if op.response else "request",
                }
    return {
        "policy": policy.name,
        "compiler_version": COMPILER_VERSION,
        "source_sha256": sha256_hex(source),
        "gateway": {
            "listen": f"{policy.gateway.listen.host}:{policy.gateway.listen.port}",
            "admin": f"{policy.gateway.admin.host}:{policy.gateway.admin.port}",
            "max_body_bytes": policy.gateway.max_body,
        },
        "principals": len(policy.principals),
        "backends": [
            {
                "name": b.name,
                "provider": b.provider,
                "model": b.model,
                "url": b.url,
                "tls": b.tls,
                "credential": b.credential.source,
            }
            for b in policy.backends
        ],
        "routes": routes,
        "tests": len(policy.tests),
        "scan_sets": tables,
        "artifacts": {
            "filter.wasm": {"bytes": len(wasm), "sha256": sha256_hex(wasm)},
            "policy.c": {"bytes": len(c_source.encode()), "sha256": sha256_hex(c_source.encode())},
            "envoy.yaml": {
                "bytes": len(envoy_yaml.encode()),
                "sha256": sha256_hex(envoy_yaml.encode()),
            },
        },
    }
