/* config.h — the plugin configuration: the principal (API key) table.
 *
 * proxy-wasm imports used: none (abi.c reads the bytes and logs errors).
 *
 * Format: text lines separated by "\n" (a trailing "\r" is tolerated),
 * fields separated by single spaces; blank lines and lines starting with
 * '#' are ignored. The first other line must be `aipol-config 1`; then
 *   key <sha256 of the API key: 64 lowercase hex> <principal> <team> <tier>
 * with names matching [A-Za-z0-9_.@-]+. An empty configuration is valid
 * (no principals). Two entries with the same key hash are an error.
 */
#ifndef AIPOL_CONFIG_H
#define AIPOL_CONFIG_H

#include "types.h"

typedef struct {
  aipol_principal *principals; /* sorted by sha256 */
  uint32_t count;
  uint8_t *text;               /* copy of the configuration the names point into */
} aipol_config;

/* Parses `cfg`. On success fills *out and returns 0; on error returns the
 * 1-based line number (or 0xFFFFFFFF on allocation failure when no line is
 * at fault) and sets *why to a static reason that never includes key
 * material. */
uint32_t aipol_config_parse(const uint8_t *cfg, uint32_t len, aipol_config *out, const char **why);
#define AIPOL_CONFIG_NO_MEMORY 0xFFFFFFFFu

void aipol_config_free(aipol_config *c);

/* Replaces the active configuration (takes ownership of *c). Streams may
 * still point into the previous principal table, so it is retired, not
 * freed, while `live_streams` is non-zero; aipol_config_collect frees the
 * retired tables once no stream is left. */
void aipol_config_install(aipol_config *c, uint32_t live_streams);
void aipol_config_collect(void);

/* Lookup in the active table by key hash, or NULL. */
const aipol_principal *aipol_principal_find(const uint8_t hash[32]);

/* The active table (for tests). */
const aipol_config *aipol_config_active(void);

#endif
