"""aipol.envoy: the Envoy backend (bootstrap, validation, launching).

`gateway` (Envoy plus mock providers) and `docker` are imported on demand:
`from aipol.envoy.gateway import Gateway`.
"""

from .bootstrap import render_bootstrap
from .launch import EnvoyProcess, EnvoyStartError
from .ports import free_port
from .validate import EnvoyConfigError, validate

__all__ = [
    "EnvoyConfigError",
    "EnvoyProcess",
    "EnvoyStartError",
    "free_port",
    "render_bootstrap",
    "validate",
]
