/* json.c — strict JSON (RFC 8259) validation and extraction of the fields
 * of an OpenAI chat request; JSON string escaping; body edits.
 *
 * proxy-wasm imports used: none (pure functions over byte buffers).
 *
 * The parser is recursive descent with an explicit depth limit
 * (AIPOL_JSON_MAX_DEPTH), so its stack use is bounded whatever the input.
 * Errors are ordered: a syntax error (or TOO_DEEP / NO_MEMORY) wins over a
 * top level that is not an object, which wins over a field of the wrong type
 * (field errors are recorded and the scan goes on, so the whole document is
 * always validated).
 */
#include "json.h"
#include "json_scan.h"
#include "alloc.h"
#include "policy.h"
#include "util.h"

/* ---- UTF-8 ------------------------------------------------------------ */

#define BAD_CP 0xFFFFFFFFu

/* Decodes one UTF-8 sequence at p[0..n) (n >= 1). Returns the bytes consumed
 * and the code point in *cp; for an ill-formed sequence *cp = BAD_CP and the
 * length of its maximal subpart is consumed (at least 1 byte), which is the
 * Unicode-recommended unit for one U+FFFD (as Python's "replace" does). */
static uint32_t utf8_decode(const uint8_t *p, uint32_t n, uint32_t *cp) {
  uint8_t b0 = p[0];
  uint32_t need, c;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;      /* no overlongs */
    if (b0 == 0xED) hi = 0x9F;      /* no surrogates */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;      /* no overlongs */
    if (b0 == 0xF4) hi = 0x8F;      /* <= U+10FFFF */
  } else {
    *cp = BAD_CP;
    return 1;
  }
  for (uint32_t i = 1; i <= need; i++) {
    if (i >= n || p[i] < lo || p[i] > hi) {
      *cp = BAD_CP;
      return i;
    }
    c = (c << 6) | (p[i] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = c;
  return need + 1;
}

static uint32_t utf8_encode(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | (cp >> 6));
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | (cp >> 12));
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | (cp >> 18));
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- scanner ---------------------------------------------------------- */

/* The scanner state (json_scan.h exposes it with the scanning primitives). */
typedef aipol_jscan scanner;

/* A growable byte buffer (content parts are joined into one). */
typedef struct {
  uint8_t *p;
  uint32_t len, cap;
} buf;

static int buf_reserve(buf *b, uint32_t more) {
  if (b->cap - b->len >= more) return 1;
  uint64_t want = (uint64_t)b->len + more;
  uint64_t cap = b->cap ? b->cap : 64;
  while (cap < want) cap *= 2;
  if (cap > 0x40000000u) return 0;
  uint8_t *q = aipol_realloc(b->p, (size_t)cap);
  if (!q) return 0;
  b->p = q;
  b->cap = (uint32_t)cap;
  return 1;
}

static int buf_append(buf *b, const void *p, uint32_t n) {
  if (!buf_reserve(b, n)) return 0;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 1;
}

static inline void fail(scanner *sc, int e) {
  if (!sc->err) sc->err = e;
}

static inline void bad_field(scanner *sc, const char *field) {
  if (!sc->field_err) {
    sc->field_err = AIPOL_JSON_BAD_FIELD;
    sc->field = field;
  }
}

static void skip_ws(scanner *sc) {
  while (sc->pos < sc->len) {
    uint8_t c = sc->p[sc->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    sc->pos++;
  }
}

/* The next byte, or -1 at the end of input. */
static inline int peek(scanner *sc) { return sc->pos < sc->len ? sc->p[sc->pos] : -1; }

static int hex4(const uint8_t *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = p[i];
    uint32_t d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return 0;
    v = v << 4 | d;
  }
  *out = v;
  return 1;
}

/* Length of the run of plain string bytes at p[0..n): printable ASCII other
 * than '"' and '\\', which a string holds as they are. Eight bytes at a
 * time (SWAR): chat content is mostly such runs, and the byte-by-byte loop
 * below made the JSON parse the largest piece of the filter's own CPU. */
static uint32_t plain_run(const uint8_t *p, uint32_t n) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint32_t i = 0;
  while (i + 8 <= n) {
    uint64_t x;
    __builtin_memcpy(&x, p + i, 8); /* one i64.load: little-endian, may be unaligned */
    /* The classic word tests (exact as a whole: nonzero iff some byte
     * qualifies): a byte < 0x20, a zero byte in x ^ '"' or x ^ '\\', or a
     * byte with its high bit set. */
    uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
    uint64_t special = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
                       ((slash - ones) & ~slash) | x;
    special &= highs;
    if (special) break;
    i += 8;
  }
  while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') i++;
  return i;
}

/* Scans a string at sc->pos (which is '"'). Decodes it into dst when dst is
 * not NULL, writing at most cap bytes; *dlen receives the full decoded
 * length either way. The decoded form is never longer than the raw form, so
 * a buffer of the raw length always suffices. Returns 0 on a syntax error. */
static int scan_string(scanner *sc, uint8_t *dst, uint32_t cap, uint32_t *dlen) {
  const uint8_t *p = sc->p;
  uint32_t i = sc->pos + 1, n = sc->len, out = 0;
  uint8_t enc[4];
#define EMIT(bytes, k)                                              \
  do {                                                              \
    for (uint32_t e_ = 0; e_ < (k); e_++)                           \
      if (dst && out + e_ < cap) dst[out + e_] = (bytes)[e_];       \
    out += (k);                                                     \
  } while (0)
  for (;;) {
    uint32_t run = plain_run(p + i, n - i);
    if (run) {
      if (dst && out < cap) memcpy(dst + out, p + i, run < cap - out ? run : cap - out);
      out += run;
      i += run;
    }
    if (i >= n) goto bad;
    uint8_t c = p[i];
    if (c == '"') break;
    if (c < 0x20) goto bad;
    if (c == '\\') {
      if (i + 1 >= n) goto bad;
      uint8_t e = p[i + 1], ch;
      switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
          uint32_t cp, lo;
          if (i + 6 > n || !hex4(p + i + 2, &cp)) goto bad;
          i += 6;
          if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && p[i] == '\\' && p[i + 1] == 'u' &&
              hex4(p + i + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD; /* lone surrogate */
          }
          uint32_t k = utf8_encode(cp, enc);
          EMIT(enc, k);
          continue;
        }
        default: goto bad;
      }
      EMIT(&ch, 1);
      i += 2;
      continue;
    }
    if (c < 0x80) {
      EMIT(&c, 1);
      i++;
      continue;
    }
    uint32_t cp, k = utf8_decode(p + i, n - i, &cp);
    if (cp == BAD_CP) goto bad;
    EMIT(p + i, k);
    i += k;
  }
