"""The whole compiler as one call: `.aipol` source -> artifacts on disk.

    parse (aipol.dsl) -> resolve (AST -> IR) -> lower -> codegen (C)
      -> build (zig cc -> filter.wasm) + envoy bootstrap + manifest

Each stage is a pure function of the previous stage's output; only `build`
and the final writes touch the file system.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aipol.compiler import build, codegen, ir, lower, manifest, plugin_config, resolve
from aipol.dsl import parser


@dataclass(frozen=True)
class Artifacts:
    out_dir: Path
    policy: ir.Policy
    c_source: str
    wasm_path: Path
    envoy_yaml: str
    plugin_config: str
    manifest: dict[str, Any]

    @property
    def envoy_path(self) -> Path:
        return self.out_dir / "envoy.yaml"

    @property
    def wasm(self) -> bytes:
        return self.wasm_path.read_bytes()


def check_source(text: str, filename: str, base_dir: Path | None = None) -> ir.Policy:
    """Parse and resolve; raises AipolError (file:line:col, caret) on any error."""
    tree = parser.parse(text, filename)
    base = base_dir if base_dir is not None else Path(filename).resolve().parent
    return resolve.resolve(tree, text, base)


def check_file(path: str | Path) -> ir.Policy:
    path = Path(path)
    return check_source(path.read_text(encoding="utf-8"), str(path), path.resolve().parent)


def generate_c(policy: ir.Policy) -> str:
    return codegen.generate_c(lower.lower(policy))


def build_wasm(c_source: str, out_dir: Path) -> Path:
    """Write policy.c into out_dir and link it with the runtime into filter.wasm."""
    out_dir.mkdir(parents=True, exist_ok=True)
    c_path = out_dir / "policy.c"
    c_path.write_text(c_source, encoding="utf-8")
    return build.compile_wasm([*build.runtime_sources(), c_path], out_dir / "filter.wasm")


def compile_file(
    path: str | Path,
    out_dir: str | Path,
    *,
    backend_urls: dict[str, str] | None = None,
    access_log_path: str | None = None,
) -> Artifacts:
    """Compile one `.aipol` file into `out_dir`: filter.wasm, policy.c,
    envoy.yaml, manifest.json and ir.json."""
    from aipol.envoy import bootstrap

    path = Path(path)
    out = Path(out_dir).resolve()
    source = path.read_bytes()
    policy = check_file(path)
    c_source = generate_c(policy)
    wasm_path = build_wasm(c_source, out)
    config = plugin_config.render_plugin_config(policy)
    envoy_yaml = bootstrap.render_bootstrap(
        policy, wasm_path, config, backend_urls=backend_urls, access_log_path=access_log_path
    )
    (out / "envoy.yaml").write_text(envoy_yaml, encoding="utf-8")
    (out / "ir.json").write_text(
        json.dumps(_public_ir(policy), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    info = manifest.build_manifest(policy, source, c_source, wasm_path.read_bytes(), envoy_yaml)
    (out / "manifest.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return Artifacts(out, policy, c_source, wasm_path, envoy_yaml, config, info)


def _public_ir(policy: ir.Policy) -> dict[str, Any]:
    """The IR as JSON without test keys (test blocks hold plain test keys)."""
    data = json.loads(policy.model_dump_json())
    for test in data.get("tests", []):
        if test["request"].get("key"):
            test["request"]["key"] = "<redacted>"
    return data
