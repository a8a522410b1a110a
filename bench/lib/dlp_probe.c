/* dlp_probe.c — throughput probes for bench/dlp (not runtime code).
 *
 * bench/dlp appends `#define BENCH_SET <name>` and `#include "dlp_probe.c"`
 * to the policy C that the compiler generates for examples/secure.aipol, so
 * the probes run on the very tables (static const data) of the filter, with
 * the runtime's filters/dfa.c, in one wasm module built with the compiler's
 * flags (compiler/build.py). Every probe runs its work `rounds` times.
 *
 *   aipol_bench_find      aipol_dfa_find over the text (what the filter does);
 *   aipol_bench_find_one  the same with scanner g alone (its patterns only);
 *   aipol_bench_step      aipol_dfa_start/step/finish: the scanners' passes
 *                         without resolving matches (low 32 bits of the hit
 *                         mask);
 *   aipol_bench_step_one  the same for scanner g alone;
 *   aipol_bench_fused     a PROTOTYPE of what dfa.c could do instead: the
 *                         scanners stepped in one pass, four at a time, over
 *                         row-offset ("premultiplied") uint16/uint32 tables
 *                         built by aipol_bench_fused_init; returns the same
 *                         hit mask as aipol_bench_step (bench/dlp checks it);
 *   aipol_bench_shared    the same prototype with ONE byte -> column map for
 *                         all scanners (their columns refined into common
 *                         ones), so a byte costs one class load instead of
 *                         one per scanner; `width` scanners per pass (1..6);
 *   aipol_bench_skip      the shared-column tables behind a skip loop: while
 *                         every scanner is idle (in its state after a space,
 *                         or after an ordinary word byte), a byte that keeps
 *                         them all idle costs one lookup in a [2][256] table
 *                         (`bench_boring`); other bytes step every scanner.
 */
#include "alloc.h"
#include "dfa.h"

#ifndef BENCH_SET
#error "define BENCH_SET to the aipol_dfa_set to probe"
#endif

__attribute__((export_name("aipol_bench_nscan"))) uint32_t aipol_bench_nscan(void) {
  return BENCH_SET.nscan;
}

__attribute__((export_name("aipol_bench_find"))) uint32_t
aipol_bench_find(const uint8_t *text, uint32_t len, aipol_match *out, uint32_t max_out,
                 uint32_t rounds) {
  uint32_t n = 0;
  for (uint32_t r = 0; r < rounds; r++) n = aipol_dfa_find(&BENCH_SET, text, len, out, max_out);
  return n;
}

static aipol_dfa_set bench_only(uint32_t g) {
  aipol_dfa_set s = BENCH_SET;
  s.scan = &BENCH_SET.scan[g < BENCH_SET.nscan ? g : 0];
  s.nscan = 1;
  return s;
}

__attribute__((export_name("aipol_bench_find_one"))) uint32_t
aipol_bench_find_one(uint32_t g, const uint8_t *text, uint32_t len, aipol_match *out,
                     uint32_t max_out, uint32_t rounds) {
  aipol_dfa_set s = bench_only(g);
  uint32_t n = 0;
  for (uint32_t r = 0; r < rounds; r++) n = aipol_dfa_find(&s, text, len, out, max_out);
  return n;
}

static uint64_t bench_step(const aipol_dfa_set *s, const uint8_t *text, uint32_t len) {
  aipol_dfa_cursor cur;
  aipol_dfa_start(s, &cur);
  uint64_t hit = aipol_dfa_step(s, &cur, text, len);
  return hit | aipol_dfa_finish(s, &cur);
}

__attribute__((export_name("aipol_bench_step"))) uint32_t
aipol_bench_step(const uint8_t *text, uint32_t len, uint32_t rounds) {
  uint64_t hit = 0;
  for (uint32_t r = 0; r < rounds; r++) hit = bench_step(&BENCH_SET, text, len);
  return (uint32_t)hit;
}

__attribute__((export_name("aipol_bench_step_one"))) uint32_t
aipol_bench_step_one(uint32_t g, const uint8_t *text, uint32_t len, uint32_t rounds) {
  aipol_dfa_set s = bench_only(g);
  uint64_t hit = 0;
  for (uint32_t r = 0; r < rounds; r++) hit = bench_step(&s, text, len);
  return (uint32_t)hit;
}

/* The scanners' tables (dfa.h) hold row offsets over one shared column map;
 * the prototypes below work on state numbers, hence these conversions. */
#define BENCH_COLS (BENCH_SET.scan_cols)

static inline uint32_t entry_of(const aipol_dfa_scan *d, uint32_t i) {
  return BENCH_SET.scan_wide ? d->next32[i] : d->next16[i];
}

static inline uint32_t next_col_of(const aipol_dfa_scan *d, uint32_t st, uint32_t col) {
  return entry_of(d, st * BENCH_COLS + col) / BENCH_COLS;
}

