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

DEPS        := libcurl libcrypto expat hiredis
DEPS_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEPS_LIBS   ?= $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null) -lpthread -lm

CFLAGS      ?= -O2 -g
WARN        := -std=c99 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALL_CFLAGS  := $(WARN) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L -Isrc \
               $(LUA_CFLAGS) $(DEPS_CFLAGS) $(CFLAGS)
LIBFLAG     ?= -shared
LDFLAGS     ?=

BUILD       ?= build/$(LUA_PC)
# src/ shows the layers: protocol/ (pure), transport/ (libcurl), limiter/, binding/ (Lua).
SRCS        := $(wildcard src/*.c src/*/*.c)
HDRS        := $(wildcard src/*.h src/*/*.h)
OBJS        := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
MODULE      := $(BUILD)/aliyun/live/core.so

.PHONY: all deps demo test test-bins test-luajit test-5.1 test-5.3 clean asan ubsan valgrind bench fuzz
all: $(MODULE)

# V=1 shows the whole command lines.
Q := $(if $(V),,@)
$(BUILD)/obj/%.o: src/%.c $(HDRS) Makefile
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LIBFLAG) $(LDFLAGS) $(CFLAGS) $(OBJS) $(DEPS_LIBS) -o $@

# Installs missing Debian packages (no apt-get when everything is present).
deps:
	@.ci/deps

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

# TEST_BINS: helper programs the specs run (fault server, thread host), from mk/*.mk.
# The nginx specs (spec/5x) load the core built for nginx's LuaJIT: build/luajit.
test: deps
	@$(MAKE) --no-print-directory all test-bins
	@$(MAKE) --no-print-directory all LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit
	@BUILD=$(BUILD) LUA=$(LUA) scripts/test

# The library's specs once more on LuaJIT (OpenResty's branch) and on Lua 5.1 and 5.3,
# each built against that Lua's own headers.
test-luajit: deps
	@$(MAKE) --no-print-directory all test-bins LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit
	@BUILD=build/luajit LUA=luajit SPECS=spec scripts/test

test-5.1 test-5.3: test-%: deps
	@$(MAKE) --no-print-directory all test-bins LUA_VERSION=$*
	@$(MAKE) --no-print-directory all LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit
	@BUILD=build/lua$* LUA=lua$* SPECS=spec scripts/test

# The whole suite with the module built under AddressSanitizer + UBSan. The runtime is
# preloaded into the Lua interpreter only; the servers the specs start run without it.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/asan CC=gcc CFLAGS="$(ASAN_FLAGS)"
	@BUILD=build/asan LUA=$(LUA) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_odr_violation=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  TEST_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  scripts/test

# The suite with the module built by clang under UBSan, float-cast-overflow included
# (gcc's UBSan has no such check): a float converted to an integer it cannot hold.
UBSAN_FLAGS := -O1 -g -fsanitize=undefined,float-cast-overflow,float-divide-by-zero \
               -fno-sanitize-recover=all -fno-omit-frame-pointer
ubsan: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/ubsan CC=clang CFLAGS="$(UBSAN_FLAGS)"
	@BUILD=build/ubsan LUA=$(LUA) \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TEST_PRELOAD="$$(clang -print-file-name=libclang_rt.ubsan_standalone-x86_64.so)" \
	  scripts/test

# The whole suite under valgrind memcheck: any error or definite leak fails the run.
valgrind: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/valgrind CFLAGS="-O1 -g"
	@BUILD=build/valgrind LUA=$(LUA) \
	  TEST_WRAPPER="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
	    --error-exitcode=99 --suppressions=$(CURDIR)/scripts/valgrind.supp" \
	  scripts/test

clean:
	rm -rf build

# Further targets (fuzzing, test hosts, benchmarks) live in mk/.
-include $(wildcard mk/*.mk)
test-bins: $(TEST_BINS)
