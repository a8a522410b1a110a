"""Upstream credentials: which header carries them, and how Envoy reads them.

The secret itself never appears in a generated file. Each backend with a
credential gets a static SDS secret whose `generic_secret.secret` is a
`DataSource` naming an environment variable or a file; Envoy reads it when it
starts. The stock `envoy.filters.http.credential_injector` filter (generic
credential) then sets the header on the upstream request. It runs as an
*upstream* HTTP filter of the backend's cluster, so it applies per backend and
after the router picked the cluster; `overwrite: true` replaces whatever the
client sent (the route also strips the client's credential headers).

Verified on Envoy 1.40: `Generic.header_value_prefix` exists (it adds the
`Bearer ` scheme), credential_injector is accepted as an upstream filter, and a
missing environment variable makes Envoy refuse to start ("Environment variable
doesn't exist: NAME"), in `--mode validate` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aipol.compiler.ir import Backend

INJECTOR_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector"
)
GENERIC_TYPE = "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic"

# Headers a client might use to send a credential; never forwarded upstream.
CLIENT_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key")


@dataclass(frozen=True)
class CredentialHeader:
    name: str
    prefix: str = ""


def credential_header(provider: str) -> CredentialHeader:
    """The header a provider expects its API key in.

    OpenAI and every OpenAI-compatible server (vLLM, Ollama, ...) take
    `Authorization: Bearer <key>`; Anthropic takes `x-api-key: <key>`; Azure
    OpenAI takes `api-key: <key>`.
    """
    provider = provider.lower()
    if provider == "anthropic":
        return CredentialHeader("x-api-key")
    if provider in ("azure", "azure_openai", "azure-openai"):
        return CredentialHeader("api-key")
    return CredentialHeader("authorization", "Bearer ")


def secret_name(backend: Backend) -> str:
    return f"credential_{backend.name}"


def has_credential(backend: Backend) -> bool:
    return backend.credential.source in ("env", "file") and bool(backend.credential.ref)


def secret(backend: Backend) -> dict[str, Any]:
    """The static SDS secret for a backend: a reference, never the value."""
    cred = backend.credential
    source = {"environment_variable": cred.ref} if cred.source == "env" else {"filename": cred.ref}
    return {"name": secret_name(backend), "generic_secret": {"secret": source}}


def injector_filter(backend: Backend) -> dict[str, Any]:
    """The upstream `credential_injector` filter for a backend's cluster."""
    header = credential_header(backend.provider)
    generic: dict[str, Any] = {
        "@type": GENERIC_TYPE,
        "credential": {"name": secret_name(backend)},
        "header": header.name,
    }
    if header.prefix:
        generic["header_value_prefix"] = header.prefix
    return {
        "name": "envoy.filters.http.credential_injector",
        "typed_config": {
            "@type": INJECTOR_TYPE,
            "overwrite": True,
            "allow_request_without_credential": False,
            "credential": {
                "name": "envoy.http.injected_credentials.generic",
                "typed_config": generic,
            },
        },
    }


def env_names(backends: tuple[Backend, ...] | list[Backend]) -> list[str]:
    """Environment variables Envoy needs at start-up for these backends."""
    return sorted(
        {b.credential.ref for b in backends if has_credential(b) and b.credential.source == "env"}
    )
