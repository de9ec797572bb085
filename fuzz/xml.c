/* libFuzzer target: XML bodies through parse_body (expat) and parse_answer.
 * Input as for fuzz/json.c: 3 bytes of metadata, then the body. Checks: no memory
 * error, the Lua stack balanced, every leaf a valid UTF-8 string, nesting bounded,
 * DOCTYPEs refused, nothing raised. */
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
    parse_answer_t a;
    size_t off = fz_answer(data, size, &a);
    char *body = fz_copy(data + off, size - off);
    a.body = body;
    a.len = size - off;
    if (fz_run(&a, 1, PARSE_XML) == 0) {
        /* A document with a DOCTYPE is never accepted, whatever follows. */
        CHECK(!has_doctype(body, a.len), "accepted a DOCTYPE");
    }
    fz_run(&a, 0, PARSE_XML);
    a.format = a.format == PARSE_JSON ? PARSE_XML : PARSE_JSON;
    fz_run(&a, 0, PARSE_XML);
    free(body);
    return 0;
}
