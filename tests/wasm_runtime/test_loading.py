"""Loading and start-up (§1): what Envoy refuses, and the order of start-up calls."""

import itertools

import pytest
from aipol.wasm_runtime import Harness, WasmLoadError
from aipol.wasm_runtime.fixtures import wat

LOG = '(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))'


def module(*parts: str, abi: bool = True, alloc: str = "malloc", memory: str = "memory") -> bytes:
    """A minimal filter: a bump allocator, a data segment for messages, plus ``parts``."""
    # imports must come first in the text format
    body = "\n".join(sorted(parts, key=lambda p: not p.lstrip().startswith("(import")))
    return wat(f"""
    (module
      {body}
      (memory (export "{memory}") 2)
      (global $bump (mut i32) (i32.const 4096))
      {'(func (export "proxy_abi_version_0_2_1"))' if abi else ''}
      {f'''(func (export "{alloc}") (param i32) (result i32)
          (local i32) (local.set 1 (global.get $bump))
          (global.set $bump (i32.add (global.get $bump) (local.get 0))) (local.get 1))'''
       if alloc else ''}
    )""")


_offsets = itertools.count(2048, 64)


def logger(name: str, text: str, ret: str = "") -> str:
    """An export ``name`` that logs ``text`` at info (its own 64-byte data slot)."""
    at = next(_offsets)
    return f"""
      (data (i32.const {at}) "{text}")
      (func (export "{name}") {ret}
        (drop (call $log (i32.const 2) (i32.const {at}) (i32.const {len(text)})))
        {'(i32.const 1)' if ret else ''})"""


def test_minimal_module_loads_and_serves():
    h = Harness.load(module())
    r = h.request("GET", "/")
    assert r.status == 200 and r.reached_upstream


@pytest.mark.parametrize(
    ("wasm", "message"),
    [
        pytest.param(lambda: module(abi=False), "Missing or unknown Proxy-Wasm ABI version",
                     id="no-abi-version"),
        pytest.param(lambda: module(alloc=""), "missing malloc", id="no-allocator"),
        pytest.param(lambda: module('(import "env" "proxy_frobnicate" (func (param i32)))'),
                     "missing import: env.proxy_frobnicate", id="unknown-import"),
        pytest.param(lambda: module('(import "env" "proxy_get_configuration" '
                                    '(func (param i32 i32) (result i32)))'),
                     "missing import: env.proxy_get_configuration", id="abi-0.1.0-only-import"),
        pytest.param(lambda: module('(import "wasi_snapshot_preview1" "sock_accept" '
                                    '(func (param i32 i32 i32) (result i32)))'),
                     "missing import: wasi_snapshot_preview1.sock_accept", id="unknown-wasi"),
        pytest.param(lambda: module('(import "env" "proxy_log" (func (param i32 i32)))'),
                     "import type mismatch", id="import-signature"),
        pytest.param(lambda: module('(func (export "proxy_on_request_headers") '
                                    '(param i32 i32) (result i32) (i32.const 0))'),
                     "Bad function signature for: proxy_on_request_headers", id="export-signature"),
        pytest.param(lambda: module('(func (export "proxy_on_configure") (param i32 i32) '
                                    '(result i32) (i32.const 0))'),
                     "proxy_on_configure returned false", id="configure-returns-0"),
        pytest.param(lambda: module('(func (export "proxy_on_vm_start") (param i32 i32) '
                                    '(result i32) (i32.const 0))'),
                     "proxy_on_vm_start returned false", id="vm-start-returns-0"),
        pytest.param(lambda: module('(func (export "proxy_on_configure") (param i32 i32) '
                                    '(result i32) unreachable)'),
                     "proxy_on_configure failed", id="configure-traps"),
        pytest.param(lambda: module(
            '(import "env" "proxy_get_property" (func $gp (param i32 i32 i32 i32) (result i32)))',
            '(func (export "_initialize") (drop (call $gp (i32.const 0) (i32.const 0) '
            '(i32.const 0) (i32.const 0))))'),
            "restricted_callback", id="restricted-call-in-initialize"),
        pytest.param(lambda: module(
            '(import "env" "proxy_define_metric" (func $dm (param i32 i32 i32 i32) (result i32)))',
            '(func (export "_start") (drop (call $dm (i32.const 0) (i32.const 0) '
            '(i32.const 0) (i32.const 0))))'),
            "restricted_callback", id="restricted-call-in-start"),
    ],
)
def test_load_failures(wasm, message):
    with pytest.raises(WasmLoadError, match=message):
        Harness.load(wasm())


