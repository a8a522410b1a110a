/* abi.c — the proxy-wasm exports: context lifecycle, plugin configuration,
 * request header/body processing around the generated policy hooks.
 *
 * proxy-wasm imports used: proxy_log, proxy_get_buffer_bytes,
 * proxy_set_buffer_bytes, proxy_get_header_map_value,
 * proxy_remove_header_map_value (and, through the other files, the rest of
 * the list in abi.h).
 *
 * Envoy facts this file is built on (the ABI reference,
 * shared/reference/proxy-wasm-abi.md, sections 3.2 and 5):
 *  - Returning Pause from on_request_headers stops body callbacks, so a
 *    route that needs the body returns Continue; the buffer filter after us
 *    holds the headers for the router.
 *  - Request header mutations only work inside the headers callback; so
 *    content-length is removed there (body edits change the length).
 *  - Returning 1 from on_request_body buffers; at end_of_stream the whole
 *    body is visible through get_buffer_bytes(0, 0, size).
 *  - send_local_response takes effect after the callback returns, and the
 *    reply runs through on_response_headers again.
 */
#include "abi.h"
#include "alloc.h"
#include "config.h"
#include "headers.h"
#include "jwt.h"
#include "json.h"
#include "policy.h"
#include "sse.h"
#include "util.h"

/* ---- stream table: chained hash keyed by context id ------------------- */

typedef struct entry {
  aipol_stream s; /* first: an aipol_stream* is an entry* */
  struct entry *next;
} entry;

static entry **table;
static uint32_t table_size; /* power of two */
static uint32_t live_streams;

static uint32_t slot(uint32_t id) { return (id * 2654435761u) & (table_size - 1); }

static void table_grow(void) {
  uint32_t nsize = table_size ? table_size * 2 : 64;
  entry **nt = aipol_calloc(nsize, sizeof(entry *));
  if (!nt) return; /* keep the old table: longer chains, still correct */
  entry **old = table;
  uint32_t osize = table_size;
  table = nt;
  table_size = nsize;
  for (uint32_t i = 0; i < osize; i++) {
    for (entry *e = old[i]; e;) {
      entry *n = e->next;
      uint32_t h = slot(e->s.context_id);
      e->next = table[h];
      table[h] = e;
      e = n;
    }
  }
  aipol_free(old);
}

aipol_stream *aipol_stream_get(uint32_t id) {
  if (!table) return 0;
  for (entry *e = table[slot(id)]; e; e = e->next)
    if (e->s.context_id == id) return &e->s;
  return 0;
}

static aipol_stream *stream_create(uint32_t id) {
  aipol_stream *s = aipol_stream_get(id);
  if (s) return s;
  if (!table || live_streams >= table_size * 2) table_grow();
  if (!table) return 0;
  entry *e = aipol_calloc(1, sizeof(entry));
  if (!e) return 0;
  e->s.context_id = id;
  e->s.route = -1;
  e->s.backend = -1;
  uint32_t h = slot(id);
  e->next = table[h];
  table[h] = e;
  live_streams++;
  return &e->s;
}

static void stream_delete(uint32_t id) {
  if (!table) return;
  for (entry **pp = &table[slot(id)]; *pp; pp = &(*pp)->next) {
    entry *e = *pp;
    if (e->s.context_id != id) continue;
    *pp = e->next;
    aipol_edits_free(&e->s);
    aipol_slice_free(&e->s.request_id);
    aipol_jwt_principal_free(&e->s);
    aipol_sse_free(&e->s);
    aipol_free(e);
    if (--live_streams == 0) aipol_config_collect();
    return;
  }
}

/* ---- helpers ----------------------------------------------------------- */

static void log_cstr(uint32_t level, const char *msg) { aipol_log3(level, msg, 0, 0, 0); }

static int send_error_str(aipol_stream *s, uint32_t status, const char *type, const char *code,
                          const char *msg) {
  uint32_t n = 0;
  while (msg[n]) n++;
  return aipol_send_error(s, status, type, code, (const uint8_t *)msg, n);
}

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

/* 1 if a content-type value names application/json (parameters such as
 * "; charset=utf-8" ignored, case-insensitive). */
static int is_json_content_type(const uint8_t *p, uint32_t n) {
  return aipol_media_type_is(p, n, "application/json", 16);
}

