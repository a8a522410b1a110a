"""The runtime compiles warning-free, and the production build (no test
exports) links with the policy stub into a loadable proxy-wasm module."""

from __future__ import annotations

from pathlib import Path

import wasmtime

from .guest import build_module

EXPECTED_EXPORTS = {
    "memory",
    "malloc",
    "proxy_on_memory_allocate",
    "proxy_abi_version_0_2_1",
    "proxy_on_context_create",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_response_headers",
    "proxy_on_delete",
}
# Empty callbacks are not exported: Envoy skips what a module does not export.
# (proxy_on_response_body/_trailers are exported by the generated policy, and only
# when a route scans responses: tests/compiler/test_dlp_response.py.)
UNEXPORTED = {"proxy_on_response_body", "proxy_on_log", "proxy_on_done"}

# proxy-wasm 0.2.1 functions Envoy provides (abi reference §2); importing
# anything else makes Envoy refuse the module.
ABI_0_2_1 = {
    "proxy_log", "proxy_get_log_level", "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds", "proxy_get_property", "proxy_set_property",
    "proxy_get_buffer_bytes", "proxy_get_buffer_status", "proxy_set_buffer_bytes",
    "proxy_get_header_map_pairs", "proxy_set_header_map_pairs", "proxy_get_header_map_value",
    "proxy_add_header_map_value", "proxy_replace_header_map_value",
    "proxy_remove_header_map_value", "proxy_get_header_map_size", "proxy_continue_stream",
    "proxy_close_stream", "proxy_send_local_response", "proxy_http_call", "proxy_grpc_call",
    "proxy_grpc_stream", "proxy_grpc_send", "proxy_grpc_cancel", "proxy_grpc_close",
    "proxy_get_status", "proxy_get_shared_data", "proxy_set_shared_data",
    "proxy_register_shared_queue", "proxy_resolve_shared_queue", "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue", "proxy_define_metric", "proxy_increment_metric",
    "proxy_record_metric", "proxy_get_metric", "proxy_set_effective_context", "proxy_done",
    "proxy_call_foreign_function",
}  # fmt: skip


def test_test_build_has_no_warnings(built) -> None:
    diagnostics, _ = built
    assert "warning" not in diagnostics, diagnostics
    assert "error" not in diagnostics, diagnostics


def test_production_build(tmp_path: Path, engine: wasmtime.Engine) -> None:
    out = tmp_path / "filter.wasm"
    diagnostics = build_module(out, test_exports=False)
    assert "warning" not in diagnostics, diagnostics
    module = wasmtime.Module.from_file(engine, str(out))
    exports = {e.name for e in module.exports}
    assert EXPECTED_EXPORTS <= exports
    assert not UNEXPORTED & exports
    assert not any(name.startswith("aipol_test_") for name in exports)
    imports = {(i.module, i.name) for i in module.imports}
    assert all(mod == "env" for mod, _ in imports)
    assert {name for _, name in imports} <= ABI_0_2_1
    assert out.stat().st_size < 200_000
