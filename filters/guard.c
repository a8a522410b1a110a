/* guard.c — prompt_guard injection (see guard.h): normalisation, leet view,
 * base64 decode-and-rescan and the compressed per-pattern scanners, step for
 * step as the Python reference compiler/injection.py specifies them.
 *
 * proxy-wasm imports used: none directly (reply.c sends the block reply,
 * util.c counts metrics and logs).
 */
#include "guard.h"

#include "abi.h"
#include "alloc.h"
#include "policy.h"
#include "util.h"

/* ---- normalisation (injection.normalise) -------------------------------- */

typedef struct {
  uint32_t zero_width_in_word, mixed_script_words, tag_run;
} counts;

typedef struct {
  uint8_t *out;
  uint32_t n;
  uint32_t zw_pending;
  int word_ascii, word_glyph;
  counts *c;
} norm_state;

static int is_letter(uint8_t b) { return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'); }

static void emit(norm_state *st, uint8_t b, int glyph, int store) {
  if (st->zw_pending && is_letter(b)) st->c->zero_width_in_word += st->zw_pending;
  st->zw_pending = 0;
  if (is_letter(b) || b >= 0x80) {
    if (glyph)
      st->word_glyph = 1;
    else if (is_letter(b))
      st->word_ascii = 1;
  } else {
    if (st->word_ascii && st->word_glyph) st->c->mixed_script_words++;
    st->word_ascii = st->word_glyph = 0;
  }
  if (store) st->out[st->n++] = b;
}

static int is_zero_width(const uint8_t *d, uint32_t i, uint32_t n) {
  if (i + 2 >= n) return 0;
  uint8_t a = d[i], b = d[i + 1], c = d[i + 2];
  if (a == 0xE2 && b == 0x80 && (c == 0x8B || c == 0x8C || c == 0x8D)) return 1;
  if (a == 0xE2 && b == 0x81 && c == 0xA0) return 1;
  return a == 0xEF && b == 0xBB && c == 0xBF;
}

/* Writes the normalised text to out (capacity >= n) and returns its length. */
static uint32_t normalise(const aipol_guard_model *m, const uint8_t *d, uint32_t n, uint8_t *out,
                          counts *c) {
  norm_state st = {out, 0, 0, 0, 0, c};
  uint32_t run = 0, i = 0;
  while (i < n) {
    uint8_t b0 = d[i];
    if ((b0 == 0xE2 || b0 == 0xEF) && is_zero_width(d, i, n)) {
      if (st.n && is_letter(out[st.n - 1])) st.zw_pending++;
      i += 3;
      continue;
    }
    if (b0 == 0xF3 && i + 3 < n && d[i + 1] == 0xA0 && (d[i + 2] == 0x80 || d[i + 2] == 0x81)) {
      uint8_t b2 = d[i + 2], b3 = d[i + 3];
      uint8_t tag;
      i += 4;
      if (b2 == 0x80 && b3 >= 0xA0 && b3 <= 0xBF)
        tag = (uint8_t)(b3 - 0x80);
      else if (b2 == 0x81 && b3 >= 0x80 && b3 <= 0xBE)
        tag = (uint8_t)(b3 - 0x40);
      else {
        run = 0;
        continue;
      }
      run++;
      if (run > c->tag_run) c->tag_run = run;
      emit(&st, tag, 0, 1);
      continue;
    }
    run = 0;
    if (b0 == 0xEF && i + 2 < n) {
      uint8_t b1 = d[i + 1], b2 = d[i + 2];
      if ((b1 == 0xBC && ((b2 >= 0x90 && b2 <= 0x99) || (b2 >= 0xA1 && b2 <= 0xBA))) ||
          (b1 == 0xBD && b2 >= 0x81 && b2 <= 0x9A)) {
        emit(&st, (uint8_t)((((b1 & 0x03) << 6) | (b2 & 0x3F)) + 0x20), 0, 1);
        i += 3;
        continue;
      }
    }
    if (b0 >= 0xC0 && b0 < 0xE0 && i + 1 < n) {
      int found = 0;
      for (uint32_t k = 0; k < m->nhomoglyphs; k++) {
        const uint8_t *h = m->homoglyphs + 3 * k;
        if (h[0] == b0 && h[1] == d[i + 1]) {
          emit(&st, h[2], 1, 1);
          found = 1;
          break;
        }
      }
      if (found) {
        i += 2;
        continue;
      }
    }
    emit(&st, b0, 0, 1);
    i++;
  }
  emit(&st, 0x20, 0, 0); /* the end of the text ends the last word */
  return st.n;
}

/* ---- leet view (injection.leet_view) ------------------------------------ */

static int is_leet_word(uint8_t b) {
  return is_letter(b) || (b >= '0' && b <= '9') || b == '@' || b == '$';
}

static uint8_t leet(uint8_t b) {
  switch (b) {
    case '0': return 'o';
    case '1': return 'i';
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '@': return 'a';
    case '$': return 's';
    default: return b;
  }
}

/* out = the leet view of t[0, n); returns 1 if it differs from t. */
static int leet_view(const uint8_t *t, uint32_t n, uint8_t *out) {
  int changed = 0;
  uint32_t i = 0;
  while (i < n) {
    if (!is_leet_word(t[i])) {
      out[i] = t[i];
      i++;
      continue;
    }
    uint32_t j = i, letter = 0;
    while (j < n && is_leet_word(t[j])) letter |= is_letter(t[j++]);
    for (uint32_t k = i; k < j; k++) {
      uint8_t b = t[k];
      if (letter && !(k == i && (b == '@' || b == '$'))) b = leet(b);
      changed |= b != t[k];
      out[k] = b;
    }
    i = j;
  }
  return changed;
}

/* ---- the scanners -------------------------------------------------------- */

static uint32_t rd(const uint8_t *p, uint32_t w) { return w == 1 ? p[0] : (uint32_t)(p[0] | (p[1] << 8)); }

/* The pair for column col in state s's record, or -1. */
static int32_t exception(const aipol_guard_scanner *g, uint32_t s, uint32_t col, uint32_t *base,
                         uint32_t *dflt) {
  uint32_t w = g->wide ? 2 : 1;
  const uint8_t *p = g->recs + g->offs[s];
  const uint8_t *end = g->recs + g->offs[s + 1];
  *base = rd(p, w);
  *dflt = rd(p + w, w);
  for (p += 2 * w; p < end; p += 1 + w)
    if (p[0] == col) return (int32_t)rd(p + 1, w);
  return -1;
}

static uint32_t next_state(const aipol_guard_scanner *g, uint32_t s, uint32_t col) {
  uint32_t base, dflt;
  int32_t t = exception(g, s, col, &base, &dflt);
  if (t >= 0) return (uint32_t)t;
  if (base == s) return dflt;
  t = exception(g, base, col, &base, &dflt);
  return t >= 0 ? (uint32_t)t : dflt;
}

static int scanner_matches(const aipol_guard_scanner *g, const uint8_t *t, uint32_t n) {
  uint32_t s = g->start;
  if (s >= g->first_accept) return 1;
  for (uint32_t i = 0; i < n; i++) {
    s = next_state(g, s, g->classes[t[i]]);
    if (s >= g->first_accept) return 1;
  }
  return 0;
}

/* Families matched by `framed` ("\n" + view + "\n"), or-ed into *fam. */
static void scan_view(const aipol_guard_model *m, const uint8_t *framed, uint32_t n, uint64_t *fam) {
  for (uint32_t k = 0; k < m->nscan; k++) {
    const aipol_guard_scanner *g = &m->scan[k];
    if (*fam >> g->family & 1) continue;
    if (scanner_matches(g, framed, n)) *fam |= 1ull << g->family;
  }
}

/* Steps 1-3 for a normalised text held at buf[1, 1 + n) of a buffer with room
 * for n + 2 bytes; leet is another buffer of n + 2 bytes. */
static uint64_t scan_norm(const aipol_guard_model *m, uint8_t *buf, uint32_t n, uint8_t *leetbuf) {
  uint64_t fam = 0;
  buf[0] = '\n';
  buf[n + 1] = '\n';
  scan_view(m, buf, n + 2, &fam);
  if (leet_view(buf + 1, n, leetbuf + 1)) {
    leetbuf[0] = '\n';
    leetbuf[n + 1] = '\n';
    scan_view(m, leetbuf, n + 2, &fam);
  }
  return fam;
}

/* ---- base64 (injection.decode_b64_run, is_text) ------------------------- */

static int b64_value(uint8_t b) {
  if (b >= 'A' && b <= 'Z') return b - 'A';
  if (b >= 'a' && b <= 'z') return b - 'a' + 26;
  if (b >= '0' && b <= '9') return b - '0' + 52;
  if (b == '+') return 62;
  if (b == '/') return 63;
  return -1;
}

static uint32_t b64_decode(const uint8_t *p, uint32_t n, uint8_t *out) {
  if (n % 4 == 1) n--;
  uint32_t o = 0, acc = 0, bits = 0;
  for (uint32_t i = 0; i < n; i++) {
    acc = (acc << 6) | (uint32_t)b64_value(p[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o;
}

static int is_text(const uint8_t *d, uint32_t n) {
  uint32_t i = 0;
  while (i < n) {
    uint8_t b = d[i];
    if (b < 0x80) {
      if ((b < 0x20 && b != 9 && b != 10 && b != 13) || b == 0x7F) return 0;
      i++;
      continue;
    }
    uint32_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
      need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else
      return 0;
    for (uint32_t k = 0; k < need; k++) {
      if (i + 1 + k >= n) return 1; /* truncated final sequence */
      uint8_t c = d[i + 1 + k];
      if (k == 0 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
    }
    i += 1 + need;
  }
  return 1;
}

#define B64_MAX_DECODED 768 /* B64_MAX_CHARS (1024) * 3 / 4 */

/* ---- the score ------------------------------------------------------------ */

uint32_t aipol_guard_score(const aipol_guard_model *m, const uint8_t *text, uint32_t len,
                           uint64_t *families, uint32_t *features) {
  counts c = {0, 0, 0};
  uint64_t fam = 0, dec = 0;
  uint32_t feat = 0, blobs = 0;
  *families = 0;
  *features = 0;
  uint8_t *buf = aipol_malloc(len + 2);
  uint8_t *lbuf = aipol_malloc(len + 2);
  if (!buf || !lbuf) {
    aipol_free(buf);
    aipol_free(lbuf);
    return AIPOL_GUARD_OOM;
  }
  uint32_t n = normalise(m, text, len, buf + 1, &c);
  /* Base64 runs of the normalised text (before the scan frames it). */
  const uint8_t *norm = buf + 1;
  uint32_t runs = 0, i = 0;
  uint32_t max_chars = m->b64_max_chars > 1024 ? 1024 : m->b64_max_chars;
  while (i < n) {
    if (b64_value(norm[i]) < 0) {
      i++;
      continue;
    }
    uint32_t j = i;
    while (j < n && b64_value(norm[j]) >= 0) j++;
    uint32_t body = j - i;
    uint32_t e = j;
    while (e < n && e < j + 2 && norm[e] == '=') e++;
    if (body >= m->b64_min_run) {
      if (body >= m->b64_blob_run) blobs++;
      if (runs < m->b64_max_runs) {
        runs++;
        uint8_t raw[B64_MAX_DECODED + 2], nb[B64_MAX_DECODED + 2], lb[B64_MAX_DECODED + 2];
        uint32_t rn = b64_decode(norm + i, body < max_chars ? body : max_chars, raw);
        if (rn >= m->b64_min_decoded && is_text(raw, rn)) {
          counts ignored = {0, 0, 0};
          uint32_t nn = normalise(m, raw, rn, nb + 1, &ignored);
          dec |= scan_norm(m, nb, nn, lb);
        }
      }
    }
    i = e;
  }
  fam = scan_norm(m, buf, n, lbuf);
  aipol_free(buf);
  aipol_free(lbuf);
  fam |= dec;
  uint32_t values[AIPOL_GUARD_NFEATURES] = {c.zero_width_in_word, c.mixed_script_words, c.tag_run,
                                            blobs, dec ? 1u : 0u};
  uint32_t total = 0;
  for (uint32_t f = 0; f < m->nfamilies; f++)
    if (fam >> f & 1) total += m->families[f].weight;
  for (uint32_t f = 0; f < AIPOL_GUARD_NFEATURES; f++)
    if (values[f] >= m->feature_min[f]) {
      feat |= 1u << f;
      total += m->features[f].weight;
    }
  *families = fam;
  *features = feat;
  return total > 100 ? 100 : total;
}

/* ---- the request ----------------------------------------------------------- */

static uint32_t put(uint8_t *out, uint32_t at, uint32_t cap, const char *s, uint32_t n) {
  for (uint32_t i = 0; i < n && at < cap; i++) out[at++] = (uint8_t)s[i];
  return at;
}

/* "<f1>, <f2>, ..." into out; returns the length. */
static uint32_t names(const aipol_guard_model *m, uint64_t fam, uint32_t feat, uint8_t *out,
                      uint32_t at, uint32_t cap) {
  int first = 1;
  for (uint32_t f = 0; f < m->nfamilies; f++) {
    if (!(fam >> f & 1)) continue;
    if (!first) at = put(out, at, cap, ", ", 2);
    at = put(out, at, cap, m->families[f].name, m->families[f].name_len);
    first = 0;
  }
  for (uint32_t f = 0; f < AIPOL_GUARD_NFEATURES; f++) {
    if (!(feat >> f & 1)) continue;
    if (!first) at = put(out, at, cap, ", ", 2);
    at = put(out, at, cap, m->features[f].name, m->features[f].name_len);
    first = 0;
  }
  return at;
}

int aipol_guard_request(aipol_stream *s, const aipol_chat_request *req, const aipol_guard *g) {
  if (!req) return AIPOL_CONTINUE;
  for (uint32_t i = 0; i < req->text_count; i++) {
    const aipol_text *t = &req->texts[i];
    if (t->role != AIPOL_ROLE_USER && t->role != AIPOL_ROLE_TOOL) continue;
    uint32_t len = 0;
    uint8_t *text = aipol_text_decode(req, t, &len);
    uint64_t fam = 0;
    uint32_t feat = 0;
    uint32_t score = text ? aipol_guard_score(g->model, text, len, &fam, &feat) : AIPOL_GUARD_OOM;
    aipol_free(text);
    if (score == AIPOL_GUARD_OOM) {
      if (g->mode != AIPOL_GUARD_BLOCK) continue;
      static const char msg[] = "The gateway ran out of memory while inspecting the request.";
      return aipol_send_error(s, 500, "server_error", "internal_error", (const uint8_t *)msg,
                              sizeof(msg) - 1);
    }
    if (score < g->threshold) continue;
    uint8_t buf[768];
    uint32_t n = 0;
    if (g->mode == AIPOL_GUARD_BLOCK) {
      static const char head[] = "The request was refused: it looks like a prompt injection (";
      n = put(buf, n, sizeof buf, head, sizeof(head) - 1);
      n = names(g->model, fam, feat, buf, n, sizeof buf - 2);
      n = put(buf, n, sizeof buf, ").", 2);
      return aipol_send_error(s, 400, "invalid_request_error", "prompt_injection", buf, n);
    }
    aipol_count(g->metric, g->metric_len);
    n = names(g->model, fam, feat, buf, 0, sizeof buf - 1);
    buf[n] = 0;
    aipol_log3(PW_LOG_WARN, "aipol: prompt_guard: possible prompt injection: ", buf, n, 0);
    return AIPOL_CONTINUE; /* counted once per request */
  }
  return AIPOL_CONTINUE;
}