/* Parses a content-length value; saturates; 0 if it is not a number. */
static int parse_length(const uint8_t *p, uint32_t n, uint64_t *out) {
  uint32_t i = 0;
  uint64_t v = 0;
  while (i < n && is_ows(p[i])) i++;
  while (n > i && is_ows(p[n - 1])) n--;
  if (i == n) return 0;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    v = v > 0x0FFFFFFFFFFFFFFFull ? 0xFFFFFFFFFFFFFFFFull : v * 10 + (p[i] - '0');
  }
  *out = v;
  return 1;
}

static int too_large(aipol_stream *s) {
  uint8_t msg[96];
  static const char head[] = "Request body too large: the limit is ";
  uint32_t o = sizeof(head) - 1;
  memcpy(msg, head, o);
  o += aipol_u64_to_dec(aipol_policy_max_body, msg + o);
  memcpy(msg + o, " bytes.", 7);
  o += 7;
  return aipol_send_error(s, 413, "invalid_request_error", "request_too_large", msg, o);
}

/* 404 with OpenAI's wording: "Unknown request URL: POST /v1/foo." */
static int unknown_url(aipol_stream *s, const aipol_slice *method, const uint8_t *path,
                       uint32_t path_len) {
  static const char head[] = "Unknown request URL: ";
  uint32_t hl = sizeof(head) - 1;
  uint8_t *msg = aipol_malloc((size_t)hl + method->len + 1 + path_len + 1);
  if (!msg) return send_error_str(s, 404, "invalid_request_error", "unknown_url", "Unknown request URL.");
  uint32_t o = 0;
  memcpy(msg, head, hl);
  o += hl;
  if (method->len) memcpy(msg + o, method->ptr, method->len);
  o += method->len;
  msg[o++] = ' ';
  if (path_len) memcpy(msg + o, path, path_len);
  o += path_len;
  msg[o++] = '.';
  int r = aipol_send_error(s, 404, "invalid_request_error", "unknown_url", msg, o);
  aipol_free(msg);
  return r;
}

static int out_of_memory(aipol_stream *s) {
  log_cstr(PW_LOG_ERROR, "aipol: out of memory");
  return send_error_str(s, 500, "server_error", "internal_error",
                        "The gateway could not process the request.");
}

/* ---- exports ------------------------------------------------------------ */

__attribute__((export_name("proxy_abi_version_0_2_1"))) void proxy_abi_version_0_2_1(void) {}

__attribute__((export_name("proxy_on_context_create"))) void proxy_on_context_create(
    uint32_t ctx, uint32_t parent) {
  if (parent != 0) stream_create(ctx); /* parent 0: the root (plugin) context */
}

__attribute__((export_name("proxy_on_vm_start"))) uint32_t proxy_on_vm_start(uint32_t root,
                                                                             uint32_t size) {
  (void)root;
  (void)size;
  return 1;
}

__attribute__((export_name("proxy_on_configure"))) uint32_t proxy_on_configure(uint32_t root,
                                                                               uint32_t size) {
  (void)root;
  uint8_t *cfg = 0;
  uint32_t len = 0;
  if (size > 0) {
    uint32_t r = proxy_get_buffer_bytes(PW_BUFFER_PLUGIN_CONFIGURATION, 0, size, &cfg, &len);
    if (r != PW_OK) {
      log_cstr(PW_LOG_ERROR, "aipol: cannot read the plugin configuration");
      if (cfg) aipol_free(cfg);
      return 0;
    }
  }
  aipol_config c;
  const char *why;
  uint32_t line = aipol_config_parse(cfg, cfg ? len : 0, &c, &why);
  if (cfg) aipol_free(cfg);
  if (line != 0) {
    uint8_t num[24];
    uint32_t nl = line == AIPOL_CONFIG_NO_MEMORY ? 0 : aipol_u64_to_dec(line, num);
    num[nl++] = ':';
    num[nl++] = ' ';
    /* `why` is a fixed reason: no key material is ever logged. */
    aipol_log3(PW_LOG_ERROR, "aipol: bad plugin configuration line ", num, nl, why);
    return 0;
  }
  uint32_t count = c.count;
  aipol_config_install(&c, live_streams);
  uint8_t num[24];
  uint32_t nl = aipol_u64_to_dec(count, num);
  aipol_log3(PW_LOG_INFO, "aipol: configured, principals: ", num, nl, 0);
  return 1;
}

