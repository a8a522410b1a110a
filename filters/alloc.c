/* alloc.c — heap allocator over wasm linear memory.
 *
 * proxy-wasm imports used: none. Exports `malloc` and
 * `proxy_on_memory_allocate`, which the host calls (in restricted mode, so
 * this file must not call any host function).
 *
 * Layout: the heap runs from __heap_base to `heap_top`; memory above
 * heap_top is unused ("top") and grows with memory.grow. Every block starts
 * with an 8-byte header {prev_size, size | flags}; sizes include the header
 * and are multiples of 8, so the user pointer is 8-byte aligned.
 *
 *  - Small blocks (total size <= 2048) come in fixed size classes. A freed
 *    small block goes to its class's free list and keeps F_USED, so the
 *    coalescer never merges it: reuse is O(1) and exact.
 *  - Large blocks are freed with boundary-tag coalescing (prev_size makes the
 *    previous block reachable) into binned doubly-linked free lists, or
 *    handed back to the top when they end at heap_top.
 *
 * Many streams share one VM for its whole life, so there is no arena reset:
 * everything must be freed individually, and fragmentation must stay bounded.
 */
#include "alloc.h"

extern unsigned char __heap_base;

#define HDR 8u
#define MIN_BLOCK 16u
#define F_USED 1u
#define F_SMALL 2u      /* block belongs to a size class */
#define F_SMALLFREE 4u  /* small block currently on its class free list */
#define F_MASK 7u
#define MAX_REQUEST 0x40000000u /* 1 GiB: Envoy's cap on wasm memory */
#define PAGE 65536u
#define NBINS 32

typedef struct block {
  uint32_t prev_size;  /* size of the physically previous block, 0 for the first */
  uint32_t size_flags;
} block;

/* A free large block: the links live in what would be the user area. */
typedef struct free_block {
  block h;
  struct free_block *next, *prev;
} free_block;

static const uint32_t class_size[] = {16,  24,  32,  48,  64,  80,  96,   128,  160,
                                      192, 256, 320, 384, 512, 768, 1024, 1536, 2048};
#define NCLASSES (sizeof(class_size) / sizeof(class_size[0]))
#define SMALL_MAX 2048u

static uint32_t heap_start, heap_top, last_size;
static int heap_ready;
static block *small_free[NCLASSES]; /* next pointer stored at user area */
static free_block *bins[NBINS];

static inline uint32_t bsize(const block *b) { return b->size_flags & ~F_MASK; }
static inline block *at(uint32_t addr) { return (block *)(size_t)addr; }
static inline uint32_t addr_of(const void *p) { return (uint32_t)(size_t)p; }

static void heap_init(void) {
  heap_start = (addr_of(&__heap_base) + 7u) & ~7u;
  heap_top = heap_start;
  last_size = 0;
  heap_ready = 1;
}

/* Makes linear memory cover [0, end). */
static int ensure_memory(uint64_t end) {
  uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * PAGE;
  if (end <= have) return 1;
  if (end > 0xFFFFFFFFull) return 0;
  uint64_t pages = (end - have + PAGE - 1) / PAGE;
  size_t r = __builtin_wasm_memory_grow(0, (size_t)pages);
  return r != (size_t)-1;
}

static uint32_t bin_of(uint32_t size) {
  uint32_t b = 31u - (uint32_t)__builtin_clz(size); /* floor(log2(size)) */
  return b < NBINS ? b : NBINS - 1;
}

static void bin_insert(free_block *f) {
  uint32_t b = bin_of(bsize(&f->h));
  f->prev = 0;
  f->next = bins[b];
  if (bins[b]) bins[b]->prev = f;
  bins[b] = f;
}

static void bin_unlink(free_block *f) {
  if (f->prev) f->prev->next = f->next;
  else bins[bin_of(bsize(&f->h))] = f->next;
  if (f->next) f->next->prev = f->prev;
}

/* Sets the prev_size of whatever follows block `b` (a block, or the top). */
static void fix_next(block *b) {
  uint32_t next = addr_of(b) + bsize(b);
  if (next < heap_top) at(next)->prev_size = bsize(b);
  else last_size = bsize(b);
}

/* Puts a free (F_USED clear) large block into the structure, merging with
 * free neighbours; a block that reaches heap_top is given back to the top. */
static void release_large(block *b) {
  uint32_t size = bsize(b);
  if (addr_of(b) != heap_start) {
    block *p = at(addr_of(b) - b->prev_size);
    if (!(p->size_flags & F_USED)) {
      bin_unlink((free_block *)p);
      size += bsize(p);
      b = p;
    }
  }
  uint32_t next = addr_of(b) + size;
  if (next >= heap_top) {
    heap_top = addr_of(b);
    last_size = b->prev_size;
    return;
  }
  block *n = at(next);
  if (!(n->size_flags & F_USED)) {
    bin_unlink((free_block *)n);
    size += bsize(n);
    if (addr_of(b) + size >= heap_top) {
      heap_top = addr_of(b);
      last_size = b->prev_size;
      return;
    }
  }
  b->size_flags = size;
  fix_next(b);
  bin_insert((free_block *)b);
}

