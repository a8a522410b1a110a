"""The filter's plugin configuration: the data that may change without a
recompile (today, the principal table with SHA-256 hashes of the keys).

Format (parsed by filters/config.c), one record per line:

    aipol-config 1
    key <sha256 hex> <principal> <team> <tier>
"""

from __future__ import annotations

from aipol.compiler import ir

HEADER = "aipol-config 1"


def render_plugin_config(policy: ir.Policy) -> str:
    lines = [HEADER]
    for p in sorted(policy.principals, key=lambda p: p.sha256):
        lines.append(f"key {p.sha256} {p.name} {p.team} {p.tier}")
    return "\n".join(lines) + "\n"
