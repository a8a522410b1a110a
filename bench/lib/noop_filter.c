/* bench/overhead --profile: the cheapest possible proxy-wasm HTTP filter.
 *
 * Every callback returns Continue at once and touches no header or body, so
 * a gateway running it measures what Envoy's wasm filter and the V8 calls
 * cost by themselves, without any aipol logic (auth, JSON, rewrite, routing).
 */
typedef unsigned int u32;

#define EXPORT(n) __attribute__((export_name(n)))

static unsigned char arena[1 << 16];

EXPORT("proxy_abi_version_0_2_1") void abi(void) {}
EXPORT("proxy_on_memory_allocate") void *alloc(u32 size) {
  return size <= sizeof(arena) ? arena : 0;
}
EXPORT("proxy_on_context_create") void on_context_create(int ctx, int parent) {}
EXPORT("proxy_on_vm_start") int on_vm_start(int ctx, int size) { return 1; }
EXPORT("proxy_on_configure") int on_configure(int ctx, int size) { return 1; }
EXPORT("proxy_on_request_headers") int on_request_headers(int ctx, int n, int eos) { return 0; }
EXPORT("proxy_on_request_body") int on_request_body(int ctx, int size, int eos) { return 0; }
EXPORT("proxy_on_response_headers") int on_response_headers(int ctx, int n, int eos) {
  return 0;
}
