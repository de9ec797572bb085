/* What an answer is, written again from its definition (src/protocol/answer.h and the
 * README: an API answer is JSON or XML, a gateway's error page is HTML), without looking
 * at answer.c: the fuzz targets hold answer.c and everything built on it to this. Each
 * step reads byte by byte, never past `n`. */
#ifndef ALIYUN_LIVE_FUZZ_REFERENCE_H
#define ALIYUN_LIVE_FUZZ_REFERENCE_H

#include <stddef.h>

#include "protocol/answer.h"

static int ref_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int ref_lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* Whether the n bytes at p start with the NUL-terminated word w (case-folded when `fold`). */
static int ref_starts(const char *p, size_t n, const char *w, int fold) {
    size_t i;
    for (i = 0; w[i]; i++) {
        int c;
        if (i >= n) return 0;
        c = (unsigned char)p[i];
        if (fold ? ref_lower(c) != ref_lower((unsigned char)w[i]) : c != (unsigned char)w[i])
            return 0;
    }
    return 1;
}

/* The body from its first byte that is not a space, tab, CR or LF: nothing → empty;
 * { or [ → JSON; no < → text; <?xml → XML; <! (a DOCTYPE, a comment) or <html in any
 * case → a markup page; any other < → XML (a root element without a declaration). */
static answer_body_t ref_sniff(const char *b, size_t n) {
    size_t i = 0;
    while (i < n && ref_blank(b[i])) i++;
    b += i;
    n -= i;
    if (n == 0) return ANSWER_BODY_EMPTY;
    if (b[0] == '{' || b[0] == '[') return ANSWER_BODY_JSON;
    if (b[0] != '<') return ANSWER_BODY_TEXT;
    if (ref_starts(b, n, "<?xml", 0)) return ANSWER_BODY_XML;
    if (ref_starts(b, n, "<!", 0) || ref_starts(b, n, "<html", 1)) return ANSWER_BODY_MARKUP;
    return ANSWER_BODY_XML;
}

/* A 2xx is a result when its body is in the format asked for, else unexpected; any other
 * status (1xx, 3xx, 4xx, 5xx, nonsense) is an error, with an API error body when the body
 * is JSON or XML, whatever was asked for. */
static answer_kind_t ref_classify(long status, answer_body_t body, int want_xml) {
    if (status >= 200 && status <= 299) {
        answer_body_t want = want_xml ? ANSWER_BODY_XML : ANSWER_BODY_JSON;
        return body == want ? ANSWER_RESULT : ANSWER_UNEXPECTED;
    }
    if (body == ANSWER_BODY_JSON || body == ANSWER_BODY_XML) return ANSWER_ERROR_BODY;
    return ANSWER_HTTP_ERROR;
}

#endif
