/* libFuzzer target: percent-encoding, canonical query strings, text checks (encode.c).
 *
 * Input: the whole input is one string for encode_pct / encode_check_text /
 * encode_utf8_len, and, split on NUL bytes into name, value, name, value…, a parameter
 * list for encode_canonical. Checks:
 *   encode_pct       only unreserved bytes and %XX (upper-case hex) come out, unreserved
 *                    bytes stay themselves, and decoding gives the input back;
 *   encode_canonical every parameter comes out once, encoded as encode_pct does,
 *                    sorted by encoded name (equal names by value), independent of the
 *                    input order; more than ENCODE_MAX_PARAMS is refused;
 *                    encode_canonical_twice's second output is encode_pct of it;
 *   encode_check_text agrees with an independent UTF-8 decoder (verdict and offset);
 *   encode_utf8_len  counts the code points of valid text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"

#include "check.h"

#define MAXP (ENCODE_MAX_PARAMS + 8)

static int is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;                                   /* lower case is not what we emit */
}

/* Check e (el bytes) as the encoding of s (n bytes). */
static void check_pct(const char *e, size_t el, const char *s, size_t n) {
    size_t i = 0, o = 0;
    while (i < el) {
        unsigned char c = (unsigned char)e[i];
        if (c == '%') {
            int hi, lo;
            CHECK(i + 2 < el, "truncated %%XX at %zu", i);
            hi = hexval((unsigned char)e[i + 1]);
            lo = hexval((unsigned char)e[i + 2]);
            CHECK(hi >= 0 && lo >= 0, "bad %%XX at %zu", i);
            CHECK(o < n && (unsigned char)s[o] == (unsigned)(hi * 16 + lo), "decodes wrong");
            CHECK(!is_unreserved((unsigned char)s[o]), "an unreserved byte was encoded");
            i += 3;
        } else {
            CHECK(is_unreserved(c), "byte 0x%02x left unencoded", c);
            CHECK(o < n && s[o] == (char)c, "decodes wrong");
            i++;
        }
        o++;
    }
    CHECK(o == n, "decodes to %zu bytes, not %zu", o, n);
}

/* An independent strict UTF-8 decoder (RFC 3629) with the control-character rule. */
static int ref_check_text(const unsigned char *s, size_t n, int allow_control, size_t *at) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len, k;
        unsigned char c = s[i];
        if (c < 0x80) { cp = c; len = 1; }
        else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; len = 2; }
        else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; len = 3; }
        else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; len = 4; }
        else { *at = i; return ENCODE_TEXT_BAD_UTF8; }
        if (i + len > n) { *at = i; return ENCODE_TEXT_BAD_UTF8; }
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) { *at = i; return ENCODE_TEXT_BAD_UTF8; }
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *at = i;
            return ENCODE_TEXT_BAD_UTF8;
        }
        if (!allow_control && (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))) {
            *at = i;
            return ENCODE_TEXT_CONTROL;
        }
        i += len;
    }
    return ENCODE_TEXT_OK;
}

static size_t ref_codepoints(const unsigned char *s, size_t n) {
    size_t i = 0, count = 0;
    while (i < n) {
        unsigned char c = s[i];
        i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        count++;
    }
    return count;
}

typedef struct part { const char *k; size_t kl; const char *v; size_t vl; } part_t;

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
    size_t m = al < bl ? al : bl;
    int c = memcmp(a, b, m);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* Split "k=v&k=v" (exactly n parts); each part's name and value still encoded. */
