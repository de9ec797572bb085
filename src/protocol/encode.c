/* Percent-encoding and canonical query building. */
#include <stdint.h>
#include <string.h>

#include "encode.h"

/* Each byte's encoding, padded to 4 bytes, and its length: the loop copies 4 bytes and
 * advances by 1 or 3, without a branch per byte. Computed by the compiler, so the hot
 * path has no once-only initialisation to check. Unreserved (RFC 3986): A-Z a-z 0-9
 * - _ . ~ (the source character set is ASCII on every platform we build for). */
#define UNRES(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z') || \
                  ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_' || (c) == '.' || \
                  (c) == '~')
#define HEXD(d) ((d) < 10 ? '0' + (d) : 'A' + (d) - 10)
#define PCT(c) { UNRES(c) ? (c) : '%', UNRES(c) ? 0 : HEXD((c) >> 4), \
                 UNRES(c) ? 0 : HEXD((c) & 15), 0 }
#define PCT4(c) PCT(c), PCT((c) + 1), PCT((c) + 2), PCT((c) + 3)
#define PCT16(c) PCT4(c), PCT4((c) + 4), PCT4((c) + 8), PCT4((c) + 12)
#define PCT64(c) PCT16(c), PCT16((c) + 16), PCT16((c) + 32), PCT16((c) + 48)
static const unsigned char pct_code[256][4] = { PCT64(0), PCT64(64), PCT64(128), PCT64(192) };

#define LEN(c) (UNRES(c) ? 1 : 3)
#define LEN4(c) LEN(c), LEN((c) + 1), LEN((c) + 2), LEN((c) + 3)
#define LEN16(c) LEN4(c), LEN4((c) + 4), LEN4((c) + 8), LEN4((c) + 12)
#define LEN64(c) LEN16(c), LEN16((c) + 16), LEN16((c) + 32), LEN16((c) + 48)
static const unsigned char pct_len[256] = { LEN64(0), LEN64(64), LEN64(128), LEN64(192) };

/* Encode s into out and, when twice is not NULL, encode the result once more into twice
 * (as v1's string to sign wants the canonical query) in the same pass: an unreserved
 * byte is itself in both, any other byte is %XX in out and %25XX in twice. A byte at a
 * time: a word-at-a-time (SWAR) version ran slower here — its branch per reserved byte
 * cost more than this loop, which the CPU runs at under two cycles a byte. */
static int pct_pass(buf_t *out, buf_t *twice, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    char *w, *w2;
    size_t i;
    /* Reserve the worst case (plus the 4th byte of the last copy) once. */
    if (n > (SIZE_MAX - 8) / 5 || buf_reserve(out, 3 * n + 1) != 0) { out->oom = 1; return -1; }
    w = out->data + out->len;
    if (!twice) {
        for (i = 0; i < n; i++) {
            memcpy(w, pct_code[p[i]], 4);
            w += pct_len[p[i]];
        }
        out->len = (size_t)(w - out->data);
        return 0;
    }
    if (buf_reserve(twice, 5 * n + 1) != 0) return -1;
    w2 = twice->data + twice->len;
    for (i = 0; i < n; i++) {
        unsigned c = p[i];
        memcpy(w, pct_code[c], 4);
        w += pct_len[c];
        if (pct_len[c] == 1) *w2++ = (char)c;
        else { memcpy(w2, "%25", 3); memcpy(w2 + 3, pct_code[c] + 1, 2); w2 += 5; }
    }
    out->len = (size_t)(w - out->data);
    twice->len = (size_t)(w2 - twice->data);
    return 0;
}

int encode_pct(buf_t *out, const char *s, size_t n) { return pct_pass(out, NULL, s, n); }

/* A name to sort: where its encoded bytes are in tmp, and their first 8 bytes as a
 * big-endian number (zero-padded: an encoded name has no NUL byte, so a shorter name
 * that is a prefix of a longer one still sorts first), which decides most comparisons
 * in one instruction. */
typedef struct { uint64_t head; size_t off, len, idx; } sortkey_t;

