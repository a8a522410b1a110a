/* auth.c — API key authentication against the principal table.
 *
 * proxy-wasm imports used: proxy_get_header_map_value (through headers.c).
 *
 * Keys are never stored: the configuration holds their SHA-256, the request's
 * key is hashed and looked up, and the final comparison is constant-time.
 */
#include "auth.h"
#include "alloc.h"
#include "config.h"
#include "headers.h"
#include "policy.h"
#include "sha256.h"
#include "util.h"

static int is_space(uint8_t c) { return c == ' ' || c == '\t'; }

static void trim(const uint8_t **p, uint32_t *n) {
  while (*n && is_space(**p)) (*p)++, (*n)--;
  while (*n && is_space((*p)[*n - 1])) (*n)--;
}

int aipol_bearer_token(const uint8_t *value, uint32_t len, aipol_slice *key) {
  const uint8_t *p = value;
  uint32_t n = len;
  trim(&p, &n);
  if (n < 6 || !aipol_ieq(p, "bearer", 6) || (n > 6 && !is_space(p[6]))) return 0;
  p += 6; /* "Bearer" with nothing after it is a Bearer credential with an empty key */
  n -= 6;
  trim(&p, &n);
  key->ptr = p;
  key->len = n;
  return 1;
}

const aipol_principal *aipol_principal_for_key(const uint8_t *key, uint32_t len) {
  uint8_t hash[32];
  aipol_sha256(key, len, hash);
  const aipol_principal *p = aipol_principal_find(hash);
  /* The search itself compares hashes (not keys); confirm in constant time. */
  if (p && !aipol_ct_eq(p->sha256, hash, 32)) p = 0;
  memset(hash, 0, sizeof(hash));
  return p;
}

int aipol_auth_api_key(aipol_stream *s) {
  aipol_slice v, key = {0, 0};
  int rc = AIPOL_AUTH_MISSING;
  int have_auth = aipol_request_header_get("authorization", 13, &v);
  if (have_auth) {
    if (aipol_bearer_token(v.ptr, v.len, &key)) rc = key.len ? AIPOL_AUTH_INVALID : AIPOL_AUTH_MISSING;
    else rc = AIPOL_AUTH_INVALID; /* another scheme (Basic, ...) */
  }
  if (!key.len) {
    /* No usable Bearer key: fall back to x-api-key (Anthropic-style clients). */
    aipol_slice x;
    if (aipol_request_header_get("x-api-key", 9, &x)) {
      const uint8_t *p = x.ptr;
      uint32_t n = x.len;
      trim(&p, &n);
      if (n) {
        const aipol_principal *pr = aipol_principal_for_key(p, n);
        if (s && pr) s->principal = pr;
        rc = pr ? AIPOL_AUTH_OK : AIPOL_AUTH_INVALID;
      }
      aipol_slice_free(&x);
    }
  } else {
    const aipol_principal *pr = aipol_principal_for_key(key.ptr, key.len);
    if (s && pr) s->principal = pr;
    rc = pr ? AIPOL_AUTH_OK : AIPOL_AUTH_INVALID;
  }
  if (have_auth) aipol_slice_free(&v);
  return rc;
}

#ifdef AIPOL_TEST_EXPORTS
/* Writes (offset, len) of the Bearer key into out[2]; returns 1 for Bearer. */
__attribute__((export_name("aipol_test_bearer"))) int t_bearer(const uint8_t *v, uint32_t len,
                                                                uint32_t *out) {
  aipol_slice k;
  if (!aipol_bearer_token(v, len, &k)) return 0;
  out[0] = (uint32_t)(k.ptr - v);
  out[1] = k.len;
  return 1;
}
/* Index of the principal for this key in the active table, or -1. */
__attribute__((export_name("aipol_test_key_lookup"))) int t_key_lookup(const uint8_t *k,
                                                                        uint32_t len) {
  const aipol_principal *p = aipol_principal_for_key(k, len);
  return p ? (int)(p - aipol_config_active()->principals) : -1;
}
#endif
