/* util.h — byte helpers, FNV-1a, sticky buckets, routing, metrics, logging.
 *
 * proxy-wasm imports used: proxy_log, proxy_set_property,
 * proxy_call_foreign_function, proxy_define_metric, proxy_increment_metric.
 * (The policy-facing functions are declared in policy.h.)
 */
#ifndef AIPOL_UTIL_H
#define AIPOL_UTIL_H

#include "types.h"

#define AIPOL_FNV_OFFSET 2166136261u
#define AIPOL_FNV_PRIME 16777619u

uint32_t aipol_fnv1a(uint32_t h, const uint8_t *p, uint32_t len);

/* The bucket in [0, 10000) of `who` for split `seed` (the pure part of
 * aipol_sticky_bucket). */
uint32_t aipol_sticky_bucket_of(const uint8_t *seed, uint32_t seed_len, const uint8_t *who,
                                uint32_t who_len);

/* Lower-cases ASCII. */
static inline uint8_t aipol_lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Case-insensitive ASCII comparison of a[0..n) with the lower-case b. */
int aipol_ieq(const uint8_t *a, const char *b, uint32_t n);

/* 1 if a content-type value names the media type `type` (lower-case, type_len
 * bytes): parameters such as "; charset=utf-8" ignored, case-insensitive. */
int aipol_media_type_is(const uint8_t *p, uint32_t n, const char *type, uint32_t type_len);

/* Constant-time comparison of n bytes: 1 if equal. */
int aipol_ct_eq(const uint8_t *a, const uint8_t *b, uint32_t n);

/* Appends the decimal form of v to out (at least 20 bytes free); returns
 * the number of bytes written. */
uint32_t aipol_u64_to_dec(uint64_t v, uint8_t *out);

/* Logs the concatenation of up to three pieces (NULL pieces are skipped). */
void aipol_log3(uint32_t level, const char *a, const uint8_t *b, uint32_t b_len, const char *c);

/* Frees the metric name cache (tests). */
void aipol_metrics_reset(void);

#endif
