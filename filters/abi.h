/* abi.h — the proxy-wasm 0.2.1 host imports the runtime uses, and the
 * runtime's stream table.
 *
 * proxy-wasm imports used (declared here, module "env"): proxy_log,
 * proxy_get_buffer_bytes, proxy_set_buffer_bytes, proxy_get_header_map_pairs,
 * proxy_get_header_map_value,
 * proxy_add_header_map_value, proxy_replace_header_map_value,
 * proxy_remove_header_map_value, proxy_send_local_response,
 * proxy_set_property, proxy_call_foreign_function, proxy_define_metric,
 * proxy_increment_metric.
 *
 * Only 0.2.1 functions may be imported: Envoy refuses to load a module that
 * imports a function it does not provide.
 */
#ifndef AIPOL_ABI_H
#define AIPOL_ABI_H

#include "types.h"

#define AIPOL_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* WasmResult */
#define PW_OK 0
#define PW_NOT_FOUND 1
#define PW_BAD_ARGUMENT 2

/* MapType */
#define PW_MAP_REQUEST_HEADERS 0
#define PW_MAP_RESPONSE_HEADERS 2

/* BufferType */
#define PW_BUFFER_REQUEST_BODY 0
#define PW_BUFFER_RESPONSE_BODY 1
#define PW_BUFFER_PLUGIN_CONFIGURATION 7

/* Log levels */
#define PW_LOG_DEBUG 1
#define PW_LOG_INFO 2
#define PW_LOG_WARN 3
#define PW_LOG_ERROR 4

/* Callback return values */
#define PW_CONTINUE 0
#define PW_STOP 1 /* headers: StopIteration; body: StopIterationAndBuffer */

AIPOL_IMPORT(proxy_log)
uint32_t proxy_log(uint32_t level, const uint8_t *msg, uint32_t len);
AIPOL_IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max, uint8_t **ret_ptr,
                                uint32_t *ret_len);
AIPOL_IMPORT(proxy_set_buffer_bytes)
uint32_t proxy_set_buffer_bytes(uint32_t type, uint32_t start, uint32_t size, const uint8_t *data,
                                uint32_t len);
AIPOL_IMPORT(proxy_get_header_map_pairs)
uint32_t proxy_get_header_map_pairs(uint32_t map, uint8_t **ret_ptr, uint32_t *ret_len);
AIPOL_IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const uint8_t *key, uint32_t key_len,
                                    uint8_t **ret_ptr, uint32_t *ret_len);
AIPOL_IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const uint8_t *key, uint32_t key_len,
                                    const uint8_t *val, uint32_t val_len);
AIPOL_IMPORT(proxy_replace_header_map_value)
uint32_t proxy_replace_header_map_value(uint32_t map, const uint8_t *key, uint32_t key_len,
                                        const uint8_t *val, uint32_t val_len);
AIPOL_IMPORT(proxy_remove_header_map_value)
uint32_t proxy_remove_header_map_value(uint32_t map, const uint8_t *key, uint32_t key_len);
AIPOL_IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status, const uint8_t *details, uint32_t details_len,
                                   const uint8_t *body, uint32_t body_len, const uint8_t *pairs,
                                   uint32_t pairs_len, int32_t grpc_status);
AIPOL_IMPORT(proxy_set_property)
uint32_t proxy_set_property(const uint8_t *path, uint32_t path_len, const uint8_t *val,
                            uint32_t val_len);
AIPOL_IMPORT(proxy_call_foreign_function)
uint32_t proxy_call_foreign_function(const uint8_t *name, uint32_t name_len, const uint8_t *args,
                                     uint32_t args_len, uint8_t **ret_ptr, uint32_t *ret_len);
AIPOL_IMPORT(proxy_define_metric)
uint32_t proxy_define_metric(uint32_t type, const uint8_t *name, uint32_t name_len,
                             uint32_t *ret_id);
AIPOL_IMPORT(proxy_increment_metric)
uint32_t proxy_increment_metric(uint32_t id, int64_t delta);

/* The stream of context `context_id`, or NULL. */
struct aipol_stream *aipol_stream_get(uint32_t context_id);

#endif