#undef EMIT
  sc->pos = i + 1;
  if (dlen) *dlen = out;
  return 1;
bad:
  fail(sc, AIPOL_JSON_SYNTAX);
  return 0;
}

/* Scans a string and returns a decoded copy (empty slice for ""). */
static int scan_string_dup(scanner *sc, aipol_slice *out) {
  uint32_t start = sc->pos, dlen;
  if (!scan_string(sc, 0, 0, &dlen)) return 0;
  if (dlen == 0) return 1;
  uint8_t *d = aipol_malloc(dlen);
  if (!d) {
    fail(sc, AIPOL_JSON_NO_MEMORY);
    return 0;
  }
  sc->pos = start;
  scan_string(sc, d, dlen, &dlen);
  out->ptr = d;
  out->len = dlen;
  return 1;
}

/* Scans a string, appending its decoded form to b. */
static int scan_string_append(scanner *sc, buf *b) {
  uint32_t start = sc->pos, dlen;
  if (!scan_string(sc, 0, 0, &dlen)) return 0;
  if (!buf_reserve(b, dlen)) {
    fail(sc, AIPOL_JSON_NO_MEMORY);
    return 0;
  }
  sc->pos = start;
  scan_string(sc, b->p + b->len, dlen, &dlen);
  b->len += dlen;
  return 1;
}

/* Scans an object key into a small buffer; *klen is the full decoded
 * length (compare only when it is <= cap). */
static int scan_key(scanner *sc, uint8_t *k, uint32_t cap, uint32_t *klen) {
  if (peek(sc) != '"') {
    fail(sc, AIPOL_JSON_SYNTAX);
    return 0;
  }
  if (!scan_string(sc, k, cap, klen)) return 0;
  skip_ws(sc);
  if (peek(sc) != ':') {
    fail(sc, AIPOL_JSON_SYNTAX);
    return 0;
  }
  sc->pos++;
  skip_ws(sc);
  return 1;
}

#define KEY_IS(k, klen, lit) ((klen) == sizeof(lit) - 1 && memcmp((k), (lit), (klen)) == 0)

/* Scans a number. *is_int = 1 for an integer token; *val is its value when
 * it fits int64 (*fits = 1). */
static int scan_number(scanner *sc, int *is_int, int64_t *val, int *fits) {
  const uint8_t *p = sc->p;
  uint32_t i = sc->pos, n = sc->len;
  int neg = 0;
  uint64_t mag = 0;
  int overflow = 0;
  if (i < n && p[i] == '-') {
    neg = 1;
    i++;
  }
  if (i >= n || p[i] < '0' || p[i] > '9') goto bad;
  if (p[i] == '0') {
    i++;
  } else {
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      uint32_t d = p[i] - '0';
      if (mag > (0xFFFFFFFFFFFFFFFFull - d) / 10) overflow = 1;
      else mag = mag * 10 + d;
      i++;
    }
  }
  *is_int = 1;
  if (i < n && p[i] == '.') {
    *is_int = 0;
    i++;
    if (i >= n || p[i] < '0' || p[i] > '9') goto bad;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    *is_int = 0;
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    if (i >= n || p[i] < '0' || p[i] > '9') goto bad;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  }
  *fits = 0;
  if (*is_int && !overflow) {
    if (!neg && mag <= 0x7FFFFFFFFFFFFFFFull) {
      *val = (int64_t)mag;
      *fits = 1;
    } else if (neg && mag <= 0x8000000000000000ull) {
      *val = (int64_t)(0 - mag);
      *fits = 1;
    }
  }
  sc->pos = i;
  return 1;
bad:
  fail(sc, AIPOL_JSON_SYNTAX);
  return 0;
}

static int scan_literal(scanner *sc, const char *lit, uint32_t n) {
  if (sc->len - sc->pos < n || memcmp(sc->p + sc->pos, lit, n) != 0) {
    fail(sc, AIPOL_JSON_SYNTAX);
    return 0;
  }
  sc->pos += n;
  return 1;
}

static int open_container(scanner *sc) {
  if (++sc->depth > AIPOL_JSON_MAX_DEPTH) {
    fail(sc, AIPOL_JSON_TOO_DEEP);
    return 0;
  }
  sc->pos++;
  skip_ws(sc);
  return 1;
}

/* After an element of an array or member of an object: 1 if another
 * follows (the ',' is consumed), 0 at the closing `close` (not consumed),
 * -1 on a syntax error. */
static int next_item(scanner *sc, uint8_t close) {
  skip_ws(sc);
  int c = peek(sc);
  if (c == ',') {
    sc->pos++;
    skip_ws(sc);
    return 1;
  }
  if (c == close) return 0;
  fail(sc, AIPOL_JSON_SYNTAX);
  return -1;
}

