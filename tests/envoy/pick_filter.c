/* A tiny proxy-wasm filter for the live Envoy tests (not part of aipol).
 *
 * It proves body-based routing on stock Envoy: the headers callback returns
 * Continue (Pause would stop everything) and only remembers the `x-pick`
 * header; the body callback buffers until end of stream, then takes the backend
 * from a body that starts with `pick=<name>;` (or falls back to the header),
 * stores it as the property `aipol_backend` (filter state `wasm.aipol_backend`),
 * sets `aipol_principal` / `aipol_team` for the access log, and calls the
 * foreign function `clear_route_cache` so the router re-matches the route when
 * the buffer filter finally releases the headers.
 */
typedef unsigned int u32;
typedef unsigned char u8;

#define IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define EXPORT(n) __attribute__((export_name(n)))

IMPORT("proxy_get_header_map_value")
int proxy_get_header_map_value(int, const char *, int, u8 **, u32 *);
IMPORT("proxy_get_buffer_bytes") int proxy_get_buffer_bytes(int, int, int, u8 **, u32 *);
IMPORT("proxy_set_property") int proxy_set_property(const char *, int, const u8 *, int);
IMPORT("proxy_call_foreign_function")
int proxy_call_foreign_function(const char *, int, const char *, int, u8 **, u32 *);
IMPORT("proxy_log") int proxy_log(int, const char *, int);

static u8 arena[1 << 16];
static u32 top;

EXPORT("proxy_abi_version_0_2_1") void abi(void) {}

EXPORT("proxy_on_memory_allocate") void *alloc(u32 size) {
  u32 start = (top + 7u) & ~7u;
  if (start + size > sizeof(arena)) return 0;
  top = start + size;
  return arena + start;
}

/* The pick from the header, per stream context (ids are small and recycled
 * slots are overwritten at each request's headers callback). */
#define SLOTS 256
static u8 picks[SLOTS][32];
static u32 pick_len[SLOTS];

static void *copy(u8 *dst, const u8 *src, u32 n) {
  for (u32 i = 0; i < n; i++) dst[i] = src[i];
  return dst;
}

EXPORT("proxy_on_context_create") void on_context_create(int ctx, int parent) {}
EXPORT("proxy_on_vm_start") int on_vm_start(int ctx, int size) { return 1; }
EXPORT("proxy_on_configure") int on_configure(int ctx, int size) { return 1; }

EXPORT("proxy_on_request_headers") int on_request_headers(int ctx, int n, int eos) {
  u8 *val = 0;
  u32 len = 0;
  u32 slot = (u32)ctx % SLOTS;
  top = 0;
  pick_len[slot] = 0;
  if (proxy_get_header_map_value(0, "x-pick", 6, &val, &len) == 0 && len <= 32) {
    copy(picks[slot], val, len);
    pick_len[slot] = len;
  }
  return 0; /* Continue: never Pause here. */
}

EXPORT("proxy_on_request_body") int on_request_body(int ctx, int size, int eos) {
  u8 *body = 0;
  u32 len = 0;
  const u8 *pick;
  u32 plen;
  u32 slot = (u32)ctx % SLOTS;
  if (!eos) return 1; /* StopIterationAndBuffer until the whole body is here. */
  top = 0;
  pick = picks[slot];
  plen = pick_len[slot];
  if (proxy_get_buffer_bytes(0, 0, 64, &body, &len) == 0 && len > 5 && body[0] == 'p' &&
      body[1] == 'i' && body[2] == 'c' && body[3] == 'k' && body[4] == '=') {
    u32 end = 5;
    while (end < len && body[end] != ';') end++;
    pick = body + 5;
    plen = end - 5;
  }
  if (plen > 0) {
    proxy_set_property("aipol_backend", 13, pick, (int)plen);
    proxy_set_property("aipol_principal", 15, (const u8 *)"alice", 5);
    proxy_set_property("aipol_team", 10, (const u8 *)"blue", 4);
    proxy_call_foreign_function("clear_route_cache", 17, "", 0, 0, 0);
  }
  return 0;
}
