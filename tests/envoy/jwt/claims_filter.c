/* A tiny proxy-wasm filter for the JWT tests (not part of aipol).
 *
 * It stands where the aipol filter stands (after header_mutation and
 * jwt_authn) and shows what reached it: from the request headers callback it
 * copies `x-aipol-jwt-principal|team|tier` and `authorization` into
 * `x-seen-principal|team|tier|authorization` request headers (the upstream
 * mock records them), stores the principal and team as the properties
 * `aipol_principal` / `aipol_team` (the access log prints them), always picks
 * the backend `mock` (filter state `wasm.aipol_backend`) and clears the route
 * cache so the router matches on it.
 */
typedef unsigned int u32;
typedef unsigned char u8;

#define IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define EXPORT(n) __attribute__((export_name(n)))

IMPORT("proxy_get_header_map_value")
int proxy_get_header_map_value(int, const char *, int, u8 **, u32 *);
IMPORT("proxy_add_header_map_value")
int proxy_add_header_map_value(int, const char *, int, const u8 *, int);
IMPORT("proxy_set_property") int proxy_set_property(const char *, int, const u8 *, int);
IMPORT("proxy_call_foreign_function")
int proxy_call_foreign_function(const char *, int, const char *, int, u8 **, u32 *);

static u8 arena[1 << 16];
static u32 top;

EXPORT("proxy_abi_version_0_2_1") void abi(void) {}

EXPORT("proxy_on_memory_allocate") void *alloc(u32 size) {
  u32 start = (top + 7u) & ~7u;
  if (start + size > sizeof(arena)) return 0;
  top = start + size;
  return arena + start;
}

EXPORT("proxy_on_context_create") void on_context_create(int ctx, int parent) {}
EXPORT("proxy_on_vm_start") int on_vm_start(int ctx, int size) { return 1; }
EXPORT("proxy_on_configure") int on_configure(int ctx, int size) { return 1; }

/* Copies request header `from` into request header `to`; returns its value. */
static u32 echo(const char *from, int from_len, const char *to, int to_len, u8 **value) {
  u32 len = 0;
  *value = 0;
  if (proxy_get_header_map_value(0, from, from_len, value, &len) != 0 || len == 0) return 0;
  proxy_add_header_map_value(0, to, to_len, *value, (int)len);
  return len;
}

EXPORT("proxy_on_request_headers") int on_request_headers(int ctx, int n, int eos) {
  u8 *v = 0;
  u32 len;
  top = 0;
  len = echo("x-aipol-jwt-principal", 21, "x-seen-principal", 16, &v);
  if (len) proxy_set_property("aipol_principal", 15, v, (int)len);
  len = echo("x-aipol-jwt-team", 16, "x-seen-team", 11, &v);
  if (len) proxy_set_property("aipol_team", 10, v, (int)len);
  echo("x-aipol-jwt-tier", 16, "x-seen-tier", 11, &v);
  echo("authorization", 13, "x-seen-authorization", 20, &v);
  proxy_set_property("aipol_backend", 13, (const u8 *)"mock", 4);
  proxy_call_foreign_function("clear_route_cache", 17, "", 0, 0, 0);
  return 0; /* Continue */
}

EXPORT("proxy_on_request_body") int on_request_body(int ctx, int size, int eos) { return 0; }