static void split_query(const char *q, size_t ql, part_t *parts, size_t n) {
    size_t i = 0, count = 0;
    if (n == 0) { CHECK(ql == 0, "parameters out of nothing"); return; }
    while (count < n) {
        size_t start = i, eq = (size_t)-1;
        while (i < ql && q[i] != '&') {
            if (q[i] == '=') { CHECK(eq == (size_t)-1, "two '=' in one part"); eq = i; }
            i++;
        }
        CHECK(eq != (size_t)-1, "part without '='");
        parts[count].k = q + start;
        parts[count].kl = eq - start;
        parts[count].v = q + eq + 1;
        parts[count].vl = i - eq - 1;
        count++;
        if (i == ql) break;
        i++;                                  /* the '&' */
    }
    CHECK(count == n && i == ql, "%zu parts for %zu parameters", count, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    buf_t out = BUF_INIT, tmp = BUF_INIT, out2 = BUF_INIT, one = BUF_INIT;
    kv_t kv[MAXP], rev[MAXP];
    part_t *parts;
    size_t n = 0, i, at = 0, ref_at = 0;
    int r, ref;

    /* encode_pct on the whole input. */
    CHECK(encode_pct(&out, s, size) == 0, "encode_pct failed");
    check_pct(out.data ? out.data : "", out.len, s, size);
    buf_reset(&out);

    /* encode_check_text, both modes, against the reference. */
    for (i = 0; i < 2; i++) {
        r = encode_check_text(s, size, (int)i, &at);
        ref = ref_check_text(data, size, (int)i, &ref_at);
        CHECK(r == ref, "verdict %d, reference %d (allow_control=%zu)", r, ref, i);
        if (r != ENCODE_TEXT_OK) CHECK(at == ref_at, "offset %zu, reference %zu", at, ref_at);
    }
    if (ref_check_text(data, size, 1, &ref_at) == ENCODE_TEXT_OK)
        CHECK(encode_utf8_len(s, size) == ref_codepoints(data, size), "utf8_len");

    /* encode_canonical on the input split at NULs: name, value, name, value… */
    {
        const char *p = s, *end = s + size;
        while (p < end && n < MAXP) {
            const char *z = memchr(p, '\0', (size_t)(end - p));
            const char *ke = z ? z : end;
            kv[n].k = p;
            kv[n].kl = (size_t)(ke - p);
            p = ke + (z ? 1 : 0);
            z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
            kv[n].v = p;
            kv[n].vl = p < end ? (size_t)((z ? z : end) - p) : 0;
            p += kv[n].vl + (z ? 1 : 0);
            n++;
            if (!z) break;
        }
    }
    r = encode_canonical(&out, kv, n, &tmp);
    if (n > ENCODE_MAX_PARAMS) {
        CHECK(r == -1, "%zu parameters accepted", n);
        goto done;
    }
    CHECK(r == 0, "encode_canonical failed for %zu parameters", n);
    parts = calloc(n ? n : 1, sizeof *parts);
    CHECK(parts != NULL, "out of memory");
    split_query(out.data ? out.data : "", out.len, parts, n);
    {
        /* Every input parameter once: mark used parts. */
        char *used = calloc(n ? n : 1, 1);
        CHECK(used != NULL, "out of memory");
        for (i = 0; i < n; i++) {
            size_t j;
            int found = 0;
            buf_reset(&one);
            CHECK(encode_pct(&one, kv[i].k, kv[i].kl) == 0, "oom");
            CHECK(buf_addc(&one, '=') == 0, "oom");
            CHECK(encode_pct(&one, kv[i].v, kv[i].vl) == 0, "oom");
            for (j = 0; j < n && !found; j++) {
                if (used[j]) continue;
                if (parts[j].kl + 1 + parts[j].vl == one.len &&
                    memcmp(parts[j].k, one.data, parts[j].kl + 1 + parts[j].vl) == 0) {
                    used[j] = 1;
                    found = 1;
                }
            }
            CHECK(found, "parameter %zu missing from the canonical string", i);
        }
        free(used);
    }
    /* Sorted by encoded name; equal names in a fixed order. */
    for (i = 1; i < n; i++) {
        int c = bytes_cmp(parts[i - 1].k, parts[i - 1].kl, parts[i].k, parts[i].kl);
        CHECK(c <= 0, "names out of order at %zu", i);
    }
    /* The same parameters in reverse order give the same string. */
    for (i = 0; i < n; i++) rev[i] = kv[n - 1 - i];
    CHECK(encode_canonical(&out2, rev, n, &tmp) == 0, "reverse failed");
    CHECK(out2.len == out.len && (out.len == 0 || memcmp(out.data, out2.data, out.len) == 0),
          "order of the input changes the canonical string");
    /* The one-pass double encoding (v1's string to sign) is encode_pct of the string. */
    buf_reset(&out2);
    buf_reset(&one);
    CHECK(buf_add(&one, "x", 1) == 0 && buf_add(&out2, "x", 1) == 0, "oom");
    CHECK(encode_canonical_twice(&out2, &one, kv, n, &tmp) == 0, "twice failed");
    buf_reset(&out2);
    CHECK(buf_add(&out2, "x", 1) == 0, "oom");
    CHECK(encode_pct(&out2, out.data ? out.data : "", out.len) == 0, "oom");
    CHECK(one.len == out2.len && memcmp(one.data, out2.data, one.len) == 0,
          "encode_canonical_twice differs from encode_pct of the canonical string");
    free(parts);
done:
    buf_free(&out);
    buf_free(&out2);
    buf_free(&tmp);
    buf_free(&one);
    return 0;
}
