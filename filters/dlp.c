/* dlp.c — data loss prevention on message text (see dlp.h).
 *
 * proxy-wasm imports used: none directly (reply.c sends the block reply,
 * util.c counts metrics and logs).
 */
#include "dlp.h"

#include "abi.h"
#include "alloc.h"
#include "policy.h"
#include "util.h"
#include "validate.h"

#define STACK_MATCHES 32

static const uint8_t DEFAULT_KEY[] = "aipol-dlp-hash-key";
static uint8_t *hash_key = 0;
static uint32_t hash_key_len = 0;

void aipol_dlp_set_hash_key(const uint8_t *key, uint32_t len) {
  if (hash_key) aipol_free(hash_key);
  hash_key = 0;
  hash_key_len = 0;
  if (!len) return;
  hash_key = aipol_malloc(len);
  if (!hash_key) return;
  memcpy(hash_key, key, len);
  hash_key_len = len;
}

static const char *ACTION_WORD[] = {" redacted", " masked", " hashed", " blocked", " logged"};

static void count(const aipol_dlp_rule *rule) {
  aipol_count(rule->metric, rule->metric_len);
  aipol_log3(PW_LOG_INFO, "aipol: dlp: ", (const uint8_t *)rule->name, rule->name_len,
             rule->action <= AIPOL_DLP_LOG ? ACTION_WORD[rule->action] : "");
}

/* Bytes the action writes in place of a match of `len` bytes. */
static uint32_t replacement_len(const aipol_dlp_rule *rule, uint32_t len) {
  switch (rule->action) {
    case AIPOL_DLP_REDACT: return 11 + rule->label_len; /* [REDACTED:<label>] */
    case AIPOL_DLP_MASK: return len;
    default: return rule->label_len + 11; /* [<label>:<hex8>] */
  }
}

static uint32_t write_replacement(const aipol_dlp_rule *rule, const uint8_t *match, uint32_t len,
                                  uint8_t *out, uint32_t cap) {
  if (rule->action == AIPOL_DLP_REDACT) {
    uint32_t n = replacement_len(rule, len);
    if (n > cap) return 0;
    memcpy(out, "[REDACTED:", 10);
    memcpy(out + 10, rule->label, rule->label_len);
    out[n - 1] = ']';
    return n;
  }
  if (rule->action == AIPOL_DLP_MASK) return aipol_mask_keep_last4(match, len, out, cap);
  const uint8_t *key = hash_key ? hash_key : DEFAULT_KEY;
  uint32_t key_len = hash_key ? hash_key_len : sizeof(DEFAULT_KEY) - 1;
  return aipol_hash_token((const uint8_t *)rule->label, rule->label_len, key, key_len, match, len,
                          out, cap);
}

static int blocked(aipol_stream *s, const aipol_dlp_rule *rule, const char *code) {
  static const char pre[] = "The request contains data that this gateway's policy does not allow"
                            " to be sent (detector `";
  static const char post[] = "`).";
  uint8_t msg[sizeof(pre) + 64 + sizeof(post)];
  uint32_t n = 0, nl = rule->name_len > 64 ? 64 : rule->name_len;
  memcpy(msg, pre, sizeof(pre) - 1);
  n += sizeof(pre) - 1;
  memcpy(msg + n, rule->name, nl);
  n += nl;
  memcpy(msg + n, post, sizeof(post) - 1);
  n += sizeof(post) - 1;
  return aipol_send_error(s, 400, "invalid_request_error", code, msg, n);
}

static int internal_error(aipol_stream *s) {
  static const char msg[] = "The gateway ran out of memory while inspecting the request.";
  return aipol_send_error(s, 500, "server_error", "internal_error", (const uint8_t *)msg,
                          sizeof(msg) - 1);
}

/* The outcome of scanning one text token. */
typedef struct {
  const aipol_dlp_rule *block; /* a block rule matched */
  uint8_t *json;               /* the rewritten token (a JSON string), or NULL */
  uint32_t json_len;
  int oom;                     /* out of memory */
} scan_out;

/* Scans the string token t of `body`: counts what it acts on, and computes
 * the rewrite of the token or the block. */
