"""`envoy --mode validate`: let Envoy itself judge a bootstrap."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .binary import envoy_binary

PLACEHOLDER = "aipol-validate-placeholder"
_ERROR_LINE = re.compile(r"\]\[(critical|error)\]\[[^\]]*\] \[[^\]]*\] (.*)")


class EnvoyConfigError(ValueError):
    """Envoy rejected a configuration; the message is Envoy's."""


def validate(
    config: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    placeholder_secrets: bool = True,
    timeout: float = 30.0,
) -> None:
    """Raise `EnvoyConfigError` unless Envoy accepts `config`.

    `config` is YAML text or a path to a file. Envoy resolves credential
    secrets while validating (a missing environment variable or secret file
    is an error), yet the secrets need not exist where the config is built:
    with `placeholder_secrets`, missing variables get a placeholder value and
    a secret file that does not exist is replaced by a placeholder string in a
    temporary copy. Everything else (the wasm file included) must exist.
    """
    text = _read(config)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EnvoyConfigError(f"not YAML: {exc}") from exc
    run_env = dict(os.environ if env is None else env)
    if placeholder_secrets and isinstance(parsed, dict):
        for name in _env_references(parsed):
            run_env.setdefault(name, PLACEHOLDER)
        if _replace_missing_secret_files(parsed):
            text = yaml.safe_dump(parsed, sort_keys=False)
    with tempfile.TemporaryDirectory(prefix="aipol-validate-") as tmp:
        path = Path(tmp) / "envoy.yaml"
        path.write_text(text)
        cmd = [str(envoy_binary()), "--mode", "validate", "-c", str(path), "-l", "error"]
        try:
            proc = subprocess.run(
                cmd, env=run_env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise EnvoyConfigError(f"envoy --mode validate timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise EnvoyConfigError(_message(proc.stdout + proc.stderr, path))


def _read(config: str | Path) -> str:
    if isinstance(config, Path):
        return config.read_text()
    if "\n" not in config and config.endswith((".yaml", ".yml", ".json")):
        return Path(config).read_text()
    return config


def _message(output: str, path: Path) -> str:
    lines = [m.group(2) for m in map(_ERROR_LINE.search, output.splitlines()) if m]
    message = "\n".join(lines) if lines else output.strip()
    return message.replace(f"'{path}'", "config").replace(str(path), "config") or "invalid"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _env_references(config: dict[str, Any]) -> list[str]:
    return [
        d["environment_variable"]
        for d in _walk(config)
        if isinstance(d.get("environment_variable"), str)
    ]


def _replace_missing_secret_files(config: dict[str, Any]) -> bool:
    changed = False
    for secret in (config.get("static_resources") or {}).get("secrets") or []:
        source = (secret.get("generic_secret") or {}).get("secret") or {}
        filename = source.get("filename")
        if isinstance(filename, str) and not Path(filename).exists():
            source.pop("filename")
            source["inline_string"] = PLACEHOLDER
            changed = True
    return changed
