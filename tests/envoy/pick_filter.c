/* A tiny proxy-wasm filter for the live Envoy tests (not part of aipol).
 *
 * It proves body-based routing on stock Envoy: the headers callback returns
 * Continue (Pause would stop everything) and only remembers the `x-pick`
 * header; the body callback buffers until end of stream, then takes the backend
 * from a body that starts with `pick=<name>;` (or falls back to the header),
 * removes that prefix from the body (a rewrite that changes its length, so
 * the headers callback drops content-length for the buffer filter to redo),
 * stores it as the property `aipol_backend` (filter state `wasm.aipol_backend`),
 * sets `aipol_principal` / `aipol_team` for the access log (pick `deny`
 * answers a JSON 403 with proxy_send_local_response instead), and calls the
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
IMPORT("proxy_set_buffer_bytes") int proxy_set_buffer_bytes(int, int, int, const u8 *, int);
IMPORT("proxy_remove_header_map_value") int proxy_remove_header_map_value(int, const char *, int);
IMPORT("proxy_set_property") int proxy_set_property(const char *, int, const u8 *, int);
IMPORT("proxy_call_foreign_function")
int proxy_call_foreign_function(const char *, int, const char *, int, u8 **, u32 *);
IMPORT("proxy_send_local_response")
int proxy_send_local_response(int, const char *, int, const char *, int, const u8 *, int, int);

/* Header pairs {content-type: application/json} in the proxy-wasm encoding. */
static const u8 json_header[] = {1, 0, 0, 0, 12, 0, 0, 0, 16, 0, 0, 0,
                                 'c', 'o', 'n', 't', 'e', 'n', 't', '-', 't', 'y', 'p', 'e', 0,
                                 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/',
                                 'j', 's', 'o', 'n', 0};
static const char denied[] =
    "{\"error\":{\"message\":\"denied by test filter\",\"type\":\"invalid_request_error\","
    "\"param\":null,\"code\":\"denied\"}}";

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
  /* The body may be rewritten, and from the body callback the headers can no
   * longer be changed: drop content-length now; the buffer filter sets it
   * again from the final body before the router sees the headers. */
  proxy_remove_header_map_value(0, "content-length", 14);
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
    if (plen <= 32) {
      copy(picks[slot], pick, plen);
      pick = picks[slot];
      /* Drain the "pick=...;" prefix (start 0: drain `size`, prepend nothing),
       * so the upstream gets a body of another length than the client sent. */
      proxy_set_buffer_bytes(0, 0, (int)(end < len ? end + 1 : end), (const u8 *)"", 0);
    }
  }
  if (plen == 4 && pick[0] == 'd' && pick[1] == 'e' && pick[2] == 'n' && pick[3] == 'y') {
    proxy_send_local_response(403, "aipol_denied", 12, denied, sizeof(denied) - 1, json_header,
                              sizeof(json_header), -1);
    return 0;
  }
  if (plen > 0) {
    proxy_set_property("aipol_backend", 13, pick, (int)plen);
    proxy_set_property("aipol_principal", 15, (const u8 *)"alice", 5);
    proxy_set_property("aipol_team", 10, (const u8 *)"blue", 4);
    proxy_call_foreign_function("clear_route_cache", 17, "", 0, 0, 0);
  }
  return 0;
}