static void scan_core(const uint8_t *body, const aipol_text *t, const aipol_dlp *dlp,
                      scan_out *o) {
  uint32_t n;
  uint8_t *d = aipol_json_string_decode(body, t->start, t->end, &n);
  if (!d) {
    o->oom = 1;
    return;
  }
  aipol_match stack[STACK_MATCHES], *m = stack;
  uint32_t found = aipol_dfa_find(dlp->set, d, n, m, STACK_MATCHES);
  if (found > STACK_MATCHES) {
    m = aipol_malloc(found * sizeof(aipol_match));
    if (!m) {
      aipol_free(d);
      o->oom = 1;
      return;
    }
    found = aipol_dfa_find(dlp->set, d, n, m, found);
  }
  /* Keep the matches to act on: role and checksum pass, leftmost first,
   * no overlap with one already kept (matches come sorted by start). */
  uint32_t kept = 0, last_end = 0, out_len = n;
  for (uint32_t i = 0; i < found; i++) {
    const aipol_dlp_rule *rule = &dlp->rules[m[i].pattern];
    const uint8_t *text = d + m[i].start;
    uint32_t len = m[i].end - m[i].start;
    if (!(rule->roles & (1u << t->role))) continue;
    if (rule->validator && !aipol_validate(rule->validator, text, len)) continue;
    if (rule->action == AIPOL_DLP_BLOCK) {
      count(rule);
      o->block = rule;
      kept = 0;
      break;
    }
    if (rule->action == AIPOL_DLP_LOG) {
      count(rule);
      continue;
    }
    if (kept && m[i].start < last_end) continue;
    count(rule);
    out_len = out_len - len + replacement_len(rule, len);
    last_end = m[i].end;
    m[kept++] = m[i];
  }
  if (kept) {
    uint8_t *out = aipol_malloc(out_len ? out_len : 1);
    uint8_t *json = out ? aipol_malloc(6 * out_len + 2) : 0;
    if (!json) {
      aipol_free(out);
      o->oom = 1;
    } else {
      uint32_t w = 0, at = 0;
      for (uint32_t i = 0; i < kept; i++) {
        memcpy(out + w, d + at, m[i].start - at);
        w += m[i].start - at;
        const aipol_dlp_rule *rule = &dlp->rules[m[i].pattern];
        w += write_replacement(rule, d + m[i].start, m[i].end - m[i].start, out + w, out_len - w);
        at = m[i].end;
      }
      memcpy(out + w, d + at, n - at);
      w += n - at;
      uint32_t jl = aipol_json_escape(out, w, json, 6 * out_len + 2);
      aipol_free(out);
      if (!jl) {
        aipol_free(json);
        o->oom = 1;
      } else {
        o->json = json;
        o->json_len = jl;
      }
    }
  }
  if (m != stack) aipol_free(m);
  aipol_free(d);
}

/* Scans one text token; queues its rewrite. AIPOL_STOP after a block reply. */
static int scan_text(aipol_stream *s, const aipol_chat_request *req, const aipol_text *t,
                     const aipol_dlp *dlp) {
  scan_out o = {0, 0, 0, 0};
  scan_core(req->body, t, dlp, &o);
  if (o.block) return blocked(s, o.block, dlp->block_code);
  if (o.oom) return internal_error(s);
  if (o.json) aipol_chat_replace_text(s, t, o.json, o.json_len);
  return AIPOL_CONTINUE;
}

int aipol_dlp_request(aipol_stream *s, const aipol_chat_request *req, const aipol_dlp *dlp) {
  if (!req) return AIPOL_CONTINUE;
  for (uint32_t i = 0; i < req->text_count; i++)
    if (scan_text(s, req, &req->texts[i], dlp) == AIPOL_STOP) return AIPOL_STOP;
  return AIPOL_CONTINUE;
}

int aipol_dlp_response(aipol_stream *s, aipol_chat_response *resp, const aipol_dlp *dlp) {
  (void)s;
  if (!resp || resp->block_code) return AIPOL_STOP;
  for (uint32_t i = 0; i < resp->text_count; i++) {
    const aipol_text *t = &resp->texts[i];
    scan_out o = {0, 0, 0, 0};
    scan_core(resp->body, t, dlp, &o);
    if (o.block) {
      aipol_free(o.json);
      aipol_response_block(resp, dlp->block_code, o.block->name, o.block->name_len);
      return AIPOL_STOP;
    }
    if (o.oom) {
      resp->edit_error = 1;
      return AIPOL_STOP;
    }
    if (o.json) aipol_response_replace_text(resp, t, o.json, o.json_len);
  }
  return resp->edit_error ? AIPOL_STOP : AIPOL_CONTINUE;
}

/* ---- streaming (sse.c) -------------------------------------------------- */

uint32_t aipol_dlp_hold(const aipol_dlp *const *dlps, uint32_t n) {
  uint32_t h = 0;
  for (uint32_t d = 0; d < n; d++) {
    const aipol_dfa_set *set = dlps[d]->set;
    for (uint32_t i = 0; i < set->npatterns; i++) {
      uint32_t m = set->patterns[i].max_len;
      if (m == AIPOL_DFA_NONE || m > AIPOL_DLP_STREAM_CAP) m = AIPOL_DLP_STREAM_CAP;
      if (m > h) h = m;
    }
  }
  return h + 1; /* the byte after a match decides a trailing \b */
}