/* Shrinks used block b to `size` if the rest is worth a block of its own. */
static void trim(block *b, uint32_t size) {
  uint32_t have = bsize(b);
  if (have - size < MIN_BLOCK) return;
  uint32_t flags = b->size_flags & F_MASK;
  b->size_flags = size | flags;
  block *rest = at(addr_of(b) + size);
  rest->prev_size = size;
  rest->size_flags = have - size; /* free */
  fix_next(rest);
  release_large(rest);
}

/* A used block of at least `size` bytes (total), from the bins or the top. */
static block *take_block(uint32_t size) {
  for (uint32_t b = bin_of(size); b < NBINS; b++) {
    for (free_block *f = bins[b]; f; f = f->next) {
      if (bsize(&f->h) >= size) {
        bin_unlink(f);
        f->h.size_flags = bsize(&f->h) | F_USED;
        trim(&f->h, size);
        return &f->h;
      }
    }
  }
  uint64_t end = (uint64_t)heap_top + size;
  if (!ensure_memory(end)) return 0;
  block *n = at(heap_top);
  n->prev_size = last_size;
  n->size_flags = size | F_USED;
  heap_top += size;
  last_size = size;
  return n;
}

static uint32_t total_size(size_t n) {
  uint32_t t = ((uint32_t)n + HDR + 7u) & ~7u;
  return t < MIN_BLOCK ? MIN_BLOCK : t;
}

static int class_of(uint32_t total) {
  for (uint32_t c = 0; c < NCLASSES; c++)
    if (class_size[c] >= total) return (int)c;
  return -1;
}

void *aipol_malloc(size_t n) {
  if (!heap_ready) heap_init();
  if (n > MAX_REQUEST) return 0;
  uint32_t size = total_size(n);
  if (size <= SMALL_MAX) {
    int c = class_of(size);
    block *b = small_free[c];
    if (b) {
      small_free[c] = *(block **)(b + 1);
      b->size_flags &= ~F_SMALLFREE;
      return b + 1;
    }
    b = take_block(class_size[c]);
    if (!b) return 0;
    /* A recycled large block may be a little larger than the class; the
     * block keeps its real size so the heap walk stays exact. */
    b->size_flags |= F_SMALL;
    return b + 1;
  }
  block *b = take_block(size);
  return b ? b + 1 : 0;
}

/* The block header of p if p looks like a live block, else 0. */
static block *live_block(void *p) {
  uint32_t a = addr_of(p);
  if (!p || !heap_ready || (a & 7u) || a < heap_start + HDR || a >= heap_top) return 0;
  block *b = (block *)p - 1;
  uint32_t f = b->size_flags;
  if (!(f & F_USED) || (f & F_SMALLFREE)) return 0;
  if (bsize(b) < MIN_BLOCK || addr_of(b) + bsize(b) > heap_top) return 0;
  return b;
}

void aipol_free(void *p) {
  block *b = live_block(p);
  if (!b) return;
  if (b->size_flags & F_SMALL) {
    /* The largest class that fits: a recycled block may exceed its class. */
    int c = (int)NCLASSES - 1;
    while (c > 0 && class_size[c] > bsize(b)) c--;
    b->size_flags |= F_SMALLFREE;
    *(block **)(b + 1) = small_free[c];
    small_free[c] = b;
    return;
  }
  b->size_flags = bsize(b); /* clear F_USED */
  release_large(b);
}

void *aipol_realloc(void *p, size_t n) {
  if (!p) return aipol_malloc(n);
  block *b = live_block(p);
  if (!b || n > MAX_REQUEST) return 0;
  uint32_t need = total_size(n);
  uint32_t have = bsize(b);
  if (need <= have) {
    if (!(b->size_flags & F_SMALL) && have - need >= 256) trim(b, need);
    return p;
  }
  if (!(b->size_flags & F_SMALL) && need > SMALL_MAX) {
    uint32_t next = addr_of(b) + have;
    if (next == heap_top) { /* grow into the top in place */
      if (ensure_memory((uint64_t)addr_of(b) + need)) {
        b->size_flags = need | F_USED;
        heap_top = addr_of(b) + need;
        last_size = need;
        return p;
      }
    } else {
      block *nb = at(next);
      if (!(nb->size_flags & F_USED) && have + bsize(nb) >= need) {
        bin_unlink((free_block *)nb);
        b->size_flags = (have + bsize(nb)) | F_USED;
        fix_next(b);
        trim(b, need);
        return p;
      }
    }
  }
  void *q = aipol_malloc(n);
  if (!q) return 0;
  memcpy(q, p, have - HDR);
  aipol_free(p);
  return q;
}

