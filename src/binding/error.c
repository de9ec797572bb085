/* Error tables: what every failure returned by the core looks like, and how it prints. */
#include <stdio.h>
#include <string.h>

#include "binding.h"

void error_push(lua_State *L, const char *kind, const char *code, const char *message,
                size_t message_len, long status) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (code) {
        lua_pushstring(L, code);
        lua_setfield(L, -2, "code");
    }
    lua_pushlstring(L, message, message_len);
    lua_setfield(L, -2, "message");
    if (status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "http_status");
    }
    lua_pushboolean(L, 0);   /* until the retry policy says otherwise */
    lua_setfield(L, -2, "retryable");
    luaL_setmetatable(L, ERROR_MT);
}

/* core.error(code, message [, fields]) → an error table shaped and printed like the
 * core's own; fields (a table) are copied into it. */
static int l_error(lua_State *L) {
    size_t n;
    const char *code = luaL_checkstring(L, 1);
    const char *msg = luaL_checklstring(L, 2, &n);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    error_push(L, "sdk", code, msg, n, 0);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
    }
    return 1;
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
            lua_Number st = lua_tonumber(L, 4);
            snprintf(num, sizeof num, "HTTP %.0f", st >= 0 && st < 1000 ? st : 0.0);
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

void error_open(lua_State *L) {
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, ERROR_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_error);
    lua_setfield(L, -2, "error");
}
