/* validate.h — DLP checksum validators and masking/hash-token actions.
 *
 * proxy-wasm imports used: none.
 *
 * Validators take the bytes of one candidate match (separators included)
 * and return 1 if valid, 0 if not. They never trap (any pointer may be NULL
 * when its length is 0) and never allocate. The ids are shared with the
 * compiler: compiler/detectors.py VALIDATOR_IDS (a test checks both agree).
 */
#ifndef AIPOL_VALIDATE_H
#define AIPOL_VALIDATE_H

#include "types.h"

#define AIPOL_VALIDATOR_NONE 0
#define AIPOL_VALIDATOR_LUHN 1
#define AIPOL_VALIDATOR_IBAN_MOD97 2
#define AIPOL_VALIDATOR_US_SSN 3
#define AIPOL_VALIDATOR_IPV4_OCTETS 4
#define AIPOL_VALIDATOR_IPV6_GROUPS 5
#define AIPOL_VALIDATOR_PHONE_DIGITS 6
#define AIPOL_VALIDATOR_CARD_LUHN 7

/* Dispatches on the id: NONE accepts everything, unknown ids reject. */
int aipol_validate(uint32_t validator_id, const uint8_t *s, uint32_t len);

/* At least two digits, otherwise only spaces and dashes; Luhn sum % 10 == 0. */
int aipol_luhn(const uint8_t *s, uint32_t len);

/* Payment card: digits with optional spaces/dashes, the IIN prefix and
 * length of a known brand (Visa 13/16/19; Mastercard 51-55, 2221-2720: 16;
 * Amex 34/37: 15; Discover 6011, 644-649, 65: 16-19; JCB 3528-3589: 16-19;
 * Diners 300-305, 3095, 36, 38-39: 14, 16-19; UnionPay 62: 16-19), and Luhn. */
int aipol_card_luhn(const uint8_t *s, uint32_t len);

/* IBAN: spaces ignored, letters case-insensitive; known country with its
 * registry length, check digits 02..98, mod 97 of the rearranged number == 1. */
int aipol_iban_mod97(const uint8_t *s, uint32_t len);

/* The registry length of an IBAN of country a b (upper-case), 0 if unknown. */
uint32_t aipol_iban_country_len(uint8_t a, uint8_t b);

/* US SSN: nine digits, spaces/dashes ignored; area not 000, 666, 900-999,
 * group not 00, serial not 0000. */
int aipol_us_ssn(const uint8_t *s, uint32_t len);

/* Exactly four dot-separated decimal octets, each <= 255, no leading zeros. */
int aipol_ipv4_octets(const uint8_t *s, uint32_t len);

/* Hex groups (1-4 digits) separated by ':'; at most one "::"; eight groups
 * without "::", at most seven with it. */
int aipol_ipv6_groups(const uint8_t *s, uint32_t len);

/* 8 to 15 digits; besides digits only "+().-/" and spaces. */
int aipol_phone_digits(const uint8_t *s, uint32_t len);

/* The `mask` action. Writes len bytes: every ASCII letter/digit except the
 * last four becomes '*', other bytes are kept, except that bytes >= 0x80
 * always become '*' and JSON escapes are kept whole ("\n", "\"", ...) but
 * "\uXXXX" becomes "******" (so masked JSON string content stays valid).
 * Returns the output length (len); writes nothing unless it is <= cap. */
uint32_t aipol_mask_keep_last4(const uint8_t *s, uint32_t len, uint8_t *out, uint32_t cap);

/* HMAC-SHA-256 (RFC 2104). */
void aipol_hmac_sha256(const uint8_t *key, uint32_t key_len, const uint8_t *msg, uint32_t len,
                       uint8_t out[32]);

/* The `hash` action: "[<label>:<hex8>]" where hex8 is the first 4 bytes of
 * HMAC-SHA-256(key, s) in lower-case hex. Returns the output length
 * (label_len + 11); writes nothing unless it is <= cap. */
uint32_t aipol_hash_token(const uint8_t *label, uint32_t label_len, const uint8_t *key,
                          uint32_t key_len, const uint8_t *s, uint32_t len, uint8_t *out,
                          uint32_t cap);

#endif