void *aipol_calloc(size_t n, size_t size) {
  if (size && n > MAX_REQUEST / size) return 0;
  void *p = aipol_malloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

void aipol_slice_free(aipol_slice *s) {
  if (s->ptr) aipol_free((void *)s->ptr);
  s->ptr = 0;
  s->len = 0;
}

int aipol_slice_dup(aipol_slice *out, const uint8_t *p, uint32_t len) {
  out->ptr = 0;
  out->len = 0;
  if (!len) return 1;
  uint8_t *q = aipol_malloc(len);
  if (!q) return 0;
  memcpy(q, p, len);
  out->ptr = q;
  out->len = len;
  return 1;
}

__attribute__((export_name("malloc"))) void *aipol_export_malloc(size_t n) {
  return aipol_malloc(n);
}

__attribute__((export_name("proxy_on_memory_allocate"))) void *aipol_export_allocate(size_t n) {
  return aipol_malloc(n);
}

/* ---- mem* ---------------------------------------------------------------
 * no_builtin keeps clang from turning these loops back into calls to
 * themselves. Copies and fills go 8 bytes at a time whatever the alignment:
 * wasm loads and stores may be unaligned at no cost on the hosts Envoy runs
 * on, and the request body (copied in and out once per request) sits at
 * arbitrary offsets, where a byte loop was the common case. */

typedef uint64_t __attribute__((aligned(1), may_alias)) u64_unaligned;

__attribute__((no_builtin)) void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (; n >= 8; n -= 8, d += 8, s += 8) *(u64_unaligned *)d = *(const u64_unaligned *)s;
  while (n--) *d++ = *s++;
  return dst;
}

__attribute__((no_builtin)) void *memmove(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

__attribute__((no_builtin)) void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  uint8_t v = (uint8_t)c;
  uint64_t w = v * 0x0101010101010101ull;
  for (; n >= 8; n -= 8, d += 8) *(u64_unaligned *)d = w;
  while (n--) *d++ = v;
  return dst;
}

__attribute__((no_builtin)) int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

#ifdef AIPOL_TEST_EXPORTS
__attribute__((export_name("aipol_test_malloc"))) void *t_malloc(size_t n) { return aipol_malloc(n); }
__attribute__((export_name("aipol_test_free"))) void t_free(void *p) { aipol_free(p); }
__attribute__((export_name("aipol_test_realloc"))) void *t_realloc(void *p, size_t n) {
  return aipol_realloc(p, n);
}
__attribute__((export_name("aipol_test_calloc"))) void *t_calloc(size_t n, size_t m) {
  return aipol_calloc(n, m);
}
/* Usable size of a live block (0 if not live). */
__attribute__((export_name("aipol_test_usable"))) uint32_t t_usable(void *p) {
  block *b = live_block(p);
  return b ? bsize(b) - HDR : 0;
}
__attribute__((export_name("aipol_test_heap_top"))) uint32_t t_heap_top(void) { return heap_top; }

/* Walks the heap and the free lists; returns 0 if every invariant holds. */
__attribute__((export_name("aipol_test_heap_check"))) int t_heap_check(void) {
  if (!heap_ready) return 0;
  uint32_t a = heap_start, prev = 0, free_walk = 0, prev_free = 0;
  while (a < heap_top) {
    block *b = at(a);
    uint32_t s = bsize(b);
    if (s < MIN_BLOCK || (s & 7u) || a + s > heap_top) return 1;
    if (b->prev_size != prev) return 2;
    int is_free = !(b->size_flags & F_USED);
    if (is_free && prev_free) return 3; /* two adjacent free blocks: missed coalesce */
    if (!is_free && (b->size_flags & F_SMALLFREE) && !(b->size_flags & F_SMALL)) return 4;
    free_walk += (uint32_t)is_free;
    prev_free = (uint32_t)is_free;
    prev = s;
    a += s;
  }
  if (a != heap_top || last_size != prev) return 5;
  if (prev_free) return 6; /* a free block touching the top */
  uint32_t free_bins = 0;
  for (uint32_t i = 0; i < NBINS; i++) {
    free_block *pp = 0;
    for (free_block *f = bins[i]; f; f = f->next) {
      if (f->h.size_flags & F_USED) return 7;
      if (bin_of(bsize(&f->h)) != i || f->prev != pp) return 8;
      pp = f;
      if (++free_bins > free_walk) return 9;
    }
  }
  if (free_bins != free_walk) return 10;
  for (uint32_t c = 0; c < NCLASSES; c++)
    for (block *b = small_free[c]; b; b = *(block **)(b + 1)) {
      uint32_t f = b->size_flags;
      if (!(f & F_USED) || !(f & F_SMALL) || !(f & F_SMALLFREE) || bsize(b) < class_size[c])
        return 11;
    }
  return 0;
}
#endif
