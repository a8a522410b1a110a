/* guard.h — prompt_guard injection: the risk score of user and tool message
 * text (normalisation, pattern families, features), as specified by the
 * Python reference compiler/injection.py.
 *
 * proxy-wasm imports used: none directly (reply.c sends the 400 of block
 * mode, util.c counts the metric and logs in detect mode).
 *
 * The pattern tables are generated (compiler/guard.py) into the policy as
 * static data: one small unanchored scanner per pattern, each with its own
 * byte -> column map, its rows stored compressed (a row is a default target
 * plus exceptions, or another state's row plus exceptions; see
 * aipol_guard_scanner). Only "did the pattern match at all" is needed, so
 * there are no forward/reverse tables.
 */
#ifndef AIPOL_GUARD_H
#define AIPOL_GUARD_H

#include "json.h"
#include "types.h"

#define AIPOL_GUARD_MAX_FAMILIES 64
#define AIPOL_GUARD_NFEATURES 5 /* zero_width_in_word, mixed_script_word, tag_run,
                                   base64_blob, base64_instruction */

/* State s's record is recs[offs[s], offs[s+1]): `base` and `dflt` (one byte
 * each, two little-endian bytes each when `wide`), then (column, target)
 * pairs (target one or two bytes). Next state of s on column c: the pair for
 * c if any; else, when base == s, dflt; else the pair of state `base` for c,
 * else base's dflt (a base state never has a base itself). States >=
 * first_accept are accepting (the pattern matched). */
typedef struct {
  uint16_t family;
  uint16_t wide;
  uint16_t start;
  uint16_t first_accept;
  uint16_t nstates;
  const uint8_t *classes; /* [256] */
  const uint16_t *offs;   /* [nstates + 1] */
  const uint8_t *recs;
} aipol_guard_scanner;

typedef struct {
  const char *name;
  uint32_t name_len;
  uint32_t weight;
} aipol_guard_item;

typedef struct {
  uint32_t nscan;
  const aipol_guard_scanner *scan; /* grouped by family, in family order */
  uint32_t nfamilies;              /* <= AIPOL_GUARD_MAX_FAMILIES */
  const aipol_guard_item *families;
  const aipol_guard_item *features;      /* [AIPOL_GUARD_NFEATURES] */
  const uint32_t *feature_min;           /* [AIPOL_GUARD_NFEATURES] min_count */
  const uint8_t *homoglyphs;             /* triples: byte 1, byte 2, ASCII letter */
  uint32_t nhomoglyphs;
  uint32_t b64_min_run, b64_blob_run, b64_max_runs, b64_max_chars, b64_min_decoded;
} aipol_guard_model;

typedef struct {
  uint32_t mode; /* AIPOL_GUARD_DETECT or AIPOL_GUARD_BLOCK */
  uint32_t threshold;
  const char *metric; /* aipol.guard.<route>.detected */
  uint32_t metric_len;
  const aipol_guard_model *model;
} aipol_guard;

#define AIPOL_GUARD_DETECT 0
#define AIPOL_GUARD_BLOCK 1
#define AIPOL_GUARD_OOM 0xFFFFFFFFu /* aipol_guard_score: out of memory */

/* Score of one text (0..100); *families gets the mask of the matched families
 * and *features the mask of the fired features. */
uint32_t aipol_guard_score(const aipol_guard_model *m, const uint8_t *text, uint32_t len,
                           uint64_t *families, uint32_t *features);

/* Scores every user and tool message text of the request. block: a text at or
 * over the threshold gets a 400 `prompt_injection` naming the families (never
 * the text); detect: counts the metric and logs, once per request. */
int aipol_guard_request(aipol_stream *s, const aipol_chat_request *req, const aipol_guard *g);

#endif
