/* reply.c — OpenAI-format error replies as proxy-wasm local responses.
 *
 * proxy-wasm imports used: proxy_send_local_response (and, through util.c,
 * proxy_define_metric / proxy_increment_metric / proxy_log).
 */
#include "reply.h"
#include "abi.h"
#include "alloc.h"
#include "headers.h"
#include "json.h"
#include "policy.h"
#include "util.h"

static uint32_t cstr_len(const char *s) {
  uint32_t n = 0;
  if (s)
    while (s[n]) n++;
  return n;
}

/* Appends the escaped string; returns the new offset. out has room for the
 * worst case (6 bytes per input byte + 2). */
static uint32_t put_escaped(uint8_t *out, uint32_t o, const uint8_t *s, uint32_t n) {
  return o + aipol_json_escape(s, n, out + o, 6 * n + 2);
}

static uint32_t put(uint8_t *out, uint32_t o, const char *s) {
  uint32_t n = cstr_len(s);
  memcpy(out + o, s, n);
  return o + n;
}

uint8_t *aipol_error_body(const char *type, const char *code, const uint8_t *msg, uint32_t msg_len,
                          uint32_t *out_len) {
  uint32_t tl = cstr_len(type), cl = cstr_len(code);
  uint64_t cap = 64 + 6ull * ((uint64_t)msg_len + tl + cl) + 6;
  if (cap > 0x40000000u) return 0;
  uint8_t *out = aipol_malloc((size_t)cap);
  if (!out) return 0;
  uint32_t o = put(out, 0, "{\"error\":{\"message\":");
  o = put_escaped(out, o, msg, msg_len);
  o = put(out, o, ",\"type\":");
  o = put_escaped(out, o, (const uint8_t *)type, tl);
  o = put(out, o, ",\"param\":null,\"code\":");
  o = put_escaped(out, o, (const uint8_t *)code, cl);
  o = put(out, o, "}}");
  *out_len = o;
  return out;
}

int aipol_send_error(aipol_stream *s, uint32_t status, const char *type, const char *code,
                     const uint8_t *msg, uint32_t msg_len) {
  uint32_t cl = cstr_len(code);
  if (s) s->local_reply = 1;

  /* Metric aipol.denied.<code>; details aipol_<code> (the name's tail). */
  uint8_t *name = aipol_malloc(13 + (size_t)cl);
  if (name) {
    memcpy(name, "aipol.denied.", 13);
    memcpy(name + 13, code, cl);
    aipol_count((const char *)name, 13 + cl);
  }

  uint32_t body_len = 0, pairs_len = 0;
  uint8_t *body = aipol_error_body(type, code, msg, msg_len, &body_len);
  static const char ct_name[] = "content-type";
  static const char ct_value[] = "application/json";
  aipol_slice k = {(const uint8_t *)ct_name, sizeof(ct_name) - 1};
  aipol_slice v = {(const uint8_t *)ct_value, sizeof(ct_value) - 1};
  uint8_t *pairs = aipol_header_pairs(&k, &v, 1, &pairs_len);

  /* details: "aipol_" + code, written over "aipol.denied." in place. */
  const uint8_t *details = (const uint8_t *)"aipol_error";
  uint32_t details_len = 11;
  if (name) {
    name[5] = '_';
    memmove(name + 6, name + 13, cl);
    details = name;
    details_len = 6 + cl;
  }
  uint32_t r = proxy_send_local_response(status, details, details_len, body, body ? body_len : 0,
                                         pairs, pairs ? pairs_len : 0, -1);
  if (r != PW_OK) aipol_log3(PW_LOG_ERROR, "aipol: send_local_response failed for ", (const uint8_t *)code, cl, 0);
  aipol_free(name);
  aipol_free(body);
  aipol_free(pairs);
  return AIPOL_STOP;
}

#ifdef AIPOL_TEST_EXPORTS
__attribute__((export_name("aipol_test_error_body"))) uint8_t *t_error_body(
    const char *type, const char *code, const uint8_t *msg, uint32_t msg_len, uint32_t *out_len) {
  return aipol_error_body(type, code, msg, msg_len, out_len);
}
#endif
