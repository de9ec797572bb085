/* Response parsing and error classification. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "buf.h"
#include "protocol/encode.h"
#include "decode.h"

/* ---------------------------------------------------------------- XML via expat --- */

/* expat's callbacks build this tree in C memory; Lua values are made only after
 * XML_Parse returns, so no Lua error can jump over expat's cleanup. */
typedef struct xnode {
    size_t name_off, name_len;
    size_t text_off, text_len;
    long   first, last, next;      /* children list, -1 = none */
} xnode_t;

typedef struct xtree {
    XML_Parser p;
    buf_t      nodes;              /* xnode_t[] */
    buf_t      strings;            /* names and texts */
    long       stack[PARSE_MAX_DEPTH];
    int        depth;
    const char *error;             /* set when a callback stopped the parser */
} xtree_t;

#define NODE(t, i) (((xnode_t *)(t)->nodes.data)[i])

static void x_stop(xtree_t *t, const char *why) {
    if (!t->error) t->error = why;
    XML_StopParser(t->p, XML_FALSE);
}

static void XMLCALL x_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    xtree_t *t = ud;
    xnode_t n;
    long idx = (long)(t->nodes.len / sizeof(xnode_t));
    (void)attrs;
    if (t->depth >= PARSE_MAX_DEPTH) { x_stop(t, "XML nested too deeply"); return; }
    n.name_off = t->strings.len;
    n.name_len = strlen(name);
    buf_add(&t->strings, name, n.name_len);
    n.text_off = t->strings.len;
    n.text_len = 0;
    n.first = n.last = n.next = -1;
    if (buf_add(&t->nodes, &n, sizeof n) != 0 || t->strings.oom) {
        x_stop(t, "out of memory");
        return;
    }
    if (t->depth > 0) {
        long parent = t->stack[t->depth - 1];
        if (NODE(t, parent).last >= 0) NODE(t, NODE(t, parent).last).next = idx;
        else NODE(t, parent).first = idx;
        NODE(t, parent).last = idx;
    }
    t->stack[t->depth++] = idx;
}

static void XMLCALL x_end(void *ud, const XML_Char *name) {
    xtree_t *t = ud;
    long idx = t->stack[--t->depth];
    (void)name;
    /* Only a leaf's text is kept, and nothing else was appended since its start. */
    if (NODE(t, idx).first < 0) NODE(t, idx).text_len = t->strings.len - NODE(t, idx).text_off;
}

static void XMLCALL x_text(void *ud, const XML_Char *s, int len) {
    xtree_t *t = ud;
    if (t->depth == 0) return;
    if (buf_add(&t->strings, s, (size_t)len) != 0) x_stop(t, "out of memory");
}

static void XMLCALL x_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                              const XML_Char *pubid, int has_internal_subset) {
    (void)name; (void)sysid; (void)pubid; (void)has_internal_subset;
    x_stop(ud, "XML with a DOCTYPE is not accepted");   /* no entity tricks */
}

/* Push node idx: a leaf is its text; an element with children a table, where a name
 * that repeats among siblings becomes an array in document order. */
static void x_push(lua_State *L, xtree_t *t, long idx) {
    const xnode_t *n = &NODE(t, idx);
    long c;
    int tbl, counts;
    if (n->first < 0) {
        lua_pushlstring(L, t->strings.data + n->text_off, n->text_len);
        return;
    }
    luaL_checkstack(L, 6, "XML too deep");
    lua_newtable(L);
    tbl = lua_gettop(L);
    lua_newtable(L);
    counts = tbl + 1;
    for (c = n->first; c >= 0; c = NODE(t, c).next) {
        lua_pushlstring(L, t->strings.data + NODE(t, c).name_off, NODE(t, c).name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, counts);
        lua_pushinteger(L, lua_tointeger(L, -1) + 1);
        lua_remove(L, -2);
        lua_rawset(L, counts);
    }
    for (c = n->first; c >= 0; c = NODE(t, c).next) {
        lua_Integer count;
        lua_pushlstring(L, t->strings.data + NODE(t, c).name_off, NODE(t, c).name_len);
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
            x_push(L, t, c);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            lua_pop(L, 2);
        } else {
            x_push(L, t, c);
            lua_rawset(L, tbl);
        }
    }
    lua_pop(L, 1);   /* counts */
}

