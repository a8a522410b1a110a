/* headers.c — request/response header access, header pairs serialization.
 *
 * proxy-wasm imports used: proxy_get_header_map_pairs, proxy_get_header_map_value,
 * proxy_add_header_map_value, proxy_replace_header_map_value,
 * proxy_remove_header_map_value.
 */
#include "headers.h"
#include "abi.h"
#include "alloc.h"
#include "policy.h"
#include "util.h"

int aipol_header_get(uint32_t map, const char *name, uint32_t name_len, aipol_slice *out) {
  uint8_t *ptr = 0;
  uint32_t len = 0;
  out->ptr = 0;
  out->len = 0;
  uint32_t r = proxy_get_header_map_value(map, (const uint8_t *)name, name_len, &ptr, &len);
  if (r != PW_OK) {
    if (ptr) aipol_free(ptr);
    return 0;
  }
  out->ptr = ptr; /* NULL when the value is empty (the host skips allocating) */
  out->len = ptr ? len : 0;
  return 1;
}

/* The serialized pairs of the request headers (ABI §4.2), or NULL.
 *
 * The snapshot keeps telling the truth through the filter's own edits, so
 * that every request header read of the headers callback is served without
 * a host call (each costs a VM exit plus, for a value, a call back into the
 * guest allocator): a removed header's entries are blanked in place, and a
 * set header's value goes to the small `sets` overlay, read first. */
static uint8_t *snap;
static uint32_t snap_len;

#define MAX_SETS 8
static aipol_slice set_names[MAX_SETS], set_values[MAX_SETS]; /* owned copies */
static uint32_t set_count;

void aipol_request_headers_release(void) {
  if (snap) aipol_free(snap);
  snap = 0;
  snap_len = 0;
  for (uint32_t i = 0; i < set_count; i++) {
    aipol_slice_free(&set_names[i]);
    aipol_slice_free(&set_values[i]);
  }
  set_count = 0;
}

/* Index of `name` (lower case) in the overlay, or -1. */
static int overlay_find(const char *name, uint32_t name_len) {
  for (uint32_t i = 0; i < set_count; i++)
    if (aipol_bytes_eq(set_names[i].ptr, set_names[i].len, name, name_len)) return (int)i;
  return -1;
}

static void overlay_drop(int i) {
  aipol_slice_free(&set_names[i]);
  aipol_slice_free(&set_values[i]);
  set_count--;
  set_names[i] = set_names[set_count];
  set_values[i] = set_values[set_count];
}

void aipol_request_headers_snapshot(void) {
  aipol_request_headers_release();
  uint8_t *ptr = 0;
  uint32_t len = 0;
  if (proxy_get_header_map_pairs(PW_MAP_REQUEST_HEADERS, &ptr, &len) != PW_OK || len < 4) {
    if (ptr) aipol_free(ptr);
    return;
  }
  snap = ptr;
  snap_len = len;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Looks `name` up in the snapshot: 1 found (copy in *out), 0 absent,
 * -1 the snapshot is malformed (the caller asks the host instead). */
static int snapshot_get(const char *name, uint32_t name_len, aipol_slice *out) {
  uint32_t n = le32(snap);
  uint64_t at = 4 + 8ull * n; /* start of the strings */
  if (n > snap_len / 8 || at > snap_len) return -1;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t klen = le32(snap + 4 + 8 * i), vlen = le32(snap + 8 + 8 * i);
    uint64_t end = at + (uint64_t)klen + 1 + vlen + 1;
    if (end > snap_len) return -1;
    const uint8_t *key = snap + at, *val = key + klen + 1;
    if (klen == name_len && memcmp(key, name, name_len) == 0) {
      out->ptr = 0;
      out->len = 0;
      if (vlen) {
        uint8_t *copy = aipol_malloc(vlen);
        if (!copy) return 0;
        memcpy(copy, val, vlen);
        out->ptr = copy;
        out->len = vlen;
      }
      return 1;
    }
    at = end;
  }
  return 0;
}

/* Blanks every snapshot entry named `name` (lower case, as Envoy's keys
 * are), so the snapshot keeps telling the truth after the host removed or
 * replaced them. Returns how many there
 * were, or -1 if the snapshot is malformed. A blanked key starts with a NUL
 * byte, which no header name does, so lookups no longer find it. */
static int snapshot_forget(const char *name, uint32_t name_len) {
  uint32_t n = le32(snap);
  uint64_t at = 4 + 8ull * n;
  int found = 0;
  if (n > snap_len / 8 || at > snap_len || name_len == 0) return -1;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t klen = le32(snap + 4 + 8 * i), vlen = le32(snap + 8 + 8 * i);
    uint64_t end = at + (uint64_t)klen + 1 + vlen + 1;
    if (end > snap_len) return -1;
    uint8_t *key = snap + at;
    if (klen == name_len && memcmp(key, name, name_len) == 0) {
      key[0] = 0;
      found++;
    }
    at = end;
  }
  return found;
}

int aipol_request_header_get(const char *name, uint32_t name_len, aipol_slice *out) {
  out->ptr = 0; /* callers may read *out even when the header is absent */
  out->len = 0;
  if (snap) {
    int i = overlay_find(name, name_len);
    if (i >= 0) return aipol_slice_dup(out, set_values[i].ptr, set_values[i].len);
    int found = snapshot_get(name, name_len, out);
    if (found >= 0) return found;
    aipol_request_headers_release();
  }
  return aipol_header_get(PW_MAP_REQUEST_HEADERS, name, name_len, out);
}

