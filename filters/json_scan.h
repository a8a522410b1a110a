/* json_scan.h — the strict JSON scanner of json.c, exposed to the runtime's
 * other document scanners (response.c) so that every body aipol inspects is
 * validated and decoded by the same code. Internal to filters/: the
 * generated policy never includes it.
 *
 * proxy-wasm imports used: none (pure functions over byte buffers).
 *
 * A scanner walks one buffer; the functions below work at sc->pos, leave
 * sc->pos after what they consumed, return 0 on a fatal error and record it
 * in sc->err (AIPOL_JSON_SYNTAX, _TOO_DEEP, _NO_MEMORY). Containers: call
 * aipol_jscan_open at '[' or '{' (it also skips the whitespace after it),
 * then per element aipol_jscan_next, and at the closing byte advance past it
 * and decrement sc->depth, as json.c does.
 */
#ifndef AIPOL_JSON_SCAN_H
#define AIPOL_JSON_SCAN_H

#include "json.h"
#include "types.h"

typedef struct {
  const uint8_t *p;
  uint32_t len;
  uint32_t pos;
  uint32_t depth;  /* containers currently open */
  int err;         /* fatal: SYNTAX, TOO_DEEP, NO_MEMORY */
  int field_err;   /* deferred: BAD_FIELD */
  const char *field; /* the field of the first BAD_FIELD */
  aipol_chat_request *req; /* where message text tokens are recorded (NULL: nowhere) */
  uint32_t text_cap;
  uint32_t msg_index;
} aipol_jscan;

/* Whitespace, then the next byte (or -1 at the end). */
void aipol_jscan_ws(aipol_jscan *sc);
int aipol_jscan_peek(aipol_jscan *sc);
/* A string at sc->pos ('"'): validated, decoded into dst (cap bytes; dst may
 * be NULL); *dlen gets the full decoded length. */
int aipol_jscan_string(aipol_jscan *sc, uint8_t *dst, uint32_t cap, uint32_t *dlen);
/* An object key and its ':' (decoded into k when klen <= cap). */
int aipol_jscan_key(aipol_jscan *sc, uint8_t *k, uint32_t cap, uint32_t *klen);
/* Any value, validated. */
int aipol_jscan_skip(aipol_jscan *sc);
/* At '[' or '{': depth check, consumes it. */
int aipol_jscan_open(aipol_jscan *sc);
/* 1 if another element follows (',' consumed), 0 at `close`, -1 on error. */
int aipol_jscan_next(aipol_jscan *sc, uint8_t close);

#endif