static int parse_xml(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
    xtree_t t;
    int ok;
    memset(&t, 0, sizeof t);
    t.p = XML_ParserCreate("UTF-8");
    if (!t.p) { snprintf(err, errlen, "out of memory"); return -1; }
    XML_SetUserData(t.p, &t);
    XML_SetElementHandler(t.p, x_start, x_end);
    XML_SetCharacterDataHandler(t.p, x_text);
    XML_SetStartDoctypeDeclHandler(t.p, x_doctype);
    ok = len <= (size_t)INT_MAX && XML_Parse(t.p, body, (int)len, XML_TRUE) == XML_STATUS_OK;
    if (!ok) {
        if (t.error) snprintf(err, errlen, "%s", t.error);
        else snprintf(err, errlen, "malformed XML at line %lu: %s",
                      (unsigned long)XML_GetCurrentLineNumber(t.p),
                      XML_ErrorString(XML_GetErrorCode(t.p)));
    } else if (t.nodes.len == 0 || NODE(&t, 0).first < 0) {
        snprintf(err, errlen, "XML document has no fields");
        ok = 0;
    } else {
        x_push(L, &t, 0);
    }
    XML_ParserFree(t.p);
    buf_free(&t.nodes);
    buf_free(&t.strings);
    return ok ? 0 : -1;
}

/* --------------------------------------------------------------- JSON via cjson --- */

static int parse_json(lua_State *L, int decode, const char *body, size_t len,
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
        snprintf(err, errlen, "malformed JSON: %s",
                 lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 2);
        return -1;
    }
    lua_pop(L, 1);
    /* Every API answer is an object; an array decodes to a table too, so look. */
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' ||
                        body[at] == '\n'))
        at++;
    if (!lua_istable(L, -1) || body[at] != '{') {
        lua_pop(L, 1);
        snprintf(err, errlen, "JSON body is not an object");
        return -1;
    }
    return 0;
}

int parse_body(lua_State *L, int decode, parse_format_t fmt, const char *body, size_t len,
               char *err, size_t errlen) {
    return fmt == PARSE_XML ? parse_xml(L, body, len, err, errlen)
                            : parse_json(L, decode, body, len, err, errlen);
}

/* ---------------------------------------------------------- answers and errors --- */

int parse_retryable(long status, const char *code) {
    if (code) {
        if (strncmp(code, "Throttling", 10) == 0) return 1;
        if (strcmp(code, "InternalError") == 0 || strcmp(code, "ServiceUnavailable") == 0 ||
            strcmp(code, "SignatureNonceUsed") == 0)   /* our next attempt has a new one */
            return 1;
    }
    return status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

void parse_push_error(lua_State *L, const char *code, const char *message, long status,
                      int retryable) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "http_status");
    }
    lua_pushboolean(L, retryable);
    lua_setfield(L, -2, "retryable");
    luaL_setmetatable(L, PARSE_ERROR_MT);
}

/* What the body looks like, from its first non-blank byte. */
typedef enum { BODY_EMPTY, BODY_TEXT, BODY_JSON, BODY_XML, BODY_MARKUP } body_kind_t;
static const char *const body_kind_name[] = { "empty", "text", "JSON", "XML", "HTML" };

static body_kind_t sniff(const char *b, size_t n) {
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
    if (i == n) return BODY_EMPTY;
    if (b[i] == '{' || b[i] == '[') return BODY_JSON;
    if (b[i] != '<') return BODY_TEXT;
    /* An API answer starts with a declaration or its root element; a gateway's error
     * page starts with <!DOCTYPE or <html. */
    if (n - i >= 5 && (strncmp(b + i, "<?xml", 5) == 0)) return BODY_XML;
    if ((n - i >= 2 && b[i + 1] == '!') || (n - i >= 5 && strncasecmp(b + i + 1, "html", 4) == 0))
        return BODY_MARKUP;
    return BODY_XML;
}

/* Copy a string field of the table on top into the error table at err. */
static void copy_field(lua_State *L, int err, const char *from, const char *to) {
    lua_getfield(L, -1, from);
    if (lua_type(L, -1) == LUA_TSTRING) lua_setfield(L, err, to);
    else lua_pop(L, 1);
}