typedef struct {
  aipol_match m;
  const aipol_dlp *dlp;
} wmatch;

int aipol_dlp_window(const aipol_dlp *const *dlps, uint32_t ndlp, const uint8_t *text,
                     uint32_t len, uint32_t rel, uint32_t hold, int final, aipol_dlp_release *r) {
  r->upto = rel;
  r->text = 0;
  r->text_len = 0;
  r->block = 0;
  r->block_code = 0;
  /* Matches starting before `limit` are complete: a bounded match is at most
   * hold - 1 bytes, and the byte after it is in the window. */
  uint32_t limit = final ? len : (len > rel + hold ? len - hold : rel);
  int forced = len - rel > AIPOL_DLP_STREAM_MAX_PENDING;
  if (limit <= rel && !final) return 0;
  uint32_t total = 0, cap = 0;
  wmatch *all = 0;
  for (uint32_t d = 0; d < ndlp; d++) {
    aipol_match stack[STACK_MATCHES], *m = stack;
    uint32_t found = aipol_dfa_find(dlps[d]->set, text, len, m, STACK_MATCHES);
    if (found > STACK_MATCHES) {
      m = aipol_malloc(found * sizeof(aipol_match));
      if (!m) goto oom;
      found = aipol_dfa_find(dlps[d]->set, text, len, m, found);
    }
    for (uint32_t i = 0; i < found; i++) {
      if (m[i].start < rel || m[i].start >= limit) continue;
      if (total == cap) {
        uint32_t nc = cap ? cap * 2 : 16;
        wmatch *na = aipol_realloc(all, nc * sizeof(wmatch));
        if (!na) {
          if (m != stack) aipol_free(m);
          goto oom;
        }
        all = na;
        cap = nc;
      }
      /* Insertion by start, stable across scanners (their order). */
      uint32_t at = total++;
      while (at > 0 && all[at - 1].m.start > m[i].start) {
        all[at] = all[at - 1];
        at--;
      }
      all[at].m = m[i];
      all[at].dlp = dlps[d];
    }
    if (m != stack) aipol_free(m);
  }
  uint32_t upto = limit, kept = 0, last_end = rel, out_len = 0;
  for (uint32_t i = 0; i < total; i++) {
    const aipol_match *m = &all[i].m;
    const aipol_dlp_rule *rule = &all[i].dlp->rules[m->pattern];
    if (m->start >= upto) break;
    if (!(rule->roles & (1u << AIPOL_ROLE_ASSISTANT))) continue;
    uint32_t mlen = m->end - m->start;
    if (rule->validator && !aipol_validate(rule->validator, text + m->start, mlen)) continue;
    if (!final && !forced && m->end >= len) {
      /* An unbounded pattern's match reaching the end of the window may
       * still grow: hold it back from its start. */
      upto = m->start;
      break;
    }
    if (rule->action == AIPOL_DLP_BLOCK) {
      count(rule);
      r->block = rule;
      r->block_code = all[i].dlp->block_code;
      aipol_free(all);
      return 1;
    }
    if (rule->action == AIPOL_DLP_LOG) {
      count(rule);
      continue;
    }
    if (kept && m->start < last_end) continue;
    count(rule);
    out_len += replacement_len(rule, mlen) - mlen;
    last_end = m->end;
    if (m->end > upto) upto = m->end;
    all[kept++] = all[i];
  }
  /* Never split a UTF-8 sequence: the released text is JSON-escaped alone. */
  while (upto > last_end && upto < len && (text[upto] & 0xC0) == 0x80) upto--;
  out_len += upto - rel;
  uint8_t *out = aipol_malloc(out_len ? out_len : 1);
  if (!out) goto oom;
  uint32_t w = 0, at = rel;
  for (uint32_t i = 0; i < kept; i++) {
    const aipol_match *m = &all[i].m;
    memcpy(out + w, text + at, m->start - at);
    w += m->start - at;
    w += write_replacement(&all[i].dlp->rules[m->pattern], text + m->start, m->end - m->start,
                           out + w, out_len - w);
    at = m->end;
  }
  memcpy(out + w, text + at, upto - at);
  w += upto - at;
  aipol_free(all);
  r->upto = upto;
  r->text = out;
  r->text_len = w;
  return 0;
oom:
  aipol_free(all);
  return -1;
}
