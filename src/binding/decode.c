/* Bodies → Lua values (JSON through lua-cjson, XML through protocol/xml.c), and answers
 * → a result or the facts of an error (the Lua layer names and classifies them). */
#include <stdio.h>
#include <string.h>

#include "binding.h"
#include "protocol/answer.h"
#include "protocol/xml.h"

#define XML_BOX_MT "aliyun.live.xmlbox"

/* --------------------------------------------------------------------- XML --- */

/* The tree lives in a userdata while it becomes Lua values, so that a Lua error (out of
 * memory) on the way frees it through __gc instead of leaking it. */
static int xmlbox_gc(lua_State *L) {
    xml_tree_t *t = luaL_checkudata(L, 1, XML_BOX_MT);
    xml_free(t);
    return 0;
}

/* Push node idx: a leaf is its text; an element with children a table, where a name
 * that repeats among siblings becomes an array in document order. */
static void xml_push(lua_State *L, const xml_tree_t *t, long idx) {
    long c;
    int tbl, counts;
    if (XML_NODE(t, idx).first < 0) {
        lua_pushlstring(L, XML_TEXT(t, idx), XML_NODE(t, idx).text_len);
        return;
    }
    luaL_checkstack(L, 6, "XML too deep");   /* depth is bounded by XML_MAX_DEPTH */
    lua_newtable(L);
    tbl = lua_gettop(L);
    lua_newtable(L);
    counts = tbl + 1;
    for (c = XML_NODE(t, idx).first; c >= 0; c = XML_NODE(t, c).next) {
        lua_pushlstring(L, XML_NAME(t, c), XML_NODE(t, c).name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, counts);
        lua_pushinteger(L, lua_tointeger(L, -1) + 1);
        lua_remove(L, -2);
        lua_rawset(L, counts);
    }
    for (c = XML_NODE(t, idx).first; c >= 0; c = XML_NODE(t, c).next) {
        lua_Integer count;
        lua_pushlstring(L, XML_NAME(t, c), XML_NODE(t, c).name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, counts);
        count = lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (count > 1) {
            lua_pushvalue(L, -1);
            lua_rawget(L, tbl);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_newtable(L);
                lua_pushvalue(L, -2);
                lua_pushvalue(L, -2);
                lua_rawset(L, tbl);
            }
            xml_push(L, t, c);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            lua_pop(L, 2);
        } else {
            xml_push(L, t, c);
            lua_rawset(L, tbl);
        }
    }
    lua_pop(L, 1);   /* counts */
}

static int decode_xml(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
    xml_tree_t *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, XML_BOX_MT);
    if (xml_parse(t, body, len, err, errlen) != 0) {
        xml_free(t);
        lua_pop(L, 1);
        return -1;
    }
    xml_push(L, t, 0);
    xml_free(t);
    lua_remove(L, -2);   /* the box */
    return 0;
}

/* -------------------------------------------------------------------- JSON --- */

static int decode_json(lua_State *L, int decode, const char *body, size_t len,
                       char *err, size_t errlen) {
    size_t at = 0;
    /* cjson passes string bytes through unchecked; the API only ever sends UTF-8. */
    if (encode_check_text(body, len, 1, &at) != ENCODE_TEXT_OK) {
        snprintf(err, errlen, "invalid UTF-8 in JSON body at byte %zu", at + 1);
        return -1;
    }
    lua_pushvalue(L, decode);
    lua_pushlstring(L, body, len);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        snprintf(err, errlen, "malformed JSON: %.200s",
                 lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 2);
        return -1;
    }
    lua_pop(L, 1);
    /* Every API answer is an object; an array decodes to a table too, so look. */
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' ||
                        body[at] == '\n'))
        at++;
    if (!lua_istable(L, -1) || at >= len || body[at] != '{') {
        lua_pop(L, 1);
        snprintf(err, errlen, "JSON body is not an object");
        return -1;
    }
    return 0;
}

int decode_body(lua_State *L, int decode, decode_format_t fmt, const char *body,
                size_t len, char *err, size_t errlen) {
    return fmt == DECODE_XML ? decode_xml(L, body, len, err, errlen)
                             : decode_json(L, decode, body, len, err, errlen);
}

/* ----------------------------------------------------------------- answers --- */

/* Copy a string field of the table on top into the error table at err. */
static void copy_field(lua_State *L, int err, const char *from, const char *to) {
    lua_getfield(L, -1, from);
    if (lua_type(L, -1) == LUA_TSTRING) lua_setfield(L, err, to);
    else lua_pop(L, 1);
}

