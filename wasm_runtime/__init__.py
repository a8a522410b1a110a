"""aipol.wasm_runtime"""
