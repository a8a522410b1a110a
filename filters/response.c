/* response.c — inspection of non-streamed upstream responses (see
 * response.h): the chat completion scanner and the response phase.
 *
 * Event streams go to sse.c.
 *
 * proxy-wasm imports used: proxy_get_buffer_bytes, proxy_set_buffer_bytes;
 * through headers.c proxy_get_header_map_value, proxy_replace_header_map_value,
 * proxy_remove_header_map_value; through util.c the metric and log calls.
 */
#include "response.h"

#include "abi.h"
#include "alloc.h"
#include "headers.h"
#include "json_scan.h"
#include "policy.h"
#include "reply.h"
#include "sse.h"
#include "util.h"

/* ---- scanner ---------------------------------------------------------- */

#define KEY_IS(k, klen, lit) ((klen) == sizeof(lit) - 1 && memcmp((k), (lit), (klen)) == 0)

typedef struct {
  aipol_jscan sc;
  aipol_chat_response *r;
  uint32_t choice;
} rscan;

static int record(rscan *x, uint32_t start, uint32_t end) {
  aipol_chat_response *r = x->r;
  if (r->text_count == r->text_cap) {
    uint32_t ncap = r->text_cap ? r->text_cap * 2 : 8;
    aipol_text *nt = aipol_realloc(r->texts, ncap * sizeof(aipol_text));
    if (!nt) {
      if (!x->sc.err) x->sc.err = AIPOL_JSON_NO_MEMORY;
      return 0;
    }
    r->texts = nt;
    r->text_cap = ncap;
  }
  aipol_text *t = &r->texts[r->text_count++];
  t->message = x->choice;
  t->role = AIPOL_ROLE_ASSISTANT;
  t->start = start;
  t->end = end;
  return 1;
}

/* A string value: validated and recorded. */
static int string_value(rscan *x) {
  uint32_t start = x->sc.pos, dlen;
  if (!aipol_jscan_string(&x->sc, 0, 0, &dlen)) return 0;
  return record(x, start, x->sc.pos);
}

/* Walks the members of an object at sc.pos ('{' already checked), calling
 * `member` for each key (decoded into k when it fits). */
typedef int (*member_fn)(rscan *x, const uint8_t *k, uint32_t klen);

