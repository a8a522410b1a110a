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

/* The scanner's step on the end of the text. */
static inline uint32_t next_eof(const aipol_dfa *d, uint32_t st) {
  return next_col(d, st, d->ncols - 1);
}

/* Advances the scanner over text[k, len) until it enters an accepting
 * state; returns the index of the byte that led there, or len. Two copies
 * of the loop keep the table width out of the per-byte path. */
static uint32_t scan_to_accept(const aipol_dfa *d, uint32_t *state, const uint8_t *text,
                               uint32_t k, uint32_t len) {
  const uint8_t *cls = d->classes;
  uint32_t cols = d->ncols, fa = d->first_accept, st = *state;
  if (d->next8) {
    const uint8_t *t = d->next8;
    for (; k < len; k++) {
      st = t[st * cols + cls[text[k]]];
      if (st >= fa) break;
    }
  } else {
    const uint16_t *t = d->next16;
    for (; k < len; k++) {
      st = t[st * cols + cls[text[k]]];
      if (st >= fa) break;
    }
  }
  *state = st;
  return k;
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
  /* Each pattern lives in one scanner, so the passes are independent. */
  for (uint32_t g = 0; g < set->nscan; g++) {
    const aipol_dfa *d = &set->scan[g];
    uint32_t st = d->start, k = 0;
    for (;;) {
      k = scan_to_accept(d, &st, text, k, len);
      if (k >= len) break;
      events(&f, d->accept[st - d->first_accept], k, 0);
      k++;
    }
    if (set->eof) {
      st = next_eof(d, st);
      if (st >= d->first_accept) events(&f, d->accept[st - d->first_accept], len, 1);
    }
  }
  return f.count;
}

void aipol_dfa_start(const aipol_dfa_set *set, aipol_dfa_cursor *cur) {
  for (uint32_t g = 0; g < set->nscan && g < AIPOL_DFA_MAX_SCANS; g++)
    cur->state[g] = set->scan[g].start;
}

uint64_t aipol_dfa_step(const aipol_dfa_set *set, aipol_dfa_cursor *cur, const uint8_t *chunk,
                        uint32_t len) {
  uint64_t hit = 0;
  for (uint32_t g = 0; g < set->nscan && g < AIPOL_DFA_MAX_SCANS; g++) {
    const aipol_dfa *d = &set->scan[g];
    uint32_t k = 0;
    for (;;) {
      k = scan_to_accept(d, &cur->state[g], chunk, k, len);
      if (k >= len) break;
      hit |= d->accept[cur->state[g] - d->first_accept];
      k++;
    }
  }
  return hit;
}

uint64_t aipol_dfa_finish(const aipol_dfa_set *set, const aipol_dfa_cursor *cur) {
  uint64_t hit = 0;
  if (!set->eof) return 0;
  for (uint32_t g = 0; g < set->nscan && g < AIPOL_DFA_MAX_SCANS; g++) {
    const aipol_dfa *d = &set->scan[g];
    uint32_t st = next_eof(d, cur->state[g]);
    if (st >= d->first_accept) hit |= d->accept[st - d->first_accept];
  }
  return hit;
}

#ifdef AIPOL_TEST_EXPORTS
/* Test loader: a set serialised by compiler/regex/emit.py:serialize, read in
 * place (the blob must stay alive and 8-byte aligned). One set at a time. */
static aipol_dfa t_fwd[AIPOL_DFA_MAX_PATTERNS], t_rev[AIPOL_DFA_MAX_PATTERNS];
static aipol_dfa t_scan[AIPOL_DFA_MAX_SCANS];
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
  if (t_set.nscan == 0 || t_set.nscan > AIPOL_DFA_MAX_SCANS) return 0;
  const uint8_t *p = blob + 16;
  for (uint32_t i = 0; i < n; i++, p += 8) {
    const uint32_t *q = (const uint32_t *)p;
    t_pat[i].max_len = q[0];
    t_pat[i].word_start = q[1] & 1;
    t_pat[i].word_end = (q[1] >> 1) & 1;
    t_pat[i].exact = (q[1] >> 2) & 1;
    t_pat[i].left_fix = (q[1] >> 3) & 1;
  }
  for (uint32_t g = 0; g < t_set.nscan; g++) p = t_table(&t_scan[g], p);
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
