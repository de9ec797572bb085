/* libFuzzer target: JSON bodies through decode_body and decode_answer.
 * Input: the answer's metadata (format asked, status, Content-Type, captured headers,
 * a Lua out-of-memory point — see fz_parse_meta in harness.h), then the body. Checks:
 * no memory error, nothing raised but out of memory, the Lua stack balanced, results
 * and errors shaped as harness.h says (kind as the reference classification wants it,
 * facts only), core.answer from Lua agreeing with decode_answer from C. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_answer_t x;
    unsigned oom;
    size_t off = fz_parse_meta(data, size, &x, &oom);
    char *body = fz_copy(data + off, size - off);
    x.a.body = body;
    x.a.len = size - off;
    fz_body(&x, DECODE_JSON, NULL);
    fz_answer_run(&x, oom);
    x.a.format = x.a.format == DECODE_JSON ? DECODE_XML : DECODE_JSON;
    fz_answer_run(&x, oom);
    free(body);
    return 0;
}
