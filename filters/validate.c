/* validate.c — DLP checksum validators and masking/hash-token actions.
 *
 * proxy-wasm imports used: none.
 *
 * Reference implementations (which these must agree with) are in
 * compiler/detectors.py.
 */
#include "validate.h"
#include "sha256.h"

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }
static int is_alnum(uint8_t c) {
  return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}
static int is_hex(uint8_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int aipol_luhn(const uint8_t *s, uint32_t len) {
  uint32_t n = 0, sum = 0;
  if (!s) return 0;
  for (uint32_t i = len; i > 0; i--) {
    uint8_t c = s[i - 1];
    if (c == ' ' || c == '-') continue;
    if (!is_digit(c)) return 0;
    uint32_t v = c - '0';
    if (n & 1) v = v > 4 ? v * 2 - 9 : v * 2;
    sum += v;
    n++;
  }
  return n >= 2 && sum % 10 == 0;
}

/* Card brands' IIN ranges: [lo, hi] on the first `digits` digits, and the
 * allowed total lengths as a bit mask. Keep in sync with
 * compiler/detectors.py CARD_BRANDS (tested). */
#define L(n) (1u << (n))
#define L16_19 (L(16) | L(17) | L(18) | L(19))
static const struct {
  uint16_t lo, hi;
  uint32_t digits, lengths;
} card_ranges[] = {
    {4, 4, 1, L(13) | L(16) | L(19)},          /* Visa */
    {51, 55, 2, L(16)},                        /* Mastercard */
    {2221, 2720, 4, L(16)},                    /* Mastercard 2-series */
    {34, 34, 2, L(15)},                        /* Amex */
    {37, 37, 2, L(15)},                        /* Amex */
    {6011, 6011, 4, L16_19},                   /* Discover */
    {644, 649, 3, L16_19},                     /* Discover */
    {65, 65, 2, L16_19},                       /* Discover */
    {3528, 3589, 4, L16_19},                   /* JCB */
    {300, 305, 3, L(14) | L16_19},             /* Diners */
    {3095, 3095, 4, L(14) | L16_19},           /* Diners */
    {36, 36, 2, L(14) | L16_19},               /* Diners */
    {38, 39, 2, L(14) | L16_19},               /* Diners */
    {62, 62, 2, L16_19},                       /* UnionPay */
};

int aipol_card_luhn(const uint8_t *s, uint32_t len) {
  uint8_t d[19];
  uint32_t n = 0, known = 0;
  if (!s) return 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (c == ' ' || c == '-') continue;
    if (!is_digit(c) || n == 19) return 0;
    d[n++] = c - '0';
  }
  if (n < 13) return 0;
  for (uint32_t r = 0; r < sizeof(card_ranges) / sizeof(card_ranges[0]) && !known; r++) {
    uint32_t v = 0;
    for (uint32_t k = 0; k < card_ranges[r].digits; k++) v = v * 10 + d[k];
    known = v >= card_ranges[r].lo && v <= card_ranges[r].hi && (card_ranges[r].lengths >> n & 1);
  }
  return known && aipol_luhn(s, len);
}

/* IBAN lengths per country (SWIFT IBAN registry); keep in sync with
 * compiler/detectors.py IBAN_LENGTHS (tested). */
static const char iban_table[] =
    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24"
    "DE22DJ27DK18DO28EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27"
    "GT28HN28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21LT20"
    "LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24"
    "PL28PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25"
    "SV28TL23TN24TR26UA29VA22VG24XK20YE30";

uint32_t aipol_iban_country_len(uint8_t a, uint8_t b) {
  for (uint32_t i = 0; i + 4 <= sizeof(iban_table) - 1; i += 4)
    if ((uint8_t)iban_table[i] == a && (uint8_t)iban_table[i + 1] == b)
      return (uint32_t)(iban_table[i + 2] - '0') * 10 + (uint32_t)(iban_table[i + 3] - '0');
  return 0;
}

static uint32_t mod97_step(uint32_t m, uint8_t c) {
  uint32_t v = is_digit(c) ? (uint32_t)(c - '0') : (uint32_t)(c - 'A' + 10);
  return (m * (v > 9 ? 100 : 10) + v) % 97;
}

int aipol_iban_mod97(const uint8_t *s, uint32_t len) {
  uint8_t head[4];
  uint32_t n = 0, m = 0;
  if (!s) return 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (c == ' ') continue;
    if (c >= 'a' && c <= 'z') c -= 32;
    if (!is_digit(c) && !is_upper(c)) return 0;
    if (n < 4)
      head[n] = c;
    else
      m = mod97_step(m, c);
    n++;
  }
  if (n < 5) return 0;
  if (!is_upper(head[0]) || !is_upper(head[1]) || !is_digit(head[2]) || !is_digit(head[3]))
    return 0;
  uint32_t check = (uint32_t)(head[2] - '0') * 10 + (uint32_t)(head[3] - '0');
  if (check < 2 || check > 98) return 0;
  if (aipol_iban_country_len(head[0], head[1]) != n) return 0;
  for (uint32_t k = 0; k < 4; k++) m = mod97_step(m, head[k]);
  return m == 1;
}

