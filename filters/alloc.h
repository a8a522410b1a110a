/* alloc.h — the heap allocator over wasm linear memory, and the mem*
 * functions clang expects from a freestanding environment.
 *
 * proxy-wasm imports used: none. Exports `malloc` and
 * `proxy_on_memory_allocate` (the host allocates its host->guest copies
 * with them; the guest frees those blocks with aipol_free).
 */
#ifndef AIPOL_ALLOC_H
#define AIPOL_ALLOC_H

#include "types.h"

/* All return 0 on failure (never trap). aipol_malloc(0) returns a valid,
 * unique block. aipol_free(0) and frees of pointers that are not live blocks
 * are ignored. */
void *aipol_malloc(size_t n);
void aipol_free(void *p);
void *aipol_realloc(void *p, size_t n);
void *aipol_calloc(size_t n, size_t size);

/* Frees a slice whose ptr was allocated by aipol_malloc (or the host) and
 * resets it to empty. */
void aipol_slice_free(aipol_slice *s);

/* Copies `len` bytes into a fresh block (len 0 gives an empty slice).
 * Returns 0 on allocation failure. */
int aipol_slice_dup(aipol_slice *out, const uint8_t *p, uint32_t len);

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
