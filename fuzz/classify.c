/* libFuzzer target: error classification. parse_retryable against its definition, and
 * parse_answer on well-formed API error (and success) bodies built from random fields,
 * in both formats, with random statuses: the server's Code, Message and RequestId must
 * come back exactly, retryable must follow parse_retryable.
 *
 * Input: 4 bytes of status (a table entry when the first byte is < 0xC0, else the raw
 * big-endian int32), 1 byte of flags, then Code, Message, RequestId separated by NUL. */
#include "harness.h"

/* parse_retryable as README and parse.h define it. */
static int ref_retryable(long status, const char *code) {
    static const char *const retry_codes[] = { "InternalError", "ServiceUnavailable",
                                               "SignatureNonceUsed", NULL };
    int i;
    if (code) {
        if (strncmp(code, "Throttling", 10) == 0) return 1;
        for (i = 0; retry_codes[i]; i++)
            if (strcmp(code, retry_codes[i]) == 0) return 1;
    }
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* Whether s can go into a body of this format (the body still parses) and, when
 * `exact`, also comes back unchanged (XML turns CR into LF). */
static int representable(const char *s, size_t n, int xml, int exact) {
    size_t at, i;
    if (encode_check_text(s, n, 1, &at) != ENCODE_TEXT_OK) return 0;
    if (!xml) return 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') { if (exact) return 0; continue; }      /* normalised to LF */
        if (c < 0x20 && c != '\t' && c != '\n') return 0;
        if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBF &&
            ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF))
            return 0;                                           /* U+FFFE, U+FFFF */
    }
    return 1;
}

static void add_escaped(buf_t *b, const char *s, size_t n, int xml) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (xml && c == '&') buf_adds(b, "&amp;");
        else if (xml && c == '<') buf_adds(b, "&lt;");
        else if (xml && c == '>') buf_adds(b, "&gt;");
        else if (!xml && (c == '"' || c == '\\')) { buf_addc(b, '\\'); buf_addc(b, (char)c); }
        else if (!xml && c < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", c); buf_adds(b, tmp); }
        else buf_addc(b, (char)c);
    }
}

typedef struct field { const char *s; size_t n; } field_t;

static void add_field(buf_t *b, const char *name, const field_t *f, int xml, int first,
                      int as_number) {
    if (xml) {
        buf_addc(b, '<'); buf_adds(b, name); buf_addc(b, '>');
        add_escaped(b, f->s, f->n, 1);
        buf_adds(b, "</"); buf_adds(b, name); buf_addc(b, '>');
    } else {
        if (!first) buf_addc(b, ',');
        buf_addc(b, '"'); buf_adds(b, name); buf_adds(b, "\":");
        if (as_number) { buf_adds(b, "12345"); return; }
        buf_addc(b, '"');
        add_escaped(b, f->s, f->n, 0);
        buf_addc(b, '"');
    }
}

static int field_is(lua_State *L, int t, const char *k, const field_t *f) {
    size_t n;
    const char *s = fz_field_string(L, t, k, &n);
    return s && n == f->n && memcmp(s, f->s, n) == 0;
}

typedef struct expect {
    const parse_answer_t *a;
    field_t code, msg, rid;
    int has_rid, has_msg, code_ok, msg_ok, rid_ok, body_xml;
    int body_ok;                   /* every field in it survives: the body parses */
    int code_number;               /* "Code": 12345 in a JSON body */
} expect_t;

