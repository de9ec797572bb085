/* Sniffing and classifying API answers. */
#include <string.h>
#include <strings.h>

#include "answer.h"

answer_body_t answer_sniff(const char *b, size_t n) {
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
    if (i == n) return ANSWER_BODY_EMPTY;
    if (b[i] == '{' || b[i] == '[') return ANSWER_BODY_JSON;
    if (b[i] != '<') return ANSWER_BODY_TEXT;
    /* An API answer starts with a declaration or its root element; a gateway's error
     * page starts with <!DOCTYPE or <html. */
    if (n - i >= 5 && strncmp(b + i, "<?xml", 5) == 0) return ANSWER_BODY_XML;
    if ((n - i >= 2 && b[i + 1] == '!') || (n - i >= 5 && strncasecmp(b + i + 1, "html", 4) == 0))
        return ANSWER_BODY_MARKUP;
    return ANSWER_BODY_XML;
}

const char *answer_body_name(answer_body_t b) {
    static const char *const names[] = { "empty", "text", "JSON", "XML", "HTML" };
    return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "unknown";
}

answer_kind_t answer_classify(long status, answer_body_t body, int want_xml) {
    if (status >= 200 && status < 300)
        return body == (want_xml ? ANSWER_BODY_XML : ANSWER_BODY_JSON) ? ANSWER_RESULT
                                                                       : ANSWER_UNEXPECTED;
    /* An error answer is read in either format, whatever format was asked for. */
    return body == ANSWER_BODY_JSON || body == ANSWER_BODY_XML ? ANSWER_ERROR_BODY
                                                               : ANSWER_HTTP_ERROR;
}
