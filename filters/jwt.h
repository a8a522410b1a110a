/* jwt.h — the principal of a request authenticated by a JWT.
 *
 * proxy-wasm imports used: none directly (headers.h reads the request
 * headers). Envoy's stock jwt_authn filter validates the token and copies the
 * mapped claims into x-aipol-jwt-principal / -team / -tier request headers
 * (client copies of those headers are stripped before jwt_authn runs, see
 * envoy/jwt.py); this module turns them into an aipol_principal, so `allow`
 * and everything keyed by principal work the same as for API keys.
 */
#ifndef AIPOL_JWT_H
#define AIPOL_JWT_H

#include "types.h"

/* AIPOL_AUTH_OK and sets s->principal if Envoy passed a validated token's
 * principal claim; AIPOL_AUTH_MISSING otherwise. A missing team or tier
 * claim reads as "" (no team / tier rule matches it). */
int aipol_auth_jwt(aipol_stream *s);

/* Frees what aipol_auth_jwt allocated for the stream. */
void aipol_jwt_principal_free(aipol_stream *s);

#endif
