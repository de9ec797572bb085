/* libFuzzer target: XML bodies through decode_body (protocol/xml.c, then Lua values)
 * and decode_answer. Input as for fuzz/json.c: the answer's metadata, then the body.
 * Checks: those of fuzz/json.c, every leaf a valid UTF-8 string, elements and arrays
 * shaped as harness.h says, nesting bounded, a DOCTYPE never accepted; with a Lua
 * out-of-memory point, the tree is freed through the box's __gc (LeakSanitizer). */
#include "harness.h"

static const char *find(const char *p, const char *end, const char *s) {
    size_t n = strlen(s);
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, s, n) == 0) return p;
    return NULL;
}

/* Whether the prolog (after the declaration, comments, PIs) holds a DOCTYPE. */
static int has_doctype(const char *p, size_t len) {
    const char *end = p + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        if (end - p >= 2 && memcmp(p, "<?", 2) == 0) {
            if (!(p = find(p, end, "?>"))) return 0;
            p += 2;
        } else if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            if (!(p = find(p + 4, end, "-->"))) return 0;
            p += 3;
        } else {
            return end - p >= 9 && memcmp(p, "<!DOCTYPE", 9) == 0;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_answer_t x;
    unsigned oom;
    size_t off = fz_parse_meta(data, size, &x, &oom);
    char *body = fz_copy(data + off, size - off);
    x.a.body = body;
    x.a.len = size - off;
    if (fz_body(&x, DECODE_XML, NULL) == 0) {
        /* A document with a DOCTYPE is never accepted, whatever follows. */
        CHECK(!has_doctype(body, x.a.len), "accepted a DOCTYPE");
    }
    fz_answer_run(&x, oom);
    x.a.format = x.a.format == DECODE_JSON ? DECODE_XML : DECODE_JSON;
    fz_answer_run(&x, oom);
    free(body);
    return 0;
}
