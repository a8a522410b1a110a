/* sse.h — DLP and deny lists on streamed chat completions (server-sent
 * events), for routes that scan responses.
 *
 * proxy-wasm imports used: proxy_get_buffer_bytes, proxy_set_buffer_bytes
 * (HTTP_RESPONSE_BODY); through util.c the metric and log calls.
 *
 * Every body chunk is parsed, rewritten and forwarded at once (the callback
 * returns Continue with the chunk replaced): the stream is never buffered
 * whole. What it does:
 *  - An incremental SSE parser: events (`data: ...` lines ended by a blank
 *    line, `\n` or `\r\n` line ends, split anywhere across chunks) are cut
 *    out of the bytes received; an incomplete event waits for the next
 *    chunk (fail closed past aipol_policy_max_body bytes). A lone `\r` line
 *    end is not supported (no provider sends it): such a stream would wait.
 *  - Events without data (comments), `data: [DONE]`, and data that is not
 *    model output (a JSON document without a "choices" array, an error
 *    event, non-JSON) are forwarded byte for byte. A document with
 *    "choices" that is not a chat.completion.chunk ends the stream with a
 *    response_not_inspectable error (fail closed).
 *  - For a chunk, choices[i].delta.content (decoded) is appended to the
 *    text window of choice `index` (up to AIPOL_SSE_MAX_CHOICES choices),
 *    the window is scanned with the route's scanners (aipol_dlp_window,
 *    dlp.h) and only the text that can no longer be part of a match is
 *    released: all but the last `hold` bytes (longest match of the
 *    scanners, unbounded patterns capped at 256 bytes, + 1 for a trailing
 *    \b), with redact/mask/hash applied. The event is re-emitted as one
 *    `data:` line with delta.content replaced by the released text (possibly
 *    ""); every other byte of its JSON is kept (id, model, created, role,
 *    finish_reason, usage, other choices). Other SSE fields of the event
 *    (event:, id:) are kept, comments inside a chunk event are dropped.
 *  - When a choice finishes (finish_reason not null) its window is flushed:
 *    into that event's content when it has one, else in an extra chunk
 *    event just before it (same id/object/created/model/system_fingerprint,
 *    that choice's index, finish_reason null). `[DONE]` and the end of the
 *    body flush every open window the same way, before [DONE].
 *  - A block match, or a failure (out of memory, an event over the limit,
 *    a choice index out of range, a delta with two "content" keys) ends the
 *    stream: the event is dropped, `data: {"error":{...,"code":...}}` and
 *    `data: [DONE]` are sent, and every later byte is dropped. The status
 *    (sent with the headers) stays 200.
 *  - Only delta.content is scanned: streamed tool_calls arguments and
 *    refusal deltas pass unscanned.
 */
#ifndef AIPOL_SSE_H
#define AIPOL_SSE_H

#include "types.h"

#define AIPOL_SSE_MAX_CHOICES 16
#define AIPOL_SSE_MAX_SCANNERS 8

/* Starts the SSE path for stream `s` (its route scans responses). 0 when
 * out of memory. */
int aipol_sse_begin(aipol_stream *s);
/* One response body chunk; always Continue. */
uint32_t aipol_sse_body(aipol_stream *s, uint32_t body_size, uint32_t end_of_stream);
void aipol_sse_free(aipol_stream *s);

#endif