static int object(rscan *x, member_fn member) {
  aipol_jscan *sc = &x->sc;
  if (!aipol_jscan_open(sc)) return 0;
  if (aipol_jscan_peek(sc) != '}') {
    for (;;) {
      uint8_t k[16];
      uint32_t klen;
      if (!aipol_jscan_key(sc, k, sizeof(k), &klen)) return 0;
      if (!member(x, k, klen > sizeof(k) ? 0 : klen)) return 0;
      int r = aipol_jscan_next(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  return 1;
}

/* Each element of an array through `element`; any other value is skipped. */
static int array(rscan *x, int (*element)(rscan *x)) {
  aipol_jscan *sc = &x->sc;
  if (aipol_jscan_peek(sc) != '[') return aipol_jscan_skip(sc);
  if (!aipol_jscan_open(sc)) return 0;
  if (aipol_jscan_peek(sc) != ']') {
    for (;;) {
      if (!element(x)) return 0;
      int r = aipol_jscan_next(sc, ']');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  return 1;
}

/* Every string value inside a value (content: a string, parts, anything). */
static int all_strings(rscan *x);
static int all_strings_member(rscan *x, const uint8_t *k, uint32_t klen) {
  (void)k;
  (void)klen;
  return all_strings(x);
}
static int all_strings(rscan *x) {
  int c = aipol_jscan_peek(&x->sc);
  if (c == '"') return string_value(x);
  if (c == '[') return array(x, all_strings);
  if (c == '{') return object(x, all_strings_member);
  return aipol_jscan_skip(&x->sc);
}

/* "function": {"name": ..., "arguments": "<JSON text>"} */
static int function_member(rscan *x, const uint8_t *k, uint32_t klen) {
  if (KEY_IS(k, klen, "arguments") && aipol_jscan_peek(&x->sc) == '"') return string_value(x);
  return aipol_jscan_skip(&x->sc);
}
static int function_value(rscan *x) {
  if (aipol_jscan_peek(&x->sc) != '{') return aipol_jscan_skip(&x->sc);
  return object(x, function_member);
}

static int tool_call_member(rscan *x, const uint8_t *k, uint32_t klen) {
  if (KEY_IS(k, klen, "function")) return function_value(x);
  return aipol_jscan_skip(&x->sc);
}
static int tool_call(rscan *x) {
  if (aipol_jscan_peek(&x->sc) != '{') return aipol_jscan_skip(&x->sc);
  return object(x, tool_call_member);
}

static int message_member(rscan *x, const uint8_t *k, uint32_t klen) {
  if (KEY_IS(k, klen, "content")) return all_strings(x);
  if (KEY_IS(k, klen, "tool_calls")) return array(x, tool_call);
  if (KEY_IS(k, klen, "function_call")) return function_value(x);
  return aipol_jscan_skip(&x->sc);
}

static int choice_member(rscan *x, const uint8_t *k, uint32_t klen) {
  int c = aipol_jscan_peek(&x->sc);
  if (KEY_IS(k, klen, "message") && c == '{') return object(x, message_member);
  if (KEY_IS(k, klen, "text") && c == '"') return string_value(x); /* legacy completions */
  return aipol_jscan_skip(&x->sc);
}
static int choice(rscan *x) {
  x->choice = x->r->choice_count++;
  if (aipol_jscan_peek(&x->sc) != '{') return aipol_jscan_skip(&x->sc);
  return object(x, choice_member);
}

static int root_member(rscan *x, const uint8_t *k, uint32_t klen) {
  if (KEY_IS(k, klen, "choices") && aipol_jscan_peek(&x->sc) == '[') {
    x->sc.msg_index = 1; /* a "choices" array was seen */
    return array(x, choice);
  }
  return aipol_jscan_skip(&x->sc);
}

int aipol_json_parse_response(const uint8_t *body, uint32_t len, aipol_chat_response *out) {
  memset(out, 0, sizeof(*out));
  out->body = body;
  out->body_len = len;
  rscan x;
  memset(&x, 0, sizeof(x));
  x.sc.p = body;
  x.sc.len = len;
  x.r = out;
  aipol_jscan_ws(&x.sc);
  int is_object = aipol_jscan_peek(&x.sc) == '{';
  if (is_object) object(&x, root_member);
  else aipol_jscan_skip(&x.sc);
  if (!x.sc.err) {
    aipol_jscan_ws(&x.sc);
    if (x.sc.pos != len) x.sc.err = AIPOL_JSON_SYNTAX; /* trailing garbage */
  }
  if (x.sc.err) return x.sc.err;
  if (!is_object) return AIPOL_JSON_NOT_OBJECT;
  return x.sc.msg_index ? AIPOL_JSON_OK : AIPOL_JSON_NOT_CHAT;
}

void aipol_response_free(aipol_chat_response *r) {
  aipol_free(r->texts);
  for (uint32_t i = 0; i < r->edit_count; i++) aipol_free((void *)r->edits[i].text.ptr);
  aipol_free(r->edits);
  memset(r, 0, sizeof(*r));
}

void aipol_response_replace_text(aipol_chat_response *r, const aipol_text *t,
                                 uint8_t *json_string, uint32_t len) {
  if (r->edit_count == r->edit_cap) {
    uint32_t ncap = r->edit_cap ? r->edit_cap * 2 : 8;
    aipol_edit *ne = aipol_realloc(r->edits, ncap * sizeof(aipol_edit));
    if (!ne) {
      aipol_free(json_string);
      r->edit_error = 1;
      return;
    }
    r->edits = ne;
    r->edit_cap = ncap;
  }
  aipol_edit *e = &r->edits[r->edit_count++];
  e->start = t->start;
  e->end = t->end;
  e->text.ptr = json_string;
  e->text.len = len;
  e->owned = 1;
  e->tag = 0;
}

void aipol_response_block(aipol_chat_response *r, const char *code, const char *name,
                          uint32_t name_len) {
  r->block_code = code;
  r->block_name = name;
  r->block_name_len = name_len;
}

/* ---- response phase ----------------------------------------------------- */

static void log_cstr(uint32_t level, const char *msg) { aipol_log3(level, msg, 0, 0, 0); }

static uint32_t cstr_len(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

void aipol_response_headers_begin(aipol_stream *s, uint32_t end_of_stream) {
  s->response_mode = 0;
  if (end_of_stream || s->local_reply) return; /* no body, or our own reply */
  aipol_slice v;
  int json = 0, stream = 0, encoded = 0;
  if (aipol_response_header_get("content-type", 12, &v)) {
    json = aipol_media_type_is(v.ptr, v.len, "application/json", 16);
    stream = aipol_media_type_is(v.ptr, v.len, "text/event-stream", 17);
    aipol_slice_free(&v);
  }
  if (aipol_response_header_get("content-encoding", 16, &v)) {
    encoded = !(v.len == 0 || (v.len == 8 && aipol_ieq(v.ptr, "identity", 8)));
    aipol_slice_free(&v);
  }
  if ((stream || json) && encoded) {
    /* A compressed JSON body or event stream: nothing the gateway can
     * inspect, so nothing it may pass. The body becomes a JSON error. */
    s->response_mode = AIPOL_RESPONSE_REFUSE;
    aipol_response_header_remove("content-encoding", 16);
    aipol_response_header_set("content-type", 12, (const uint8_t *)"application/json", 16);
  } else if (stream) {
    /* A streamed chat completion: scanned event by event (sse.c). */
    if (!aipol_sse_begin(s)) log_cstr(PW_LOG_ERROR, "aipol: out of memory");
    s->response_mode = AIPOL_RESPONSE_SSE;
  } else if (json) {
    s->response_mode = AIPOL_RESPONSE_SCAN;
  } else {
    aipol_count("aipol.response.unscanned", 24);
    return;
  }
  /* The body will change: Envoy re-frames it (chunked on HTTP/1.1). */
  aipol_response_header_remove("content-length", 14);
}

/* Replaces the whole buffered body (size bytes) by an OpenAI-format error;
 * counts aipol.denied.<code> like a local reply. */
static void replace_with_error(uint32_t size, const char *type, const char *code,
                               const uint8_t *msg, uint32_t msg_len) {
  uint32_t cl = cstr_len(code), n = 0;
  uint8_t *name = aipol_malloc(13 + (size_t)cl);
  if (name) {
    memcpy(name, "aipol.denied.", 13);
    memcpy(name + 13, code, cl);
    aipol_count((const char *)name, 13 + cl);
    aipol_free(name);
  }
  uint8_t *body = aipol_error_body(type, code, msg, msg_len, &n);
  if (!body) n = 0;
  if (proxy_set_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, size, body ? body : (const uint8_t *)"",
                             n) != PW_OK) {
    log_cstr(PW_LOG_ERROR, "aipol: cannot replace the response body");
  }
  aipol_free(body);
}

static void error_str(uint32_t size, const char *type, const char *code, const char *msg) {
  replace_with_error(size, type, code, (const uint8_t *)msg, cstr_len(msg));
}

static void internal_error(uint32_t size) {
  error_str(size, "server_error", "internal_error",
            "The gateway could not inspect the response.");
}

static void blocked(uint32_t size, const aipol_chat_response *r) {
  static const char pre[] = "The response contains data that this gateway's policy does not "
                            "allow to be returned (detector `";
  static const char post[] = "`).";
  uint8_t msg[sizeof(pre) + 64 + sizeof(post)];
  uint32_t n = 0, nl = r->block_name_len > 64 ? 64 : r->block_name_len;
  memcpy(msg, pre, sizeof(pre) - 1);
  n += sizeof(pre) - 1;
  if (nl) memcpy(msg + n, r->block_name, nl);
  n += nl;
  memcpy(msg + n, post, sizeof(post) - 1);
  n += sizeof(post) - 1;
  replace_with_error(size, "content_filter", r->block_code, msg, n);
}

/* The end of a buffered body: parse, scan, rewrite or replace. */
static void finish(aipol_stream *s, uint32_t size) {
  uint32_t mode = s->response_mode;
  s->response_mode = 0;
  if (mode == AIPOL_RESPONSE_TOO_LARGE) {
    static const char head[] = "The upstream response is too large to be inspected: the limit is ";
    uint8_t msg[sizeof(head) + 32];
    uint32_t o = sizeof(head) - 1;
    memcpy(msg, head, o);
    o += aipol_u64_to_dec(aipol_policy_max_body, msg + o);
    memcpy(msg + o, " bytes.", 7);
    o += 7;
    replace_with_error(size, "server_error", "response_too_large", msg, o);
    return;
  }
  if (mode == AIPOL_RESPONSE_REFUSE) {
    error_str(size, "server_error", "response_not_inspectable",
              "This route inspects responses, and the upstream answered with a body the "
              "gateway cannot inspect (an event stream or a compressed body).");
    return;
  }
  uint8_t *body = 0;
  uint32_t len = 0;
  if (size > 0) {
    if (proxy_get_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, size, &body, &len) != PW_OK) {
      if (body) aipol_free(body);
      log_cstr(PW_LOG_ERROR, "aipol: cannot read the response body");
      internal_error(size);
      return;
    }
    if (!body) len = 0;
  }
  aipol_chat_response resp;
  int rc = aipol_json_parse_response(body, len, &resp);
  if (rc == AIPOL_JSON_NO_MEMORY) {
    log_cstr(PW_LOG_ERROR, "aipol: out of memory");
    internal_error(size);
  } else if (rc != AIPOL_JSON_OK) {
    /* Not a chat completion (an error from the provider, another API's
     * document, invalid JSON): nothing of it is model output. */
    aipol_count("aipol.response.unscanned", 24);
  } else {
    aipol_policy_response_body(s, &resp);
    if (resp.block_code) {
      blocked(size, &resp);
    } else if (resp.edit_error) {
      log_cstr(PW_LOG_ERROR, "aipol: a response edit could not be queued");
      internal_error(size);
    } else if (resp.edit_count) {
      uint32_t new_len = 0;
      uint8_t *edited = aipol_apply_edits(body, len, resp.edits, resp.edit_count, &new_len);
      if (!edited) {
        log_cstr(PW_LOG_ERROR, "aipol: the response edits could not be applied");
        internal_error(size);
      } else {
        if (proxy_set_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, size, edited, new_len) != PW_OK)
          log_cstr(PW_LOG_ERROR, "aipol: cannot replace the response body");
        aipol_free(edited);
      }
    }
  }
  aipol_response_free(&resp);
  if (body) aipol_free(body);
}

uint32_t aipol_response_body(uint32_t ctx, uint32_t body_size, uint32_t end_of_stream) {
  aipol_stream *s = aipol_stream_get(ctx);
  if (!s || !s->response_mode) return PW_CONTINUE;
  if (s->response_mode == AIPOL_RESPONSE_SSE) return aipol_sse_body(s, body_size, end_of_stream);
  if (s->response_mode == AIPOL_RESPONSE_SCAN && body_size > aipol_policy_max_body) {
    s->response_mode = AIPOL_RESPONSE_TOO_LARGE;
    aipol_count("aipol.response.too_large", 24);
    log_cstr(PW_LOG_WARN, "aipol: response body over the inspection limit: replaced by an error");
  }
  if (s->response_mode != AIPOL_RESPONSE_SCAN && body_size > 0) {
    /* Dropped as it arrives: Envoy's buffer never grows past one chunk. */
    proxy_set_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, body_size, (const uint8_t *)"", 0);
    body_size = 0;
  }
  if (!end_of_stream) return PW_STOP; /* StopIterationAndBuffer */
  finish(s, body_size);
  return PW_CONTINUE;
}

uint32_t aipol_response_trailers(uint32_t ctx) {
  aipol_stream *s = aipol_stream_get(ctx);
  if (!s || !s->response_mode) return PW_CONTINUE;
  /* A stream's body is forwarded chunk by chunk: at its trailers the text
   * still held back (at most one window per choice) is dropped, never
   * leaked. */
  if (s->response_mode == AIPOL_RESPONSE_SSE) return PW_CONTINUE;
  /* The body ended without end_of_stream: the buffered body is still ours. */
  uint32_t size = 0;
  uint8_t *probe = 0;
  uint32_t probe_len = 0;
  /* proxy_get_buffer_status is not imported: read the size by asking for
   * everything (the host clamps to the buffer). */
  if (proxy_get_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, 0xFFFFFFFFu, &probe, &probe_len) == PW_OK)
    size = probe ? probe_len : 0;
  if (probe) aipol_free(probe);
  finish(s, size);
  return PW_CONTINUE;
}
