/* state.c — filter state written for Envoy's access log and later filters.
 *
 * proxy-wasm imports used: proxy_set_property (Envoy stores the value as
 * filter state `wasm.<name>`, printable with %FILTER_STATE(wasm.<name>:PLAIN)%).
 */
#include "abi.h"
#include "policy.h"

void aipol_set_state(const char *name, uint32_t name_len, aipol_slice value) {
  /* A failure (no stream context) only loses a log field: never fatal. */
  (void)proxy_set_property((const uint8_t *)name, name_len, value.ptr, value.len);
}
