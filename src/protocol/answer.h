/* What an HTTP answer of the API is, before any decoding: a result to decode, an error
 * body to decode, or something else (a gateway's HTML page, an empty body). Pure. */
#ifndef ALIYUN_LIVE_ANSWER_H
#define ALIYUN_LIVE_ANSWER_H

#include <stddef.h>

#pragma GCC visibility push(hidden)   /* see buf.h */

/* The body, from its first non-blank byte. */
typedef enum {
    ANSWER_BODY_EMPTY, ANSWER_BODY_TEXT, ANSWER_BODY_JSON, ANSWER_BODY_XML, ANSWER_BODY_MARKUP
} answer_body_t;

typedef enum {
    ANSWER_RESULT,       /* 2xx with a body of the format asked for: decode it */
    ANSWER_UNEXPECTED,   /* 2xx with anything else */
    ANSWER_ERROR_BODY,   /* an error status with a JSON or XML body: decode, find Code */
    ANSWER_HTTP_ERROR    /* an error status without one */
} answer_kind_t;

answer_body_t answer_sniff(const char *body, size_t len);
const char   *answer_body_name(answer_body_t b);   /* "empty", "text", "JSON", … */
answer_kind_t answer_classify(long status, answer_body_t body, int want_xml);

#pragma GCC visibility pop

#endif