static void set_headers(lua_State *L, const decode_answer_t *a) {
    size_t i;
    if (!a->nheaders) return;
    lua_createtable(L, 0, (int)a->nheaders);
    for (i = 0; i < a->nheaders; i++) {
        lua_pushlstring(L, a->headers[i].k, a->headers[i].kl);
        lua_pushlstring(L, a->headers[i].v, a->headers[i].vl);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
}

static int push_failure(lua_State *L, const decode_answer_t *a, const char *kind,
                        const char *why) {
    lua_pushnil(L);
    error_push(L, kind, NULL, why, strlen(why), a->status);
    set_headers(L, a);
    return 2;
}

/* The server's Content-Type as messages quote it: at most 80 bytes, cut at a character
 * boundary, bytes that are not UTF-8 text as '?', so a message stays valid UTF-8. */
static const char *quotable(const char *ct, char out[81]) {
    size_t n = strlen(ct), i = 0, o = 0, at;
    if (!n) return "none";
    while (i < n && o < 80) {
        size_t len = 1, rest = n - i;
        unsigned char c = (unsigned char)ct[i];
        if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
        if (len > rest || o + len > 80 || encode_check_text(ct + i, len, 0, &at) != ENCODE_TEXT_OK) {
            if (o + len > 80 && len <= rest &&
                encode_check_text(ct + i, len, 0, &at) == ENCODE_TEXT_OK)
                break;                               /* a whole character that does not fit */
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, ct + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

int decode_answer(lua_State *L, const decode_answer_t *a) {
    char why[320], ctbuf[81];
    answer_body_t body = answer_sniff(a->body, a->len);
    decode_format_t got = body == ANSWER_BODY_XML ? DECODE_XML : DECODE_JSON;
    const char *ctype = quotable(a->content_type, ctbuf);
    int err;

    switch (answer_classify(a->status, body, a->format == DECODE_XML)) {
    case ANSWER_RESULT:
        if (decode_body(L, a->decode, got, a->body, a->len, why, sizeof why) != 0)
            return push_failure(L, a, "invalid", why);
        lua_getfield(L, -1, "RequestId");
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
            lua_setfield(L, -2, "request_id");
            return 1;
        }
        lua_pop(L, 2);
        return push_failure(L, a, "invalid", "response has no RequestId");
    case ANSWER_UNEXPECTED:
        snprintf(why, sizeof why, "expected a %s body, got %s (Content-Type: %.80s)",
                 a->format == DECODE_XML ? "XML" : "JSON", answer_body_name(body), ctype);
        return push_failure(L, a, "invalid", why);
    case ANSWER_ERROR_BODY:
        if (decode_body(L, a->decode, got, a->body, a->len, why, sizeof why) == 0) {
            lua_getfield(L, -1, "Code");
            if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
                size_t n = 0;
                const char *msg = "";
                lua_getfield(L, -2, "Message");
                if (lua_type(L, -1) == LUA_TSTRING) msg = lua_tolstring(L, -1, &n);
                lua_pushnil(L);
                error_push(L, "api", lua_tostring(L, -3), msg, n, a->status);
                err = lua_gettop(L);
                lua_pushvalue(L, err - 4);              /* the decoded body */
                copy_field(L, err, "RequestId", "request_id");
                copy_field(L, err, "HostId", "host_id");
                copy_field(L, err, "Recommend", "recommend");
                lua_setfield(L, err, "data");
                set_headers(L, a);
                /* body Code Message nil err → nil err, nothing left under them */
                lua_replace(L, err - 3);
                lua_replace(L, err - 4);
                lua_settop(L, err - 3);
                return 2;
            }
            lua_pop(L, 2);
        }
        break;   /* an error status whose body has no Code: as below */
    case ANSWER_HTTP_ERROR:
        break;
    }
    {
        snprintf(why, sizeof why, "HTTP %ld with a%s %s body (Content-Type: %.80s)", a->status,
                 body == ANSWER_BODY_EMPTY ? "n" : "", answer_body_name(body), ctype);
        return push_failure(L, a, "http", why);
    }
}

/* --------------------------------------------------------- Lua functions --- */

#define DECODE lua_upvalueindex(1)

static decode_format_t check_format(lua_State *L, int arg) {
    static const char *const fmts[] = { "JSON", "XML", NULL };
    return luaL_checkoption(L, arg, "JSON", fmts) ? DECODE_XML : DECODE_JSON;
}

/* core.decode(body [, format]) → table | nil, message — the parsers on their own. */
static int l_decode(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    char err[320];
    if (decode_body(L, DECODE, check_format(L, 2), body, len, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* core.answer(status, body, content_type, format [, headers]) → result | nil, err:
 * the classification every transport shares (the cosocket one calls it from Lua). */
static int l_answer(lua_State *L) {
    decode_answer_t a;
    kv_t hdrs[16];
    size_t n = 0;
    lua_Integer status = luaL_checkinteger(L, 1);
    luaL_argcheck(L, status >= 100 && status <= 999, 1, "not an HTTP status");
    a.status = (long)status;
    a.body = luaL_checklstring(L, 2, &a.len);
    a.content_type = luaL_optstring(L, 3, "");
    a.format = check_format(L, 4);
    a.decode = DECODE;
    if (!lua_isnoneornil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        lua_pushnil(L);
        while (n < sizeof hdrs / sizeof hdrs[0] && lua_next(L, 5)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                hdrs[n].k = lua_tolstring(L, -2, &hdrs[n].kl);
                hdrs[n].v = lua_tolstring(L, -1, &hdrs[n].vl);   /* anchored by arg 5 */
                n++;
            }
            lua_pop(L, 1);
        }
        if (n == sizeof hdrs / sizeof hdrs[0]) lua_settop(L, 5);
    }
    a.headers = hdrs;
    a.nheaders = n;
    return decode_answer(L, &a);
}

void decode_push_decoder(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "decode_max_depth");
    lua_pushinteger(L, DECODE_MAX_DEPTH);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_remove(L, -2);
}

void decode_open(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "decode", l_decode },
        { "answer", l_answer },
        { NULL, NULL }
    };
    /* stack: module, decoder */
    if (luaL_newmetatable(L, XML_BOX_MT)) {
        lua_pushcfunction(L, xmlbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    core_register(L, fns, 1);
    lua_pop(L, 1);
}
