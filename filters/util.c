/* util.c — byte helpers, FNV-1a, sticky buckets, routing, metrics, logging.
 *
 * proxy-wasm imports used: proxy_log, proxy_set_property,
 * proxy_call_foreign_function, proxy_define_metric, proxy_increment_metric.
 */
#include "util.h"
#include "abi.h"
#include "alloc.h"
#include "policy.h"

int aipol_bytes_eq(const uint8_t *a, uint32_t a_len, const char *b, uint32_t b_len) {
  return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

int aipol_bytes_prefix(const uint8_t *a, uint32_t a_len, const char *prefix, uint32_t p_len) {
  return a_len >= p_len && (p_len == 0 || memcmp(a, prefix, p_len) == 0);
}

int aipol_ieq(const uint8_t *a, const char *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (aipol_lower(a[i]) != (uint8_t)b[i]) return 0;
  return 1;
}

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

int aipol_media_type_is(const uint8_t *p, uint32_t n, const char *type, uint32_t type_len) {
  uint32_t i = 0, end;
  while (i < n && is_ows(p[i])) i++;
  end = i;
  while (end < n && p[end] != ';') end++;
  while (end > i && is_ows(p[end - 1])) end--;
  return end - i == type_len && aipol_ieq(p + i, type, type_len);
}

int aipol_ct_eq(const uint8_t *a, const uint8_t *b, uint32_t n) {
  uint8_t diff = 0;
  for (uint32_t i = 0; i < n; i++) diff |= a[i] ^ b[i];
  /* The barrier keeps the optimiser from turning the loop into an early exit. */
  __asm__ volatile("" : "+r"(diff));
  return diff == 0;
}

uint32_t aipol_u64_to_dec(uint64_t v, uint8_t *out) {
  uint8_t tmp[20];
  uint32_t n = 0;
  do {
    tmp[n++] = (uint8_t)('0' + v % 10);
    v /= 10;
  } while (v);
  for (uint32_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

uint32_t aipol_fnv1a(uint32_t h, const uint8_t *p, uint32_t len) {
  for (uint32_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= AIPOL_FNV_PRIME;
  }
  return h;
}

uint32_t aipol_sticky_bucket_of(const uint8_t *seed, uint32_t seed_len, const uint8_t *who,
                                uint32_t who_len) {
  static const uint8_t zero = 0;
  uint32_t h = aipol_fnv1a(AIPOL_FNV_OFFSET, seed, seed_len);
  h = aipol_fnv1a(h, &zero, 1);
  h = aipol_fnv1a(h, who, who_len);
  return h % 10000u;
}

uint32_t aipol_sticky_bucket(aipol_stream *s, const char *seed, uint32_t seed_len) {
  const uint8_t *who = 0;
  uint32_t who_len = 0;
  if (s && s->principal) {
    who = s->principal->name.ptr;
    who_len = s->principal->name.len;
  } else if (s) {
    who = s->request_id.ptr;
    who_len = s->request_id.len;
  }
  return aipol_sticky_bucket_of((const uint8_t *)seed, seed_len, who, who_len);
}

void aipol_route_to(aipol_stream *s, int backend, const char *name, uint32_t name_len) {
  static const char prop[] = "aipol_backend";
  static const char fn[] = "clear_route_cache";
  if (s) s->backend = backend;
  uint32_t r = proxy_set_property((const uint8_t *)prop, sizeof(prop) - 1, (const uint8_t *)name,
                                  name_len);
  if (r != PW_OK) aipol_log3(PW_LOG_ERROR, "aipol: set_property aipol_backend failed", 0, 0, 0);
  uint8_t *ret = 0;
  uint32_t ret_len = 0;
  r = proxy_call_foreign_function((const uint8_t *)fn, sizeof(fn) - 1, (const uint8_t *)"", 0,
                                  &ret, &ret_len);
  if (ret) aipol_free(ret);
  if (r != PW_OK) aipol_log3(PW_LOG_WARN, "aipol: clear_route_cache failed", 0, 0, 0);
}

/* ---- metrics: name -> id cache (ids are per VM, so caching is safe) ---- */

typedef struct {
  uint32_t hash;
  uint32_t id;
  aipol_slice name; /* owned */
} metric_entry;

static metric_entry *metrics;
static uint32_t metric_count, metric_cap;

static int metric_id(const char *name, uint32_t len, uint32_t *id) {
  uint32_t h = aipol_fnv1a(AIPOL_FNV_OFFSET, (const uint8_t *)name, len);
  for (uint32_t i = 0; i < metric_count; i++)
    if (metrics[i].hash == h && aipol_bytes_eq(metrics[i].name.ptr, metrics[i].name.len, name, len)) {
      *id = metrics[i].id;
      return 1;
    }
  if (proxy_define_metric(0 /* counter */, (const uint8_t *)name, len, id) != PW_OK) return 0;
  if (metric_count == metric_cap) {
    uint32_t cap = metric_cap ? metric_cap * 2 : 16;
    metric_entry *m = aipol_realloc(metrics, cap * sizeof(metric_entry));
    if (!m) return 1; /* not cached; defined again next time, still counted */
    metrics = m;
    metric_cap = cap;
  }
  metric_entry *e = &metrics[metric_count];
  if (!aipol_slice_dup(&e->name, (const uint8_t *)name, len)) return 1;
  e->hash = h;
  e->id = *id;
  metric_count++;
  return 1;
}

void aipol_count(const char *name, uint32_t name_len) {
  uint32_t id;
  if (metric_id(name, name_len, &id)) proxy_increment_metric(id, 1);
}

void aipol_metrics_reset(void) {
  for (uint32_t i = 0; i < metric_count; i++) aipol_slice_free(&metrics[i].name);
  aipol_free(metrics);
  metrics = 0;
  metric_count = metric_cap = 0;
}

/* ---- logging ---------------------------------------------------------- */

void aipol_log(uint32_t level, const char *msg, uint32_t msg_len) {
  proxy_log(level > 5 ? 5 : level, (const uint8_t *)msg, msg_len);
}

static uint32_t cstr_len(const char *s) {
  uint32_t n = 0;
  if (s)
    while (s[n]) n++;
  return n;
}

void aipol_log3(uint32_t level, const char *a, const uint8_t *b, uint32_t b_len, const char *c) {
  uint32_t la = cstr_len(a), lc = cstr_len(c);
  uint8_t *buf = aipol_malloc((size_t)la + b_len + lc);
  if (!buf) {
    if (a) aipol_log(level, a, la); /* at least the fixed part */
    return;
  }
  if (la) memcpy(buf, a, la);
  if (b_len) memcpy(buf + la, b, b_len);
  if (lc) memcpy(buf + la + b_len, c, lc);
  aipol_log(level, (const char *)buf, la + b_len + lc);
  aipol_free(buf);
}

#ifdef AIPOL_TEST_EXPORTS
__attribute__((export_name("aipol_test_fnv"))) uint32_t t_fnv(const uint8_t *p, uint32_t len) {
  return aipol_fnv1a(AIPOL_FNV_OFFSET, p, len);
}
/* aipol_sticky_bucket with a principal named `who` (who_len > 0) or, without
 * one, with `rid` as the x-request-id. */
__attribute__((export_name("aipol_test_sticky"))) uint32_t t_sticky(const char *seed,
                                                                     uint32_t seed_len,
                                                                     const uint8_t *who,
                                                                     uint32_t who_len,
                                                                     const uint8_t *rid,
                                                                     uint32_t rid_len) {
  aipol_stream s;
  aipol_principal p;
  memset(&s, 0, sizeof(s));
  memset(&p, 0, sizeof(p));
  p.name.ptr = who;
  p.name.len = who_len;
  s.principal = who_len ? &p : 0;
  s.request_id.ptr = rid;
  s.request_id.len = rid_len;
  return aipol_sticky_bucket(&s, seed, seed_len);
}
__attribute__((export_name("aipol_test_bytes_eq"))) int t_bytes_eq(const uint8_t *a, uint32_t al,
                                                                    const char *b, uint32_t bl) {
  return aipol_bytes_eq(a, al, b, bl);
}
__attribute__((export_name("aipol_test_bytes_prefix"))) int t_bytes_prefix(const uint8_t *a,
                                                                            uint32_t al,
                                                                            const char *b,
                                                                            uint32_t bl) {
  return aipol_bytes_prefix(a, al, b, bl);
}
#endif
