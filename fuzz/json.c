/* libFuzzer target: JSON bodies through parse_body and parse_answer.
 * Input: 3 bytes of metadata (format asked, status, content type, retry hint — see
 * fz_answer in harness.h), then the body. Checks: no memory error, the Lua stack
 * balanced, results and errors shaped as README says, nothing raised. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_answer_t a;
    size_t off = fz_answer(data, size, &a);
    char *body = fz_copy(data + off, size - off);
    a.body = body;
    a.len = size - off;
    fz_run(&a, 1, PARSE_JSON);
    fz_run(&a, 0, PARSE_JSON);
    a.format = a.format == PARSE_JSON ? PARSE_XML : PARSE_JSON;
    fz_run(&a, 0, PARSE_JSON);
    free(body);
    return 0;
}