static inline uint32_t next_byte_of(const aipol_dfa_scan *d, uint32_t st, uint8_t b) {
  return next_col_of(d, st, BENCH_SET.scan_classes[b]);
}

static inline uint32_t start_of(const aipol_dfa_scan *d) { return d->start / BENCH_COLS; }
static inline uint32_t fa_of(const aipol_dfa_scan *d) { return d->first_accept / BENCH_COLS; }

/* -- the fused prototype ------------------------------------------------------------- */

/* A scanner with states renumbered as row offsets: next[off + cls[b]] is the
 * offset of the next state, accepting iff >= fa_off. */
typedef struct {
  const uint8_t *cls;
  uint32_t *next; /* [nstates * ncols] row offsets */
  uint32_t start, fa_off, ncols, eof;
  const uint64_t *accept;
} bench_pm;

static bench_pm bench_pms[AIPOL_DFA_MAX_SCANS];

__attribute__((export_name("aipol_bench_fused_init"))) uint32_t aipol_bench_fused_init(void) {
  for (uint32_t g = 0; g < BENCH_SET.nscan; g++) {
    const aipol_dfa_scan *d = &BENCH_SET.scan[g];
    uint32_t n = d->nstates * BENCH_COLS;
    uint32_t *t = (uint32_t *)aipol_malloc(4 * n);
    if (!t) return 0;
    for (uint32_t i = 0; i < n; i++) t[i] = entry_of(d, i);
    bench_pms[g] = (bench_pm){BENCH_SET.scan_classes, t, d->start, d->first_accept,
                              BENCH_COLS, BENCH_SET.eof, d->accept};
  }
  return BENCH_SET.nscan;
}

static inline uint64_t pm_accept(const bench_pm *p, uint32_t off) {
  return off >= p->fa_off ? p->accept[(off - p->fa_off) / p->ncols] : 0;
}

static inline uint64_t pm_eof(const bench_pm *p, uint32_t off) {
  return p->eof ? pm_accept(p, p->next[off + p->ncols - 1]) : 0;
}

/* Up to four scanners in one pass; the accept test is one OR of compares. */
static uint64_t fused4(const bench_pm *p, uint32_t k, const uint8_t *text, uint32_t len) {
  static const uint32_t zero_row[1] = {0};
  static const uint8_t zero_cls[256];
  bench_pm idle = {zero_cls, (uint32_t *)zero_row, 0, 1, 1, 0, NULL};
  const bench_pm *a = &p[0], *b = k > 1 ? &p[1] : &idle, *c = k > 2 ? &p[2] : &idle,
                 *d = k > 3 ? &p[3] : &idle;
  const uint32_t *ta = a->next, *tb = b->next, *tc = c->next, *td = d->next;
  const uint8_t *ca = a->cls, *cb = b->cls, *cc = c->cls, *cd = d->cls;
  uint32_t sa = a->start, sb = b->start, sc = c->start, sd = d->start;
  uint32_t fa = a->fa_off, fb = b->fa_off, fc = c->fa_off, fd = d->fa_off;
  uint64_t hit = 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t x = text[i];
    sa = ta[sa + ca[x]];
    sb = tb[sb + cb[x]];
    sc = tc[sc + cc[x]];
    sd = td[sd + cd[x]];
    if ((sa >= fa) | (sb >= fb) | (sc >= fc) | (sd >= fd))
      hit |= pm_accept(a, sa) | pm_accept(b, sb) | pm_accept(c, sc) | pm_accept(d, sd);
  }
  return hit | pm_eof(a, sa) | pm_eof(b, sb) | pm_eof(c, sc) | pm_eof(d, sd);
}

__attribute__((export_name("aipol_bench_fused"))) uint32_t
aipol_bench_fused(const uint8_t *text, uint32_t len, uint32_t rounds) {
  uint64_t hit = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    hit = 0;
    for (uint32_t g = 0; g < BENCH_SET.nscan; g += 4) {
      uint32_t k = BENCH_SET.nscan - g < 4 ? BENCH_SET.nscan - g : 4;
      hit |= fused4(&bench_pms[g], k, text, len);
    }
  }
  return (uint32_t)hit;
}

/* -- the shared-column prototype ------------------------------------------------------ */

static uint8_t bench_shared_cls[256];
static uint32_t bench_nshared;
static uint32_t *bench_shared_next[AIPOL_DFA_MAX_SCANS]; /* [nstates * nshared] offsets */
static uint32_t *bench_shared_eof[AIPOL_DFA_MAX_SCANS];  /* [nstates]: offset after EOF */