static uint32_t on_request_headers(aipol_stream *s, uint32_t end_of_stream);

__attribute__((export_name("proxy_on_request_headers"))) uint32_t proxy_on_request_headers(
    uint32_t ctx, uint32_t num_headers, uint32_t end_of_stream) {
  (void)num_headers;
  aipol_stream *s = stream_create(ctx);
  if (!s) {
    out_of_memory(0);
    return PW_STOP;
  }
  if (s->local_reply) return PW_STOP;

  /* One host call for all request headers; the reads below and in auth.c
   * are served from this snapshot until the first header mutation. */
  aipol_request_headers_snapshot();
  uint32_t rc = on_request_headers(s, end_of_stream);
  aipol_request_headers_release();
  return rc;
}

static uint32_t on_request_headers(aipol_stream *s, uint32_t end_of_stream) {
  aipol_slice path, method;
  aipol_request_header_get(":path", 5, &path);
  aipol_request_header_get(":method", 7, &method);
  /* The request id is the sticky key of anonymous requests; the headers are
   * gone by the body phase, so it is copied now. */
  aipol_slice_free(&s->request_id);
  aipol_request_header_get("x-request-id", 12, &s->request_id);

  uint32_t path_len = 0; /* routes match the path without the query string */
  while (path_len < path.len && path.ptr[path_len] != '?') path_len++;
  int route = aipol_policy_match_route(path.ptr, path_len, method.ptr, method.len);
  if (route < 0) {
    unknown_url(s, &method, path.ptr, path_len);
    aipol_slice_free(&path);
    aipol_slice_free(&method);
    return PW_STOP;
  }
  /* Methods whose requests carry the JSON document a route decides on. */
  int body_method = aipol_bytes_eq(method.ptr, method.len, "POST", 4) ||
                    aipol_bytes_eq(method.ptr, method.len, "PUT", 3) ||
                    aipol_bytes_eq(method.ptr, method.len, "PATCH", 5);
  aipol_slice_free(&path);
  aipol_slice_free(&method);
  s->route = route;
  int needs_body = aipol_policy_route_needs_body(route);

  if (aipol_policy_request_headers(s) == AIPOL_STOP || s->local_reply) return PW_STOP;

  if (end_of_stream && needs_body && body_method) {
    send_error_str(s, 400, "invalid_request_error", "invalid_json",
                   "The request has no body: send a JSON object.");
    return PW_STOP;
  }

  if (end_of_stream || !needs_body) {
    /* No body, or the route decides without it: the body phase runs now,
     * while the request headers can still be changed. */
    if (aipol_policy_request_body(s, 0) == AIPOL_STOP || s->local_reply) return PW_STOP;
    aipol_edits_free(s); /* edits need a parsed body; none to apply */
    return PW_CONTINUE;
  }

  aipol_slice v;
  uint64_t clen;
  if (aipol_request_header_get("content-length", 14, &v)) {
    int big = parse_length(v.ptr, v.len, &clen) && clen > aipol_policy_max_body;
    aipol_slice_free(&v);
    if (big) {
      too_large(s);
      return PW_STOP;
    }
  }
  int json = 0;
  if (aipol_request_header_get("content-type", 12, &v)) {
    json = is_json_content_type(v.ptr, v.len);
    aipol_slice_free(&v);
  }
  if (!json) {
    send_error_str(s, 415, "invalid_request_error", "unsupported_media_type",
                   "The request body must be JSON (content-type: application/json).");
    return PW_STOP;
  }
  /* Body edits change the length: let the router re-frame the buffered body. */
  aipol_request_header_remove("content-length", 14);
  s->needs_body = 1;
  return PW_CONTINUE;
}

