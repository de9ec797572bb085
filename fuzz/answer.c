/* libFuzzer target: protocol/answer.c (answer_sniff, answer_classify, answer_body_name)
 * against the reference of fuzz/reference.h, written from the definition.
 *
 * Input: 1 byte of flags, the status, then the body.
 *   flags bit 0: XML asked; bit 1: the status is the next 8 bytes (big-endian, as a
 *   long), else the next byte picks one from a table of edges.
 * Checks: answer_sniff agrees with the reference on the body and on each of its first
 * prefixes (each in an allocation of exactly its length, so ASan sees any read past
 * it); answer_classify agrees for every kind of body and both formats at this status;
 * answer_body_name names every kind and says "unknown" past them. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

#include "check.h"

static const long statuses[] = {
    200, 201, 204, 299, 199, 300, 0, 100, 101, 301, 304, 399, 400, 404, 429, 499, 500, 503,
    599, 999, 1000, -1, -200, 2147483647L, -2147483647L - 1, LONG_MAX, LONG_MIN, 200 + 65536
};

static const char *const body_names[] = { "empty", "text", "JSON", "XML", "HTML" };

/* In an allocation of exactly n bytes (ASan's malloc(0) has none to read). */
static answer_body_t sniff_copy(const char *p, size_t n) {
    char *b = malloc(n);
    answer_body_t r;
    CHECK(b != NULL, "out of memory");
    if (n) memcpy(b, p, n);
    r = answer_sniff(b, n);
    free(b);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t used = 1, i, n, lead = 0, upto;
    long status;
    int want_xml, k, x;
    const char *body;
    answer_body_t got;

    if (size < 1) return 0;
    want_xml = data[0] & 1;
    if (data[0] & 2) {
        uint64_t u = 0;
        for (i = 0; i < 8; i++) u = u << 8 | (used < size ? data[used++] : 0);
        status = (long)(int64_t)u;
    } else {
        status = statuses[(used < size ? data[used++] : 0) % (sizeof statuses / sizeof *statuses)];
    }
    body = (const char *)data + used;
    n = size - used;

    /* The body, then every prefix up to a few bytes past its first non-blank byte. */
    got = sniff_copy(body, n);
    CHECK(got == ref_sniff(body, n), "answer_sniff: %s, the reference %s",
          answer_body_name(got), answer_body_name(ref_sniff(body, n)));
    while (lead < n && ref_blank(body[lead])) lead++;
    upto = lead + 8 < n ? lead + 8 : n;
    for (i = lead > 0 ? lead - 1 : 0; i <= upto; i++) {
        answer_body_t p = sniff_copy(body, i);
        CHECK(p == ref_sniff(body, i), "answer_sniff of the first %zu bytes: %s, wanted %s",
              i, answer_body_name(p), answer_body_name(ref_sniff(body, i)));
    }

    for (k = ANSWER_BODY_EMPTY; k <= ANSWER_BODY_MARKUP; k++) {
        for (x = 0; x < 2; x++) {
            answer_kind_t c = answer_classify(status, (answer_body_t)k, x);
            CHECK(c == ref_classify(status, (answer_body_t)k, x),
                  "answer_classify(%ld, %s, %s) = %d", status, body_names[k], x ? "XML" : "JSON",
                  (int)c);
        }
        CHECK(strcmp(answer_body_name((answer_body_t)k), body_names[k]) == 0, "name of %d", k);
    }
    CHECK(answer_classify(status, got, want_xml) == ref_classify(status, got, want_xml),
          "answer_classify of this body");
    CHECK(strcmp(answer_body_name((answer_body_t)(ANSWER_BODY_MARKUP + 1 + data[0] % 64)),
                 "unknown") == 0, "a name past the kinds");
    return 0;
}
