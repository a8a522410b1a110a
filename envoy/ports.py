"""Free TCP ports for tests and `aipol up`."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the usual bind-to-0 trick).

    Another process may take it before it is used; callers that can accept
    port 0 (Envoy's admin, the mocks) should prefer that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
