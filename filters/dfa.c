/* dfa.c — the regex runner (see dfa.h; compiler/regex/runner.py is its
 * Python twin and documents the algorithm step by step).
 *
 * proxy-wasm imports used: none.
 */
#include "dfa.h"

static inline int is_word(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static inline uint32_t next_col(const aipol_dfa *d, uint32_t st, uint32_t col) {
  uint32_t i = st * d->ncols + col;
  return d->next8 ? d->next8[i] : d->next16[i];
}

static inline uint32_t next_byte(const aipol_dfa *d, uint32_t st, uint8_t byte) {
  return next_col(d, st, d->classes[byte]);
}

/* -- The scanners' pass ------------------------------------------------------
 *
 * A scanner step is a load whose address depends on the previous load, so
 * one pass per scanner runs at the latency of that chain, not at the
 * machine's load throughput. Hence:
 *   - AIPOL_DFA_FUSE (4) scanners are stepped together in one loop: four
 *     independent chains that the CPU overlaps;
 *   - the scanners of a set share one byte -> column map, so a byte costs
 *     one class lookup for all of them, not one per scanner;
 *   - their tables hold row offsets (state * scan_cols), so a step is
 *     `st = next[st + col]`, with no multiply on the chain.
 * A group of fewer than four scanners is padded with inert lanes: a zero
 * row (the lane stays at offset 0) whose accept bound nothing reaches.
 * Each pattern lives in one scanner, so the groups' passes are independent.
 */
typedef struct {
  const void *next[AIPOL_DFA_FUSE]; /* uint16_t or uint32_t rows (set->scan_wide) */
  uint32_t st[AIPOL_DFA_FUSE];      /* current row offsets */
  uint32_t fa[AIPOL_DFA_FUSE];      /* accepting from this offset on */
  uint32_t n;                       /* real lanes: scanners g0 .. g0 + n */
  uint32_t g0;
} lanes;

static const uint16_t inert16[257]; /* a zero row of the widest set (256 + EOF) */
static const uint32_t inert32[257];

static inline uint32_t nscan_of(const aipol_dfa_set *set) {
  return set->nscan < AIPOL_DFA_MAX_SCANS ? set->nscan : AIPOL_DFA_MAX_SCANS;
}

/* Lanes for scanners g0.. in the states `states` (row offsets), or in their
 * start states when states is NULL. */
static void lanes_init(const aipol_dfa_set *set, uint32_t g0, const uint32_t *states, lanes *l) {
  uint32_t nscan = nscan_of(set);
  l->g0 = g0;
  l->n = nscan - g0 < AIPOL_DFA_FUSE ? nscan - g0 : AIPOL_DFA_FUSE;
  for (uint32_t i = 0; i < AIPOL_DFA_FUSE; i++) {
    if (i < l->n) {
      const aipol_dfa_scan *d = &set->scan[g0 + i];
      l->next[i] = set->scan_wide ? (const void *)d->next32 : (const void *)d->next16;
      l->st[i] = states ? states[g0 + i] : d->start;
      l->fa[i] = d->first_accept;
    } else {
      l->next[i] = set->scan_wide ? (const void *)inert32 : (const void *)inert16;
      l->st[i] = 0;
      l->fa[i] = 0xFFFFFFFFu;
    }
  }
}

/* The hot loop, for rows of type T: steps the four lanes over text[k, len)
 * until one of them enters an accepting state (one OR of compares per byte)
 * and leaves k at the byte that led there, or at len. */
#define FUSED_LOOP(T)                                                                      \
  do {                                                                                     \
    const T *t0 = (const T *)l->next[0], *t1 = (const T *)l->next[1];                      \
    const T *t2 = (const T *)l->next[2], *t3 = (const T *)l->next[3];                      \
    uint32_t s0 = l->st[0], s1 = l->st[1], s2 = l->st[2], s3 = l->st[3];                   \
    uint32_t f0 = l->fa[0], f1 = l->fa[1], f2 = l->fa[2], f3 = l->fa[3];                   \
    for (; k < len; k++) {                                                                 \
      uint32_t c = cls[text[k]];                                                           \
      s0 = t0[s0 + c];                                                                     \
      s1 = t1[s1 + c];                                                                     \
      s2 = t2[s2 + c];                                                                     \
      s3 = t3[s3 + c];                                                                     \
      if ((s0 >= f0) | (s1 >= f1) | (s2 >= f2) | (s3 >= f3)) break;                        \
    }                                                                                      \
    l->st[0] = s0, l->st[1] = s1, l->st[2] = s2, l->st[3] = s3;                            \
  } while (0)

static uint32_t lanes_to_accept(const aipol_dfa_set *set, lanes *l, const uint8_t *text,
                                uint32_t k, uint32_t len) {
  _Static_assert(AIPOL_DFA_FUSE == 4, "FUSED_LOOP steps four lanes");
  const uint8_t *cls = set->scan_classes;
  if (set->scan_wide)
    FUSED_LOOP(uint32_t);
  else
    FUSED_LOOP(uint16_t);
  return k;
}

/* Pattern mask of lane i, 0 unless it is in an accepting state. */
static inline uint64_t lane_accept(const aipol_dfa_set *set, const lanes *l, uint32_t i) {
  if (i >= l->n || l->st[i] < l->fa[i]) return 0;
  const aipol_dfa_scan *d = &set->scan[l->g0 + i];
  return d->accept[(l->st[i] - d->first_accept) / set->scan_cols];
}

/* Steps lane i on the end of the text (the EOF column, last of each row). */
static inline void lane_eof(const aipol_dfa_set *set, lanes *l, uint32_t i) {
  uint32_t at = l->st[i] + set->scan_cols - 1;
  l->st[i] = set->scan_wide ? ((const uint32_t *)l->next[i])[at]
                            : ((const uint16_t *)l->next[i])[at];
}

typedef struct {
  const aipol_dfa_set *set;
  const uint8_t *text;
  uint32_t len;
  aipol_match *out;
  uint32_t max_out;
  uint32_t count;
  uint32_t pos[AIPOL_DFA_MAX_PATTERNS]; /* end of each pattern's last match */
} finder;

static int start_ok(const finder *f, uint32_t i, uint32_t s) {
  return !f->set->patterns[i].word_start || s == 0 || !is_word(f->text[s - 1]);
}

static int end_ok(const finder *f, uint32_t i, uint32_t e) {
  return !f->set->patterns[i].word_end || e == f->len || !is_word(f->text[e]);
}

/* Leftmost valid start s in [lo, e) with text[s, e) matching pattern i. */
static uint32_t leftmost_start(const finder *f, uint32_t i, uint32_t e, uint32_t lo) {
  const aipol_dfa *d = &f->set->rev[i];
  uint32_t st = d->start, best = AIPOL_DFA_NONE, j = e;
  while (j > lo) {
    j--;
    st = next_byte(d, st, f->text[j]);
    if (st == d->dead) break;
    if (st >= d->first_accept && start_ok(f, i, j)) best = j;
  }
  return best;
}

/* Longest valid end e with text[s, e) matching pattern i, or NONE. */
static uint32_t longest_end(const finder *f, uint32_t i, uint32_t s) {
  const aipol_dfa *d = &f->set->fwd[i];
  uint32_t st = d->start, best = AIPOL_DFA_NONE, j = s;
  while (j < f->len) {
    st = next_byte(d, st, f->text[j]);
    j++;
    if (st == d->dead) break;
    if (st >= d->first_accept && end_ok(f, i, j)) best = j;
  }
  return best;
}

static int before(const aipol_match *a, const aipol_match *b) {
  return a->start < b->start || (a->start == b->start && a->pattern < b->pattern);
}

/* Counts the match and keeps out[] the max_out smallest, sorted. */
static void emit(finder *f, uint32_t i, uint32_t s, uint32_t e) {
  aipol_match m = {i, s, e};
  uint32_t n = f->count < f->max_out ? f->count : f->max_out;
  f->count++;
  f->pos[i] = e;
  if (n == f->max_out) {
    if (n == 0 || !before(&m, &f->out[n - 1])) return;
    n--; /* drop the largest */
  }
  while (n > 0 && before(&m, &f->out[n - 1])) {
    f->out[n] = f->out[n - 1];
    n--;
  }
  f->out[n] = m;
}

/* The scanner says a match of pattern i ends at e (e > pos[i]). */
static void resolve(finder *f, uint32_t i, uint32_t e) {
  uint32_t limit = f->set->patterns[i].max_len, pos = f->pos[i];
  if (!end_ok(f, i, e)) return;
  uint32_t lo = pos;
  if (limit != AIPOL_DFA_NONE && e - pos > limit) lo = e - limit;
  uint32_t s1 = leftmost_start(f, i, e, lo);
  if (s1 == AIPOL_DFA_NONE) return;
  /* e is the first end of a match starting at or after pos, so a match
   * starting left of s1 ends after e: try those starts first. */
  uint32_t s = pos;
  if (limit != AIPOL_DFA_NONE && e + 1 - pos > limit) s = e + 1 - limit;
  if (!f->set->patterns[i].left_fix) s = s1;
  for (; s < s1; s++) {
    if (!start_ok(f, i, s)) continue;
    uint32_t e2 = longest_end(f, i, s);
    if (e2 != AIPOL_DFA_NONE) {
      emit(f, i, s, e2);
      return;
    }
  }
  uint32_t e2 = longest_end(f, i, s1);
  if (e2 == AIPOL_DFA_NONE || e2 < e) e2 = e; /* cannot happen with consistent tables */
  emit(f, i, s1, e2);
}

static void events(finder *f, uint64_t mask, uint32_t k, int at_eof) {
  while (mask) {
    uint32_t i = (uint32_t)__builtin_ctzll(mask);
    mask &= mask - 1;
    if (i >= f->set->npatterns) break;
    uint32_t e = at_eof ? f->len : k + 1 - f->set->patterns[i].word_end;
    if (e > f->pos[i]) resolve(f, i, e);
  }
}

uint32_t aipol_dfa_find(const aipol_dfa_set *set, const uint8_t *text, uint32_t len,
                        aipol_match *out, uint32_t max_out) {
  finder f;
  f.set = set;
  f.text = text;
  f.len = len;
  f.out = out;
  f.max_out = out ? max_out : 0;
  f.count = 0;
  for (uint32_t i = 0; i < AIPOL_DFA_MAX_PATTERNS; i++) f.pos[i] = 0;
  for (uint32_t g0 = 0; g0 < nscan_of(set); g0 += AIPOL_DFA_FUSE) {
    lanes l;
    lanes_init(set, g0, NULL, &l);
    uint32_t k = 0;
    for (;;) {
      k = lanes_to_accept(set, &l, text, k, len);
      if (k >= len) break;
      for (uint32_t i = 0; i < l.n; i++) events(&f, lane_accept(set, &l, i), k, 0);
      k++;
    }
    if (set->eof)
      for (uint32_t i = 0; i < l.n; i++) {
        lane_eof(set, &l, i);
        events(&f, lane_accept(set, &l, i), len, 1);
      }
  }
  return f.count;
}

void aipol_dfa_start(const aipol_dfa_set *set, aipol_dfa_cursor *cur) {
  for (uint32_t g = 0; g < nscan_of(set); g++) cur->state[g] = set->scan[g].start;
}

uint64_t aipol_dfa_step(const aipol_dfa_set *set, aipol_dfa_cursor *cur, const uint8_t *chunk,
                        uint32_t len) {
  uint64_t hit = 0;
  for (uint32_t g0 = 0; g0 < nscan_of(set); g0 += AIPOL_DFA_FUSE) {
    lanes l;
    lanes_init(set, g0, cur->state, &l);
    uint32_t k = 0;
    for (;;) {
      k = lanes_to_accept(set, &l, chunk, k, len);
      if (k >= len) break;
      for (uint32_t i = 0; i < l.n; i++) hit |= lane_accept(set, &l, i);
      k++;
    }
    for (uint32_t i = 0; i < l.n; i++) cur->state[g0 + i] = l.st[i];
  }
  return hit;
}

uint64_t aipol_dfa_finish(const aipol_dfa_set *set, const aipol_dfa_cursor *cur) {
  uint64_t hit = 0;
  if (!set->eof) return 0;
  for (uint32_t g0 = 0; g0 < nscan_of(set); g0 += AIPOL_DFA_FUSE) {
    lanes l;
    lanes_init(set, g0, cur->state, &l);
    for (uint32_t i = 0; i < l.n; i++) {
      lane_eof(set, &l, i);
      hit |= lane_accept(set, &l, i);
    }
  }
  return hit;
}

#ifdef AIPOL_TEST_EXPORTS
/* Test loader: a set serialised by compiler/regex/emit.py:serialize, read in
 * place (the blob must stay alive and 8-byte aligned). One set at a time. */
static aipol_dfa t_fwd[AIPOL_DFA_MAX_PATTERNS], t_rev[AIPOL_DFA_MAX_PATTERNS];
static aipol_dfa_scan t_scan[AIPOL_DFA_MAX_SCANS];
static aipol_dfa_pattern t_pat[AIPOL_DFA_MAX_PATTERNS];
static aipol_dfa_set t_set;

static const uint8_t *t_table(aipol_dfa *d, const uint8_t *p) {
  const uint32_t *h = (const uint32_t *)p;
  d->nstates = h[0];
  d->ncols = h[1];
  d->start = h[2];
  d->dead = h[3];
  d->first_accept = h[4];
  uint32_t width = h[5], naccept = h[6];
  p += 32;
  d->classes = p;
  p += 256;
  uint32_t n = d->nstates * d->ncols * width;
  d->next8 = width == 1 ? p : NULL;
  d->next16 = width == 1 ? NULL : (const uint16_t *)p;
  p += (n + 7) & ~7u;
  d->accept = NULL;
  return p + 8 * naccept;
}

static const uint8_t *t_scan_table(aipol_dfa_scan *d, const uint8_t *p) {
  const uint32_t *h = (const uint32_t *)p;
  d->nstates = h[0];
  d->start = h[1];
  d->first_accept = h[2];
  uint32_t naccept = h[3];
  p += 16;
  uint32_t n = d->nstates * t_set.scan_cols * (t_set.scan_wide ? 4 : 2);
  d->next16 = t_set.scan_wide ? NULL : (const uint16_t *)p;
  d->next32 = t_set.scan_wide ? (const uint32_t *)p : NULL;
  p += (n + 7) & ~7u;
  d->accept = naccept ? (const uint64_t *)p : NULL;
  return p + 8 * naccept;
}

__attribute__((export_name("aipol_test_dfa_load"))) uint32_t t_dfa_load(const uint8_t *blob) {
  const uint32_t *h = (const uint32_t *)blob;
  uint32_t n = h[0];
  if (n == 0 || n > AIPOL_DFA_MAX_PATTERNS) return 0;
  t_set.npatterns = n;
  t_set.nscan = h[1];
  t_set.eof = h[2];
  t_set.scan_cols = h[3];
  t_set.scan_wide = h[4];
  if (t_set.nscan == 0 || t_set.nscan > AIPOL_DFA_MAX_SCANS) return 0;
  const uint8_t *p = blob + 24;
  for (uint32_t i = 0; i < n; i++, p += 8) {
    const uint32_t *q = (const uint32_t *)p;
    t_pat[i].max_len = q[0];
    t_pat[i].word_start = q[1] & 1;
    t_pat[i].word_end = (q[1] >> 1) & 1;
    t_pat[i].exact = (q[1] >> 2) & 1;
    t_pat[i].left_fix = (q[1] >> 3) & 1;
  }
  t_set.scan_classes = p;
  p += 256;
  for (uint32_t g = 0; g < t_set.nscan; g++) p = t_scan_table(&t_scan[g], p);
  for (uint32_t i = 0; i < n; i++) p = t_table(&t_fwd[i], p);
  for (uint32_t i = 0; i < n; i++) p = t_table(&t_rev[i], p);
  t_set.scan = t_scan;
  t_set.fwd = t_fwd;
  t_set.rev = t_rev;
  t_set.patterns = t_pat;
  return (uint32_t)(p - blob);
}

__attribute__((export_name("aipol_test_dfa_find"))) uint32_t
t_dfa_find(const uint8_t *text, uint32_t len, aipol_match *out, uint32_t max_out) {
  return aipol_dfa_find(&t_set, text, len, out, max_out);
}

/* Streams text in chunks of `chunk` bytes; returns the low 32 bits of the
 * hit mask (the tests use < 32 patterns). */
__attribute__((export_name("aipol_test_dfa_stream"))) uint32_t
t_dfa_stream(const uint8_t *text, uint32_t len, uint32_t chunk) {
  aipol_dfa_cursor cur;
  uint64_t hit = 0;
  aipol_dfa_start(&t_set, &cur);
  for (uint32_t k = 0; k < len; k += chunk)
    hit |= aipol_dfa_step(&t_set, &cur, text + k, len - k < chunk ? len - k : chunk);
  hit |= aipol_dfa_finish(&t_set, &cur);
  return (uint32_t)hit;
}

/* Throughput probe: runs find `rounds` times, returns the last count. */
__attribute__((export_name("aipol_test_dfa_bench"))) uint32_t
t_dfa_bench(const uint8_t *text, uint32_t len, aipol_match *out, uint32_t max_out,
            uint32_t rounds) {
  uint32_t n = 0;
  for (uint32_t r = 0; r < rounds; r++) n = aipol_dfa_find(&t_set, text, len, out, max_out);
  return n;
}
#endif