__attribute__((export_name("aipol_bench_shared_init"))) uint32_t aipol_bench_shared_init(void) {
  const aipol_dfa_set *set = &BENCH_SET;
  uint8_t rep[256]; /* a byte of each shared column */
  uint32_t n = 0;
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = 0;
    for (; c < n; c++) {
      uint32_t g = 0;
      while (g < set->nscan && set->scan_classes[b] == set->scan_classes[rep[c]]) g++;
      if (g == set->nscan) break;
    }
    if (c == n) rep[n++] = (uint8_t)b;
    bench_shared_cls[b] = (uint8_t)c;
  }
  bench_nshared = n;
  for (uint32_t g = 0; g < set->nscan; g++) {
    const aipol_dfa_scan *d = &set->scan[g];
    uint32_t *t = (uint32_t *)aipol_malloc(4 * d->nstates * n);
    uint32_t *e = (uint32_t *)aipol_malloc(4 * d->nstates);
    if (!t || !e) return 0;
    for (uint32_t st = 0; st < d->nstates; st++) {
      for (uint32_t c = 0; c < n; c++) t[st * n + c] = next_byte_of(d, st, rep[c]) * n;
      e[st] = (set->eof ? next_col_of(d, st, BENCH_COLS - 1) : st) * n;
    }
    bench_shared_next[g] = t;
    bench_shared_eof[g] = e;
  }
  return n;
}

static inline uint64_t sh_accept(uint32_t g, uint32_t off) {
  const aipol_dfa_scan *d = &BENCH_SET.scan[g];
  uint32_t st = off / bench_nshared;
  return st >= fa_of(d) ? d->accept[st - fa_of(d)] : 0;
}

#define SH_DECL(i)                                                                     \
  const uint32_t *t##i = bench_shared_next[g0 + (i < k ? i : 0)];                      \
  uint32_t s##i = start_of(&BENCH_SET.scan[g0 + (i < k ? i : 0)]) * ns;                \
  uint32_t f##i = i < k ? fa_of(&BENCH_SET.scan[g0 + i]) * ns : 0xFFFFFFFFu;
