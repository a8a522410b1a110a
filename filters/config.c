/* config.c — plugin configuration parser and the principal table.
 *
 * proxy-wasm imports used: none.
 */
#include "config.h"
#include "alloc.h"
#include "policy.h"
#include "util.h"

static aipol_config active;

static int is_name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '@' || c == '-';
}

static int valid_name(const uint8_t *p, uint32_t n) {
  if (!n) return 0;
  for (uint32_t i = 0; i < n; i++)
    if (!is_name_char(p[i])) return 0;
  return 1;
}

static int hex_nibble(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* upper case is rejected: the format says lowercase */
}

/* Splits line[0..n) at single spaces into at most `max` fields; returns the
 * field count, or max + 1 if there are more. Empty fields (double or
 * leading/trailing spaces) are kept as empty and rejected by the caller. */
static uint32_t split(const uint8_t *line, uint32_t n, aipol_slice *f, uint32_t max) {
  uint32_t count = 0, start = 0;
  for (uint32_t i = 0; i <= n; i++) {
    if (i == n || line[i] == ' ') {
      if (count == max) return max + 1;
      f[count].ptr = line + start;
      f[count].len = i - start;
      count++;
      start = i + 1;
    }
  }
  return count;
}

static int cmp_hash(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, 32); }

/* Shell sort: no recursion, no extra memory, fast enough for large tables. */
static void sort_principals(aipol_principal *p, uint32_t n) {
  for (uint32_t gap = n / 2; gap > 0; gap = gap == 2 ? 1 : gap * 5 / 11) {
    for (uint32_t i = gap; i < n; i++) {
      aipol_principal t = p[i];
      uint32_t j = i;
      while (j >= gap && cmp_hash(p[j - gap].sha256, t.sha256) > 0) {
        p[j] = p[j - gap];
        j -= gap;
      }
      p[j] = t;
    }
  }
}

/* The line of the second `key` entry with this hash (for the error). */
static uint32_t duplicate_line(const uint8_t *text, uint32_t len, const uint8_t *hash) {
  static const char hex[] = "0123456789abcdef";
  uint8_t want[64];
  for (uint32_t i = 0; i < 32; i++) {
    want[2 * i] = (uint8_t)hex[hash[i] >> 4];
    want[2 * i + 1] = (uint8_t)hex[hash[i] & 15];
  }
  uint32_t lineno = 0, seen = 0, pos = 0;
  while (pos < len) {
    lineno++;
    uint32_t end = pos;
    while (end < len && text[end] != '\n') end++;
    if (end - pos >= 68 && memcmp(text + pos, "key ", 4) == 0 &&
        memcmp(text + pos + 4, want, 64) == 0 && ++seen == 2)
      return lineno;
    pos = end + 1;
  }
  return lineno ? lineno : 1;
}

