/* types.h — fixed-width types and the per-stream state shared by the runtime
 * and the generated policy code.
 *
 * proxy-wasm imports used: none.
 */
#ifndef AIPOL_TYPES_H
#define AIPOL_TYPES_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned long size_t;
#define NULL ((void *)0)

/* A byte slice. Does not own its memory unless stated. */
typedef struct {
  const uint8_t *ptr;
  uint32_t len;
} aipol_slice;

/* One principal of the key table (plugin configuration). */
typedef struct {
  uint8_t sha256[32];
  aipol_slice name;
  aipol_slice team;
  aipol_slice tier;
} aipol_principal;

/* One queued body edit: replace bytes [start, end) of the original body
 * with `text` (owned by the stream, freed with it). start == end inserts. */
typedef struct {
  uint32_t start;
  uint32_t end;
  aipol_slice text;
  uint32_t owned; /* 1 if text.ptr was allocated for this edit */
  uint32_t tag;   /* runtime bookkeeping: which helper queued it (json.c) */
} aipol_edit;

#define AIPOL_MAX_EDITS 64

typedef struct aipol_stream {
  uint32_t context_id;
  int route;                        /* index from aipol_policy_match_route, -1 none */
  int backend;                      /* index chosen by aipol_route_to, -1 none */
  const aipol_principal *principal; /* set by aipol_auth_api_key, NULL if anonymous */
  uint32_t needs_body;              /* the body phase is pending */
  uint32_t local_reply;             /* a local reply was sent */
  aipol_principal jwt_principal;    /* owned slices: the principal a JWT's claims gave */
  uint32_t edit_count;
  aipol_edit edits[AIPOL_MAX_EDITS];
  /* Runtime-owned fields (added after the first contract draft): */
  uint32_t edit_error;              /* an edit could not be queued: the runtime
                                       fails the request (500) instead of
                                       forwarding an unedited body */
  aipol_slice request_id;           /* x-request-id, copied in the header phase
                                       (headers are gone in the body phase) */
  uint32_t response_mode;           /* response inspection (response.c):
                                       0 none, else AIPOL_RESPONSE_* */
  struct aipol_sse *sse;            /* streamed response state (sse.c), or NULL */
} aipol_stream;

#endif