/* Protected: parse_answer, then compare with what the body said. */
static int run_expect(lua_State *L) {
    expect_t *x = lua_touserdata(L, 1);
    parse_answer_t a = *x->a;
    int base = lua_gettop(L), r, two = a.status >= 200 && a.status < 300;
    a.decode = 2;
    r = parse_answer(L, &a);
    CHECK(lua_gettop(L) == base + r, "unbalanced");
    if (two) {
        int want_ok = x->body_ok && (a.format == PARSE_XML) == x->body_xml && x->has_rid &&
                      x->rid.n > 0;
        /* A success needs the format asked and a RequestId (an XML body's fields sit
         * under its root element, as the API's do). */
        CHECK(r == (want_ok ? 1 : 2), "HTTP %ld: got %d results, wanted %d", a.status, r,
              want_ok ? 1 : 2);
        if (r == 1 && x->rid_ok)
            CHECK(field_is(L, base + 1, "request_id", &x->rid), "request_id differs");
        return 0;
    }
    CHECK(r == 2, "an error status gave a result");
    if (!x->body_ok) return 0;
    if (x->code.n > 0 && !x->code_number) {
        if (x->code_ok) CHECK(field_is(L, base + 2, "code", &x->code), "code differs");
        if (x->has_rid && x->rid_ok)
            CHECK(field_is(L, base + 2, "request_id", &x->rid), "request_id differs");
        if (x->has_msg && x->msg_ok)
            CHECK(field_is(L, base + 2, "message", &x->msg), "message differs");
    } else {
        size_t n;
        const char *code = fz_field_string(L, base + 2, "code", &n);
        /* Without a string Code the answer is the client's own SDK.HttpError. */
        CHECK(code && strcmp(code, "SDK.HttpError") == 0, "code %s", code);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_answer_t a;
    expect_t x;
    field_t f[3] = { { "", 0 }, { "", 0 }, { "", 0 } };
    buf_t body = BUF_INIT;
    const char *p, *end;
    char *copy, *code_c;
    uint8_t flags;
    long status;
    int i, xml, code_num;
    lua_State *L;

    if (size < 5) return 0;
    if (data[0] < 0xC0) {
        status = fz_statuses[data[1] % (sizeof fz_statuses / sizeof fz_statuses[0])];
    } else {
        status = (long)(int32_t)((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                                 (uint32_t)data[2] << 8 | data[3]);
    }
    flags = data[4];
    copy = fz_copy(data + 5, size - 5);
    p = copy;
    end = copy + (size - 5);
    for (i = 0; i < 3 && p <= end; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        f[i].s = p;
        f[i].n = z ? (size_t)(z - p) : (size_t)(end - p);
        p += f[i].n + 1;
    }

    /* parse_retryable against its definition, with the code as a C string. */
    code_c = malloc(f[0].n + 1);
    CHECK(code_c != NULL, "out of memory");
    memcpy(code_c, f[0].s, f[0].n);
    code_c[f[0].n] = '\0';
    CHECK(parse_retryable(status, code_c) == ref_retryable(status, code_c),
          "parse_retryable(%ld, %s)", status, code_c);
    CHECK(parse_retryable(status, NULL) == ref_retryable(status, NULL), "status %ld", status);

    /* A body as the API would send it. */
    xml = flags & 1;
    code_num = (flags & 0x30) == 0x30;          /* "Code": 12345 — not a string */
    memset(&x, 0, sizeof x);
    x.code = f[0]; x.msg = f[1]; x.rid = f[2];
    x.has_msg = (flags & 4) != 0;
    x.has_rid = (flags & 8) != 0;
    x.code_ok = representable(f[0].s, f[0].n, xml, 1);
    x.code_number = code_num && !xml;
    x.msg_ok = representable(f[1].s, f[1].n, xml, 1);
    x.rid_ok = representable(f[2].s, f[2].n, xml, 1);
    x.body_xml = xml;
    x.body_ok = (x.code_number || representable(f[0].s, f[0].n, xml, 0)) &&
                (!x.has_msg || representable(f[1].s, f[1].n, xml, 0)) &&
                (!x.has_rid || representable(f[2].s, f[2].n, xml, 0));
    if (xml) buf_adds(&body, (flags & 0x40) ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                            : "");
    buf_adds(&body, xml ? "<Error>" : "{");
    if (x.has_rid) add_field(&body, "RequestId", &f[2], xml, 1, 0);
    add_field(&body, "Code", &f[0], xml, !x.has_rid, code_num);
    if (x.has_msg) add_field(&body, "Message", &f[1], xml, 0, 0);
    buf_adds(&body, xml ? "</Error>" : "}");
    CHECK(!body.oom, "out of memory");

    memset(&a, 0, sizeof a);
    a.status = status;
    a.body = body.data;
    a.len = body.len;
    a.content_type = xml ? "text/xml" : "application/json";
    a.retry_after_ms = (flags & 0x80) ? (long)f[1].n * 10 : -1;
    a.format = (flags & 2) ? PARSE_XML : PARSE_JSON;

    /* The general checks of harness.h, then the exact ones. */
    fz_run(&a, 0, PARSE_JSON);
    x.a = &a;
    L = fz_state();
    lua_pushcfunction(L, run_expect);
    lua_pushlightuserdata(L, &x);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fz_decode_ref);
    i = lua_pcall(L, 2, 0, 0);
    CHECK(i == LUA_OK || i == LUA_ERRMEM, "raised: %s",
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_settop(L, 0);

    buf_free(&body);
    free(code_c);
    free(copy);
    return 0;
}