int aipol_us_ssn(const uint8_t *s, uint32_t len) {
  uint32_t d[9], n = 0;
  if (!s) return 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (c == ' ' || c == '-') continue;
    if (!is_digit(c) || n == 9) return 0;
    d[n++] = c - '0';
  }
  if (n != 9) return 0;
  uint32_t area = d[0] * 100 + d[1] * 10 + d[2];
  uint32_t group = d[3] * 10 + d[4];
  uint32_t serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
  return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

int aipol_ipv4_octets(const uint8_t *s, uint32_t len) {
  uint32_t i = 0, parts = 0;
  if (!s) return 0;
  for (;;) {
    uint32_t start = i, n = 0, v = 0;
    while (i < len && n < 4 && is_digit(s[i])) {
      v = v * 10 + (uint32_t)(s[i] - '0');
      i++;
      n++;
    }
    if (n == 0 || n > 3 || v > 255 || (n > 1 && s[start] == '0')) return 0;
    parts++;
    if (i == len) break;
    if (s[i] != '.' || parts == 4) return 0;
    i++;
  }
  return parts == 4;
}

int aipol_ipv6_groups(const uint8_t *s, uint32_t len) {
  uint32_t i = 0, groups = 0;
  int compressed = 0;
  if (!s || len < 2) return 0;
  if (s[0] == ':') {
    if (s[1] != ':') return 0;
    compressed = 1;
    i = 2;
    if (i == len) return 1;
  }
  for (;;) {
    uint32_t n = 0;
    while (i < len && n < 5 && is_hex(s[i])) {
      i++;
      n++;
    }
    if (n == 0 || n > 4) return 0;
    groups++;
    if (i == len) break;
    if (s[i] != ':') return 0;
    i++;
    if (i < len && s[i] == ':') {
      if (compressed) return 0;
      compressed = 1;
      i++;
      if (i == len) break;
    } else if (i == len) {
      return 0;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

int aipol_phone_digits(const uint8_t *s, uint32_t len) {
  uint32_t n = 0;
  if (!s) return 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (is_digit(c))
      n++;
    else if (c != '+' && c != '(' && c != ')' && c != '.' && c != ' ' && c != '-' && c != '/')
      return 0;
  }
  return n >= 8 && n <= 15;
}

int aipol_validate(uint32_t validator_id, const uint8_t *s, uint32_t len) {
  switch (validator_id) {
    case AIPOL_VALIDATOR_NONE: return 1;
    case AIPOL_VALIDATOR_LUHN: return aipol_luhn(s, len);
    case AIPOL_VALIDATOR_IBAN_MOD97: return aipol_iban_mod97(s, len);
    case AIPOL_VALIDATOR_US_SSN: return aipol_us_ssn(s, len);
    case AIPOL_VALIDATOR_IPV4_OCTETS: return aipol_ipv4_octets(s, len);
    case AIPOL_VALIDATOR_IPV6_GROUPS: return aipol_ipv6_groups(s, len);
    case AIPOL_VALIDATOR_PHONE_DIGITS: return aipol_phone_digits(s, len);
    case AIPOL_VALIDATOR_CARD_LUHN: return aipol_card_luhn(s, len);
    default: return 0;
  }
}

/* ---- masking ---------------------------------------------------------- */

/* Length of the JSON escape at s[i] (a backslash): 6 for \uXXXX, 2 for any
 * other escape, 0 if s[i] is a backslash with nothing after it. */
static uint32_t escape_len(const uint8_t *s, uint32_t len, uint32_t i) {
  if (i + 1 >= len) return 0;
  if (s[i + 1] == 'u' && i + 5 < len && is_hex(s[i + 2]) && is_hex(s[i + 3]) &&
      is_hex(s[i + 4]) && is_hex(s[i + 5]))
    return 6;
  return 2;
}

uint32_t aipol_mask_keep_last4(const uint8_t *s, uint32_t len, uint8_t *out, uint32_t cap) {
  uint32_t total = 0, seen = 0;
  if (len > cap || !out || !s) return len;
  for (uint32_t i = 0; i < len;) {
    uint32_t e = s[i] == '\\' ? escape_len(s, len, i) : 0;
    if (e) {
      i += e;
      continue;
    }
    if (is_alnum(s[i])) total++;
    i++;
  }
  for (uint32_t i = 0; i < len;) {
    uint32_t e = s[i] == '\\' ? escape_len(s, len, i) : 0;
    if (e == 6) {
      for (uint32_t k = 0; k < 6; k++) out[i + k] = '*';
      i += 6;
      continue;
    }
    if (e == 2) {
      out[i] = s[i];
      out[i + 1] = s[i + 1];
      i += 2;
      continue;
    }
    uint8_t c = s[i];
    if (c >= 0x80) {
      c = '*';
    } else if (is_alnum(c)) {
      if (seen + 4 < total) c = '*';
      seen++;
    }
    out[i++] = c;
  }
  return len;
}

/* ---- hash token ------------------------------------------------------- */

void aipol_hmac_sha256(const uint8_t *key, uint32_t key_len, const uint8_t *msg, uint32_t len,
                       uint8_t out[32]) {
  uint8_t k[64], pad[64], inner[32];
  aipol_sha256_ctx c;
  for (uint32_t i = 0; i < 64; i++) k[i] = 0;
  if (key_len > 64) {
    aipol_sha256(key, key_len, k);
  } else {
    for (uint32_t i = 0; i < key_len; i++) k[i] = key[i];
  }
  for (uint32_t i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  aipol_sha256_init(&c);
  aipol_sha256_update(&c, pad, 64);
  aipol_sha256_update(&c, msg, len);
  aipol_sha256_final(&c, inner);
  for (uint32_t i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  aipol_sha256_init(&c);
  aipol_sha256_update(&c, pad, 64);
  aipol_sha256_update(&c, inner, 32);
  aipol_sha256_final(&c, out);
}

uint32_t aipol_hash_token(const uint8_t *label, uint32_t label_len, const uint8_t *key,
                          uint32_t key_len, const uint8_t *s, uint32_t len, uint8_t *out,
                          uint32_t cap) {
  static const char hex[] = "0123456789abcdef";
  uint8_t mac[32];
  uint32_t n = label_len + 11, o = 0;
  if (label_len > 0xFFFFFFFFu - 11) return 0xFFFFFFFFu;
  if (n > cap || !out) return n;
  aipol_hmac_sha256(key, key_len, s, len, mac);
  out[o++] = '[';
  for (uint32_t i = 0; i < label_len; i++) out[o++] = label[i];
  out[o++] = ':';
  for (uint32_t i = 0; i < 4; i++) {
    out[o++] = (uint8_t)hex[mac[i] >> 4];
    out[o++] = (uint8_t)hex[mac[i] & 15];
  }
  out[o++] = ']';
  return n;
}

#ifdef AIPOL_TEST_EXPORTS
__attribute__((export_name("aipol_test_validate"))) int t_validate(uint32_t id, const uint8_t *s,
                                                                    uint32_t len) {
  return aipol_validate(id, s, len);
}
__attribute__((export_name("aipol_test_luhn"))) int t_luhn(const uint8_t *s, uint32_t len) {
  return aipol_luhn(s, len);
}
__attribute__((export_name("aipol_test_card_luhn"))) int t_card(const uint8_t *s, uint32_t len) {
  return aipol_card_luhn(s, len);
}
__attribute__((export_name("aipol_test_iban_mod97"))) int t_iban(const uint8_t *s, uint32_t len) {
  return aipol_iban_mod97(s, len);
}
__attribute__((export_name("aipol_test_iban_country_len"))) uint32_t t_iban_len(uint32_t a,
                                                                                 uint32_t b) {
  return aipol_iban_country_len((uint8_t)a, (uint8_t)b);
}
__attribute__((export_name("aipol_test_us_ssn"))) int t_ssn(const uint8_t *s, uint32_t len) {
  return aipol_us_ssn(s, len);
}
__attribute__((export_name("aipol_test_ipv4_octets"))) int t_ipv4(const uint8_t *s, uint32_t len) {
  return aipol_ipv4_octets(s, len);
}
__attribute__((export_name("aipol_test_ipv6_groups"))) int t_ipv6(const uint8_t *s, uint32_t len) {
  return aipol_ipv6_groups(s, len);
}
__attribute__((export_name("aipol_test_phone_digits"))) int t_phone(const uint8_t *s,
                                                                     uint32_t len) {
  return aipol_phone_digits(s, len);
}
__attribute__((export_name("aipol_test_mask_keep_last4"))) uint32_t t_mask(const uint8_t *s,
                                                                            uint32_t len,
                                                                            uint8_t *out,
                                                                            uint32_t cap) {
  return aipol_mask_keep_last4(s, len, out, cap);
}
__attribute__((export_name("aipol_test_hmac_sha256"))) void t_hmac(const uint8_t *key,
                                                                    uint32_t key_len,
                                                                    const uint8_t *msg,
                                                                    uint32_t len, uint8_t *out) {
  aipol_hmac_sha256(key, key_len, msg, len, out);
}
__attribute__((export_name("aipol_test_hash_token"))) uint32_t t_hash_token(
    const uint8_t *label, uint32_t label_len, const uint8_t *key, uint32_t key_len,
    const uint8_t *s, uint32_t len, uint8_t *out, uint32_t cap) {
  return aipol_hash_token(label, label_len, key, key_len, s, len, out, cap);
}
#endif