int aipol_response_header_get(const char *name, uint32_t name_len, aipol_slice *out) {
  return aipol_header_get(PW_MAP_RESPONSE_HEADERS, name, name_len, out);
}

int aipol_header_set(uint32_t map, const char *name, uint32_t name_len, const uint8_t *value,
                     uint32_t value_len) {
  return proxy_replace_header_map_value(map, (const uint8_t *)name, name_len, value, value_len) ==
         PW_OK;
}

int aipol_header_add(uint32_t map, const char *name, uint32_t name_len, const uint8_t *value,
                     uint32_t value_len) {
  return proxy_add_header_map_value(map, (const uint8_t *)name, name_len, value, value_len) ==
         PW_OK;
}

int aipol_header_remove(uint32_t map, const char *name, uint32_t name_len) {
  return proxy_remove_header_map_value(map, (const uint8_t *)name, name_len) == PW_OK;
}

/* Names given by the runtime and the generated code are lower case, as
 * Envoy stores them; anything else bypasses the snapshot bookkeeping. */
static int is_lower_name(const char *name, uint32_t name_len) {
  if (name_len == 0) return 0;
  for (uint32_t i = 0; i < name_len; i++)
    if (name[i] >= 'A' && name[i] <= 'Z') return 0;
  return 1;
}

void aipol_request_header_set(const char *name, uint32_t name_len, const uint8_t *value,
                              uint32_t value_len) {
  if (snap) {
    /* Replace semantics: the old entries go, the new value is read from
     * the overlay. Whatever cannot be recorded drops the snapshot. */
    int i = is_lower_name(name, name_len) ? overlay_find(name, name_len) : -2;
    if (i >= 0) overlay_drop(i);
    if (i == -2 || snapshot_forget(name, name_len) < 0 || set_count == MAX_SETS ||
        !aipol_slice_dup(&set_names[set_count], (const uint8_t *)name, name_len)) {
      aipol_request_headers_release();
    } else if (!aipol_slice_dup(&set_values[set_count], value, value_len)) {
      aipol_slice_free(&set_names[set_count]);
      aipol_request_headers_release();
    } else {
      set_count++;
    }
  }
  aipol_header_set(PW_MAP_REQUEST_HEADERS, name, name_len, value, value_len);
}

void aipol_request_header_remove(const char *name, uint32_t name_len) {
  if (snap) {
    /* The snapshot follows every edit, so a header it does not hold is not
     * in the map either: no host call. Policies remove `authorization` and
     * `x-api-key` on every request, and clients send one of them at most. */
    int i = is_lower_name(name, name_len) ? overlay_find(name, name_len) : -2;
    int found = i == -2 ? -1 : snapshot_forget(name, name_len);
    if (i >= 0) {
      overlay_drop(i);
      found++;
    }
    if (found == 0) return;
    if (found < 0) aipol_request_headers_release();
  }
  aipol_header_remove(PW_MAP_REQUEST_HEADERS, name, name_len);
}

void aipol_response_header_set(const char *name, uint32_t name_len, const uint8_t *value,
                               uint32_t value_len) {
  aipol_header_set(PW_MAP_RESPONSE_HEADERS, name, name_len, value, value_len);
}

void aipol_response_header_remove(const char *name, uint32_t name_len) {
  aipol_header_remove(PW_MAP_RESPONSE_HEADERS, name, name_len);
}

static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

uint8_t *aipol_header_pairs(const aipol_slice *keys, const aipol_slice *values, uint32_t n,
                            uint32_t *out_len) {
  uint64_t size = 4 + 8ull * n;
  for (uint32_t i = 0; i < n; i++) size += (uint64_t)keys[i].len + values[i].len + 2;
  if (size > 0x40000000u) return 0;
  uint8_t *out = aipol_malloc((size_t)size);
  if (!out) return 0;
  put_le32(out, n);
  uint32_t o = 4;
  for (uint32_t i = 0; i < n; i++, o += 8) {
    put_le32(out + o, keys[i].len);
    put_le32(out + o + 4, values[i].len);
  }
  for (uint32_t i = 0; i < n; i++) {
    if (keys[i].len) memcpy(out + o, keys[i].ptr, keys[i].len);
    o += keys[i].len;
    out[o++] = 0;
    if (values[i].len) memcpy(out + o, values[i].ptr, values[i].len);
    o += values[i].len;
    out[o++] = 0;
  }
  *out_len = o;
  return out;
}

#ifdef AIPOL_TEST_EXPORTS
/* n pairs given as quads (key_ptr, key_len, value_ptr, value_len). */
__attribute__((export_name("aipol_test_header_pairs"))) uint8_t *t_pairs(const uint32_t *quads,
                                                                          uint32_t n,
                                                                          uint32_t *out_len) {
  aipol_slice *k = aipol_calloc(n ? n : 1, sizeof(aipol_slice));
  aipol_slice *v = aipol_calloc(n ? n : 1, sizeof(aipol_slice));
  uint8_t *r = 0;
  if (k && v) {
    for (uint32_t i = 0; i < n; i++) {
      k[i].ptr = (const uint8_t *)(size_t)quads[4 * i];
      k[i].len = quads[4 * i + 1];
      v[i].ptr = (const uint8_t *)(size_t)quads[4 * i + 2];
      v[i].len = quads[4 * i + 3];
    }
    r = aipol_header_pairs(k, v, n, out_len);
  }
  aipol_free(k);
  aipol_free(v);
  return r;
}
#endif
