/* Request signatures: RPC v1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256), with the timestamp
 * and nonce formats they use. Pure: time and randomness are inputs, nothing here reads a
 * clock or does I/O. (shared/api/live-api.md §3–4) */
#ifndef ALIYUN_LIVE_SIGN_H
#define ALIYUN_LIVE_SIGN_H

#include <stdint.h>
#include "buf.h"
#include "encode.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define SIGN_ERRLEN     256
#define SIGN_V1_B64LEN  28      /* base64 of a 20-byte HMAC-SHA1 */
#define SIGN_HEXLEN     64      /* hex of a 32-byte SHA-256 / HMAC-SHA256 */
#define SIGN_TIMELEN    20      /* "2024-01-01T12:00:00Z" */
#define SIGN_NONCELEN   36      /* UUID text */

/* Keyed HMAC state kept across requests: re-keyed only when the secret changes, so a
 * request costs one MAC, not a key schedule. Owned by one client, used by one thread. */
typedef struct sign_mac sign_mac_t;

sign_mac_t *sign_mac_new(char err[SIGN_ERRLEN]);
void        sign_mac_free(sign_mac_t *m);

/* v1: canon ← sorted encoded query (every parameter but Signature); sts ← string to sign;
 * sig ← base64(HMAC-SHA1(secret + "&", sts)), NUL-terminated. Buffers are appended to. */
int sign_v1(sign_mac_t *m, const char *method, const kv_t *kv, size_t n,
            const char *secret, size_t secret_len,
            buf_t *canon, buf_t *sts, buf_t *tmp,
            char sig[SIGN_V1_B64LEN + 1], char err[SIGN_ERRLEN]);

/* v3: `query` are the operation's parameters; `headers` the headers to sign, with
 * lower-case names and trimmed values, in any order; `payload_hash` the hex SHA-256 of
 * the body. canon_query ← canonical query (also what the URL should carry); creq ←
 * canonical request; sts ← string to sign; signed_headers ← "a;b;c"; sig ← hex. */
int sign_v3(sign_mac_t *m, const char *method, const kv_t *query, size_t nq,
            const kv_t *headers, size_t nh, const char *payload_hash,
            const char *secret, size_t secret_len,
            buf_t *canon_query, buf_t *creq, buf_t *sts, buf_t *signed_headers,
            buf_t *tmp, char sig[SIGN_HEXLEN + 1], char err[SIGN_ERRLEN]);

/* Lower-case hex SHA-256 of data (x-acs-content-sha256), with m's digest context. */
int sign_sha256_hex(sign_mac_t *m, const void *data, size_t n, char out[SIGN_HEXLEN + 1],
                    char err[SIGN_ERRLEN]);

/* "YYYY-MM-DDThh:mm:ssZ" for a Unix time in seconds. Returns -1 if out of range. */
int sign_timestamp(int64_t unix_seconds, char out[SIGN_TIMELEN + 1]);

/* A version-4 UUID text from 16 random bytes. */
void sign_nonce(const unsigned char rnd[16], char out[SIGN_NONCELEN + 1]);

#pragma GCC visibility pop

#endif
