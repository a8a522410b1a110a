"""The whole compiler on the examples: artifacts, determinism, manifest, sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aipol.compiler import pipeline
from aipol.envoy.validate import validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.aipol"))
IDS = [e.stem for e in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_example_compiles_and_passes_envoy_validate(example: Path, compile_example) -> None:
    art = compile_example(example.stem)
    assert art.wasm.startswith(b"\0asm")
    scans = any(r.dlp or r.deny or r.prompt_guard for r in art.policy.routes)
    if scans:  # DFA tables of the detectors
        assert len(art.wasm) < 512 * 1024, "a filter with every built-in detector stays < 512 KB"
    else:
        assert len(art.wasm) < 64 * 1024, "foundation filters stay under 64 KB"
    validate(art.envoy_path)


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_compilation_is_deterministic(example: Path, compile_example, tmp_path: Path) -> None:
    first = compile_example(example.stem)
    again = pipeline.compile_file(example, tmp_path / "again")
    assert again.wasm == first.wasm
    assert again.c_source == first.c_source
    assert again.plugin_config == first.plugin_config
    # The bootstrap differs only in where the wasm file lives.
    assert again.envoy_yaml.replace(str(again.wasm_path), "W") == first.envoy_yaml.replace(
        str(first.wasm_path), "W"
    )


def test_manifest_describes_what_the_filter_enforces(compile_example) -> None:
    art = compile_example("quickstart")
    manifest = json.loads((art.out_dir / "manifest.json").read_text())
    assert manifest["policy"] == "quickstart"
    wasm = manifest["artifacts"]["filter.wasm"]
    assert wasm["bytes"] == len(art.wasm)
    assert len(wasm["sha256"]) == 64
    chat = manifest["routes"][0]
    assert chat["path"] == "/v1/chat/completions"
    assert chat["require_key"] is True
    assert chat["policies"] == ["house_rules"]
    assert {"model": "gpt-4o", "target": [["gpt4o", 100.0]]} in chat["model_rules"]
    assert chat["fallthrough"] == [["mini", 100.0]]
    assert chat["system_prompts"] == ["prepend"]
    assert manifest["principals"] == 4


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_no_secret_or_key_hash_in_code_or_manifest(example: Path, compile_example) -> None:
    art = compile_example(example.stem)
    texts = [art.c_source, (art.out_dir / "manifest.json").read_text()]
    for principal in art.policy.principals:
        for text in texts:
            assert principal.sha256 not in text
        assert principal.sha256 in art.plugin_config  # hashes travel in the configuration
    ir_json = (art.out_dir / "ir.json").read_text()
    assert "sk-aipol-demo" not in ir_json  # test keys are redacted from ir.json
    assert b"sk-aipol-demo" not in art.wasm
