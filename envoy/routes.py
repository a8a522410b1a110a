"""The route table: body-based backend choice through filter state.

For each IR route, in file order:

1. if the route restricts methods: same path, any other method -> 405;
2. one route per backend: same path AND filter state
   `wasm.aipol_backend == <backend>` -> the backend's cluster. The wasm filter
   sets that state from the body callback and clears the route cache; the
   buffer filter holds the headers until then, so the router matches here;
3. same path, no filter-state match -> 503 `no_backend` (the filter chose no
   backend: a bug or a misconfiguration, never a silent default).

Then a final `/` prefix -> 404. All local answers are OpenAI-shaped JSON errors.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aipol.compiler.ir import Backend, Policy, Route

from .credentials import CLIENT_CREDENTIAL_HEADERS

BACKEND_STATE_KEY = "wasm.aipol_backend"
ROUTE_IDLE_TIMEOUT = "300s"


def error_body(message: str, code: str, type_: str = "server_error") -> str:
    """An error in the OpenAI format, as the SDKs parse it."""
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": code}},
        separators=(",", ":"),
    )


def _json_response(status: int, message: str, code: str, type_: str) -> dict[str, Any]:
    return {
        "direct_response": {
            "status": status,
            "body": {"inline_string": error_body(message, code, type_)},
        },
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": "application/json"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }


def _path_match(route: Route) -> dict[str, Any]:
    return {"prefix": route.path} if route.prefix else {"path": route.path}


def _route_name(route: Route, suffix: str) -> str:
    return f"{route.id}.{suffix}"


def _method_regex(methods: tuple[str, ...]) -> str:
    return "^(" + "|".join(re.escape(m) for m in methods) + ")$"


def backend_route(route: Route, backend: Backend) -> dict[str, Any]:
    match = _path_match(route)
    match["filter_state"] = [{"key": BACKEND_STATE_KEY, "string_match": {"exact": backend.name}}]
    action: dict[str, Any] = {
        "cluster": backend.cluster,
        # LLM calls are slow and streams long: no overall deadline, but a
        # stream that stays silent for ROUTE_IDLE_TIMEOUT is cut.
        "timeout": "0s",
        "idle_timeout": ROUTE_IDLE_TIMEOUT,
        "host_rewrite_literal": backend.host
        if backend.port in (80, 443)
        else f"{backend.host}:{backend.port}",
    }
    if backend.path_prefix:
        action["prefix_rewrite"] = backend.path_prefix + route.path
    return {
        "name": _route_name(route, backend.name),
        "match": match,
        "route": action,
        # The client's own key is for aipol, never for the provider; the
        # cluster's credential injector adds the provider's.
        "request_headers_to_remove": list(CLIENT_CREDENTIAL_HEADERS),
    }


def route_entries(route: Route, backends: dict[str, Backend]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    if route.methods:
        match = _path_match(route)
        match["headers"] = [
            {
                "name": ":method",
                "string_match": {"safe_regex": {"regex": _method_regex(route.methods)}},
                "invert_match": True,
            }
        ]
        entries.append(
            {
                "name": _route_name(route, "method_not_allowed"),
                "match": match,
                **_json_response(
                    405,
                    f"Method not allowed on {route.path}",
                    "method_not_allowed",
                    "invalid_request_error",
                ),
            }
        )
    for name in route.backends:
        entries.append(backend_route(route, backends[name]))
    entries.append(
        {
            "name": _route_name(route, "no_backend"),
            "match": _path_match(route),
            **_json_response(
                503, "No backend was selected for this request", "no_backend", "server_error"
            ),
        }
    )
    return entries


def route_config(policy: Policy, backends: dict[str, Backend]) -> dict[str, Any]:
    routes: list[dict[str, Any]] = []
    for route in policy.routes:
        routes.extend(route_entries(route, backends))
    routes.append(
        {
            "name": "not_found",
            "match": {"prefix": "/"},
            **_json_response(404, "Not found", "not_found", "invalid_request_error"),
        }
    )
    return {
        "name": "aipol",
        "virtual_hosts": [{"name": "aipol", "domains": ["*"], "routes": routes}],
    }
