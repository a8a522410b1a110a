/* policy_stub.c — a stand-in for the generated policy.c, for the runtime's
 * own tests (not runtime code). Its behaviour is steered from the tests
 * through the exported globals below.
 *
 * Routes: 0 = POST /v1/chat/completions (needs the body),
 *         1 = GET /v1/models (no body).
 */
#include "policy.h"
#include "alloc.h"
#include "dlp.h"
#include "headers.h"

const char aipol_policy_name[] = "stub";
const uint32_t aipol_policy_max_body = 4096;

/* Knobs set by the tests, and observations they read back. */
enum {
  REQUIRE_KEY,     /* 1: authenticate with an API key in the header phase */
  INSERT_SYSTEM,   /* 1/2: insert a system message first/last */
  SET_MODEL,       /* 1: set the model to "gpt-routed" */
  BODY_CALLS,      /* body hook calls */
  LAST_HAD_REQ,    /* the last body hook got a parsed request */
  RESPONSE_CALLS,  /* response header hook calls */
  HEADER_PROBE,    /* 1/2: set/remove x-probe in the header phase, then read it
                      back (see aipol_policy_request_headers) */
  NKNOBS
};
static uint32_t knob[NKNOBS];

__attribute__((export_name("stub_set"))) void stub_set(uint32_t k, uint32_t v) {
  if (k < NKNOBS) knob[k] = v;
}
__attribute__((export_name("stub_get"))) uint32_t stub_get(uint32_t k) {
  return k < NKNOBS ? knob[k] : 0;
}

int aipol_policy_match_route(const uint8_t *path, uint32_t path_len, const uint8_t *method,
                             uint32_t method_len) {
  if (aipol_bytes_eq(path, path_len, "/v1/chat/completions", 20) &&
      aipol_bytes_eq(method, method_len, "POST", 4))
    return 0;
  if (aipol_bytes_eq(path, path_len, "/v1/models", 10)) return 1;
  return -1;
}

int aipol_policy_route_needs_body(int route) { return route == 0; }

/* Reads x-probe (from the runtime's header snapshot), sets it to "changed"
 * (HEADER_PROBE 1) or removes it (2), reads it again, and reports both reads
 * in request headers the upstream sees: x-probe-first and x-probe-read
 * (the value, or "absent"). */
static void header_probe(void) {
  aipol_slice first = {0, 0}, again = {0, 0};
  int had = aipol_request_header_get("x-probe", 7, &first);
  if (knob[HEADER_PROBE] == 1)
    aipol_request_header_set("x-probe", 7, (const uint8_t *)"changed", 7);
  else
    aipol_request_header_remove("x-probe", 7);
  int has = aipol_request_header_get("x-probe", 7, &again);
  aipol_request_header_set("x-probe-first", 13, had ? first.ptr : (const uint8_t *)"absent",
                           had ? first.len : 6);
  aipol_request_header_set("x-probe-read", 12, has ? again.ptr : (const uint8_t *)"absent",
                           has ? again.len : 6);
  aipol_slice_free(&first);
  aipol_slice_free(&again);
}

int aipol_policy_request_headers(aipol_stream *s) {
  if (knob[HEADER_PROBE]) header_probe();
  if (!knob[REQUIRE_KEY]) return AIPOL_CONTINUE;
  int r = aipol_auth_api_key(s);
  if (r == AIPOL_AUTH_MISSING)
    return aipol_send_error(s, 401, "invalid_request_error", "missing_api_key",
                            (const uint8_t *)"No API key.", 11);
  if (r != AIPOL_AUTH_OK)
    return aipol_send_error(s, 401, "invalid_request_error", "invalid_api_key",
                            (const uint8_t *)"Bad API key.", 12);
  aipol_request_header_set("x-aipol-principal", 17, s->principal->name.ptr, s->principal->name.len);
  return AIPOL_CONTINUE;
}

int aipol_policy_request_body(aipol_stream *s, const aipol_chat_request *req) {
  knob[BODY_CALLS]++;
  knob[LAST_HAD_REQ] = req != NULL;
  if (req && knob[SET_MODEL]) aipol_chat_set_model(s, req, "\"gpt-routed\"", 12);
  if (req && knob[INSERT_SYSTEM])
    aipol_chat_insert_system(s, req, knob[INSERT_SYSTEM] == 2, "\"be nice\"", 9);
  aipol_route_to(s, 0, "primary", 7);
  return AIPOL_CONTINUE;
}

int aipol_policy_response_headers(aipol_stream *s) {
  (void)s;
  knob[RESPONSE_CALLS]++;
  aipol_response_header_set("x-aipol-policy", 14, (const uint8_t *)"stub", 4);
  return AIPOL_CONTINUE;
}

/* No route of the stub inspects responses (the compiled policies' tests,
 * tests/compiler/test_dlp_response.py, cover that phase). */
int aipol_policy_route_scans_response(int route) {
  (void)route;
  return 0;
}

uint32_t aipol_policy_response_scanners(int route, const aipol_dlp **out, uint32_t max) {
  (void)route;
  (void)out;
  (void)max;
  return 0;
}

int aipol_policy_response_body(aipol_stream *s, aipol_chat_response *resp) {
  (void)s;
  (void)resp;
  return AIPOL_CONTINUE;
}
