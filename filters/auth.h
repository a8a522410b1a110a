/* auth.h — API key authentication (aipol_auth_api_key, see policy.h).
 *
 * proxy-wasm imports used: proxy_get_header_map_value (through headers.c).
 */
#ifndef AIPOL_AUTH_H
#define AIPOL_AUTH_H

#include "types.h"

/* Extracts the key from an `authorization` header value: "Bearer <key>"
 * (scheme case-insensitive, spaces/tabs trimmed). Returns 1 and the key
 * slice (pointing into value) for a Bearer credential, 0 otherwise. */
int aipol_bearer_token(const uint8_t *value, uint32_t len, aipol_slice *key);

/* The principal for an API key (hashes it), or NULL. */
const aipol_principal *aipol_principal_for_key(const uint8_t *key, uint32_t len);

#endif
