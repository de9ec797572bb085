/* libFuzzer target: what an answer becomes. decode_answer on API error (and success)
 * bodies built from random fields, in both formats, and on the bodies a gateway sends
 * instead (empty, text, HTML), with random statuses and captured headers. The outcome is
 * known from how the body was built: for a well-formed error body with a non-empty
 * string Code, kind "api" with the server's Code, Message and RequestId exactly; kind
 * "invalid" (a 2xx) or "http" (an error status) exactly where the reference
 * classification says so, without a code.
 *
 * Input: 4 bytes of status (a table entry picked by the second byte when the first is
 * < 0xC0, else the raw big-endian int32), 1 byte of flags, then Code, Message, RequestId
 * and up to two captured header pairs (name, value), separated by NUL.
 * Flags: bit 0 XML body; bit 1 XML asked; bit 2 with Message; bit 3 with RequestId;
 * bits 4–5: 0 an API body, 1 a gateway's body instead (bits 0 and 6 pick: blank, text,
 * <html> page, <!DOCTYPE html> page), 2 an API body after blank lines, 3 "Code": 12345
 * in JSON (an API body in XML); bit 6 the XML declaration; bit 7 the headers. */
#include "harness.h"

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
    const fz_answer_t *x;
    field_t code, msg, rid;
    int has_rid, has_msg, code_ok, msg_ok, rid_ok;
    int parses;                    /* the body is JSON or XML that decodes */
    fz_outcome_t want;
} expect_t;