#define SH_FINISH(i) \
  if (i < k) hit |= sh_accept(g0 + i, s##i) | sh_accept(g0 + i, bench_shared_eof[g0 + i][s##i / ns]);

static uint64_t shared4(uint32_t g0, uint32_t k, const uint8_t *text, uint32_t len) {
  uint32_t ns = bench_nshared;
  uint64_t hit = 0;
  SH_DECL(0) SH_DECL(1) SH_DECL(2) SH_DECL(3)
  for (uint32_t i = 0; i < len; i++) {
    uint32_t c = bench_shared_cls[text[i]];
    s0 = t0[s0 + c];
    s1 = t1[s1 + c];
    s2 = t2[s2 + c];
    s3 = t3[s3 + c];
    if ((s0 >= f0) | (s1 >= f1) | (s2 >= f2) | (s3 >= f3)) {
      if (s0 >= f0) hit |= sh_accept(g0, s0);
      if (s1 >= f1) hit |= sh_accept(g0 + 1, s1);
      if (s2 >= f2) hit |= sh_accept(g0 + 2, s2);
      if (s3 >= f3) hit |= sh_accept(g0 + 3, s3);
    }
  }
  SH_FINISH(0) SH_FINISH(1) SH_FINISH(2) SH_FINISH(3)
  return hit;
}

static uint64_t shared6(uint32_t g0, uint32_t k, const uint8_t *text, uint32_t len) {
  uint32_t ns = bench_nshared;
  uint64_t hit = 0;
  SH_DECL(0) SH_DECL(1) SH_DECL(2) SH_DECL(3) SH_DECL(4) SH_DECL(5)
  for (uint32_t i = 0; i < len; i++) {
    uint32_t c = bench_shared_cls[text[i]];
    s0 = t0[s0 + c];
    s1 = t1[s1 + c];
    s2 = t2[s2 + c];
    s3 = t3[s3 + c];
    s4 = t4[s4 + c];
    s5 = t5[s5 + c];
    if ((s0 >= f0) | (s1 >= f1) | (s2 >= f2) | (s3 >= f3) | (s4 >= f4) | (s5 >= f5)) {
      if (s0 >= f0) hit |= sh_accept(g0, s0);
      if (s1 >= f1) hit |= sh_accept(g0 + 1, s1);
      if (s2 >= f2) hit |= sh_accept(g0 + 2, s2);
      if (s3 >= f3) hit |= sh_accept(g0 + 3, s3);
      if (s4 >= f4) hit |= sh_accept(g0 + 4, s4);
      if (s5 >= f5) hit |= sh_accept(g0 + 5, s5);
    }
  }
  SH_FINISH(0) SH_FINISH(1) SH_FINISH(2) SH_FINISH(3) SH_FINISH(4) SH_FINISH(5)
  return hit;
}

__attribute__((export_name("aipol_bench_shared"))) uint32_t
aipol_bench_shared(const uint8_t *text, uint32_t len, uint32_t width, uint32_t rounds) {
  uint32_t nscan = BENCH_SET.nscan;
  uint64_t hit = 0;
  if (width < 1) width = 1;
  if (width > 6) width = 6;
  for (uint32_t r = 0; r < rounds; r++) {
    hit = 0;
    for (uint32_t g = 0; g < nscan; g += width) {
      uint32_t k = nscan - g < width ? nscan - g : width;
      hit |= width <= 4 ? shared4(g, k, text, len) : shared6(g, k, text, len);
    }
  }
  return (uint32_t)hit;
}

/* -- the skip-loop prototype ------------------------------------------------------------ */

static uint8_t bench_boring[2][256]; /* mode after the byte (0: non-word, 1: word), 2: no */
static uint32_t bench_idle[2][AIPOL_DFA_MAX_SCANS]; /* each scanner's idle state, as offsets */

static int bench_is_word(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* Call after aipol_bench_shared_init. Returns how many of 256 bytes are
 * boring after a word byte. */
__attribute__((export_name("aipol_bench_skip_init"))) uint32_t aipol_bench_skip_init(void) {
  const aipol_dfa_set *set = &BENCH_SET;
  uint32_t idle[2][AIPOL_DFA_MAX_SCANS];
  for (uint32_t g = 0; g < set->nscan; g++) {
    const aipol_dfa_scan *d = &set->scan[g];
    idle[0][g] = next_byte_of(d, start_of(d), ' ');
    idle[1][g] = next_byte_of(d, idle[0][g], 'q');
    for (uint32_t m = 0; m < 2; m++) bench_idle[m][g] = idle[m][g] * bench_nshared;
  }
  uint32_t n = 0;
  for (uint32_t m = 0; m < 2; m++)
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t to = (uint32_t)bench_is_word((uint8_t)b), ok = 1;
      for (uint32_t g = 0; g < set->nscan && ok; g++) {
        const aipol_dfa_scan *d = &set->scan[g];
        uint32_t nx = next_byte_of(d, idle[m][g], (uint8_t)b);
        ok = nx == idle[to][g] && nx < fa_of(d);
      }
      bench_boring[m][b] = ok ? (uint8_t)to : 2;
      n += m == 1 && ok;
    }
  return n;
}

static inline int bench_all_idle(const uint32_t *st, uint32_t nscan, uint32_t m) {
  for (uint32_t g = 0; g < nscan; g++)
    if (st[g] != bench_idle[m][g]) return 0;
  return 1;
}

static uint64_t skip_scan(const uint8_t *text, uint32_t len, uint32_t *skipped) {
  uint32_t nscan = BENCH_SET.nscan, ns = bench_nshared, st[AIPOL_DFA_MAX_SCANS];
  uint32_t fa[AIPOL_DFA_MAX_SCANS];
  uint64_t hit = 0;
  for (uint32_t g = 0; g < nscan; g++) {
    st[g] = start_of(&BENCH_SET.scan[g]) * ns;
    fa[g] = fa_of(&BENCH_SET.scan[g]) * ns;
  }
  uint32_t i = 0, fast = 0;
  while (i < len) {
    /* slow: step every scanner until they are all idle again */
    uint32_t c = bench_shared_cls[text[i]];
    for (uint32_t g = 0; g < nscan; g++) {
      st[g] = bench_shared_next[g][st[g] + c];
      if (st[g] >= fa[g]) hit |= sh_accept(g, st[g]);
    }
    i++;
    uint32_t mode = bench_all_idle(st, nscan, 0) ? 0 : bench_all_idle(st, nscan, 1) ? 1 : 2;
    if (mode == 2) continue;
    /* fast: one table lookup per boring byte */
    uint32_t j = i;
    while (j < len) {
      uint32_t nm = bench_boring[mode][text[j]];
      if (nm == 2) break;
      mode = nm;
      j++;
    }
    fast += j - i;
    if (j > i)
      for (uint32_t g = 0; g < nscan; g++) st[g] = bench_idle[mode][g];
    i = j;
  }
  for (uint32_t g = 0; g < nscan; g++) hit |= sh_accept(g, bench_shared_eof[g][st[g] / ns]);
  *skipped = fast;
  return hit;
}

static uint32_t bench_skipped;

__attribute__((export_name("aipol_bench_skip"))) uint32_t
aipol_bench_skip(const uint8_t *text, uint32_t len, uint32_t rounds) {
  uint64_t hit = 0;
  for (uint32_t r = 0; r < rounds; r++) hit = skip_scan(text, len, &bench_skipped);
  return (uint32_t)hit;
}

/* Bytes the last aipol_bench_skip call passed in the fast loop. */
__attribute__((export_name("aipol_bench_skipped"))) uint32_t aipol_bench_skipped(void) {
  return bench_skipped;
}
