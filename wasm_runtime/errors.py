"""Exceptions raised by the harness."""

from __future__ import annotations


class WasmLoadError(Exception):
    """The module would not load in Envoy (bad exports, missing import, start-up failed)."""


class RestrictedCallback(Exception):
    """A host call that Envoy forbids in restricted mode (start-up hooks, the allocator).

    Raised inside the host function, so it traps the guest, as ``restricted_callback`` does.
    """


class VmFailed(Exception):
    """Raised when a callback is attempted on a VM that has already trapped."""
