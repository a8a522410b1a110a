/* jwt.c — the principal of a request authenticated by a JWT.
 *
 * proxy-wasm imports used: none directly (reads request headers through
 * headers.c: proxy_get_header_map_pairs / proxy_get_header_map_value).
 */
#include "jwt.h"

#include "alloc.h"
#include "headers.h"
#include "policy.h"

int aipol_auth_jwt(aipol_stream *s) {
  aipol_principal *p = &s->jwt_principal;
  aipol_jwt_principal_free(s);
  aipol_slice name;
  if (!aipol_request_header_get("x-aipol-jwt-principal", 21, &name) || name.len == 0) {
    aipol_slice_free(&name);
    return AIPOL_AUTH_MISSING;
  }
  p->name = name;
  aipol_request_header_get("x-aipol-jwt-team", 16, &p->team);
  aipol_request_header_get("x-aipol-jwt-tier", 16, &p->tier);
  s->principal = p;
  return AIPOL_AUTH_OK;
}

void aipol_jwt_principal_free(aipol_stream *s) {
  aipol_principal *p = &s->jwt_principal;
  aipol_slice_free(&p->name);
  aipol_slice_free(&p->team);
  aipol_slice_free(&p->tier);
  if (s->principal == p) s->principal = 0;
}
