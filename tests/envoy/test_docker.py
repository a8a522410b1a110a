"""The docker spec (unit) and a live run that skips without a Docker engine."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from aipol.envoy.docker import (
    DEFAULT_IMAGE,
    DockerUnavailable,
    container_spec,
    docker_client,
    resolve_environment,
    run_in_docker,
)


def test_container_spec(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    wasm = tmp_path / "filter.wasm"
    secret = tmp_path / "anthropic.key"
    spec = container_spec(
        config,
        wasm,
        {8080: 18080, 9901: 19901},
        env_names=["OPENAI_API_KEY", "AZURE_KEY", "OPENAI_API_KEY"],
        secret_files=[secret],
        name="aipol-test",
    )
    assert spec["image"] == DEFAULT_IMAGE == "envoyproxy/envoy:v1.40.0"
    assert spec["command"][:3] == ["envoy", "-c", "/etc/aipol/envoy.yaml"]
    assert spec["volumes"] == {
        str(config): {"bind": "/etc/aipol/envoy.yaml", "mode": "ro"},
        str(wasm): {"bind": str(wasm), "mode": "ro"},
        str(secret): {"bind": str(secret), "mode": "ro"},
    }
    assert spec["ports"] == {"8080/tcp": 18080, "9901/tcp": 19901}
    assert spec["environment"] == ["AZURE_KEY", "OPENAI_API_KEY"]  # names, never values
    assert spec["detach"] is True and spec["name"] == "aipol-test"


def test_host_network_spec_has_no_ports(tmp_path: Path) -> None:
    spec = container_spec(tmp_path / "c", tmp_path / "w", [8080], network_mode="host")
    assert spec["network_mode"] == "host" and "ports" not in spec


def test_resolve_environment() -> None:
    assert resolve_environment(["A"], {"A": "1", "B": "2"}) == {"A": "1"}
    with pytest.raises(KeyError, match="C"):
        resolve_environment(["C"], {})


@pytest.mark.envoy
def test_run_in_docker_live(tmp_path: Path, pick_wasm: Path) -> None:
    try:
        client = docker_client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    config = tmp_path / "envoy.yaml"
    config.write_text("admin: {address: {socket_address: {address: 0.0.0.0, port_value: 9901}}}\n")
    container = run_in_docker(config, pick_wasm, {9901: None}, client=client)
    try:
        container.reload()
        host_port = container.ports["9901/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/ready") as r:
                    assert r.read().strip() == b"LIVE"
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail("envoy in docker never became ready")
    finally:
        container.remove(force=True)