/* Protected: decode_answer, then compare with what the body said. */
static int run_expect(lua_State *L) {
    expect_t *e = lua_touserdata(L, 1);
    decode_answer_t a = e->x->a;
    int base = lua_gettop(L), r;
    size_t n;
    const char *kind;
    a.decode = 2;
    r = decode_answer(L, &a);
    fz_settle(L, base, r);
    CHECK(r == (e->want == FZ_RESULT ? 1 : 2), "HTTP %ld: %d results, wanted %s", a.status,
          r, fz_kinds[e->want]);
    if (r == 1) {
        if (e->rid_ok) CHECK(field_is(L, base + 1, "request_id", &e->rid), "request_id differs");
        return 0;
    }
    kind = fz_field_string(L, base + 2, "kind", &n);
    CHECK(kind && strcmp(kind, fz_kinds[e->want]) == 0, "HTTP %ld: kind %s, wanted %s",
          a.status, kind ? kind : "(none)", fz_kinds[e->want]);
    lua_getfield(L, base + 2, "code");
    if (e->want == FZ_API) {
        CHECK(lua_type(L, -1) == LUA_TSTRING, "api error without a code");
        if (e->code_ok) CHECK(field_is(L, base + 2, "code", &e->code), "code differs");
        if (!e->has_rid) CHECK(fz_field_string(L, base + 2, "request_id", NULL) == NULL,
                               "request_id from nowhere");
        else if (e->rid_ok) CHECK(field_is(L, base + 2, "request_id", &e->rid),
                                  "request_id differs");
        if (!e->has_msg) CHECK(fz_field_string(L, base + 2, "message", &n) && n == 0,
                               "message from nowhere");
        else if (e->msg_ok) CHECK(field_is(L, base + 2, "message", &e->msg), "message differs");
    } else {
        CHECK(lua_isnil(L, -1), "a %s error has a code", kind);
    }
    lua_pop(L, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_answer_t x;
    expect_t e;
    field_t f[7];
    buf_t body = BUF_INIT;
    const char *p, *end;
    char *copy;
    uint8_t flags;
    long status;
    int i, xml, variant, gateway, code_num, prolog, two, nf = 0;
    answer_body_t built;
    lua_State *L;

    if (size < 5) return 0;
    if (data[0] < 0xC0) {
        status = fz_statuses[data[1] % FZ_COUNT(fz_statuses)];
    } else {
        status = (long)(int32_t)((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                                 (uint32_t)data[2] << 8 | data[3]);
    }
    flags = data[4];
    copy = fz_copy(data + 5, size - 5);
    p = copy;
    end = copy + (size - 5);
    for (i = 0; i < 7; i++) { f[i].s = ""; f[i].n = 0; }
    for (i = 0; i < 7 && p <= end; i++, nf++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        f[i].s = p;
        f[i].n = z ? (size_t)(z - p) : (size_t)(end - p);
        p += f[i].n + 1;
    }

    xml = flags & 1;
    variant = (flags >> 4) & 3;
    gateway = variant == 1;
    prolog = (flags & 0x40) != 0;
    code_num = variant == 3 && !xml;          /* "Code": 12345 — not a string */
    two = status >= 200 && status <= 299;
    memset(&e, 0, sizeof e);
    e.code = f[0]; e.msg = f[1]; e.rid = f[2];
    e.has_msg = (flags & 4) != 0;
    e.has_rid = (flags & 8) != 0;
    e.code_ok = representable(f[0].s, f[0].n, xml, 1);
    e.msg_ok = representable(f[1].s, f[1].n, xml, 1);
    e.rid_ok = representable(f[2].s, f[2].n, xml, 1);

    if (gateway) {
        /* What a proxy or gateway sends instead of an API answer. */
        static const answer_body_t kinds[] = { ANSWER_BODY_EMPTY, ANSWER_BODY_TEXT,
                                               ANSWER_BODY_MARKUP, ANSWER_BODY_MARKUP };
        int sel = xml | (prolog << 1);
        built = kinds[sel];
        if (sel == 0) buf_adds(&body, f[1].n & 1 ? " \r\n\t" : "");
        else if (sel == 1) { buf_adds(&body, "upstream error: "); buf_add(&body, f[1].s, f[1].n); }
        else {
            buf_adds(&body, sel == 3 ? "<!DOCTYPE html>\n<html><body>" : "<html><body>");
            add_escaped(&body, f[1].s, f[1].n, 1);
            buf_adds(&body, "</body></html>");
        }
        e.parses = 0;
    } else {
        /* A body as the API would send it. */
        built = xml ? ANSWER_BODY_XML : ANSWER_BODY_JSON;
        if (variant == 2) buf_adds(&body, "\r\n \t\n");
        if (xml && prolog) buf_adds(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        buf_adds(&body, xml ? "<Error>" : "{");
        if (e.has_rid) add_field(&body, "RequestId", &f[2], xml, 1, 0);
        add_field(&body, "Code", &f[0], xml, !e.has_rid, code_num);
        if (e.has_msg) add_field(&body, "Message", &f[1], xml, 0, 0);
        buf_adds(&body, xml ? "</Error>" : "}");
        /* Every field survives, and a declaration after blank lines is not XML. */
        e.parses = (code_num || representable(f[0].s, f[0].n, xml, 0)) &&
                   (!e.has_msg || representable(f[1].s, f[1].n, xml, 0)) &&
                   (!e.has_rid || representable(f[2].s, f[2].n, xml, 0)) &&
                   !(variant == 2 && xml && prolog);
    }
    CHECK(!body.oom, "out of memory");

    memset(&x, 0, sizeof x);
    x.a.status = status;
    x.a.body = body.data ? body.data : "";
    x.a.len = body.len;
    x.a.content_type = gateway ? "text/html" : xml ? "text/xml" : "application/json";
    x.a.format = (flags & 2) ? DECODE_XML : DECODE_JSON;
    if (flags & 0x80) {
        for (i = 0; i < 2 && 3 + 2 * i < nf; i++) {
            x.hdr[i].k = f[3 + 2 * i].s; x.hdr[i].kl = f[3 + 2 * i].n;
            x.hdr[i].v = f[4 + 2 * i].s; x.hdr[i].vl = f[4 + 2 * i].n;
        }
        x.a.headers = x.hdr;
        x.a.nheaders = (size_t)i;
    }

    /* The body is what it was built as; answer.c and the reference agree on it. */
    CHECK(ref_sniff(x.a.body, x.a.len) == built, "the harness built a %d body, not %d",
          (int)ref_sniff(x.a.body, x.a.len), (int)built);
    CHECK(answer_sniff(x.a.body, x.a.len) == built, "answer_sniff: %d for a %d body",
          (int)answer_sniff(x.a.body, x.a.len), (int)built);
    CHECK(answer_classify(status, built, x.a.format == DECODE_XML) ==
          ref_classify(status, built, x.a.format == DECODE_XML), "answer_classify");

    /* The outcome, from how the body was built. */
    if (two)
        e.want = e.parses && (x.a.format == DECODE_XML) == xml && e.has_rid && f[2].n > 0
                 ? FZ_RESULT : FZ_INVALID;
    else
        e.want = e.parses && !code_num && f[0].n > 0 ? FZ_API : FZ_HTTP;

    /* The general checks of harness.h (its own expectation must be the same), then the
     * exact ones. */
    fz_answer_run(&x, 0);
    if (e.parses || gateway) CHECK(x.want == e.want, "expected %s, the harness %s",
                                   fz_kinds[e.want], fz_kinds[x.want]);
    if (e.parses || gateway) {
        e.x = &x;
        L = fz_state();
        lua_pushcfunction(L, run_expect);
        lua_pushlightuserdata(L, &e);
        lua_rawgeti(L, LUA_REGISTRYINDEX, fz_decode_ref);
        i = lua_pcall(L, 2, 0, 0);
        CHECK(i == LUA_OK, "raised: %s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                                       : "?");
        lua_settop(L, 0);
    }

    buf_free(&body);
    free(copy);
    return 0;
}
