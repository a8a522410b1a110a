/* headers.h — request/response header access and the serialized header
 * pairs format (proxy-wasm ABI §4.2).
 *
 * proxy-wasm imports used: proxy_get_header_map_value,
 * proxy_add_header_map_value, proxy_replace_header_map_value,
 * proxy_remove_header_map_value.
 */
#ifndef AIPOL_HEADERS_H
#define AIPOL_HEADERS_H

#include "types.h"

/* Reads the first value of header `name` (lower-case) of map `map` into *out
 * (a block owned by the caller: free with aipol_slice_free). Returns 1 if
 * the header exists (its value may be empty), 0 otherwise. */
int aipol_header_get(uint32_t map, const char *name, uint32_t name_len, aipol_slice *out);
/* Request header snapshot: one proxy_get_header_map_pairs call at the start
 * of the request-headers callback; aipol_request_header_get then reads from
 * it (first entry of a name, as proxy_get_header_map_value) until it is
 * released. aipol_request_header_set/_remove keep it up to date (and skip
 * the host call for removing a header it does not hold). */
void aipol_request_headers_snapshot(void);
void aipol_request_headers_release(void);
int aipol_request_header_get(const char *name, uint32_t name_len, aipol_slice *out);
int aipol_response_header_get(const char *name, uint32_t name_len, aipol_slice *out);

/* Mutations: 1 on success. */
int aipol_header_set(uint32_t map, const char *name, uint32_t name_len, const uint8_t *value,
                     uint32_t value_len);
int aipol_header_add(uint32_t map, const char *name, uint32_t name_len, const uint8_t *value,
                     uint32_t value_len);
int aipol_header_remove(uint32_t map, const char *name, uint32_t name_len);

/* Serializes n (key, value) pairs: u32 count, count x (u32 key_len, u32
 * value_len), then each key and value followed by a NUL byte. Returns an
 * aipol_malloc block (length in *out_len) or NULL. */
uint8_t *aipol_header_pairs(const aipol_slice *keys, const aipol_slice *values, uint32_t n,
                            uint32_t *out_len);

#endif
