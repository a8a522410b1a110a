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

/* The key of the `hash` action's HMAC. */
void aipol_dlp_set_hash_key(const uint8_t *key, uint32_t len);

#endif
