/* Growable byte buffer shared by every part of the core (strbuf-shaped, as lua-cjson's).
 * Out of memory is an error return, never abort(): a failed append leaves the buffer
 * valid, sets `oom`, and makes every later append fail too, so a caller may append many
 * pieces and check once. */
#ifndef ALIYUN_LIVE_BUF_H
#define ALIYUN_LIVE_BUF_H

#include <stddef.h>
#include <string.h>

/* Internal to the module, whatever the build flags (LuaRocks builds without
 * -fvisibility=hidden): a host's own symbols must never interpose ours. */
#pragma GCC visibility push(hidden)

typedef struct buf {
    char  *data;
    size_t len;
    size_t cap;
    int    oom;
} buf_t;

#define BUF_INIT { NULL, 0, 0, 0 }

int  buf_grow(buf_t *b, size_t extra);   /* slow path of buf_reserve */
void buf_free(buf_t *b);

static inline int buf_reserve(buf_t *b, size_t extra) {
    if (b->oom) return -1;
    if (b->cap - b->len > extra) return 0;   /* keep one byte for a terminating NUL */
    return buf_grow(b, extra);
}

static inline int buf_add(buf_t *b, const void *p, size_t n) {
    if (buf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int buf_addc(buf_t *b, char c) {
    if (buf_reserve(b, 1) != 0) return -1;
    b->data[b->len++] = c;
    return 0;
}

static inline int buf_adds(buf_t *b, const char *s) { return buf_add(b, s, strlen(s)); }

/* Empty the buffer but keep its memory, so a client reuses it call after call. */
static inline void buf_reset(buf_t *b) { b->len = 0; b->oom = 0; }

/* NUL-terminate without counting the NUL (for C APIs that want a string). */
static inline const char *buf_cstr(buf_t *b) {
    if (buf_reserve(b, 0) != 0) return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

#pragma GCC visibility pop

#endif
