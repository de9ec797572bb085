# aliyun-live — build, test, demo. Variables follow LuaRocks' names and can be overridden:
#   make LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit   (LuaJIT build)
#   make CC=clang CFLAGS='-O1 -g'
LUA_VERSION ?= 5.4
LUA_PC      ?= lua$(LUA_VERSION)
LUA         ?= lua$(LUA_VERSION)
PKG_CONFIG  ?= pkg-config
CC          ?= cc

ifdef LUA_INCDIR
LUA_CFLAGS  ?= -I$(LUA_INCDIR)
else
LUA_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
endif
# lua-compat-5.3's header for Lua 5.1/5.2 (and LuaJIT), after Lua's own headers.
ifneq ($(filter 5.1 5.2,$(LUA_VERSION)),)
LUA_CFLAGS  += -I/usr/include/lua$(LUA_VERSION)
endif

DEPS        := libcurl libcrypto expat hiredis
DEPS_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEPS_LIBS   ?= $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null) -lpthread -lm

CFLAGS      ?= -O2 -g
WARN        := -std=c99 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALL_CFLAGS  := $(WARN) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L \
               $(LUA_CFLAGS) $(DEPS_CFLAGS) $(CFLAGS)
LIBFLAG     ?= -shared
LDFLAGS     ?=

BUILD       ?= build/$(LUA_PC)
SRCS        := $(wildcard src/*.c)
OBJS        := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
MODULE      := $(BUILD)/aliyun/live/core.so

.PHONY: all deps demo test clean asan valgrind bench fuzz check-fresh
all: $(MODULE)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJS)
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(LDFLAGS) $(CFLAGS) $(OBJS) $(DEPS_LIBS) -o $@

# Installs missing Debian packages (no apt-get when everything is present).
deps:
	@.ci/deps

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) LUA=$(LUA) scripts/test

clean:
	rm -rf build
