/* reply.h — OpenAI-format error replies (aipol_send_error, see policy.h).
 *
 * proxy-wasm imports used: proxy_send_local_response (and, through util.c,
 * the metric imports).
 */
#ifndef AIPOL_REPLY_H
#define AIPOL_REPLY_H

#include "types.h"

/* Builds the error body
 *   {"error":{"message":"<msg>","type":"<type>","param":null,"code":"<code>"}}
 * (every string JSON-escaped). Returns an aipol_malloc block or NULL. */
uint8_t *aipol_error_body(const char *type, const char *code, const uint8_t *msg, uint32_t msg_len,
                          uint32_t *out_len);

#endif