static uint64_t head8(const char *p, size_t n) {
    unsigned char b[8] = { 0 };
    memcpy(b, p, n < 8 ? n : 8);
    return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
           (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
           (uint64_t)b[6] << 8 | (uint64_t)b[7];   /* compilers make this one bswap */
}

static int key_less(const char *base, const sortkey_t *a, const sortkey_t *b,
                    const kv_t *kv) {
    size_t m;
    int c;
    if (a->head != b->head) return a->head < b->head;
    if (a->len > 8 && b->len > 8) {
        m = a->len < b->len ? a->len : b->len;
        c = memcmp(base + a->off + 8, base + b->off + 8, m - 8);
        if (c) return c < 0;
    }
    if (a->len != b->len) return a->len < b->len;
    /* Equal names only arrive through hand-built parameter lists; order by value so the
     * result does not depend on input order. Raw values compare like encoded ones here
     * because both sides carry the same name. */
    m = kv[a->idx].vl < kv[b->idx].vl ? kv[a->idx].vl : kv[b->idx].vl;
    c = memcmp(kv[a->idx].v, kv[b->idx].v, m);
    if (c) return c < 0;
    return kv[a->idx].vl < kv[b->idx].vl;
}

int encode_canonical_twice(buf_t *out, buf_t *twice, const kv_t *kv, size_t n, buf_t *tmp) {
    sortkey_t keys[ENCODE_MAX_PARAMS];
    size_t i, j;
    if (n > ENCODE_MAX_PARAMS) return -1;
    buf_reset(tmp);
    for (i = 0; i < n; i++) {
        keys[i].off = tmp->len;
        if (encode_pct(tmp, kv[i].k, kv[i].kl) != 0) return -1;
        keys[i].len = tmp->len - keys[i].off;
        keys[i].idx = i;
    }
    for (i = 0; i < n; i++) keys[i].head = head8(tmp->data + keys[i].off, keys[i].len);
    /* Insertion sort: a request has a dozen parameters. */
    for (i = 1; i < n; i++) {
        sortkey_t k = keys[i];
        for (j = i; j > 0 && key_less(tmp->data, &k, &keys[j - 1], kv); j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
    for (i = 0; i < n; i++) {
        const char *name = tmp->data + keys[i].off;
        if (i && buf_addc(out, '&') != 0) return -1;
        if (buf_add(out, name, keys[i].len) != 0) return -1;
        if (buf_addc(out, '=') != 0) return -1;
        if (twice) {   /* the name again, encoded once more; "&" and "=" encoded */
            if (i && buf_add(twice, "%26", 3) != 0) return -1;
            /* An encoded name as long as the raw one has no '%': it stays as it is. */
            if (keys[i].len == kv[keys[i].idx].kl ? buf_add(twice, name, keys[i].len)
                                                   : encode_pct(twice, name, keys[i].len))
                return -1;
            if (buf_add(twice, "%3D", 3) != 0) return -1;
        }
        if (pct_pass(out, twice, kv[keys[i].idx].v, kv[keys[i].idx].vl) != 0) return -1;
    }
    return out->oom || (twice && twice->oom) ? -1 : 0;
}

int encode_canonical(buf_t *out, const kv_t *kv, size_t n, buf_t *tmp) {
    return encode_canonical_twice(out, NULL, kv, n, tmp);
}

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Bytes of a word with the high bit, or (for text) below 0x20 or 0x7F: the SWAR tests
 * of "Bit Twiddling Hacks" (hasless, and a carry into the high bit), exact as a yes/no
 * per word, which is all the fast path asks. */
static int word_plain(uint64_t w, int allow_control) {
    if (allow_control) return (w & HIGHS) == 0;
    return (((w - ONES * 0x20) & ~w) | ((w + ONES) | w)) & HIGHS ? 0 : 1;
}

int encode_check_text(const char *s, size_t n, int allow_control, size_t *at) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    /* Printable ASCII (or any ASCII when control characters are allowed) eight bytes at
     * a time: nearly every name, value and answer is that. */
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (!word_plain(w, allow_control)) break;
        i += 8;
    }
    while (i < n) {
        unsigned c = p[i];
        uint32_t cp;
        size_t len, k;
        if (c < 0x80) {
            if (!allow_control && (c < 0x20 || c == 0x7F)) { *at = i; return ENCODE_TEXT_CONTROL; }
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)      { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else { *at = i; return ENCODE_TEXT_BAD_UTF8; }
        if (n - i < len) { *at = i; return ENCODE_TEXT_BAD_UTF8; }
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) { *at = i; return ENCODE_TEXT_BAD_UTF8; }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            *at = i;
            return ENCODE_TEXT_BAD_UTF8;
        }
        if (!allow_control && cp >= 0x80 && cp <= 0x9F) { *at = i; return ENCODE_TEXT_CONTROL; }
        i += len;
    }
    return ENCODE_TEXT_OK;
}

size_t encode_utf8_len(const char *s, size_t n) {
    size_t i, count = 0;
    for (i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) count++;
    return count;
}
