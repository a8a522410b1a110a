"""`aipol up`: compile a policy, start Envoy (and the mock provider), serve
until Ctrl-C, then stop everything."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from aipol.compiler import pipeline


def run_up(
    file: str,
    *,
    mock: bool = True,
    docker: bool = False,
    out_dir: Path | None = None,
    concurrency: int = 2,
) -> int:
    with tempfile.TemporaryDirectory(prefix="aipol-up-") as tmp:
        out = out_dir or Path(tmp) / Path(file).stem
        artifacts = pipeline.compile_file(file, out)
        if docker:
            return _run_docker(artifacts)
        from aipol.envoy.gateway import Gateway

        gateway = Gateway(
            artifacts.wasm_path,
            policy=artifacts.policy,
            plugin_config=artifacts.plugin_config,
            mock_backends=mock,
            free_ports=False,
            concurrency=concurrency,
        )
        gateway.start()
        _print_banner(file, artifacts, gateway, mock)
        gateway.serve_forever()
        print("aipol: stopped", flush=True)
    return 0


def _print_banner(file: str, artifacts: pipeline.Artifacts, gateway: object, mock: bool) -> None:
    policy = artifacts.policy
    wasm = artifacts.manifest["artifacts"]["filter.wasm"]["bytes"]
    lines = [
        f"aipol: {file} compiled ({wasm} bytes of wasm) and served by Envoy",
        f"  OpenAI base url   {gateway.base_url}",  # type: ignore[attr-defined]
        f"  Envoy admin       {gateway.admin_url}",  # type: ignore[attr-defined]
        "  routes            "
        + ", ".join(r.path + ("*" if r.prefix else "") for r in policy.routes),
        "  backends          "
        + ", ".join(f"{b.name} ({'mock' if mock else b.url})" for b in policy.backends),
        "",
        "  try: curl -s " + gateway.base_url + "/chat/completions "  # type: ignore[attr-defined]
        "-H 'authorization: Bearer <key>' -H 'content-type: application/json' "
        '-d \'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}\'',
        "  Ctrl-C stops the gateway.",
    ]
    print("\n".join(lines), flush=True)


def _run_docker(artifacts: pipeline.Artifacts) -> int:
    from aipol.envoy import docker

    try:
        client = docker.docker_client()
    except docker.DockerUnavailable as err:
        print(f"aipol: --docker needs a Docker engine: {err}", file=sys.stderr)
        return 1
    policy = artifacts.policy
    ports = [policy.gateway.listen.port, policy.gateway.admin.port]
    from aipol.envoy.credentials import env_names

    container = docker.run_in_docker(
        artifacts.envoy_path,
        artifacts.wasm_path,
        ports,
        env_names=env_names(policy.backends),
        client=client,
    )
    print(f"aipol: Envoy running in container {container.name}; Ctrl-C stops it", flush=True)
    try:
        for line in container.logs(stream=True, follow=True):
            sys.stdout.write(line.decode(errors="replace"))
    except KeyboardInterrupt:
        pass
    finally:
        container.stop()
    return 0
