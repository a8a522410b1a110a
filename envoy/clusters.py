"""One Envoy cluster per backend."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from aipol.compiler.ir import Backend

from . import credentials

HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_OPTIONS_TYPE = f"type.googleapis.com/{HTTP_OPTIONS_KEY}"
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
CODEC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"

# Where Debian/Ubuntu (and the envoyproxy/envoy image), RHEL/Fedora, Alpine and
# SUSE keep the system CA bundle.
CA_BUNDLE_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
)
DEFAULT_CA_BUNDLE = CA_BUNDLE_CANDIDATES[0]

CONNECT_TIMEOUT = "5s"
UPSTREAM_IDLE_TIMEOUT = "60s"


def system_ca_bundle() -> str:
    """The first CA bundle that exists on this machine (Debian's path if none)."""
    for candidate in CA_BUNDLE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return DEFAULT_CA_BUNDLE


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def build_cluster(backend: Backend, *, ca_bundle: str) -> dict[str, Any]:
    """Cluster for `backend` (whose url may already be overridden)."""
    static = is_ip_literal(backend.host)
    cluster: dict[str, Any] = {
        "name": backend.cluster,
        "type": "STATIC" if static else "STRICT_DNS",
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "ROUND_ROBIN",
    }
    if not static:
        # Prefer IPv4: "localhost" must reach a server bound to 127.0.0.1.
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = {
        "cluster_name": backend.cluster,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {
                                "socket_address": {
                                    "address": backend.host,
                                    "port_value": backend.port,
                                }
                            }
                        }
                    }
                ]
            }
        ],
    }
    cluster["typed_extension_protocol_options"] = {HTTP_OPTIONS_KEY: _protocol_options(backend)}
    if backend.tls:
        cluster["transport_socket"] = _tls_socket(backend, ca_bundle)
    return cluster


def _protocol_options(backend: Backend) -> dict[str, Any]:
    options: dict[str, Any] = {"@type": HTTP_OPTIONS_TYPE}
    options["common_http_protocol_options"] = {"idle_timeout": UPSTREAM_IDLE_TIMEOUT}
    if backend.tls:
        # SNI and certificate SAN check follow the (rewritten) Host header;
        # ALPN picks h2 or http/1.1.
        options["upstream_http_protocol_options"] = {"auto_sni": True, "auto_san_validation": True}
        options["auto_config"] = {"http_protocol_options": {}, "http2_protocol_options": {}}
    else:
        options["explicit_http_config"] = {"http_protocol_options": {}}
    if credentials.has_credential(backend):
        options["http_filters"] = [
            credentials.injector_filter(backend),
            {"name": "envoy.filters.http.upstream_codec", "typed_config": {"@type": CODEC_TYPE}},
        ]
    return options


def _tls_socket(backend: Backend, ca_bundle: str) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS_TYPE,
            "sni": backend.host,
            "common_tls_context": {
                "validation_context": {"trusted_ca": {"filename": ca_bundle}},
            },
        },
    }
