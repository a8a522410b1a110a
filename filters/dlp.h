/* dlp.h — data loss prevention on message text: every detector of a route
 * scanned at once with one compiled DFA set (dfa.h), checksum validators
 * after the match (validate.h), then the rule's action: block the request,
 * or rewrite the text (redact, mask, hash), or only count it (log).
 *
 * proxy-wasm imports used: none directly (replies through reply.c, metrics
 * and logs through util.c).
 *
 * The generated policy holds, per route and direction, an aipol_dlp: the
 * DFA set and one rule per pattern of the set (a detector with several
 * patterns has that many identical rules).
 */
#ifndef AIPOL_DLP_H
#define AIPOL_DLP_H

#include "dfa.h"
#include "json.h"
#include "response.h"
#include "types.h"

#define AIPOL_DLP_REDACT 0
#define AIPOL_DLP_MASK 1
#define AIPOL_DLP_HASH 2
#define AIPOL_DLP_BLOCK 3
#define AIPOL_DLP_LOG 4

typedef struct {
  uint32_t action;    /* AIPOL_DLP_* */
  uint32_t validator; /* AIPOL_VALIDATOR_* (0: none) */
  const char *name;   /* detector name, as written in the policy */
  uint32_t name_len;
  const char *label;  /* [REDACTED:<label>] */
  uint32_t label_len;
  const char *metric; /* counter: aipol.dlp.<route>.<detector>.<action> */
  uint32_t metric_len;
  uint32_t roles;     /* bit (1 << AIPOL_ROLE_*) of the messages it applies to */
} aipol_dlp_rule;

typedef struct {
  const aipol_dfa_set *set;
  const aipol_dlp_rule *rules; /* [set->npatterns] */
  const char *block_code;      /* error code of a block: dlp_blocked, content_blocked */
} aipol_dlp;

#define AIPOL_DLP_ALL_ROLES 0xFFu

/* Scans every message text of `req`. A `block` match sends a 400 in
 * OpenAI's format naming the detector (never the value) and returns
 * AIPOL_STOP; rewrites are queued as body edits. Returns AIPOL_CONTINUE
 * otherwise. Every match acted on is counted and logged without its value. */
int aipol_dlp_request(aipol_stream *s, const aipol_chat_request *req, const aipol_dlp *dlp);

/* The same on a chat completion response: a block marks `resp` blocked
 * (aipol_response_block; the runtime replaces the body, no reply is sent:
 * the response headers are gone) and returns AIPOL_STOP; rewrites are
 * queued in resp->edits. `s` is unused (kept for symmetry). */
int aipol_dlp_response(aipol_stream *s, aipol_chat_response *resp, const aipol_dlp *dlp);

/* Provided by the generated policy: the response scanners of route `route`
 * in the order they run (the first min(count, max) written to out). The SSE
 * path (sse.c) scans streamed deltas with them. */
uint32_t aipol_policy_response_scanners(int route, const aipol_dlp **out, uint32_t max);

/* ---- streaming (sse.c) ----
 * A stream's text is scanned in a window: text[0, rel) was released already
 * (kept as left context for \b and so a match is never cut), text[rel, len)
 * is pending. aipol_dlp_window decides the matches that start in the
 * pending part and cannot change with more text (those starting at least
 * `hold` bytes before the end; all of them when `final`), acts on them
 * (counted once) and releases text[rel, upto): `upto` is len - hold, moved
 * past a rewritten match that straddles it and back to a UTF-8 boundary.
 * Unbounded patterns are capped at AIPOL_DLP_STREAM_CAP bytes of
 * hold-back; a match of one still running at the end of the window is held
 * from its start, up to AIPOL_DLP_STREAM_MAX_PENDING pending bytes. */
#define AIPOL_DLP_STREAM_CAP 256u
#define AIPOL_DLP_STREAM_MAX_PENDING 4096u

typedef struct {
  uint32_t upto;                /* released up to here */
  uint8_t *text;                /* the released text, rewritten (aipol_malloc'd) */
  uint32_t text_len;
  const aipol_dlp_rule *block;  /* a block rule matched: release nothing */
  const char *block_code;
} aipol_dlp_release;

/* Bytes of hold-back the scanners need: longest match (capped) + 1. */
uint32_t aipol_dlp_hold(const aipol_dlp *const *dlps, uint32_t n);
/* 0 (r filled), 1 blocked (r->block), -1 out of memory. */
int aipol_dlp_window(const aipol_dlp *const *dlps, uint32_t ndlp, const uint8_t *text,
                     uint32_t len, uint32_t rel, uint32_t hold, int final, aipol_dlp_release *r);

/* The key of the `hash` action's HMAC. */
void aipol_dlp_set_hash_key(const uint8_t *key, uint32_t len);

#endif