def test_startup_order_and_restricted_mode_allows_log():
    h = Harness.load(module(
        LOG,
        '(import "wasi_snapshot_preview1" "fd_write" '
        '(func $fdw (param i32 i32 i32 i32) (result i32)))',
        # iovec at 32: ptr 200, len 6 -> "stdout"
        '(data (i32.const 32) "\\c8\\00\\00\\00\\06\\00\\00\\00")',
        '(data (i32.const 200) "stdout")',
        logger("_initialize", "initialize").replace(
            "(i32.const 10)))", "(i32.const 10)))\n(drop (call $fdw (i32.const 1) (i32.const 32)"
            " (i32.const 1) (i32.const 48)))"),
        logger("main", "main", "(param i32 i32) (result i32)").replace(
            "(i32.const 1))", "(i32.const 0))"),
        logger("_start", "start-must-not-run"),
        '(func (export "proxy_on_context_create") (param i32 i32)'
        ' (if (i32.eqz (local.get 1)) (then (drop (call $log (i32.const 2) (i32.const 1500)'
        ' (i32.const 4))))))',
        '(data (i32.const 1500) "root")',
        logger("proxy_on_vm_start", "vm_start", "(param i32 i32) (result i32)"),
        logger("proxy_on_configure", "configure", "(param i32 i32) (result i32)"),
    ))
    msgs = [m for _, m in h.logs]
    assert msgs[:2] == ["initialize", "stdout"]
    assert "start-must-not-run" not in msgs
    assert msgs[-4:] == ["main", "root", "vm_start", "configure"]


def test_start_is_called_without_initialize():
    h = Harness.load(module(LOG, logger("_start", "started")))
    assert h.logs_at("info") == ["started"]


def test_malloc_is_preferred_over_proxy_on_memory_allocate():
    # proxy_on_memory_allocate returns 0 (failure); malloc works: the host must use malloc
    h = Harness.load(module(
        '(func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))',
        '(import "env" "proxy_get_buffer_bytes" '
        '(func $gb (param i32 i32 i32 i32 i32) (result i32)))',
        '(func (export "proxy_on_configure") (param i32 i32) (result i32)'
        ' (i32.eqz (call $gb (i32.const 7) (i32.const 0) (local.get 1) (i32.const 16)'
        ' (i32.const 20))))',
    ), plugin_config=b"abc")
    assert not h.failed


def test_failed_allocation_gives_invalid_memory_access():
    # configure succeeds only if get_buffer_bytes returned InvalidMemoryAccess (6)
    h = Harness.load(module(
        '(import "env" "proxy_get_buffer_bytes" '
        '(func $gb (param i32 i32 i32 i32 i32) (result i32)))',
        '(func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))',
        '(func (export "proxy_on_configure") (param i32 i32) (result i32)'
        ' (i32.eq (i32.const 6) (call $gb (i32.const 7) (i32.const 0) (local.get 1)'
        ' (i32.const 16) (i32.const 20))))',
        alloc=""), plugin_config=b"abc")
    assert not h.failed


def test_memory_exported_under_another_name():
    h = Harness.load(module(memory="mem"))
    assert h.request().status == 200


def test_unimplemented_host_call_traps_loudly():
    wasm = module(
        '(import "env" "proxy_grpc_call" (func $g (param i32 i32 i32 i32 i32 i32 i32 i32 i32 '
        'i32 i32 i32) (result i32)))',
        '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
        ' (call $g (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)'
        ' (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)'
        ' (i32.const 0)))')
    h = Harness.load(wasm)
    r = h.request()
    assert r.trapped and h.failed
    assert "NotImplementedError" in r.trap_message and "proxy_grpc_call" in r.trap_message
    assert r.status == 503


def test_context_ids():
    wasm = module(
        LOG,
        '(import "env" "proxy_get_buffer_bytes" (func $gb (param i32 i32 i32 i32 i32) '
        '(result i32)))',
        # log "ctx" with the id as the first byte of the message (id + '0')
        '(func (export "proxy_on_context_create") (param i32 i32)'
        ' (i32.store8 (i32.const 300) (i32.add (i32.const 48) (local.get 0)))'
        ' (i32.store8 (i32.const 301) (i32.add (i32.const 48) (local.get 1)))'
        ' (drop (call $log (i32.const 2) (i32.const 300) (i32.const 2))))')
    h = Harness.load(wasm)
    h.request()
    h.request()
    assert h.logs_at("info") == ["10", "21", "31"]
