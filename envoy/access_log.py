"""The JSON access log: one line per request, to stdout or a file.

`%FILTER_STATE(wasm.<name>:PLAIN)%` prints what the filter stored with
`proxy_set_property("<name>", ...)` (a WasmState of type bytes serialises as
its raw value); absent state prints as JSON null.
"""

from __future__ import annotations

from typing import Any

FIELDS: tuple[tuple[str, str], ...] = (
    ("timestamp", "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%"),
    ("request_id", "%REQ(X-REQUEST-ID)%"),
    ("method", "%REQ(:METHOD)%"),
    ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    ("protocol", "%PROTOCOL%"),
    ("response_code", "%RESPONSE_CODE%"),
    ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
    ("response_flags", "%RESPONSE_FLAGS%"),
    ("duration_ms", "%DURATION%"),
    ("upstream_service_time_ms", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"),
    ("route_name", "%ROUTE_NAME%"),
    ("upstream_cluster", "%UPSTREAM_CLUSTER%"),
    ("upstream_host", "%UPSTREAM_HOST%"),
    ("bytes_received", "%BYTES_RECEIVED%"),
    ("bytes_sent", "%BYTES_SENT%"),
    ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
    ("user_agent", "%REQ(USER-AGENT)%"),
    ("backend", "%FILTER_STATE(wasm.aipol_backend:PLAIN)%"),
    ("principal", "%FILTER_STATE(wasm.aipol_principal:PLAIN)%"),
    ("team", "%FILTER_STATE(wasm.aipol_team:PLAIN)%"),
)

STDOUT_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def access_log(path: str | None) -> list[dict[str, Any]]:
    log_format = {"json_format": dict(FIELDS)}
    if path is None:
        return [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {"@type": STDOUT_TYPE, "log_format": log_format},
            }
        ]
    return [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": {"@type": FILE_TYPE, "path": path, "log_format": log_format},
        }
    ]