uint32_t aipol_config_parse(const uint8_t *cfg, uint32_t len, aipol_config *out, const char **why) {
  memset(out, 0, sizeof(*out));
  *why = "";
  if (len == 0) return 0;
  out->text = aipol_malloc(len);
  if (!out->text) {
    *why = "out of memory";
    return AIPOL_CONFIG_NO_MEMORY;
  }
  memcpy(out->text, cfg, len);
  /* Upper bound on entries: one per line. */
  uint32_t lines = 1;
  for (uint32_t i = 0; i < len; i++) lines += cfg[i] == '\n';
  uint32_t cap = 0;
  int header = 0;
  uint32_t lineno = 0, pos = 0;
  while (pos < len) {
    lineno++;
    uint32_t end = pos;
    while (end < len && out->text[end] != '\n') end++;
    const uint8_t *line = out->text + pos;
    uint32_t n = end - pos;
    pos = end + 1;
    if (n && line[n - 1] == '\r') n--;
    uint32_t blank = 1;
    for (uint32_t i = 0; i < n; i++)
      if (line[i] != ' ' && line[i] != '\t') blank = 0;
    if (blank || line[0] == '#') continue;
    aipol_slice f[5];
    uint32_t nf = split(line, n, f, 5);
    if (!header) {
      if (nf != 2 || !aipol_bytes_eq(f[0].ptr, f[0].len, "aipol-config", 12)) {
        *why = "expected the header line 'aipol-config 1'";
        goto bad;
      }
      if (!aipol_bytes_eq(f[1].ptr, f[1].len, "1", 1)) {
        *why = "unsupported configuration version (expected 1)";
        goto bad;
      }
      header = 1;
      continue;
    }
    if (nf == 0 || !aipol_bytes_eq(f[0].ptr, f[0].len, "key", 3)) {
      *why = "unknown directive (expected 'key')";
      goto bad;
    }
    if (nf != 5) {
      *why = "expected 'key <sha256-hex> <principal> <team> <tier>' separated by single spaces";
      goto bad;
    }
    if (f[1].len != 64) {
      *why = "the key hash must be 64 lowercase hex characters";
      goto bad;
    }
    uint8_t hash[32];
    for (uint32_t i = 0; i < 32; i++) {
      int hi = hex_nibble(f[1].ptr[2 * i]), lo = hex_nibble(f[1].ptr[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        *why = "the key hash must be 64 lowercase hex characters";
        goto bad;
      }
      hash[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!valid_name(f[2].ptr, f[2].len) || !valid_name(f[3].ptr, f[3].len) ||
        !valid_name(f[4].ptr, f[4].len)) {
      *why = "principal, team and tier must match [A-Za-z0-9_.@-]+";
      goto bad;
    }
    if (out->count == cap) {
      uint32_t ncap = cap ? cap * 2 : 8;
      if (ncap > lines) ncap = lines;
      aipol_principal *np = aipol_realloc(out->principals, ncap * sizeof(aipol_principal));
      if (!np) {
        *why = "out of memory";
        goto bad;
      }
      out->principals = np;
      cap = ncap;
    }
    aipol_principal *p = &out->principals[out->count++];
    memcpy(p->sha256, hash, 32);
    p->name = f[2];
    p->team = f[3];
    p->tier = f[4];
  }
  sort_principals(out->principals, out->count);
  for (uint32_t i = 1; i < out->count; i++)
    if (cmp_hash(out->principals[i - 1].sha256, out->principals[i].sha256) == 0) {
      *why = "duplicate key hash";
      uint32_t at = duplicate_line(out->text, len, out->principals[i].sha256);
      aipol_config_free(out);
      return at;
    }
  return 0;
bad:
  aipol_config_free(out);
  return lineno;
}

void aipol_config_free(aipol_config *c) {
  aipol_free(c->principals);
  aipol_free(c->text);
  memset(c, 0, sizeof(*c));
}

/* Tables replaced while streams were alive, freed by aipol_config_collect. */
typedef struct retired {
  aipol_config c;
  struct retired *next;
} retired;
static retired *retired_list;

void aipol_config_install(aipol_config *c, uint32_t live_streams) {
  if (live_streams && active.count) {
    retired *r = aipol_malloc(sizeof(retired));
    if (r) {
      r->c = active;
      r->next = retired_list;
      retired_list = r;
    }
    /* Without memory to track it, the old table leaks rather than dangles. */
  } else {
    aipol_config_free(&active);
  }
  active = *c;
  memset(c, 0, sizeof(*c));
}

void aipol_config_collect(void) {
  while (retired_list) {
    retired *r = retired_list;
    retired_list = r->next;
    aipol_config_free(&r->c);
    aipol_free(r);
  }
}

const aipol_config *aipol_config_active(void) { return &active; }

const aipol_principal *aipol_principal_find(const uint8_t hash[32]) {
  uint32_t lo = 0, hi = active.count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = cmp_hash(active.principals[mid].sha256, hash);
    if (c == 0) return &active.principals[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

#ifdef AIPOL_TEST_EXPORTS
/* Parses and installs; returns 0 or the failing line (see aipol_config_parse). */
__attribute__((export_name("aipol_test_config_parse"))) uint32_t t_config_parse(const uint8_t *p,
                                                                                 uint32_t len) {
  aipol_config c;
  const char *why;
  uint32_t r = aipol_config_parse(p, len, &c, &why);
  if (r == 0) aipol_config_install(&c, 0);
  return r;
}
__attribute__((export_name("aipol_test_config_count"))) uint32_t t_config_count(void) {
  return active.count;
}
/* Index in the sorted table of the principal with this hash, or -1. */
__attribute__((export_name("aipol_test_principal_find"))) int t_principal_find(const uint8_t *h) {
  const aipol_principal *p = aipol_principal_find(h);
  return p ? (int)(p - active.principals) : -1;
}
/* Writes name, team, tier of entry i as (ptr, len) x 3 into out[6]. */
__attribute__((export_name("aipol_test_principal_at"))) int t_principal_at(uint32_t i,
                                                                            uint32_t *out) {
  if (i >= active.count) return 0;
  const aipol_principal *p = &active.principals[i];
  out[0] = (uint32_t)(size_t)p->name.ptr;
  out[1] = p->name.len;
  out[2] = (uint32_t)(size_t)p->team.ptr;
  out[3] = p->team.len;
  out[4] = (uint32_t)(size_t)p->tier.ptr;
  out[5] = p->tier.len;
  return 1;
}
#endif
