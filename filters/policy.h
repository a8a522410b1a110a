/* policy.h — the contract between the filter runtime (the .c files in filters/) and the
 * policy code that the compiler generates (policy.c, one per .aipol file).
 *
 * proxy-wasm imports used: none directly (see abi.h, headers.h).
 *
 * Division of labour:
 *   - The runtime owns the proxy-wasm exports (abi.c): context lifecycle,
 *     buffering of the request body, plugin configuration (the principal
 *     table), JSON parsing of the request, body rewriting, local replies.
 *   - The generated policy.c owns decisions: which route a path is, what a
 *     route requires, where a request goes, what it rewrites. It is straight
 *     line code over `static const` data and calls only the functions below.
 *
 * Order of calls for one request (abi.c):
 *   on_request_headers:
 *     route = aipol_policy_match_route(path, method)      (-1: 404 local reply)
 *     r = aipol_policy_request_headers(s)                 (auth, header ops)
 *     if r == AIPOL_STOP: a local reply was sent, stop.
 *     if the request has no body (end_of_stream): aipol_policy_request_body(s, NULL)
 *     else if route needs the body: checks content-type (415) and
 *       content-length against aipol_policy_max_body (413), returns Continue
 *       (the buffer filter after us holds the headers) and buffers the body.
 *   on_request_body (end_of_stream):
 *     parse the JSON (400 on error), aipol_policy_request_body(s, &req),
 *     apply the edits collected in s->edits to the body.
 *   on_response_headers: aipol_policy_response_headers(s); if
 *     aipol_policy_route_scans_response(route): aipol_response_headers_begin
 *     (response.c) decides whether the body is buffered.
 *   on_response_body (exported by the generated code only when some route
 *     scans responses; it calls aipol_response_body): at end_of_stream, parse
 *     the chat completion, aipol_policy_response_body(s, &resp), apply its
 *     rewrites or replace the body by the block error.
 */
#ifndef AIPOL_POLICY_H
#define AIPOL_POLICY_H

#include "types.h"
#include "json.h"
#include "response.h"

/* Return codes of the policy hooks. */
#define AIPOL_CONTINUE 0  /* go on (body phase follows if the route needs it) */
#define AIPOL_STOP 1      /* a local reply was sent with aipol_send_error */

/* ---- defined by the generated policy.c ---------------------------------- */

extern const char aipol_policy_name[];          /* NUL-terminated policy name */
extern const uint32_t aipol_policy_max_body;     /* bytes; larger bodies get 413 */

/* Index of the route for this request, or -1 if no route matches. */
int aipol_policy_match_route(const uint8_t *path, uint32_t path_len,
                             const uint8_t *method, uint32_t method_len);

/* 1 if route `route` needs the request body (model routing, allow by model,
 * system prompt injection, body checks), else 0. */
int aipol_policy_route_needs_body(int route);

/* Header phase of s->route: authentication, request header edits. */
int aipol_policy_request_headers(aipol_stream *s);

/* Body phase of s->route. `req` is NULL for a request without a body.
 * Chooses the backend (aipol_route_to), checks authorization, queues body
 * edits (aipol_chat_set_model, aipol_chat_insert_system). */
int aipol_policy_request_body(aipol_stream *s, const aipol_chat_request *req);

/* Response header phase of s->route: response header edits. */
int aipol_policy_response_headers(aipol_stream *s);

/* 1 if route `route` inspects response bodies (`dlp response`, `deny words
 * ... in response`), else 0. Such a route scans streamed answers too
 * (sse.c, through aipol_policy_response_scanners, declared in dlp.h). */
int aipol_policy_route_scans_response(int route);

/* Response body phase of s->route: runs the response scanners over a parsed
 * chat completion; they queue rewrites in resp or mark it blocked. */
int aipol_policy_response_body(aipol_stream *s, aipol_chat_response *resp);

/* ---- provided by the runtime for the generated code --------------------- */

/* Authentication with an API key: reads `authorization: Bearer <key>` or
 * `x-api-key: <key>`, hashes it with SHA-256 and looks the hash up in the
 * principal table from the plugin configuration. On success sets
 * s->principal and returns AIPOL_AUTH_OK. */
#define AIPOL_AUTH_OK 0
#define AIPOL_AUTH_MISSING 1
#define AIPOL_AUTH_INVALID 2
int aipol_auth_api_key(aipol_stream *s);

/* Sends an OpenAI-format error as a local reply:
 *   {"error":{"message":"<msg, JSON-escaped>","type":"<type>","param":null,"code":"<code>"}}
 * with content-type application/json. `details` ends up in Envoy's
 * %RESPONSE_CODE_DETAILS% (aipol_<code>). Counts the metric
 * aipol.denied.<code>. Returns AIPOL_STOP. */
int aipol_send_error(aipol_stream *s, uint32_t status, const char *type,
                     const char *code, const uint8_t *msg, uint32_t msg_len);

/* Request / response header edits, valid only in the header phases. */
void aipol_request_header_set(const char *name, uint32_t name_len,
                              const uint8_t *value, uint32_t value_len);
void aipol_request_header_remove(const char *name, uint32_t name_len);
void aipol_response_header_set(const char *name, uint32_t name_len,
                               const uint8_t *value, uint32_t value_len);
void aipol_response_header_remove(const char *name, uint32_t name_len);

/* Routes the request to backend `name`: sets the property `aipol_backend`
 * (filter state wasm.aipol_backend, matched by the generated Envoy route)
 * and calls the foreign function clear_route_cache. Records s->backend. */
void aipol_route_to(aipol_stream *s, int backend, const char *name, uint32_t name_len);

/* Sticky bucket in [0, 10000) for weighted splits: FNV-1a 32-bit over
 * the bytes of `seed`, a 0x00 byte, then the principal name (or, without a
 * principal, the x-request-id header), reduced modulo 10000. The Python
 * reference is aipol.compiler.sticky.bucket. */
uint32_t aipol_sticky_bucket(aipol_stream *s, const char *seed, uint32_t seed_len);

/* Byte-string helpers for the generated decisions. */
int aipol_bytes_eq(const uint8_t *a, uint32_t a_len, const char *b, uint32_t b_len);
int aipol_bytes_prefix(const uint8_t *a, uint32_t a_len, const char *prefix, uint32_t p_len);

/* Body edits on a parsed chat request (queued in s->edits, applied by the
 * runtime once the body hook returns AIPOL_CONTINUE). `json_value` must be
 * a complete JSON value (the compiler emits JSON-encoded string literals,
 * quotes included). */
void aipol_chat_set_model(aipol_stream *s, const aipol_chat_request *req,
                          const char *json_value, uint32_t len);
/* Inserts {"role":"system","content":<json_string>} before the first
 * message (at_end = 0) or after the last message (at_end = 1). */
void aipol_chat_insert_system(aipol_stream *s, const aipol_chat_request *req,
                              int at_end, const char *json_string, uint32_t len);

/* Filter state: stores `value` under property `name` (Envoy filter state
 * wasm.<name>, printable in the access log). Implemented in state.c. */
void aipol_set_state(const char *name, uint32_t name_len, aipol_slice value);

/* Metrics: counter named `name` (defined once, id cached), incremented by 1. */
void aipol_count(const char *name, uint32_t name_len);

/* Logging at a proxy-wasm log level (0 trace .. 5 critical). */
void aipol_log(uint32_t level, const char *msg, uint32_t msg_len);

#endif