/* Validates any value; recursion depth is bounded by open_container. */
static int skip_value(scanner *sc) {
  int c = peek(sc);
  switch (c) {
    case '"':
      return scan_string(sc, 0, 0, 0);
    case 't':
      return scan_literal(sc, "true", 4);
    case 'f':
      return scan_literal(sc, "false", 5);
    case 'n':
      return scan_literal(sc, "null", 4);
    case '[': {
      if (!open_container(sc)) return 0;
      if (peek(sc) != ']') {
        for (;;) {
          if (!skip_value(sc)) return 0;
          int r = next_item(sc, ']');
          if (r < 0) return 0;
          if (r == 0) break;
        }
      }
      sc->pos++;
      sc->depth--;
      return 1;
    }
    case '{': {
      if (!open_container(sc)) return 0;
      if (peek(sc) != '}') {
        for (;;) {
          uint32_t klen;
          if (!scan_key(sc, 0, 0, &klen) || !skip_value(sc)) return 0;
          int r = next_item(sc, '}');
          if (r < 0) return 0;
          if (r == 0) break;
        }
      }
      sc->pos++;
      sc->depth--;
      return 1;
    }
    default:
      if (c == '-' || (c >= '0' && c <= '9')) {
        int is_int, fits;
        int64_t v;
        return scan_number(sc, &is_int, &v, &fits);
      }
      fail(sc, AIPOL_JSON_SYNTAX);
      return 0;
  }
}

/* Records the string token [start, end) as text of the current message. */
static int record_text(scanner *sc, uint32_t start, uint32_t end) {
  aipol_chat_request *r = sc->req;
  if (!r) return 1;
  if (r->text_count == sc->text_cap) {
    uint32_t ncap = sc->text_cap ? sc->text_cap * 2 : 8;
    aipol_text *nt = aipol_realloc(r->texts, ncap * sizeof(aipol_text));
    if (!nt) {
      fail(sc, AIPOL_JSON_NO_MEMORY);
      return 0;
    }
    r->texts = nt;
    sc->text_cap = ncap;
  }
  aipol_text *t = &r->texts[r->text_count++];
  t->message = sc->msg_index;
  t->role = AIPOL_ROLE_OTHER;
  t->start = start;
  t->end = end;
  return 1;
}

/* One element of an array-of-parts content: an object; a part with
 * "type":"text" contributes its "text" (joined with "\n" by the caller). */
