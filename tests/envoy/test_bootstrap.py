"""The rendered bootstrap: structure, golden files, and `envoy --mode validate`.

Golden files live in `cases/<case>.envoy.yaml`; regenerate them with
`AIPOL_REGEN=1 pytest tests/envoy/test_bootstrap.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from aipol.compiler.ir import Address, Backend, Credential, Gateway, Policy, Route
from aipol.envoy import EnvoyConfigError, render_bootstrap, validate
from aipol.envoy.credentials import credential_header

CASES = Path(__file__).parent / "cases"
WASM = Path("/opt/aipol/filter.wasm")  # stands in for the real module in goldens
CA = "/etc/ssl/certs/ca-certificates.crt"
ACCESS_LOG = "/var/log/aipol/access.log"
PLUGIN_CONFIG = '{"policy":"demo","keys":["9f86d081884c7d65"]}'


def env_cred(name: str) -> Credential:
    return Credential(source="env", ref=name)


def policy_minimal() -> Policy:
    return Policy(
        name="minimal",
        backends=(
            Backend(
                name="gpt",
                provider="openai",
                url="http://127.0.0.1:9000",
                credential=env_cred("OPENAI_API_KEY"),
            ),
        ),
        routes=(Route(id="r0", path="/v1/chat/completions", prefix=False, backends=("gpt",)),),
    )


def policy_multi() -> Policy:
    return Policy(
        name="multi",
        gateway=Gateway(
            listen=Address(host="0.0.0.0", port=8443),
            admin=Address(host="127.0.0.1", port=9902),
            max_body=1024 * 1024,
        ),
        backends=(
            Backend(
                name="gpt",
                provider="openai",
                url="https://api.openai.com",
                credential=env_cred("OPENAI_API_KEY"),
            ),
            Backend(
                name="sonnet",
                provider="anthropic",
                url="https://api.anthropic.com/",
                credential=Credential(source="file", ref="/run/secrets/anthropic"),
            ),
            Backend(
                name="azure",
                provider="azure",
                url="https://example.openai.azure.com/openai/deployments/gpt4o",
                credential=env_cred("AZURE_OPENAI_KEY"),
            ),
            Backend(name="vllm", provider="vllm", url="http://10.1.2.3:8000/serve/"),
            Backend(
                name="llama",
                provider="ollama",
                url="http://ollama.internal:11434",
                credential=env_cred("OLLAMA_KEY"),
            ),
        ),
        routes=(
            Route(
                id="r0",
                path="/v1/chat/completions",
                prefix=False,
                methods=("POST",),
                backends=("gpt", "sonnet", "azure", "vllm"),
            ),
            Route(id="r1", path="/v1/embeddings", prefix=False, backends=("gpt", "llama")),
            Route(id="r2", path="/v1/", prefix=True, methods=("GET", "POST"), backends=("vllm",)),
        ),
    )


def render_case(case: str, wasm: Path) -> str:
    if case == "minimal":
        return render_bootstrap(policy_minimal(), wasm, PLUGIN_CONFIG, ca_bundle=CA)
    if case == "multi":
        return render_bootstrap(policy_multi(), wasm, PLUGIN_CONFIG, ca_bundle=CA)
    if case == "mocked":
        # `aipol up` / tests: every backend at a local mock, log to a file.
        return render_bootstrap(
            policy_multi(),
            wasm,
            PLUGIN_CONFIG,
            backend_urls={
                "gpt": "http://127.0.0.1:9101",
                "sonnet": "http://127.0.0.1:9102",
                "azure": "http://localhost:9103/openai/deployments/gpt4o",
                "vllm": "http://127.0.0.1:9104",
                "llama": "http://127.0.0.1:9105",
            },
            access_log_path=ACCESS_LOG,
            ca_bundle=CA,
        )
    raise KeyError(case)


CASE_NAMES = ("minimal", "multi", "mocked")


def parsed(case: str) -> dict[str, Any]:
    return yaml.safe_load(render_case(case, WASM))


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def routes_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    return hcm(config)["route_config"]["virtual_hosts"][0]["routes"]


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in config["static_resources"]["clusters"] if c["name"] == name)


def http_options(c: dict[str, Any]) -> dict[str, Any]:
    return c["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]


# -- golden files + Envoy's own verdict ---------------------------------------------
@pytest.mark.parametrize("case", CASE_NAMES)
def test_golden(case: str) -> None:
    text = render_case(case, WASM)
    golden = CASES / f"{case}.envoy.yaml"
    if os.environ.get("AIPOL_REGEN"):
        CASES.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"missing golden {golden}; run with AIPOL_REGEN=1"
    assert text == golden.read_text()


@pytest.mark.envoy
@pytest.mark.parametrize("case", CASE_NAMES)
def test_envoy_validates(case: str, pick_wasm: Path, tmp_path: Path) -> None:
    # Envoy opens the access log file while validating: its folder must exist.
    text = render_case(case, pick_wasm).replace(ACCESS_LOG, str(tmp_path / "access.log"))
    validate(text)


@pytest.mark.envoy
def test_validate_reports_envoy_message(pick_wasm: Path) -> None:
    text = render_case("minimal", pick_wasm).replace("STRICT_DNS", "NOT_A_TYPE")
    text = text.replace("type: STATIC", "type: NOT_A_TYPE")
    with pytest.raises(EnvoyConfigError, match="NOT_A_TYPE"):
        validate(text)


@pytest.mark.envoy
def test_validate_path_and_missing_env_without_placeholders(
    pick_wasm: Path, tmp_path: Path
) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(render_case("minimal", pick_wasm))
    validate(path)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(EnvoyConfigError, match="OPENAI_API_KEY"):
        validate(path, env=env, placeholder_secrets=False)


def test_render_is_deterministic() -> None:
    assert render_case("multi", WASM) == render_case("multi", WASM)


# -- structure ---------------------------------------------------------------------------
def test_filter_chain_order_and_wasm_config() -> None:
    config = parsed("multi")
    filters = hcm(config)["http_filters"]
    assert [f["name"] for f in filters] == [
        "envoy.filters.http.wasm",
        "envoy.filters.http.buffer",
        "envoy.filters.http.router",
    ]
    wasm = filters[0]["typed_config"]["config"]
    assert wasm["root_id"] == "aipol"
    assert wasm["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
    assert wasm["vm_config"]["code"]["local"]["filename"] == str(WASM)
    assert wasm["configuration"] == {
        "@type": "type.googleapis.com/google.protobuf.StringValue",
        "value": PLUGIN_CONFIG,
    }
    assert wasm["failure_policy"] == "FAIL_CLOSED"
    # The buffer filter sees the edited body: max_body plus room for the filter's edits.
    limit = filters[1]["typed_config"]["max_request_bytes"]
    assert 1024 * 1024 < limit == policy_multi().buffer_limit


def test_listener_limits_and_timeouts() -> None:
    config = parsed("multi")
    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 8443}
    assert listener["per_connection_buffer_limit_bytes"] >= 1024 * 1024
    assert config["admin"]["address"]["socket_address"]["port_value"] == 9902
    manager = hcm(config)
    assert manager["generate_request_id"] is True
    assert manager["max_request_headers_kb"] > 0
    assert manager["common_http_protocol_options"]["max_headers_count"] > 0
    assert manager["stream_idle_timeout"] and manager["request_timeout"]


def test_backend_routes_match_filter_state_then_503_then_404() -> None:
    routes = routes_of(parsed("multi"))
    names = [r["name"] for r in routes]
    assert names == [
        "r0.method_not_allowed",
        "r0.gpt",
        "r0.sonnet",
        "r0.azure",
        "r0.vllm",
        "r0.no_backend",
        "r1.gpt",
        "r1.llama",
        "r1.no_backend",
        "r2.method_not_allowed",
        "r2.vllm",
        "r2.no_backend",
        "not_found",
    ]
    gpt = routes[1]
    assert gpt["match"] == {
        "path": "/v1/chat/completions",
        "filter_state": [{"key": "wasm.aipol_backend", "string_match": {"exact": "gpt"}}],
    }
    assert gpt["route"]["cluster"] == "backend_gpt"
    assert gpt["route"]["timeout"] == "0s"
    assert gpt["route"]["host_rewrite_literal"] == "api.openai.com"
    assert "prefix_rewrite" not in gpt["route"]
    assert "authorization" in gpt["request_headers_to_remove"]
    no_backend = routes[5]
    assert no_backend["match"] == {"path": "/v1/chat/completions"}
    assert no_backend["direct_response"]["status"] == 503
    assert '"code":"no_backend"' in no_backend["direct_response"]["body"]["inline_string"]
    assert routes[-1]["match"] == {"prefix": "/"}
    assert routes[-1]["direct_response"]["status"] == 404
    assert routes[10]["match"]["prefix"] == "/v1/"


def test_path_prefix_rewrite_and_host() -> None:
    routes = {r["name"]: r for r in routes_of(parsed("multi"))}
    azure = routes["r0.azure"]["route"]
    assert azure["prefix_rewrite"] == "/openai/deployments/gpt4o/v1/chat/completions"
    assert azure["host_rewrite_literal"] == "example.openai.azure.com"
    vllm = routes["r2.vllm"]["route"]
    assert vllm["prefix_rewrite"] == "/serve/v1/"
    assert vllm["host_rewrite_literal"] == "10.1.2.3:8000"


def test_clusters_dns_static_and_tls() -> None:
    config = parsed("multi")
    gpt = cluster(config, "backend_gpt")
    assert gpt["type"] == "STRICT_DNS"
    assert gpt["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] == {
        "socket_address": {"address": "api.openai.com", "port_value": 443}
    }
    tls = gpt["transport_socket"]["typed_config"]
    assert tls["sni"] == "api.openai.com"
    assert tls["common_tls_context"]["validation_context"]["trusted_ca"]["filename"] == CA
    options = http_options(gpt)
    assert options["upstream_http_protocol_options"] == {
        "auto_sni": True,
        "auto_san_validation": True,
    }
    assert "auto_config" in options
    vllm = cluster(config, "backend_vllm")
    assert vllm["type"] == "STATIC"
    assert "transport_socket" not in vllm
    assert http_options(vllm)["explicit_http_config"] == {"http_protocol_options": {}}
    assert "http_filters" not in http_options(vllm)  # no credential


@pytest.mark.parametrize(
    ("provider", "header", "prefix"),
    [
        ("openai", "authorization", "Bearer "),
        ("vllm", "authorization", "Bearer "),
        ("ollama", "authorization", "Bearer "),
        ("together", "authorization", "Bearer "),
        ("anthropic", "x-api-key", ""),
        ("azure", "api-key", ""),
    ],
)
def test_credential_header_per_provider(provider: str, header: str, prefix: str) -> None:
    assert credential_header(provider).name == header
    assert credential_header(provider).prefix == prefix


def test_credentials_are_references_in_upstream_filters() -> None:
    config = parsed("multi")
    secrets = {s["name"]: s for s in config["static_resources"]["secrets"]}
    assert secrets["credential_gpt"]["generic_secret"]["secret"] == {
        "environment_variable": "OPENAI_API_KEY"
    }
    assert secrets["credential_sonnet"]["generic_secret"]["secret"] == {
        "filename": "/run/secrets/anthropic"
    }
    assert "credential_vllm" not in secrets
    for name, header, prefix in (
        ("gpt", "authorization", "Bearer "),
        ("sonnet", "x-api-key", None),
        ("azure", "api-key", None),
        ("llama", "authorization", "Bearer "),
    ):
        filters = http_options(cluster(config, f"backend_{name}"))["http_filters"]
        assert [f["name"] for f in filters] == [
            "envoy.filters.http.credential_injector",
            "envoy.filters.http.upstream_codec",
        ]
        injector = filters[0]["typed_config"]
        assert injector["overwrite"] is True
        generic = injector["credential"]["typed_config"]
        assert generic["credential"] == {"name": f"credential_{name}"}
        assert generic["header"] == header
        assert generic.get("header_value_prefix") == prefix


def test_backend_urls_override_and_file_access_log() -> None:
    config = parsed("mocked")
    gpt = cluster(config, "backend_gpt")
    assert gpt["type"] == "STATIC"
    assert "transport_socket" not in gpt
    address = gpt["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 9101}
    azure = cluster(config, "backend_azure")
    assert azure["type"] == "STRICT_DNS"
    routes = {r["name"]: r for r in routes_of(config)}
    assert routes["r0.gpt"]["route"]["host_rewrite_literal"] == "127.0.0.1:9101"
    assert routes["r0.vllm"]["route"].get("prefix_rewrite") is None
    log = hcm(config)["access_log"][0]
    assert log["name"] == "envoy.access_loggers.file"
    assert log["typed_config"]["path"] == ACCESS_LOG
    fields = log["typed_config"]["log_format"]["json_format"]
    assert fields["backend"] == "%FILTER_STATE(wasm.aipol_backend:PLAIN)%"
    assert fields["principal"] == "%FILTER_STATE(wasm.aipol_principal:PLAIN)%"
    assert fields["team"] == "%FILTER_STATE(wasm.aipol_team:PLAIN)%"
    assert fields["request_id"] == "%REQ(X-REQUEST-ID)%"


def test_unknown_backend_url_override_is_an_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        render_bootstrap(policy_minimal(), WASM, "", backend_urls={"nope": "http://x"})


def test_secret_value_never_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-appear")
    assert "sk-should-never-appear" not in render_case("multi", WASM)
