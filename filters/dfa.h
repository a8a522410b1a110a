/* dfa.h — the regex runner: byte-level DFA tables compiled from patterns
 * (compiler/regex/, emitted as static const data into the policy) and the
 * code that scans text with them.
 *
 * proxy-wasm imports used: none.
 *
 * A set holds up to 64 patterns. Its tables:
 *   - scan[0..nscan): unanchored DFAs of .*(p1|p2|...), each for a group
 *     of the patterns (one big DFA for patterns sharing bytes would be the
 *     product of their DFAs). They share ONE byte -> column map
 *     (set->scan_classes) and row width (set->scan_cols), and their states
 *     are stored as row offsets (state * scan_cols; see aipol_dfa_scan), so
 *     the runner steps several scanners in one pass at one class lookup per
 *     byte and one load per scanner. A state >= first_accept carries
 *     accept[(state - first_accept) / scan_cols], the mask of the patterns
 *     with a match ending at the current position. A pattern with a trailing \b
 *     is reported one step late, after the non-word byte that follows the
 *     match (so a match ending at e shows up after byte e was consumed), or
 *     on the EOF column (the last one, present when set->eof) when it ends
 *     at the end of the text;
 *   - fwd[i] / rev[i], each with its own byte -> column map (equal maps
 *     are shared): anchored DFAs of pattern i and of its reversal,
 *     used to find the longest end from a start and the leftmost start
 *     from an end. A state >= first_accept accepts; `dead` (or
 *     AIPOL_DFA_NONE) never accepts again.
 *
 * Match semantics, per pattern: leftmost-longest, non-overlapping (POSIX).
 * \b at the start of a pattern means "the byte before the match is not
 * [A-Za-z0-9_] (or the match starts the text)", at the end "the byte after
 * the match is not [A-Za-z0-9_] (or it ends the text)". Matches of
 * different patterns may overlap.
 *
 * Cost: one class lookup per byte plus one table load per byte per
 * scanner, the scanners stepped AIPOL_DFA_FUSE at a time in one pass (no
 * allocation, no recursion), then per match a reverse scan (back to where the reversed
 * pattern dies, at most the pattern's longest match) and a forward scan
 * (the match plus the bytes the forward DFA needs to see it cannot grow).
 * Only for left_fix patterns, whose unbounded ones may cost more than
 * linear time on hostile input, each start before the found one is tried
 * (back to the previous match, or the longest match).
 */
#ifndef AIPOL_DFA_H
#define AIPOL_DFA_H

#include "types.h"

#define AIPOL_DFA_NONE 0xFFFFFFFFu
#define AIPOL_DFA_MAX_PATTERNS 64
#define AIPOL_DFA_MAX_SCANS 64
#define AIPOL_DFA_FUSE 4 /* scanners stepped together in one pass */

typedef struct {
  uint32_t nstates;
  uint32_t ncols;         /* row width */
  uint32_t start;
  uint32_t dead;          /* AIPOL_DFA_NONE if there is none */
  uint32_t first_accept;  /* states >= first_accept accept */
  const uint8_t *classes; /* [256] byte -> column */
  const uint8_t *next8;   /* [nstates][ncols], when the DFA has <= 256 states */
  const uint16_t *next16; /* [nstates][ncols] otherwise (next8 == NULL) */
  const uint64_t *accept; /* unused (NULL) */
} aipol_dfa;

/* A scanner. Every value here and in next16/next32 is a row offset
 * (state * set->scan_cols), so a step is `st = next[st + column]`. */
typedef struct {
  uint32_t nstates;
  uint32_t start;
  uint32_t first_accept;  /* offsets >= first_accept accept */
  const uint16_t *next16; /* [nstates][scan_cols] offsets, when !set->scan_wide */
  const uint32_t *next32; /* the same, when set->scan_wide (next16 == NULL) */
  const uint64_t *accept; /* [nstates - first_accept / scan_cols] pattern masks */
} aipol_dfa_scan;

typedef struct {
  uint32_t max_len; /* longest match in bytes, AIPOL_DFA_NONE if unbounded */
  uint8_t word_start;
  uint8_t word_end;
  uint8_t exact;    /* scan events of this pattern are exact (see streaming) */
  uint8_t left_fix; /* a match may start left of the leftmost start of the
                       first end (e.g. ab|xaby): try those starts too */
} aipol_dfa_pattern;

typedef struct {
  uint32_t npatterns;
  uint32_t nscan; /* scanners, <= AIPOL_DFA_MAX_SCANS */
  uint32_t eof;   /* the scanners have an EOF column (a pattern ends with \b) */
  uint32_t scan_cols;           /* scanners' row width; the last column is EOF when eof */
  uint32_t scan_wide;           /* scanner entries are uint32 (else uint16) */
  const uint8_t *scan_classes;  /* [256] byte -> column, shared by the scanners */
  const aipol_dfa_scan *scan;   /* [nscan] */
  const aipol_dfa *fwd;   /* [npatterns] */
  const aipol_dfa *rev;   /* [npatterns] */
  const aipol_dfa_pattern *patterns;
} aipol_dfa_set;

typedef struct {
  uint32_t pattern;
  uint32_t start; /* the match is text[start, end) */
  uint32_t end;
} aipol_match;

/* All matches of every pattern of `set` in text[0, len). Returns how many
 * there are; the smallest min(count, max_out) of them by (start, pattern)
 * are written to out in that order. A count above max_out means out was
 * too small: call again with a larger array. */
uint32_t aipol_dfa_find(const aipol_dfa_set *set, const uint8_t *text, uint32_t len,
                        aipol_match *out, uint32_t max_out);

/* Streaming, for text that arrives in pieces (SSE chunks): the scanners'
 * states live in an aipol_dfa_cursor carried across calls.
 *
 *   aipol_dfa_cursor cur;
 *   aipol_dfa_start(set, &cur);
 *   uint64_t hit = 0;
 *   for each chunk: hit |= aipol_dfa_step(set, &cur, chunk, chunk_len);
 *   at the end:     hit |= aipol_dfa_finish(set, &cur);
 *
 * `hit` is then a superset of the patterns with at least one match in the
 * concatenated text, across chunk boundaries, and exactly that set for the
 * patterns whose `exact` flag is set (the compiler folds a pattern's \b
 * edges and counted repeats into the scanner unless that would blow the
 * DFA up; it then scans for a wider pattern and aipol_dfa_find checks each
 * candidate). A bit of an exact pattern is final as soon as a step sets it
 * (block mid-stream); finish only adds patterns ending with \b whose match
 * ends the text. A bit of an inexact pattern must be confirmed with
 * aipol_dfa_find on the text around it (inexact patterns are always
 * bounded: max_len != AIPOL_DFA_NONE).
 *
 * To get spans (redaction) or confirm a candidate, keep the text of the
 * stream (or, when every pattern is bounded, the last max over patterns of
 * max_len + 2 bytes, and the offset where the kept window starts) and call
 * aipol_dfa_find on it when a step reports a hit. */
typedef struct {
  uint32_t state[AIPOL_DFA_MAX_SCANS]; /* row offsets */
} aipol_dfa_cursor;

void aipol_dfa_start(const aipol_dfa_set *set, aipol_dfa_cursor *cur);
uint64_t aipol_dfa_step(const aipol_dfa_set *set, aipol_dfa_cursor *cur, const uint8_t *chunk,
                        uint32_t len);
uint64_t aipol_dfa_finish(const aipol_dfa_set *set, const aipol_dfa_cursor *cur);

#endif