/* 400 for a body that failed to parse. */
static void bad_body(aipol_stream *s, int rc, const aipol_chat_request *req) {
  if (rc == AIPOL_JSON_SYNTAX) {
    send_error_str(s, 400, "invalid_request_error", "invalid_json",
                   "The request body is not valid JSON.");
  } else if (rc == AIPOL_JSON_TOO_DEEP) {
    send_error_str(s, 400, "invalid_request_error", "invalid_json",
                   "The request body is nested too deeply (the limit is 64 levels).");
  } else if (rc == AIPOL_JSON_NOT_OBJECT) {
    send_error_str(s, 400, "invalid_request_error", "invalid_request",
                   "The request body must be a JSON object.");
  } else if (rc == AIPOL_JSON_BAD_FIELD) {
    const char *f = req->error_field ? req->error_field : "?";
    uint32_t fl = 0;
    while (f[fl]) fl++;
    static const char head[] = "Invalid value for '";
    static const char tail[] = "': wrong type, or the field is repeated.";
    uint8_t msg[160];
    uint32_t o = 0;
    if (fl > 64) fl = 64;
    memcpy(msg, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    memcpy(msg + o, f, fl);
    o += fl;
    memcpy(msg + o, tail, sizeof(tail) - 1);
    o += sizeof(tail) - 1;
    aipol_send_error(s, 400, "invalid_request_error", "invalid_request", msg, o);
  } else {
    out_of_memory(s);
  }
}

__attribute__((export_name("proxy_on_request_body"))) uint32_t proxy_on_request_body(
    uint32_t ctx, uint32_t body_size, uint32_t end_of_stream) {
  aipol_stream *s = aipol_stream_get(ctx);
  if (!s || !s->needs_body || s->local_reply) return PW_CONTINUE;
  if (body_size > aipol_policy_max_body) {
    s->needs_body = 0;
    too_large(s);
    return PW_STOP;
  }
  if (!end_of_stream) return PW_STOP; /* StopIterationAndBuffer */
  s->needs_body = 0;

  uint8_t *body = 0;
  uint32_t len = 0;
  if (body_size > 0) {
    uint32_t r = proxy_get_buffer_bytes(PW_BUFFER_REQUEST_BODY, 0, body_size, &body, &len);
    if (r != PW_OK) {
      if (body) aipol_free(body);
      log_cstr(PW_LOG_ERROR, "aipol: cannot read the request body");
      out_of_memory(s);
      return PW_STOP;
    }
    if (!body) len = 0;
  }

  aipol_chat_request req;
  int rc = aipol_json_parse_chat(body, len, &req);
  uint32_t status = PW_CONTINUE;
  if (rc != AIPOL_JSON_OK) {
    bad_body(s, rc, &req);
    status = PW_STOP;
  } else if (aipol_policy_request_body(s, &req) == AIPOL_STOP || s->local_reply) {
    status = PW_STOP;
  } else if (s->edit_error) {
    log_cstr(PW_LOG_ERROR, "aipol: a body edit could not be queued");
    out_of_memory(s);
    status = PW_STOP;
  } else if (s->edit_count) {
    uint32_t new_len = 0;
    uint8_t *edited = aipol_apply_edits(body, len, s->edits, s->edit_count, &new_len);
    if (!edited) {
      log_cstr(PW_LOG_ERROR, "aipol: the body edits could not be applied");
      out_of_memory(s);
      status = PW_STOP;
    } else {
      if (proxy_set_buffer_bytes(PW_BUFFER_REQUEST_BODY, 0, len, edited, new_len) != PW_OK) {
        log_cstr(PW_LOG_ERROR, "aipol: cannot replace the request body");
        out_of_memory(s);
        status = PW_STOP;
      }
      aipol_free(edited);
    }
  }
  aipol_chat_free(&req);
  aipol_edits_free(s);
  if (body) aipol_free(body);
  return status;
}

__attribute__((export_name("proxy_on_response_headers"))) uint32_t proxy_on_response_headers(
    uint32_t ctx, uint32_t num_headers, uint32_t end_of_stream) {
  (void)num_headers;
  aipol_stream *s = aipol_stream_get(ctx);
  if (s && s->route >= 0) {
    aipol_policy_response_headers(s);
    if (aipol_policy_route_scans_response(s->route)) aipol_response_headers_begin(s, end_of_stream);
  }
  return PW_CONTINUE;
}

/* proxy_on_log and proxy_on_done are deliberately not exported: Envoy skips
 * callbacks a module does not export, and each call into the VM costs about
 * a microsecond. proxy_on_response_body / _trailers are exported by the
 * generated policy only when a route scans responses (response.c), so
 * policies without response scanning never pay a call per streamed chunk. */

__attribute__((export_name("proxy_on_delete"))) void proxy_on_delete(uint32_t ctx) {
  stream_delete(ctx);
}

#ifdef AIPOL_TEST_EXPORTS
__attribute__((export_name("aipol_test_live_streams"))) uint32_t t_live_streams(void) {
  return live_streams;
}
#endif
