"""Running the generated bootstrap in the stock `envoyproxy/envoy` image.

The spec mounts the config and the wasm module read-only (the wasm at the
same path the config names, so the config needs no rewriting), and passes
credential environment variables by *name*: the values are read from this
process's environment only when the container starts and never written to
a file. (Docker keeps a container's environment in its own metadata, as for
any `docker run -e`; use file credentials mounted read-only to avoid that.)

Render the policy with `listen`/`admin` on 0.0.0.0 for a bridged container,
or pass `network_mode="host"`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_IMAGE = "envoyproxy/envoy:v1.40.0"
CONFIG_IN_CONTAINER = "/etc/aipol/envoy.yaml"


class DockerUnavailable(RuntimeError):
    """No Docker engine answered (the client library alone is not enough)."""


def _ports(ports: Mapping[int, int | None] | Iterable[int]) -> dict[str, int | None]:
    pairs = ports.items() if isinstance(ports, Mapping) else ((p, p) for p in ports)
    return {f"{container}/tcp": host for container, host in pairs}


def container_spec(
    config_path: Path,
    wasm_path: Path,
    ports: Mapping[int, int | None] | Iterable[int],
    image: str = DEFAULT_IMAGE,
    *,
    env_names: Iterable[str] = (),
    secret_files: Iterable[str | Path] = (),
    name: str | None = None,
    concurrency: int = 2,
    log_level: str = "info",
    network_mode: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `docker.from_env().containers.run(**spec)`.

    `ports` maps container ports to host ports (or lists ports published
    as-is). `environment` holds names only; `run_in_docker` resolves them.
    """
    config = Path(config_path).resolve()
    wasm = Path(wasm_path).resolve()
    volumes: dict[str, dict[str, str]] = {
        str(config): {"bind": CONFIG_IN_CONTAINER, "mode": "ro"},
        str(wasm): {"bind": str(wasm), "mode": "ro"},
    }
    for secret in secret_files:
        path = str(Path(secret).resolve())
        volumes[path] = {"bind": path, "mode": "ro"}
    spec: dict[str, Any] = {
        "image": image,
        "command": [
            "envoy",
            "-c",
            CONFIG_IN_CONTAINER,
            "--concurrency",
            str(concurrency),
            "-l",
            log_level,
        ],
        "volumes": volumes,
        "environment": sorted(set(env_names)),
        "detach": True,
        "auto_remove": False,
        "labels": {"aipol": "envoy"},
    }
    if network_mode:
        spec["network_mode"] = network_mode
    else:
        spec["ports"] = _ports(ports)
    if name:
        spec["name"] = name
    return spec


def docker_client() -> Any:
    """A docker client whose engine answered a ping, else `DockerUnavailable`."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DockerUnavailable("the docker package is not installed") from exc
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except (DockerException, OSError) as exc:
        raise DockerUnavailable(f"no Docker engine: {exc}") from exc
    return client


def resolve_environment(
    names: Iterable[str], env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Values for `names` from `env` (default: this process); missing ones fail."""
    source = os.environ if env is None else env
    missing = [n for n in names if n not in source]
    if missing:
        raise KeyError(f"credential environment variables not set: {missing}")
    return {n: source[n] for n in names}


def run_in_docker(
    config_path: Path,
    wasm_path: Path,
    ports: Mapping[int, int | None] | Iterable[int],
    image: str = DEFAULT_IMAGE,
    *,
    env_names: Iterable[str] = (),
    secret_files: Iterable[str | Path] = (),
    client: Any | None = None,
    **kwargs: Any,
) -> Any:
    """Start Envoy in a container and return the docker `Container`."""
    spec = container_spec(
        config_path,
        wasm_path,
        ports,
        image,
        env_names=env_names,
        secret_files=secret_files,
        **kwargs,
    )
    spec["environment"] = resolve_environment(spec["environment"])
    client = client or docker_client()
    return client.containers.run(**spec)
