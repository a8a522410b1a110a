/* json.h — a bounded, non-allocating-per-byte JSON scanner for OpenAI chat
 * requests, and the rewriting helpers that keep the body valid JSON.
 *
 * proxy-wasm imports used: none (pure functions over byte buffers).
 */
#ifndef AIPOL_JSON_H
#define AIPOL_JSON_H

#include "types.h"

#define AIPOL_JSON_OK 0
#define AIPOL_JSON_SYNTAX 1     /* not valid JSON (RFC 8259) */
#define AIPOL_JSON_NOT_OBJECT 2 /* top level is not an object */
#define AIPOL_JSON_BAD_FIELD 3  /* a known field has the wrong type */
#define AIPOL_JSON_TOO_DEEP 4   /* nesting beyond AIPOL_JSON_MAX_DEPTH */
#define AIPOL_JSON_NO_MEMORY 5

#define AIPOL_JSON_MAX_DEPTH 64
#define AIPOL_MAX_MESSAGES 256  /* messages beyond this are counted, not kept */

typedef struct {
  aipol_slice role;        /* decoded (escapes resolved); empty if absent */
  aipol_slice content;     /* decoded text: a string, or the "text" parts of an
                              array-of-parts content joined with "\n" */
  uint32_t start, end;     /* byte range of the message object in the body */
} aipol_message;

/* A JSON string token of the body that holds message text: a string
 * `content`, or the `text` of a text part. Recorded for EVERY message (not
 * only the first AIPOL_MAX_MESSAGES), so that scanners (DLP, prompt guard,
 * deny lists) see all text and can rewrite it in place. */
#define AIPOL_ROLE_OTHER 0
#define AIPOL_ROLE_USER 1
#define AIPOL_ROLE_TOOL 2
#define AIPOL_ROLE_SYSTEM 3
#define AIPOL_ROLE_ASSISTANT 4
typedef struct {
  uint32_t message;  /* index in "messages" */
  uint32_t role;     /* AIPOL_ROLE_* of that message */
  uint32_t start, end; /* the string token, quotes included */
} aipol_text;

/* A top-level member of the request other than the ones decoded above
 * (temperature, tools, top_p, ...): its key and the byte range of its value. */
#define AIPOL_MAX_FIELDS 32
typedef struct {
  uint8_t name[24];
  uint32_t name_len;
  uint32_t start, end; /* value token(s): body[start] tells the type ('"', '{', 't', ...) */
} aipol_field;

typedef struct {
  const uint8_t *body;
  uint32_t body_len;
  /* "model": decoded string; has_model = 0 if absent */
  uint32_t has_model;
  aipol_slice model;
  uint32_t model_start, model_end;   /* byte range of the model value token, quotes included */
  /* "stream": has_stream, stream (0/1) */
  uint32_t has_stream, stream;
  /* "max_tokens" (or "max_completion_tokens"): has_max_tokens, max_tokens */
  uint32_t has_max_tokens;
  int64_t max_tokens;
  /* "messages": has_messages; the byte offsets of '[' and ']' of the array */
  uint32_t has_messages;
  uint32_t messages_open, messages_close;
  uint32_t message_count;            /* all messages, even past AIPOL_MAX_MESSAGES */
  aipol_message *messages;           /* the first min(count, AIPOL_MAX_MESSAGES) */
  uint32_t root_open, root_close;    /* byte offsets of the top-level '{' and '}' */
  /* On AIPOL_JSON_BAD_FIELD: the offending field, e.g. "messages[].role"
   * (static string; added for the 400 message). */
  const char *error_field;
  /* Other top-level members, in body order; fields_overflow is set when
   * there were more than AIPOL_MAX_FIELDS (or a key longer than 24 bytes). */
  uint32_t field_count, fields_overflow;
  aipol_field fields[AIPOL_MAX_FIELDS];
  aipol_text *texts; /* body order; freed by aipol_chat_free */
  uint32_t text_count;
} aipol_chat_request;

/* Decodes the string token [t->start, t->end) of req->body into a new block
 * (aipol_malloc; *len gets its length). NULL on allocation failure; an empty
 * string gives a non-NULL block of length 0. */
/* Queues the replacement of text token `t` by `json_string` (a complete JSON
 * string literal, quotes included; taken: freed with the stream's edits). */
void aipol_chat_replace_text(aipol_stream *s, const aipol_text *t, uint8_t *json_string,
                             uint32_t len);

uint8_t *aipol_text_decode(const aipol_chat_request *req, const aipol_text *t, uint32_t *len);
/* The same for the string token [start, end) of any body (quotes included). */
uint8_t *aipol_json_string_decode(const uint8_t *body, uint32_t start, uint32_t end,
                                  uint32_t *len);

/* The top-level member `name` (not model/messages/stream/max_tokens), or NULL. */
const aipol_field *aipol_chat_field(const aipol_chat_request *req, const char *name, uint32_t len);

/* 1 and the value in *out if the member is a JSON number, else 0. */
int aipol_field_number(const aipol_chat_request *req, const aipol_field *f, double *out);

/* Parses `body` as a chat request. On success fills `out` (decoded strings are
 * allocated with aipol_malloc and released by aipol_chat_free). Validates the
 * whole document, not only the fields it keeps. */
int aipol_json_parse_chat(const uint8_t *body, uint32_t len, aipol_chat_request *out);
void aipol_chat_free(aipol_chat_request *req);

/* Writes `len` bytes of `s` as a JSON string literal (quotes included) into
 * out (capacity cap). Returns the bytes written, or 0 if cap is too small
 * (needs at most 6*len+2). Escapes ", \, control characters (\n, \t, ...,
 * \u00XX); invalid UTF-8 is replaced by U+FFFD. */
uint32_t aipol_json_escape(const uint8_t *s, uint32_t len, uint8_t *out, uint32_t cap);

/* Applies sorted, non-overlapping edits to `body`; returns a new buffer
 * (aipol_malloc) and its length in *out_len, or NULL on failure. */
uint8_t *aipol_apply_edits(const uint8_t *body, uint32_t len,
                           const aipol_edit *edits, uint32_t n, uint32_t *out_len);

/* Frees the texts of the edits queued in s->edits and empties the queue. */
void aipol_edits_free(aipol_stream *s);

#endif
