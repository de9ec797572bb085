/* Response bodies → Lua values: JSON through lua-cjson, XML through expat, and the
 * classification of an answer into a result or an error table (code, message,
 * request_id, http_status, retryable). */
#ifndef ALIYUN_LIVE_PARSE_H
#define ALIYUN_LIVE_PARSE_H

#include <stddef.h>
#include "compat.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define PARSE_ERROR_MT "aliyun.live.Error"
#define PARSE_MAX_DEPTH 64

typedef enum { PARSE_JSON = 0, PARSE_XML = 1 } parse_format_t;

/* The answer to classify. `decode` is the stack index of a cjson.safe-style decode
 * function (value or nil, message). */
typedef struct parse_answer {
    long            status;        /* HTTP status */
    const char     *body;
    size_t          len;
    const char     *content_type;  /* may be "" */
    long            retry_after_ms;/* -1 when the server gave no hint */
    parse_format_t  format;        /* what the request asked for */
    int             decode;
} parse_answer_t;

/* Push the decoded body (a table), or return -1 with a reason in err. */
int parse_body(lua_State *L, int decode, parse_format_t fmt, const char *body, size_t len,
               char *err, size_t errlen);

/* Push `result` (decoded body + request_id) and return 1, or push nil, err and return 2. */
int parse_answer(lua_State *L, const parse_answer_t *a);

/* Whether an API error code / HTTP status is worth retrying unchanged. */
int parse_retryable(long status, const char *code);

/* Push a new error table {code, message, http_status?, request_id?, retryable}. */
void parse_push_error(lua_State *L, const char *code, const char *message, long status,
                      int retryable);

/* Register the error metatable (with __tostring). */
void parse_open(lua_State *L);

#pragma GCC visibility pop

#endif