int parse_answer(lua_State *L, const parse_answer_t *a) {
    char why[256];
    body_kind_t kind = sniff(a->body, a->len);
    parse_format_t got = kind == BODY_XML ? PARSE_XML : PARSE_JSON;
    int err;

    if (a->status >= 200 && a->status < 300) {
        body_kind_t want = a->format == PARSE_XML ? BODY_XML : BODY_JSON;
        if (kind != want) {
            snprintf(why, sizeof why, "expected a %s body, got %s (Content-Type: %s)",
                     body_kind_name[want], body_kind_name[kind],
                     a->content_type[0] ? a->content_type : "none");
        } else if (parse_body(L, a->decode, got, a->body, a->len, why, sizeof why) == 0) {
            lua_getfield(L, -1, "RequestId");
            if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
                lua_setfield(L, -2, "request_id");
                return 1;
            }
            lua_pop(L, 2);
            snprintf(why, sizeof why, "response has no RequestId");
        }
        lua_pushnil(L);
        parse_push_error(L, "SDK.InvalidResponse", why, a->status, 0);
        return 2;
    }

    /* An error answer in either format is read, whatever format was asked for. */
    lua_pushnil(L);
    if ((kind == BODY_JSON || kind == BODY_XML) &&
        parse_body(L, a->decode, got, a->body, a->len, why, sizeof why) == 0) {
        lua_getfield(L, -1, "Code");
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
            const char *code = lua_tostring(L, -1);
            lua_getfield(L, -2, "Message");
            parse_push_error(L, code, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "",
                             a->status, parse_retryable(a->status, code));
            err = lua_gettop(L);
            lua_pushvalue(L, err - 3);              /* the decoded body */
            copy_field(L, err, "RequestId", "request_id");
            copy_field(L, err, "HostId", "host_id");
            copy_field(L, err, "Recommend", "recommend");
            lua_setfield(L, err, "data");
            lua_replace(L, err - 3);                /* nil body Code Message err → nil err */
            lua_settop(L, err - 3);
            goto hint;
        }
        lua_pop(L, 2);
    }
    snprintf(why, sizeof why, "HTTP %ld with a%s %s body (Content-Type: %s)", a->status,
             kind == BODY_EMPTY ? "n" : "", body_kind_name[kind],
             a->content_type[0] ? a->content_type : "none");
    parse_push_error(L, "SDK.HttpError", why, a->status, parse_retryable(a->status, NULL));
hint:
    if (a->retry_after_ms >= 0) {
        lua_pushnumber(L, (lua_Number)a->retry_after_ms / 1000.0);
        lua_setfield(L, -2, "retry_after");
    }
    return 2;
}

/* Append s with line breaks and other control bytes as spaces: the printed error is
 * one line whatever the server put in its fields. */
static void add_oneline(luaL_Buffer *b, lua_State *L, int idx) {
    size_t n, i;
    const char *s = lua_tolstring(L, idx, &n);
    for (i = 0; i < n; i++)
        luaL_addchar(b, ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) ? ' ' : s[i]);
}

/* tostring(err): one line, "Code: message (HTTP 400, RequestId …)". */
static int error_tostring(lua_State *L) {
    luaL_Buffer b;
    int has_status, has_rid;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "http_status");
    lua_getfield(L, 1, "request_id");
    has_status = lua_type(L, 4) == LUA_TNUMBER;
    has_rid = lua_type(L, 5) == LUA_TSTRING;
    luaL_buffinit(L, &b);
    if (lua_type(L, 2) == LUA_TSTRING) add_oneline(&b, L, 2);
    else luaL_addstring(&b, "SDK.Unknown");
    if (lua_type(L, 3) == LUA_TSTRING && lua_rawlen(L, 3) > 0) {
        luaL_addstring(&b, ": ");
        add_oneline(&b, L, 3);
    }
    if (has_status || has_rid) {
        luaL_addstring(&b, " (");
        if (has_status) {
            char num[32];
            snprintf(num, sizeof num, "HTTP %ld", (long)lua_tointeger(L, 4));
            luaL_addstring(&b, num);
        }
        if (has_rid) {
            luaL_addstring(&b, has_status ? ", RequestId " : "RequestId ");
            add_oneline(&b, L, 5);
        }
        luaL_addchar(&b, ')');
    }
    luaL_pushresult(&b);
    return 1;
}

void parse_open(lua_State *L) {
    if (luaL_newmetatable(L, PARSE_ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
