/* Percent-encoding and canonical query building. */
#include <pthread.h>
#include <stdint.h>

#include "encode.h"

/* 1 for the bytes RFC 3986 calls unreserved. */
static const unsigned char unreserved[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1, ['.'] = 1, ['~'] = 1,
};

/* Each byte's encoding, padded to 4 bytes, and its length: the loop copies 4 bytes and
 * advances by 1 or 3, without a branch per byte. Built once, on first use. */
static uint32_t pct_code[256];
static unsigned char pct_len[256];
static pthread_once_t pct_once = PTHREAD_ONCE_INIT;

static void pct_init(void) {
    static const char hex[] = "0123456789ABCDEF";
    int c;
    for (c = 0; c < 256; c++) {
        unsigned char e[4] = { (unsigned char)c, 0, 0, 0 };
        pct_len[c] = 1;
        if (!unreserved[c]) {
            e[0] = '%';
            e[1] = (unsigned char)hex[c >> 4];
            e[2] = (unsigned char)hex[c & 15];
            pct_len[c] = 3;
        }
        memcpy(&pct_code[c], e, 4);
    }
}

int encode_pct(buf_t *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    char *w;
    size_t i;
    pthread_once(&pct_once, pct_init);
    /* Reserve the worst case (plus the 4th byte of the last copy) once. */
    if (n > (SIZE_MAX - 2) / 3 || buf_reserve(out, 3 * n + 1) != 0) { out->oom = 1; return -1; }
    w = out->data + out->len;
    for (i = 0; i < n; i++) {
        memcpy(w, &pct_code[p[i]], 4);
        w += pct_len[p[i]];
    }
    out->len = (size_t)(w - out->data);
    return 0;
}

typedef struct { size_t off, len; size_t idx; } sortkey_t;

static int key_less(const char *base, const sortkey_t *a, const sortkey_t *b,
                    const kv_t *kv) {
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(base + a->off, base + b->off, m);
    if (c) return c < 0;
    if (a->len != b->len) return a->len < b->len;
    /* Equal names only arrive through hand-built parameter lists; order by value so the
     * result does not depend on input order. Raw values compare like encoded ones here
     * because both sides carry the same name. */
    m = kv[a->idx].vl < kv[b->idx].vl ? kv[a->idx].vl : kv[b->idx].vl;
    c = memcmp(kv[a->idx].v, kv[b->idx].v, m);
    if (c) return c < 0;
    return kv[a->idx].vl < kv[b->idx].vl;
}

int encode_canonical(buf_t *out, const kv_t *kv, size_t n, buf_t *tmp) {
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
    /* Insertion sort: a request has a dozen parameters, usually almost in order. */
    for (i = 1; i < n; i++) {
        sortkey_t k = keys[i];
        for (j = i; j > 0 && key_less(tmp->data, &k, &keys[j - 1], kv); j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
    for (i = 0; i < n; i++) {
        if (i && buf_addc(out, '&') != 0) return -1;
        if (buf_add(out, tmp->data + keys[i].off, keys[i].len) != 0) return -1;
        if (buf_addc(out, '=') != 0) return -1;
        if (encode_pct(out, kv[keys[i].idx].v, kv[keys[i].idx].vl) != 0) return -1;
    }
    return out->oom ? -1 : 0;
}

int encode_check_text(const char *s, size_t n, int allow_control, size_t *at) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
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
