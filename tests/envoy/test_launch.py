"""`EnvoyProcess`: start, readiness, failure reporting, no leftovers."""

from __future__ import annotations

import pytest
from aipol.envoy.launch import EnvoyProcess, EnvoyStartError

pytestmark = pytest.mark.envoy

HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "envoy.extensions.filters.http.router.v3.Router"
ADMIN_ONLY = f"""
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
static_resources:
  listeners:
  - name: l
    address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/{HCM}
          stat_prefix: t
          route_config:
            virtual_hosts:
            - name: v
              domains: ["*"]
              routes: [{{match: {{prefix: /}}, direct_response: {{status: 204}}}}]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/{ROUTER}}}
"""


def test_start_ready_stop() -> None:
    with EnvoyProcess(ADMIN_ONLY) as envoy:
        assert envoy.running
        assert envoy.admin_url.startswith("http://127.0.0.1:")
        assert envoy.listen_url.startswith("http://127.0.0.1:")
        assert not envoy.listen_url.endswith(":0")
        assert "server.live" in envoy.stats(r"^server\.live$")
    assert not envoy.running
    assert envoy.stop() is not None  # idempotent
    envoy.cleanup()


def test_bad_config_raises_with_log_tail() -> None:
    envoy = EnvoyProcess(ADMIN_ONLY.replace("direct_response", "no_such_action"))
    with pytest.raises(EnvoyStartError, match="no_such_action"):
        envoy.start()
    assert not envoy.running
    envoy.cleanup()
