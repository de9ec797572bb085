/* RFC 3986 percent-encoding, canonical query strings and text checks, as the Alibaba
 * Cloud signatures define them (shared/api/live-api.md §3–4). Pure: no I/O, no Lua. */
#ifndef ALIYUN_LIVE_ENCODE_H
#define ALIYUN_LIVE_ENCODE_H

#include <stddef.h>
#include "buf.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

/* One request parameter; the strings need not be NUL-terminated. */
typedef struct kv {
    const char *k; size_t kl;
    const char *v; size_t vl;
} kv_t;

/* Most parameters one request may carry; more is refused rather than sorted slowly. */
#define ENCODE_MAX_PARAMS 128

/* Append s percent-encoded: A-Z a-z 0-9 - _ . ~ stay, every other byte is %XX (upper). */
int encode_pct(buf_t *out, const char *s, size_t n);

/* Append "k=v&k=v…" with names and values percent-encoded, sorted by encoded name (byte
 * order; equal names by raw value). `tmp` is scratch memory owned by the caller.
 * Returns 0, or -1 on out of memory or more than ENCODE_MAX_PARAMS parameters. */
int encode_canonical(buf_t *out, const kv_t *kv, size_t n, buf_t *tmp);

/* The same, and, when twice is not NULL, the canonical query percent-encoded once more
 * appended to twice (what v1's string to sign carries), made in the same pass. */
int encode_canonical_twice(buf_t *out, buf_t *twice, const kv_t *kv, size_t n, buf_t *tmp);

/* Check that s is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
 * and, unless allow_control, free of control characters (C0, DEL, C1). Returns
 * ENCODE_TEXT_OK or the problem, and the offset of the first offending byte in *at. */
enum { ENCODE_TEXT_OK = 0, ENCODE_TEXT_BAD_UTF8, ENCODE_TEXT_CONTROL };
int encode_check_text(const char *s, size_t n, int allow_control, size_t *at);

/* Number of code points in valid UTF-8 text (what "characters" means in API limits). */
size_t encode_utf8_len(const char *s, size_t n);

#pragma GCC visibility pop

#endif
