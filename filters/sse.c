/* sse.c — DLP and deny lists on streamed chat completions (see sse.h).
 *
 * proxy-wasm imports used: proxy_get_buffer_bytes, proxy_set_buffer_bytes;
 * through util.c the metric and log calls.
 */
#include "sse.h"

#include "abi.h"
#include "alloc.h"
#include "dlp.h"
#include "json_scan.h"
#include "policy.h"
#include "reply.h"
#include "util.h"

#define KEY_IS(k, klen, lit) ((klen) == sizeof(lit) - 1 && memcmp((k), (lit), (klen)) == 0)

typedef struct {
  uint8_t *p;
  uint32_t len, cap;
  int oom;
} buf;

static void put(buf *b, const void *src, uint32_t n) {
  if (b->oom || !n) return;
  if (b->len + n > b->cap) {
    uint64_t nc = b->cap ? b->cap : 256;
    while (nc < (uint64_t)b->len + n) nc *= 2;
    if (nc > 0x40000000u) {
      b->oom = 1;
      return;
    }
    uint8_t *np = aipol_realloc(b->p, (size_t)nc);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = (uint32_t)nc;
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void puts_(buf *b, const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  put(b, s, n);
}

static void buf_free(buf *b) {
  aipol_free(b->p);
  b->p = 0;
  b->len = b->cap = 0;
}

typedef struct {
  buf text;     /* the choice's text: [0, rel) released context, [rel, len) pending */
  uint32_t rel;
} window;

struct aipol_sse {
  const aipol_dlp *dlps[AIPOL_SSE_MAX_SCANNERS];
  uint32_t ndlp;
  uint32_t hold;
  buf in;          /* bytes of the event not yet complete */
  buf head;        /* "id":..,"object":..,... of the last chunk, for extra events */
  window win[AIPOL_SSE_MAX_CHOICES];
  int ended;       /* blocked or failed: every later byte is dropped */
};

int aipol_sse_begin(aipol_stream *s) {
  aipol_sse_free(s);
  struct aipol_sse *x = aipol_calloc(1, sizeof(struct aipol_sse));
  if (!x) return 0;
  uint32_t n = aipol_policy_response_scanners(s->route, x->dlps, AIPOL_SSE_MAX_SCANNERS);
  x->ndlp = n > AIPOL_SSE_MAX_SCANNERS ? AIPOL_SSE_MAX_SCANNERS : n;
  x->hold = aipol_dlp_hold(x->dlps, x->ndlp);
  s->sse = x;
  return 1;
}

void aipol_sse_free(aipol_stream *s) {
  struct aipol_sse *x = s->sse;
  if (!x) return;
  buf_free(&x->in);
  buf_free(&x->head);
  for (uint32_t i = 0; i < AIPOL_SSE_MAX_CHOICES; i++) buf_free(&x->win[i].text);
  aipol_free(x);
  s->sse = 0;
}

/* ---- ending the stream -------------------------------------------------- */

static void end_with_error(struct aipol_sse *x, buf *out, const char *type, const char *code,
                           const char *msg, const uint8_t *name, uint32_t name_len) {
  static const char post[] = "`).";
  buf m = {0, 0, 0, 0};
  puts_(&m, msg);
  if (name) {
    put(&m, name, name_len > 64 ? 64 : name_len);
    puts_(&m, post);
  }
  uint32_t cl = 0;
  while (code[cl]) cl++;
  uint8_t metric[64];
  if (13 + cl <= sizeof(metric)) {
    memcpy(metric, "aipol.denied.", 13);
    memcpy(metric + 13, code, cl);
    aipol_count((const char *)metric, 13 + cl);
  }
  uint32_t n = 0;
  uint8_t *body = m.oom ? 0 : aipol_error_body(type, code, m.p, m.len, &n);
  buf_free(&m);
  out->oom = 0; /* what was queued before is still sent; the error follows it */
  puts_(out, "data: ");
  if (body) put(out, body, n);
  else puts_(out, "{\"error\":{\"message\":\"\",\"type\":\"server_error\",\"param\":null,"
                  "\"code\":\"internal_error\"}}");
  puts_(out, "\n\ndata: [DONE]\n\n");
  aipol_free(body);
  x->ended = 1;
  buf_free(&x->in);
}

static void fail(struct aipol_sse *x, buf *out) {
  aipol_log3(PW_LOG_ERROR, "aipol: the response stream could not be inspected", 0, 0, 0);
  end_with_error(x, out, "server_error", "internal_error",
                 "The gateway could not inspect the response stream.", 0, 0);
}

static void blocked(struct aipol_sse *x, buf *out, const aipol_dlp_release *r) {
  end_with_error(x, out, "content_filter", r->block_code,
                 "The response contains data that this gateway's policy does not allow to be "
                 "returned (detector `",
                 (const uint8_t *)r->block->name, r->block->name_len);
}

/* ---- windows -------------------------------------------------------------- */

/* Releases what can be released of window w (all of it when final) as a
 * JSON string into *json (aipol_malloc'd). 0 ok, 1 blocked (r), -1 failure. */
static int release(struct aipol_sse *x, window *w, int final, aipol_dlp_release *r,
                   uint8_t **json, uint32_t *json_len) {
  *json = 0;
  *json_len = 0;
  int rc = aipol_dlp_window(x->dlps, x->ndlp, w->text.p, w->text.len, w->rel, x->hold, final, r);
  if (rc) return rc;
  uint32_t cap = 6 * r->text_len + 2;
  uint8_t *j = aipol_malloc(cap);
  if (!j) {
    aipol_free(r->text);
    return -1;
  }
  *json_len = aipol_json_escape(r->text ? r->text : (const uint8_t *)"", r->text_len, j, cap);
  aipol_free(r->text);
  r->text = 0;
  *json = j;
  if (!*json_len) return -1;
  /* Keep `hold` bytes before the release point as context. */
  uint32_t keep_from = r->upto > x->hold ? r->upto - x->hold : 0;
  if (final) {
    w->text.len = 0;
    w->rel = 0;
  } else if (keep_from) {
    memmove(w->text.p, w->text.p + keep_from, w->text.len - keep_from);
    w->text.len -= keep_from;
    w->rel = r->upto - keep_from;
  } else {
    w->rel = r->upto;
  }
  return 0;
}

/* An extra chunk event carrying `json` as choice `index`'s content. */
static void extra_event(struct aipol_sse *x, buf *out, uint32_t index, const uint8_t *json,
                        uint32_t json_len) {
  uint8_t num[24];
  puts_(out, "data: {");
  if (x->head.len) {
    put(out, x->head.p, x->head.len);
    puts_(out, ",");
  } else {
    puts_(out, "\"object\":\"chat.completion.chunk\",");
  }
  puts_(out, "\"choices\":[{\"index\":");
  put(out, num, aipol_u64_to_dec(index, num));
  puts_(out, ",\"delta\":{\"content\":");
  put(out, json, json_len);
  puts_(out, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

/* Flushes every open window (at [DONE] and at the end of the body). */
static void flush_all(struct aipol_sse *x, buf *out) {
  for (uint32_t i = 0; i < AIPOL_SSE_MAX_CHOICES && !x->ended; i++) {
    window *w = &x->win[i];
    if (w->text.len <= w->rel) {
      w->text.len = w->rel = 0;
      continue;
    }
    aipol_dlp_release r;
    uint8_t *json;
    uint32_t jl;
    int rc = release(x, w, 1, &r, &json, &jl);
    if (rc == 1) blocked(x, out, &r);
    else if (rc < 0) fail(x, out);
    else if (jl > 2) extra_event(x, out, i, json, jl);
    aipol_free(json);
  }
}

/* ---- chunk events ------------------------------------------------------- */

typedef struct {
  uint32_t index;
  int has_index;
  uint32_t content_start, content_end; /* the string token, when has_content */
  int has_content;
  int finish;
  int bad;
} choice_info;

typedef struct {
  aipol_jscan sc;
  choice_info ch[AIPOL_SSE_MAX_CHOICES];
  uint32_t nch;
  int too_many;
  uint32_t head_start[5], head_end[5]; /* id, object, created, model, system_fingerprint */
  int object_is_chunk;
} chunk_scan;

static const char *const HEAD_KEYS[5] = {"id", "object", "created", "model",
                                         "system_fingerprint"};

static int index_value(chunk_scan *c, choice_info *ci) {
  aipol_jscan *sc = &c->sc;
  uint32_t start = sc->pos;
  if (!aipol_jscan_skip(sc)) return 0;
  uint64_t v = 0;
  uint32_t i = start;
  for (; i < sc->pos && sc->p[i] >= '0' && sc->p[i] <= '9'; i++) v = v * 10 + (sc->p[i] - '0');
  if (i != sc->pos || i == start || v >= AIPOL_SSE_MAX_CHOICES) ci->bad = 1;
  ci->index = (uint32_t)v;
  ci->has_index = 1;
  return 1;
}

static int delta_object(chunk_scan *c, choice_info *ci) {
  aipol_jscan *sc = &c->sc;
  if (aipol_jscan_peek(sc) != '{') return aipol_jscan_skip(sc);
  if (!aipol_jscan_open(sc)) return 0;
  if (aipol_jscan_peek(sc) != '}') {
    for (;;) {
      uint8_t k[24];
      uint32_t klen;
      if (!aipol_jscan_key(sc, k, sizeof(k), &klen)) return 0;
      if (klen <= sizeof(k) && KEY_IS(k, klen, "content") && aipol_jscan_peek(sc) == '"') {
        uint32_t start = sc->pos, dlen;
        if (!aipol_jscan_string(sc, 0, 0, &dlen)) return 0;
        if (ci->has_content) ci->bad = 1; /* a repeated key: which one would a client read? */
        ci->has_content = 1;
        ci->content_start = start;
        ci->content_end = sc->pos;
      } else if (!aipol_jscan_skip(sc)) {
        return 0;
      }
      int r = aipol_jscan_next(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  return 1;
}

static int choice_object(chunk_scan *c) {
  aipol_jscan *sc = &c->sc;
  choice_info dummy, *ci = &dummy;
  if (c->nch < AIPOL_SSE_MAX_CHOICES) ci = &c->ch[c->nch];
  else c->too_many = 1;
  c->nch++;
  memset(ci, 0, sizeof(*ci));
  if (aipol_jscan_peek(sc) != '{') {
    ci->bad = 1;
    return aipol_jscan_skip(sc);
  }
  if (!aipol_jscan_open(sc)) return 0;
  if (aipol_jscan_peek(sc) != '}') {
    for (;;) {
      uint8_t k[24];
      uint32_t klen;
      if (!aipol_jscan_key(sc, k, sizeof(k), &klen)) return 0;
      int ok;
      if (klen > sizeof(k)) ok = aipol_jscan_skip(sc);
      else if (KEY_IS(k, klen, "index")) ok = index_value(c, ci);
      else if (KEY_IS(k, klen, "delta")) ok = delta_object(c, ci);
      else if (KEY_IS(k, klen, "finish_reason")) {
        ci->finish = aipol_jscan_peek(sc) != 'n';
        ok = aipol_jscan_skip(sc);
      } else ok = aipol_jscan_skip(sc);
      if (!ok) return 0;
      int r = aipol_jscan_next(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  if (!ci->has_index) ci->bad = 1;
  return 1;
}

/* 1: a chat.completion.chunk with a "choices" array; 2: another document
 * with "choices" (model output this path does not know: fail closed); 0:
 * anything else. */
static int scan_chunk(chunk_scan *c, const uint8_t *p, uint32_t n) {
  memset(c, 0, sizeof(*c));
  aipol_jscan *sc = &c->sc;
  sc->p = p;
  sc->len = n;
  aipol_jscan_ws(sc);
  if (aipol_jscan_peek(sc) != '{' || !aipol_jscan_open(sc)) return 0;
  int choices = 0;
  if (aipol_jscan_peek(sc) != '}') {
    for (;;) {
      uint8_t k[24];
      uint32_t klen;
      if (!aipol_jscan_key(sc, k, sizeof(k), &klen)) return 0;
      int ok = -1;
      if (klen <= sizeof(k) && KEY_IS(k, klen, "choices") && aipol_jscan_peek(sc) == '[') {
        choices = 1;
        if (!aipol_jscan_open(sc)) return 0;
        ok = 1;
        if (aipol_jscan_peek(sc) != ']') {
          for (;;) {
            if (!choice_object(c)) return 0;
            int r = aipol_jscan_next(sc, ']');
            if (r < 0) return 0;
            if (r == 0) break;
          }
        }
        sc->pos++;
        sc->depth--;
      }
      for (uint32_t h = 0; h < 5 && ok < 0 && klen <= sizeof(k); h++) {
        uint32_t hl = 0;
        while (HEAD_KEYS[h][hl]) hl++;
        if (klen == hl && memcmp(k, HEAD_KEYS[h], hl) == 0) {
          c->head_start[h] = sc->pos;
          ok = aipol_jscan_skip(sc);
          c->head_end[h] = sc->pos;
          if (h == 1)
            c->object_is_chunk = c->head_end[h] - c->head_start[h] == 23 &&
                                 memcmp(p + c->head_start[h], "\"chat.completion.chunk\"", 23) == 0;
        }
      }
      if (ok < 0) ok = aipol_jscan_skip(sc);
      if (!ok) return 0;
      int r = aipol_jscan_next(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  aipol_jscan_ws(sc);
  if (sc->err || sc->pos != n) return 0;
  if (!choices) return 0;
  return c->object_is_chunk ? 1 : 2;
}

static void save_head(struct aipol_sse *x, const chunk_scan *c, const uint8_t *p) {
  x->head.len = 0;
  x->head.oom = 0;
  for (uint32_t h = 0; h < 5; h++) {
    if (c->head_end[h] == c->head_start[h]) continue;
    if (x->head.len) puts_(&x->head, ",");
    puts_(&x->head, "\"");
    puts_(&x->head, HEAD_KEYS[h]);
    puts_(&x->head, "\":");
    put(&x->head, p + c->head_start[h], c->head_end[h] - c->head_start[h]);
  }
  if (x->head.oom) x->head.len = 0;
}

/* A chat.completion.chunk: its deltas go through the windows. `fields` are
 * the event's other SSE lines (each with its "\n"). */
static void chunk_event(struct aipol_sse *x, buf *out, const uint8_t *data, uint32_t n,
                        chunk_scan *c, const uint8_t *fields, uint32_t fields_len) {
  if (c->too_many) {
    fail(x, out);
    return;
  }
  for (uint32_t i = 0; i < c->nch; i++)
    if (c->ch[i].bad) {
      fail(x, out);
      return;
    }
  save_head(x, c, data);
  buf pre = {0, 0, 0, 0}, ev = {0, 0, 0, 0};
  put(&ev, fields, fields_len);
  puts_(&ev, "data: ");
  uint32_t at = 0;
  int rc = 0;
  for (uint32_t i = 0; i < c->nch && rc == 0; i++) {
    choice_info *ci = &c->ch[i];
    window *w = &x->win[ci->index];
    if (ci->has_content) {
      uint32_t dl;
      uint8_t *d = aipol_json_string_decode(data, ci->content_start, ci->content_end, &dl);
      if (!d) {
        rc = -1;
        break;
      }
      put(&w->text, d, dl);
      aipol_free(d);
      if (w->text.oom) {
        rc = -1;
        break;
      }
    }
    if (!ci->has_content && !(ci->finish && w->text.len > w->rel)) {
      if (ci->finish) w->text.len = w->rel = 0;
      continue;
    }
    aipol_dlp_release r;
    uint8_t *json;
    uint32_t jl;
    rc = release(x, w, ci->finish, &r, &json, &jl);
    if (rc == 1) {
      buf_free(&pre);
      buf_free(&ev);
      blocked(x, out, &r);
      return;
    }
    if (rc < 0) break;
    if (ci->has_content) {
      put(&ev, data + at, ci->content_start - at);
      put(&ev, json, jl);
      at = ci->content_end;
    } else if (jl > 2) {
      x->head.oom = 0;
      extra_event(x, &pre, ci->index, json, jl);
    }
    aipol_free(json);
  }
  put(&ev, data + at, n - at);
  puts_(&ev, "\n\n");
  if (rc < 0 || pre.oom || ev.oom) {
    buf_free(&pre);
    buf_free(&ev);
    fail(x, out);
    return;
  }
  /* One data line: a newline of the original JSON (whitespace between
   * tokens; strings cannot hold one raw) would end it. */
  for (uint32_t i = fields_len + 6; i + 2 < ev.len; i++)
    if (ev.p[i] == '\n' || ev.p[i] == '\r') ev.p[i] = ' ';
  put(out, pre.p, pre.len);
  put(out, ev.p, ev.len);
  buf_free(&pre);
  buf_free(&ev);
}

/* One complete event: raw[0, n) including its terminating blank line. */
static void event(struct aipol_sse *x, buf *out, const uint8_t *raw, uint32_t n) {
  buf data = {0, 0, 0, 0}, fields = {0, 0, 0, 0};
  int has_data = 0;
  uint32_t i = 0;
  while (i < n) {
    uint32_t e = i;
    while (e < n && raw[e] != '\n') e++;
    uint32_t le = e;
    if (le > i && raw[le - 1] == '\r') le--;
    if (le > i && raw[i] != ':') {
      uint32_t colon = i;
      while (colon < le && raw[colon] != ':') colon++;
      if (colon - i == 4 && memcmp(raw + i, "data", 4) == 0) {
        uint32_t v = colon < le ? colon + 1 : le;
        if (v < le && raw[v] == ' ') v++;
        if (has_data) put(&data, "\n", 1);
        put(&data, raw + v, le - v);
        has_data = 1;
      } else {
        put(&fields, raw + i, le - i);
        put(&fields, "\n", 1);
      }
    }
    i = e + 1;
  }
  if (data.oom || fields.oom) {
    fail(x, out);
  } else if (!has_data) {
    put(out, raw, n);
  } else if (data.len == 6 && memcmp(data.p, "[DONE]", 6) == 0) {
    flush_all(x, out);
    if (!x->ended) put(out, raw, n);
  } else {
    chunk_scan *c = aipol_malloc(sizeof(chunk_scan));
    if (!c) fail(x, out);
    else {
      int kind = scan_chunk(c, data.p, data.len);
      if (kind == 0) put(out, raw, n); /* not model output */
      else if (kind == 1) chunk_event(x, out, data.p, data.len, c, fields.p, fields.len);
      else
        end_with_error(x, out, "server_error", "response_not_inspectable",
                       "The upstream stream carries model output in a shape the gateway cannot "
                       "inspect.", 0, 0);
    }
    aipol_free(c);
  }
  buf_free(&data);
  buf_free(&fields);
}

/* The end of the first complete event in p[0, n) (after its blank line),
 * or 0. */
static uint32_t event_end(const uint8_t *p, uint32_t n, uint32_t from) {
  for (uint32_t i = from; i < n; i++) {
    if (p[i] != '\n') continue;
    if (i + 1 < n && p[i + 1] == '\n') return i + 2;
    if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') return i + 3;
  }
  return 0;
}

static void feed(struct aipol_sse *x, buf *out, const uint8_t *chunk, uint32_t len, int eos) {
  put(&x->in, chunk, len);
  if (x->in.oom) {
    fail(x, out);
    return;
  }
  uint32_t at = 0;
  for (;;) {
    uint32_t e = event_end(x->in.p, x->in.len, at);
    if (!e) break;
    event(x, out, x->in.p + at, e - at);
    if (x->ended) return;
    at = e;
  }
  if (at) {
    memmove(x->in.p, x->in.p + at, x->in.len - at);
    x->in.len -= at;
  }
  if (eos && x->in.len) { /* the last event lacks its blank line */
    event(x, out, x->in.p, x->in.len);
    if (x->ended) return;
    x->in.len = 0;
  }
  if (x->in.len > aipol_policy_max_body) {
    aipol_count("aipol.response.too_large", 24);
    end_with_error(x, out, "server_error", "response_too_large",
                   "An event of the upstream response stream is too large to be inspected.", 0,
                   0);
    return;
  }
  if (eos) flush_all(x, out);
}

uint32_t aipol_sse_body(aipol_stream *s, uint32_t body_size, uint32_t end_of_stream) {
  struct aipol_sse *x = s->sse;
  buf out = {0, 0, 0, 0};
  uint8_t *chunk = 0;
  uint32_t len = 0;
  if (!x) {
    /* Out of memory at the headers: nothing can be inspected. */
    puts_(&out, "data: {\"error\":{\"message\":\"The gateway could not inspect the response "
                "stream.\",\"type\":\"server_error\",\"param\":null,\"code\":\"internal_error\"}}"
                "\n\ndata: [DONE]\n\n");
    s->response_mode = 0;
  } else if (!x->ended && body_size > 0) {
    if (proxy_get_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, body_size, &chunk, &len) != PW_OK) {
      if (chunk) aipol_free(chunk);
      chunk = 0;
      fail(x, &out);
    } else {
      feed(x, &out, chunk ? chunk : (const uint8_t *)"", chunk ? len : 0, end_of_stream);
    }
  } else if (!x->ended && end_of_stream) {
    feed(x, &out, (const uint8_t *)"", 0, 1);
  }
  if (out.oom) { /* the error event could not be queued: send at least the end */
    buf_free(&out);
    puts_(&out, "data: [DONE]\n\n");
    if (x) x->ended = 1;
  }
  if (body_size > 0 || out.len) {
    if (proxy_set_buffer_bytes(PW_BUFFER_RESPONSE_BODY, 0, body_size,
                               out.p ? out.p : (const uint8_t *)"", out.len) != PW_OK)
      aipol_log3(PW_LOG_ERROR, "aipol: cannot replace the response body", 0, 0, 0);
  }
  if (chunk) aipol_free(chunk);
  buf_free(&out);
  return PW_CONTINUE;
}
