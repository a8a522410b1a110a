/* response.h — inspection of non-streamed upstream responses: a strict
 * scanner for OpenAI chat completion bodies, and the response phase of the
 * runtime for routes that scan responses (`dlp response`, `deny words ... in
 * response`).
 *
 * proxy-wasm imports used: proxy_get_buffer_bytes, proxy_set_buffer_bytes
 * (HTTP_RESPONSE_BODY), and through headers.c the response header calls.
 *
 * What the runtime does on such a route (Envoy facts: ABI reference §3.2,
 * §5.1, §5.3):
 *  - on_response_headers: a JSON response gets its content-length removed
 *    (the body may change; Envoy re-frames it, chunked on HTTP/1.1) and is
 *    buffered; headers are NOT held (returning StopIteration would become
 *    StopAllIterationAndWatermark, which stops the body callbacks), so they
 *    reach the client before the body is inspected and the status code can no
 *    longer change. Any other content type passes through unscanned (counted
 *    as aipol.response.unscanned), except a compressed JSON body or event
 *    stream, which the gateway cannot inspect: that body is replaced by an
 *    error (fail closed, aipol.response.not_inspectable). An uncompressed
 *    event stream (`text/event-stream`, a `"stream": true` request) is
 *    scanned chunk by chunk and forwarded as it goes: see sse.h.
 *  - on_response_body: StopIterationAndBuffer until end_of_stream, then the
 *    body is parsed; a body that is not a chat completion passes unchanged
 *    (counted); otherwise the generated aipol_policy_response_body runs the
 *    route's scanners, which rewrite message text in place (redact, mask,
 *    hash) or block: the whole body becomes an OpenAI-format error
 *    {"error":{...,"code":"dlp_blocked"}} under the upstream's status.
 *  - A body over aipol_policy_max_body is dropped while it arrives (so
 *    Envoy's buffer does not grow) and replaced by an error at its end
 *    (code response_too_large): fail closed.
 *  - A body followed by trailers ends in on_response_trailers.
 */
#ifndef AIPOL_RESPONSE_H
#define AIPOL_RESPONSE_H

#include "json.h"
#include "types.h"

/* aipol_stream.response_mode */
#define AIPOL_RESPONSE_SCAN 1      /* buffer, then parse and scan */
#define AIPOL_RESPONSE_REFUSE 2    /* cannot be inspected: replaced by an error */
#define AIPOL_RESPONSE_TOO_LARGE 3 /* over the limit: dropped, replaced by an error */
#define AIPOL_RESPONSE_SSE 4       /* an event stream: scanned chunk by chunk (sse.c) */

/* Parse status beyond json.h's: valid JSON, but no "choices" array. */
#define AIPOL_JSON_NOT_CHAT 6

/* A parsed chat completion (or legacy completion) response. The texts are
 * the string tokens of choices[*].message.content (every string inside it,
 * whatever its shape), choices[*].message.tool_calls[*].function.arguments,
 * choices[*].message.function_call.arguments and choices[*].text, in body
 * order; aipol_text.message is the choice's position, role ASSISTANT. Every
 * occurrence of a repeated key is recorded. */
typedef struct {
  const uint8_t *body;
  uint32_t body_len;
  aipol_text *texts;
  uint32_t text_count, text_cap;
  uint32_t choice_count;
  /* Filled by the scanners (aipol_dlp_response): rewrites of text tokens in
   * body order, or a block. */
  aipol_edit *edits;
  uint32_t edit_count, edit_cap;
  uint32_t edit_error;         /* a rewrite could not be queued: fail closed */
  const char *block_code;      /* non-NULL: replace the body by this error */
  const char *block_name;      /* the detector that blocked */
  uint32_t block_name_len;
} aipol_chat_response;

/* Parses a response body. AIPOL_JSON_OK, a json.h error, or
 * AIPOL_JSON_NOT_CHAT. Free with aipol_response_free whatever the result. */
int aipol_json_parse_response(const uint8_t *body, uint32_t len, aipol_chat_response *out);
void aipol_response_free(aipol_chat_response *r);

/* Queues the replacement of text token `t` (texts must be queued in body
 * order) by `json_string` (taken). */
void aipol_response_replace_text(aipol_chat_response *r, const aipol_text *t,
                                 uint8_t *json_string, uint32_t len);
/* Marks the response blocked by detector `name` with error `code`. */
void aipol_response_block(aipol_chat_response *r, const char *code, const char *name,
                          uint32_t name_len);

/* Response phase of the runtime (abi.c calls the first one from
 * on_response_headers for routes that scan responses; the generated policy
 * exports the other two as proxy_on_response_body / _trailers, only when some
 * route scans responses). */
void aipol_response_headers_begin(aipol_stream *s, uint32_t end_of_stream);
uint32_t aipol_response_body(uint32_t ctx, uint32_t body_size, uint32_t end_of_stream);
uint32_t aipol_response_trailers(uint32_t ctx);

#endif