static int scan_part(scanner *sc, buf *content, int keep, int *first) {
  if (peek(sc) != '{') {
    bad_field(sc, "messages[].content[]"); /* parts must be objects */
    return skip_value(sc);
  }
  if (!open_container(sc)) return 0;
  int seen_type = 0, seen_text = 0, is_text = 0, text_is_string = 0;
  uint32_t text_pos = 0, text_end = 0;
  if (peek(sc) != '}') {
    for (;;) {
      uint8_t k[8];
      uint32_t klen;
      if (!scan_key(sc, k, sizeof(k), &klen)) return 0;
      if (KEY_IS(k, klen, "type")) {
        if (seen_type++) bad_field(sc, "messages[].content[].type");
        if (peek(sc) == '"') {
          uint8_t t[8];
          uint32_t tlen;
          if (!scan_string(sc, t, sizeof(t), &tlen)) return 0;
          is_text = KEY_IS(t, tlen, "text");
        } else {
          bad_field(sc, "messages[].content[].type");
          if (!skip_value(sc)) return 0;
        }
      } else if (KEY_IS(k, klen, "text")) {
        if (seen_text++) bad_field(sc, "messages[].content[].text");
        text_is_string = peek(sc) == '"';
        text_pos = sc->pos;
        if (!skip_value(sc)) return 0;
        text_end = sc->pos;
      } else if (!skip_value(sc)) {
        return 0;
      }
      int r = next_item(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  uint32_t end = sc->pos + 1;
  if (is_text && seen_text && text_is_string && !record_text(sc, text_pos, text_end)) return 0;
  if (is_text) {
    if (!seen_text || !text_is_string) {
      bad_field(sc, "messages[].content[].text");
    } else if (keep) {
      if (!*first && !buf_append(content, "\n", 1)) {
        fail(sc, AIPOL_JSON_NO_MEMORY);
        return 0;
      }
      *first = 0;
      sc->pos = text_pos; /* already validated: re-scan to decode */
      if (!scan_string_append(sc, content)) return 0;
    }
  }
  sc->pos = end;
  sc->depth--;
  return 1;
}

/* One element of "messages": must be an object; keeps role and content
 * when `m` is not NULL. */
static int scan_message(scanner *sc, aipol_message *m) {
  if (peek(sc) != '{') {
    bad_field(sc, "messages[]"); /* messages must be objects */
    return skip_value(sc);
  }
  uint32_t start = sc->pos, first_text = sc->req ? sc->req->text_count : 0;
  uint32_t role_class = AIPOL_ROLE_OTHER;
  if (!open_container(sc)) return 0;
  int seen_role = 0, seen_content = 0;
  if (peek(sc) != '}') {
    for (;;) {
      uint8_t k[8];
      uint32_t klen;
      if (!scan_key(sc, k, sizeof(k), &klen)) return 0;
      int c = peek(sc);
      if (KEY_IS(k, klen, "role")) {
        if (seen_role++) bad_field(sc, "messages[].role");
        if (c != '"') {
          bad_field(sc, "messages[].role");
          if (!skip_value(sc)) return 0;
        } else {
          uint32_t at = sc->pos, rlen;
          uint8_t r[10];
          if (!scan_string(sc, r, sizeof(r), &rlen)) return 0;
          if (KEY_IS(r, rlen, "user")) role_class = AIPOL_ROLE_USER;
          else if (KEY_IS(r, rlen, "tool") || KEY_IS(r, rlen, "function"))
            role_class = AIPOL_ROLE_TOOL;
          else if (KEY_IS(r, rlen, "system") || KEY_IS(r, rlen, "developer"))
            role_class = AIPOL_ROLE_SYSTEM;
          else if (KEY_IS(r, rlen, "assistant")) role_class = AIPOL_ROLE_ASSISTANT;
          if (m && seen_role == 1) {
            sc->pos = at;
            if (!scan_string_dup(sc, &m->role)) return 0;
          }
        }
      } else if (KEY_IS(k, klen, "content")) {
        if (seen_content++) bad_field(sc, "messages[].content");
        int keep = m && seen_content == 1;
        if (c == '"') {
          uint32_t at = sc->pos;
          if (keep ? !scan_string_dup(sc, &m->content) : !scan_string(sc, 0, 0, 0)) return 0;
          if (!record_text(sc, at, sc->pos)) return 0;
        } else if (c == '[') {
          buf b = {0, 0, 0};
          int first = 1, ok = open_container(sc);
          if (ok && peek(sc) != ']') {
            for (;;) {
              if (!(ok = scan_part(sc, &b, keep, &first))) break;
              int r = next_item(sc, ']');
              if (r < 0) ok = 0;
              if (r <= 0) break;
            }
          }
          if (!ok) {
            aipol_free(b.p);
            return 0;
          }
          sc->pos++;
          sc->depth--;
          if (keep && b.len) {
            m->content.ptr = b.p;
            m->content.len = b.len;
          } else {
            aipol_free(b.p);
          }
        } else if (c == 'n') {
          if (!scan_literal(sc, "null", 4)) return 0; /* null content: empty */
        } else {
          bad_field(sc, "messages[].content");
          if (!skip_value(sc)) return 0;
        }
      } else if (!skip_value(sc)) {
        return 0;
      }
      int r = next_item(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  sc->pos++;
  sc->depth--;
  if (m) {
    m->start = start;
    m->end = sc->pos;
  }
  if (sc->req) /* the role may come after the content: label the texts now */
    for (uint32_t i = first_text; i < sc->req->text_count; i++) sc->req->texts[i].role = role_class;
  return 1;
}

static int scan_messages(scanner *sc, aipol_chat_request *out) {
  out->messages_open = sc->pos;
  if (!open_container(sc)) return 0;
  uint32_t cap = 0;
  if (peek(sc) != ']') {
    for (;;) {
      aipol_message *m = 0;
      if (out->message_count < AIPOL_MAX_MESSAGES) {
        if (out->message_count == cap) {
          uint32_t ncap = cap ? cap * 2 : 8;
          aipol_message *nm = aipol_realloc(out->messages, ncap * sizeof(aipol_message));
          if (!nm) {
            fail(sc, AIPOL_JSON_NO_MEMORY);
            return 0;
          }
          out->messages = nm;
          cap = ncap;
        }
        m = &out->messages[out->message_count];
        memset(m, 0, sizeof(*m));
      }
      out->message_count++; /* counted before scanning so chat_free sees it */
      sc->msg_index = out->message_count - 1;
      if (!scan_message(sc, m)) return 0;
      int r = next_item(sc, ']');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  out->messages_close = sc->pos;
  sc->pos++;
  sc->depth--;
  return 1;
}

#define SEEN_MODEL 1u
#define SEEN_MESSAGES 2u
#define SEEN_STREAM 4u
#define SEEN_MAX_TOKENS 8u
#define SEEN_MAX_COMPLETION 16u

/* The value of "max_tokens" / "max_completion_tokens": an integer or null. */
static int scan_max_tokens(scanner *sc, aipol_chat_request *out, const char *name) {
  int c = peek(sc);
  if (c == 'n') return scan_literal(sc, "null", 4);
  if (c == '-' || (c >= '0' && c <= '9')) {
    int is_int, fits;
    int64_t v = 0;
    if (!scan_number(sc, &is_int, &v, &fits)) return 0;
    if (!is_int || !fits) {
      bad_field(sc, name);
    } else if (!out->has_max_tokens || v > out->max_tokens) {
      /* Both keys present: keep the larger limit, the conservative reading. */
      out->has_max_tokens = 1;
      out->max_tokens = v;
    }
    return 1;
  }
  bad_field(sc, name);
  return skip_value(sc);
}

/* Skips one top-level member's value and remembers where it is, so policy
 * rules (`param temperature <= 1`, `param tools deny`) can look at it. A
 * repeated key is refused like the decoded ones: filter and upstream must
 * not read different copies. */
static int record_field(scanner *sc, aipol_chat_request *out, const uint8_t *k, uint32_t klen) {
  uint32_t start = sc->pos;
  if (!skip_value(sc)) return 0;
  if (klen > sizeof(out->fields[0].name)) {
    out->fields_overflow = 1;
    return 1;
  }
  for (uint32_t i = 0; i < out->field_count; i++) {
    const aipol_field *f = &out->fields[i];
    if (f->name_len == klen && memcmp(f->name, k, klen) == 0) {
      bad_field(sc, "(a repeated key)");
      return 1;
    }
  }
  if (out->field_count == AIPOL_MAX_FIELDS) {
    out->fields_overflow = 1;
    return 1;
  }
  aipol_field *f = &out->fields[out->field_count++];
  memcpy(f->name, k, klen);
  f->name_len = klen;
  f->start = start;
  f->end = sc->pos;
  return 1;
}

const aipol_field *aipol_chat_field(const aipol_chat_request *req, const char *name,
                                    uint32_t len) {
  for (uint32_t i = 0; i < req->field_count; i++) {
    const aipol_field *f = &req->fields[i];
    if (f->name_len == len && memcmp(f->name, name, len) == 0) return f;
  }
  return 0;
}

int aipol_field_number(const aipol_chat_request *req, const aipol_field *f, double *out) {
  const uint8_t *p = req->body + f->start;
  uint32_t n = f->end - f->start, i = 0;
  int neg = 0;
  double v = 0;
  int exp10 = 0;
  if (i < n && p[i] == '-') {
    neg = 1;
    i++;
  }
  if (i >= n || p[i] < '0' || p[i] > '9') return 0; /* not a number token */
  int digits = 0;
  for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
    if (digits < 19) {
      v = v * 10 + (p[i] - '0');
      if (v) digits++;
    } else {
      exp10++;
    }
  }
  if (i < n && p[i] == '.') {
    for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
      if (digits < 19) {
        v = v * 10 + (p[i] - '0');
        exp10--;
        if (v) digits++;
      }
    }
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    int eneg = 0, e = 0;
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
      if (e < 100000) e = e * 10 + (p[i] - '0');
    exp10 += eneg ? -e : e;
  }
  /* Scale by powers of ten; exact for the short decimals requests carry. */
  if (exp10 > 400) v = v ? 1e308 * 10 : 0;
  else if (exp10 < -400) v = 0;
  else {
    for (; exp10 > 0; exp10--) v *= 10;
    for (; exp10 < 0; exp10++) v /= 10;
  }
  *out = neg ? -v : v;
  return 1;
}

static int scan_root(scanner *sc, aipol_chat_request *out) {
  out->root_open = sc->pos;
  if (!open_container(sc)) return 0;
  uint32_t seen = 0;
  if (peek(sc) != '}') {
    for (;;) {
      uint8_t k[24];
      uint32_t klen, bit = 0;
      const char *name = 0;
      if (!scan_key(sc, k, sizeof(k), &klen)) return 0;
      if (KEY_IS(k, klen, "model")) bit = SEEN_MODEL, name = "model";
      else if (KEY_IS(k, klen, "messages")) bit = SEEN_MESSAGES, name = "messages";
      else if (KEY_IS(k, klen, "stream")) bit = SEEN_STREAM, name = "stream";
      else if (KEY_IS(k, klen, "max_tokens")) bit = SEEN_MAX_TOKENS, name = "max_tokens";
      else if (KEY_IS(k, klen, "max_completion_tokens"))
        bit = SEEN_MAX_COMPLETION, name = "max_completion_tokens";
      /* A repeated key is rejected: the upstream might read the other copy. */
      int dup = (seen & bit) != 0;
      if (dup) bad_field(sc, name);
      seen |= bit;
      int c = peek(sc);
      int ok;
      if (bit == 0 && !dup) {
        ok = record_field(sc, out, k, klen);
      } else if (dup) {
        ok = skip_value(sc);
      } else if (bit == SEEN_MODEL) {
        if (c == '"') {
          out->model_start = sc->pos;
          ok = scan_string_dup(sc, &out->model);
          out->model_end = sc->pos;
          out->has_model = 1;
        } else {
          bad_field(sc, name);
          ok = skip_value(sc);
        }
      } else if (bit == SEEN_MESSAGES) {
        if (c == '[') {
          out->has_messages = 1;
          ok = scan_messages(sc, out);
        } else {
          bad_field(sc, name);
          ok = skip_value(sc);
        }
      } else if (bit == SEEN_STREAM) {
        if (c == 't' || c == 'f') {
          out->stream = c == 't';
          out->has_stream = 1;
          ok = c == 't' ? scan_literal(sc, "true", 4) : scan_literal(sc, "false", 5);
        } else if (c == 'n') {
          ok = scan_literal(sc, "null", 4); /* null: as if absent */
        } else {
          bad_field(sc, name);
          ok = skip_value(sc);
        }
      } else {
        ok = scan_max_tokens(sc, out, name);
      }
      if (!ok) return 0;
      int r = next_item(sc, '}');
      if (r < 0) return 0;
      if (r == 0) break;
    }
  }
  out->root_close = sc->pos;
  sc->pos++;
  sc->depth--;
  return 1;
}

int aipol_json_parse_chat(const uint8_t *body, uint32_t len, aipol_chat_request *out) {
  memset(out, 0, sizeof(*out));
  out->body = body;
  out->body_len = len;
  scanner sc = {body, len, 0, 0, 0, 0, 0, out, 0, 0};
  skip_ws(&sc);
  int is_object = peek(&sc) == '{';
  if (is_object) scan_root(&sc, out);
  else skip_value(&sc);
  if (!sc.err) {
    skip_ws(&sc);
    if (sc.pos != len) sc.err = AIPOL_JSON_SYNTAX; /* trailing garbage */
  }
  int rc = sc.err ? sc.err : !is_object ? AIPOL_JSON_NOT_OBJECT : sc.field_err;
  if (rc != AIPOL_JSON_OK) {
    aipol_chat_free(out);
    out->body = body;
    out->body_len = len;
    if (rc == AIPOL_JSON_BAD_FIELD) out->error_field = sc.field;
  }
  return rc;
}

uint8_t *aipol_text_decode(const aipol_chat_request *req, const aipol_text *t, uint32_t *len) {
  return aipol_json_string_decode(req->body, t->start, t->end, len);
}

uint8_t *aipol_json_string_decode(const uint8_t *body, uint32_t start, uint32_t end,
                                  uint32_t *len) {
  scanner sc = {body, end, start, 0, 0, 0, 0, 0, 0, 0};
  uint32_t dlen;
  if (!scan_string(&sc, 0, 0, &dlen)) return 0;
  uint8_t *d = aipol_malloc(dlen ? dlen : 1);
  if (!d) return 0;
  sc.pos = start;
  scan_string(&sc, d, dlen, &dlen);
  *len = dlen;
  return d;
}

void aipol_chat_free(aipol_chat_request *req) {
  aipol_slice_free(&req->model);
  aipol_free(req->texts);
  uint32_t kept = req->message_count < AIPOL_MAX_MESSAGES ? req->message_count : AIPOL_MAX_MESSAGES;
  if (req->messages) {
    for (uint32_t i = 0; i < kept; i++) {
      aipol_slice_free(&req->messages[i].role);
      aipol_slice_free(&req->messages[i].content);
    }
    aipol_free(req->messages);
  }
  memset(req, 0, sizeof(*req));
}

/* ---- the scanner for the runtime's other documents (json_scan.h) ------ */

void aipol_jscan_ws(aipol_jscan *sc) { skip_ws(sc); }
int aipol_jscan_peek(aipol_jscan *sc) { return peek(sc); }
int aipol_jscan_string(aipol_jscan *sc, uint8_t *dst, uint32_t cap, uint32_t *dlen) {
  if (peek(sc) != '"') {
    fail(sc, AIPOL_JSON_SYNTAX);
    return 0;
  }
  return scan_string(sc, dst, cap, dlen);
}
int aipol_jscan_key(aipol_jscan *sc, uint8_t *k, uint32_t cap, uint32_t *klen) {
  return scan_key(sc, k, cap, klen);
}
int aipol_jscan_skip(aipol_jscan *sc) { return skip_value(sc); }
int aipol_jscan_open(aipol_jscan *sc) { return open_container(sc); }
int aipol_jscan_next(aipol_jscan *sc, uint8_t close) { return next_item(sc, close); }

/* ---- escaping --------------------------------------------------------- */

uint32_t aipol_json_escape(const uint8_t *s, uint32_t len, uint8_t *out, uint32_t cap) {
  static const char hex[] = "0123456789abcdef";
  uint32_t o = 0, i = 0;
#define PUT(ch)                 \
  do {                          \
    if (o >= cap) return 0;     \
    out[o++] = (uint8_t)(ch);   \
  } while (0)
  PUT('"');
  while (i < len) {
    uint8_t c = s[i];
    if (c >= 0x80) {
      uint32_t cp, k = utf8_decode(s + i, len - i, &cp);
      if (cp == BAD_CP) {
        PUT(0xEF); PUT(0xBF); PUT(0xBD); /* U+FFFD */
      } else {
        for (uint32_t j = 0; j < k; j++) PUT(s[i + j]);
      }
      i += k;
      continue;
    }
    i++;
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT(c);
    } else if (c >= 0x20) {
      PUT(c);
    } else {
      PUT('\\');
      switch (c) {
        case '\n': PUT('n'); break;
        case '\r': PUT('r'); break;
        case '\t': PUT('t'); break;
        case '\b': PUT('b'); break;
        case '\f': PUT('f'); break;
        default:
          PUT('u'); PUT('0'); PUT('0');
          PUT(hex[c >> 4]);
          PUT(hex[c & 15]);
      }
    }
  }
  PUT('"');
#undef PUT
  return o;
}

/* ---- edits ------------------------------------------------------------ */

uint8_t *aipol_apply_edits(const uint8_t *body, uint32_t len, const aipol_edit *edits, uint32_t n,
                           uint32_t *out_len) {
  uint64_t total = len;
  uint32_t prev_end = 0;
  for (uint32_t i = 0; i < n; i++) {
    const aipol_edit *e = &edits[i];
    if (e->start > e->end || e->end > len || e->start < prev_end) return 0;
    if (e->text.len && !e->text.ptr) return 0;
    total = total - (e->end - e->start) + e->text.len;
    prev_end = e->end;
  }
  if (total > 0x40000000u) return 0;
  uint8_t *out = aipol_malloc(total ? (size_t)total : 1);
  if (!out) return 0;
  uint32_t o = 0, from = 0;
  for (uint32_t i = 0; i < n; i++) {
    const aipol_edit *e = &edits[i];
    memcpy(out + o, body + from, e->start - from);
    o += e->start - from;
    if (e->text.len) memcpy(out + o, e->text.ptr, e->text.len);
    o += e->text.len;
    from = e->end;
  }
  memcpy(out + o, body + from, len - from);
  o += len - from;
  *out_len = o;
  return out;
}

/* Edit tags: the kind in the low byte, plus comma flags for the insertions
 * that hold a list of messages (rebuilt when another message is added). */
#define TAG_MODEL 1      /* replaces the model value */
#define TAG_MODEL_NEW 2  /* inserts "model":V at the root's start */
#define TAG_SYS_HEAD 3   /* messages inserted before the first message */
#define TAG_SYS_TAIL 4   /* messages inserted after the last message */
#define TAG_SYS_EMPTY 5  /* messages inserted into an empty array */
#define TAG_MSG_NEW 6    /* inserts "messages":[...] at the root's end */
#define TAG_PREFIX_COMMA 0x100u
#define TAG_SUFFIX_COMMA 0x200u
#define KIND(tag) ((tag) & 0xFFu)

static const char MSG_OPEN[] = "\"messages\":[";

static aipol_edit *find_edit(aipol_stream *s, uint32_t kind) {
  for (uint32_t i = 0; i < s->edit_count; i++)
    if (KIND(s->edits[i].tag) == kind) return &s->edits[i];
  return 0;
}

/* Queues an edit, keeping s->edits sorted by start (an insertion sorts
 * before a replacement starting at the same byte; among insertions at one
 * byte, after the others, or before them when `first`). Takes `text`. */
static void queue_edit(aipol_stream *s, uint32_t start, uint32_t end, uint8_t *text,
                       uint32_t len, uint32_t tag, int first) {
  if (s->edit_count >= AIPOL_MAX_EDITS) {
    aipol_free(text);
    s->edit_error = 1;
    return;
  }
  uint32_t i = s->edit_count;
  while (i > 0) {
    const aipol_edit *p = &s->edits[i - 1];
    int p_insert = p->start == p->end, insert = start == end;
    int after = p->start < start || (p->start == start && (insert ? p_insert && !first : 1));
    if (after) break;
    s->edits[i] = s->edits[i - 1];
    i--;
  }
  aipol_edit *e = &s->edits[i];
  e->start = start;
  e->end = end;
  e->text.ptr = text;
  e->text.len = len;
  e->owned = 1;
  e->tag = tag;
  s->edit_count++;
}

static void set_text(aipol_edit *e, uint8_t *text, uint32_t len) {
  if (e->owned && e->text.ptr) aipol_free((void *)e->text.ptr);
  e->text.ptr = text;
  e->text.len = len;
  e->owned = 1;
}

/* Concatenates up to five pieces into a new block. */
static uint8_t *concat(uint32_t *out_len, const void *a, uint32_t al, const void *b, uint32_t bl,
                       const void *c, uint32_t cl, const void *d, uint32_t dl, const void *e,
                       uint32_t el) {
  uint64_t n = (uint64_t)al + bl + cl + dl + el;
  if (n > 0x40000000u) return 0;
  uint8_t *p = aipol_malloc(n ? (size_t)n : 1);
  if (!p) return 0;
  uint32_t o = 0;
  if (al) memcpy(p + o, a, al), o += al;
  if (bl) memcpy(p + o, b, bl), o += bl;
  if (cl) memcpy(p + o, c, cl), o += cl;
  if (dl) memcpy(p + o, d, dl), o += dl;
  if (el) memcpy(p + o, e, el), o += el;
  *out_len = o;
  return p;
}

/* 1 if the root object has no members (only whitespace between the braces). */
static int root_is_empty(const aipol_chat_request *req) {
  for (uint32_t i = req->root_open + 1; i < req->root_close; i++) {
    uint8_t c = req->body[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return 0;
  }
  return 1;
}

/* Text of a list insertion: [","] [wrap_open] inner [wrap_close] [","]. */
static uint8_t *list_text(uint32_t tag, const uint8_t *inner, uint32_t inner_len, uint32_t *len) {
  int wrap = KIND(tag) == TAG_MSG_NEW;
  return concat(len, ",", (tag & TAG_PREFIX_COMMA) ? 1 : 0, MSG_OPEN, wrap ? sizeof(MSG_OPEN) - 1 : 0,
                inner, inner_len, "]", wrap ? 1 : 0, ",", (tag & TAG_SUFFIX_COMMA) ? 1 : 0);
}

/* The message list inside a list insertion's text. */
static void list_inner(const aipol_edit *e, const uint8_t **inner, uint32_t *len) {
  uint32_t skip = (e->tag & TAG_PREFIX_COMMA) ? 1 : 0, tail = (e->tag & TAG_SUFFIX_COMMA) ? 1 : 0;
  if (KIND(e->tag) == TAG_MSG_NEW) {
    skip += sizeof(MSG_OPEN) - 1;
    tail += 1;
  }
  *inner = e->text.ptr + skip;
  *len = e->text.len - skip - tail;
}

/* Adds `msg` to the list insertion of kind `tag` at `pos` (creating it),
 * first or last in its list. Takes `msg`. */
static void add_to_list(aipol_stream *s, uint32_t pos, uint32_t tag, int at_end, uint8_t *msg,
                        uint32_t msg_len) {
  aipol_edit *e = find_edit(s, KIND(tag));
  uint32_t len;
  uint8_t *text;
  if (!e) {
    text = list_text(tag, msg, msg_len, &len);
    aipol_free(msg);
    if (!text) {
      s->edit_error = 1;
      return;
    }
    queue_edit(s, pos, pos, text, len, tag, 0);
    return;
  }
  const uint8_t *inner;
  uint32_t inner_len, joined_len;
  list_inner(e, &inner, &inner_len);
  uint8_t *joined = at_end ? concat(&joined_len, inner, inner_len, ",", 1, msg, msg_len, 0, 0, 0, 0)
                           : concat(&joined_len, msg, msg_len, ",", 1, inner, inner_len, 0, 0, 0, 0);
  aipol_free(msg);
  text = joined ? list_text(e->tag, joined, joined_len, &len) : 0;
  aipol_free(joined);
  if (!text) {
    s->edit_error = 1;
    return;
  }
  set_text(e, text, len);
}

void aipol_chat_set_model(aipol_stream *s, const aipol_chat_request *req, const char *json_value,
                          uint32_t len) {
  if (!s || !req) return;
  uint32_t tlen;
  if (req->has_model) {
    uint8_t *text = concat(&tlen, json_value, len, 0, 0, 0, 0, 0, 0, 0, 0);
    if (!text) {
      s->edit_error = 1;
      return;
    }
    aipol_edit *e = find_edit(s, TAG_MODEL);
    if (e) set_text(e, text, tlen);
    else queue_edit(s, req->model_start, req->model_end, text, tlen, TAG_MODEL, 0);
    return;
  }
  /* No model: insert it as the root's first member. */
  int comma = !root_is_empty(req);
  static const char key[] = "\"model\":";
  uint8_t *text = concat(&tlen, key, sizeof(key) - 1, json_value, len, ",", comma ? 1 : 0, 0, 0, 0, 0);
  if (!text) {
    s->edit_error = 1;
    return;
  }
  aipol_edit *e = find_edit(s, TAG_MODEL_NEW);
  if (e) {
    set_text(e, text, tlen);
    return;
  }
  /* First among insertions at that byte: in an empty root "{}" the
   * "messages" insertion sits at the same byte and must follow. */
  queue_edit(s, req->root_open + 1, req->root_open + 1, text, tlen, TAG_MODEL_NEW, 1);
  /* In an empty root, an inserted "messages" member now needs its comma. */
  aipol_edit *m = find_edit(s, TAG_MSG_NEW);
  if (m && !(m->tag & TAG_PREFIX_COMMA)) {
    const uint8_t *inner;
    uint32_t inner_len, nlen;
    list_inner(m, &inner, &inner_len);
    uint32_t ntag = m->tag | TAG_PREFIX_COMMA;
    uint8_t *nt = list_text(ntag, inner, inner_len, &nlen);
    if (!nt) {
      s->edit_error = 1;
      return;
    }
    set_text(m, nt, nlen);
    m->tag = ntag;
  }
}

void aipol_chat_insert_system(aipol_stream *s, const aipol_chat_request *req, int at_end,
                              const char *json_string, uint32_t len) {
  if (!s || !req) return;
  static const char open[] = "{\"role\":\"system\",\"content\":";
  uint32_t mlen;
  uint8_t *msg = concat(&mlen, open, sizeof(open) - 1, json_string, len, "}", 1, 0, 0, 0, 0);
  if (!msg) {
    s->edit_error = 1;
    return;
  }
  if (!req->has_messages) {
    uint32_t tag = TAG_MSG_NEW;
    if (!root_is_empty(req) || find_edit(s, TAG_MODEL_NEW)) tag |= TAG_PREFIX_COMMA;
    add_to_list(s, req->root_close, tag, at_end, msg, mlen);
  } else if (req->message_count == 0) {
    add_to_list(s, req->messages_open + 1, TAG_SYS_EMPTY, at_end, msg, mlen);
  } else if (at_end) {
    add_to_list(s, req->messages_close, TAG_SYS_TAIL | TAG_PREFIX_COMMA, 1, msg, mlen);
  } else {
    add_to_list(s, req->messages_open + 1, TAG_SYS_HEAD | TAG_SUFFIX_COMMA, 0, msg, mlen);
  }
}

#define TAG_TEXT 7 /* replaces a message text token (DLP) */

void aipol_chat_replace_text(aipol_stream *s, const aipol_text *t, uint8_t *json_string,
                             uint32_t len) {
  queue_edit(s, t->start, t->end, json_string, len, TAG_TEXT, 0);
}

void aipol_edits_free(aipol_stream *s) {
  for (uint32_t i = 0; i < s->edit_count; i++) {
    aipol_edit *e = &s->edits[i];
    if (e->owned && e->text.ptr) aipol_free((void *)e->text.ptr);
    e->text.ptr = 0;
    e->text.len = 0;
  }
  s->edit_count = 0;
}

#ifdef AIPOL_TEST_EXPORTS
/* Result writer for the test exports: u32 words and length-prefixed blobs
 * padded to 4 bytes, the first word being the total size in bytes. */
static void put_u32(buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void put_blob(buf *b, const uint8_t *p, uint32_t n) {
  static const uint8_t zeros[4] = {0};
  put_u32(b, n);
  if (n) buf_append(b, p, n);
  if (n & 3) buf_append(b, zeros, 4 - (n & 3));
}

/* Parses and returns: size, status, then (status 0) has_model, model_start,
 * model_end, has_stream, stream, has_max_tokens, max_tokens lo, hi,
 * has_messages, messages_open, messages_close, message_count, root_open,
 * root_close, model blob, then per kept message: start, end, role blob,
 * content blob. Returns 0 on allocation failure. */
__attribute__((export_name("aipol_test_json_parse_chat"))) uint8_t *t_parse(const uint8_t *p,
                                                                             uint32_t len) {
  aipol_chat_request r;
  int rc = aipol_json_parse_chat(p, len, &r);
  buf b = {0, 0, 0};
  put_u32(&b, 0);
  put_u32(&b, (uint32_t)rc);
  if (rc == AIPOL_JSON_OK) {
    uint32_t w[] = {r.has_model, r.model_start, r.model_end, r.has_stream, r.stream,
                    r.has_max_tokens, (uint32_t)(uint64_t)r.max_tokens,
                    (uint32_t)((uint64_t)r.max_tokens >> 32), r.has_messages, r.messages_open,
                    r.messages_close, r.message_count, r.root_open, r.root_close};
    for (uint32_t i = 0; i < sizeof(w) / 4; i++) put_u32(&b, w[i]);
    put_blob(&b, r.model.ptr, r.model.len);
    uint32_t kept = r.message_count < AIPOL_MAX_MESSAGES ? r.message_count : AIPOL_MAX_MESSAGES;
    for (uint32_t i = 0; i < kept; i++) {
      aipol_message *m = &r.messages[i];
      put_u32(&b, m->start);
      put_u32(&b, m->end);
      put_blob(&b, m->role.ptr, m->role.len);
      put_blob(&b, m->content.ptr, m->content.len);
    }
  }
  aipol_chat_free(&r);
  if (!b.p || b.len < 8) {
    aipol_free(b.p);
    return 0;
  }
  memcpy(b.p, &b.len, 4);
  return b.p;
}

__attribute__((export_name("aipol_test_escape"))) uint32_t t_escape(const uint8_t *s, uint32_t len,
                                                                     uint8_t *out, uint32_t cap) {
  return aipol_json_escape(s, len, out, cap);
}

/* edits: n quads (start, end, text_ptr, text_len). */
__attribute__((export_name("aipol_test_apply_edits"))) uint8_t *t_apply(const uint8_t *body,
                                                                         uint32_t len,
                                                                         const uint32_t *quads,
                                                                         uint32_t n,
                                                                         uint32_t *out_len) {
  aipol_edit *e = aipol_calloc(n ? n : 1, sizeof(aipol_edit));
  if (!e) return 0;
  for (uint32_t i = 0; i < n; i++) {
    e[i].start = quads[4 * i];
    e[i].end = quads[4 * i + 1];
    e[i].text.ptr = (const uint8_t *)(size_t)quads[4 * i + 2];
    e[i].text.len = quads[4 * i + 3];
  }
  uint8_t *r = aipol_apply_edits(body, len, e, n, out_len);
  aipol_free(e);
  return r;
}

/* Parses `body`, runs the ops (n triples: kind 0 set_model, 1 insert_system
 * first, 2 insert_system last; text_ptr; text_len) and applies the edits.
 * Returns the new body (length in *out_len), or 0 with *out_len = the parse
 * status (or 100 + edit_error / 200 for a failed apply). */
__attribute__((export_name("aipol_test_chat_edit"))) uint8_t *t_chat_edit(const uint8_t *body,
                                                                           uint32_t len,
                                                                           const uint32_t *ops,
                                                                           uint32_t n,
                                                                           uint32_t *out_len) {
  aipol_chat_request r;
  aipol_stream s;
  memset(&s, 0, sizeof(s));
  int rc = aipol_json_parse_chat(body, len, &r);
  if (rc != AIPOL_JSON_OK) {
    *out_len = (uint32_t)rc;
    return 0;
  }
  for (uint32_t i = 0; i < n; i++) {
    const char *t = (const char *)(size_t)ops[3 * i + 1];
    uint32_t tl = ops[3 * i + 2];
    if (ops[3 * i] == 0) aipol_chat_set_model(&s, &r, t, tl);
    else aipol_chat_insert_system(&s, &r, ops[3 * i] == 2, t, tl);
  }
  uint8_t *out = 0;
  if (s.edit_error) *out_len = 100 + s.edit_error;
  else if (!(out = aipol_apply_edits(body, len, s.edits, s.edit_count, out_len))) *out_len = 200;
  aipol_edits_free(&s);
  aipol_chat_free(&r);
  return out;
}
#endif
