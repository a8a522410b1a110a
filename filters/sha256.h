/* sha256.h — SHA-256 (FIPS 180-4), streaming and one-shot.
 *
 * proxy-wasm imports used: none.
 */
#ifndef AIPOL_SHA256_H
#define AIPOL_SHA256_H

#include "types.h"

typedef struct {
  uint32_t h[8];
  uint64_t total;     /* bytes hashed so far */
  uint8_t buf[64];
  uint32_t buf_len;
} aipol_sha256_ctx;

void aipol_sha256_init(aipol_sha256_ctx *c);
void aipol_sha256_update(aipol_sha256_ctx *c, const uint8_t *p, uint32_t len);
void aipol_sha256_final(aipol_sha256_ctx *c, uint8_t out[32]);
void aipol_sha256(const uint8_t *p, uint32_t len, uint8_t out[32]);

#endif
