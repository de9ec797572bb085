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

# hiredis is optional: the redis:// limiter store is built when hiredis is found
# (REDIS=0 leaves it out; asking for that store then says it was not built).
REDIS       ?= $(shell $(PKG_CONFIG) --exists hiredis 2>/dev/null && echo 1 || echo 0)
DEPS        := libcurl libcrypto expat $(if $(filter 1,$(REDIS)),hiredis)
DEPS_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEPS_LIBS   ?= $(or $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null),\
                    -lcurl -lcrypto -lexpat $(if $(filter 1,$(REDIS)),-lhiredis)) -lpthread -lm
# Where LuaRocks found the libraries (external_dependencies), when it says.
EXT_CFLAGS  := $(foreach d,$(CURL_INCDIR) $(OPENSSL_INCDIR) $(EXPAT_INCDIR) $(HIREDIS_INCDIR),-I$(d))
EXT_LIBS    := $(foreach d,$(CURL_LIBDIR) $(OPENSSL_LIBDIR) $(EXPAT_LIBDIR) $(HIREDIS_LIBDIR),-L$(d))

CFLAGS      ?= -O2 -g
WERROR      ?= -Werror
WARN        := -std=c99 -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALL_CFLAGS  := $(WARN) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L -Isrc \
               $(if $(filter 1,$(REDIS)),,-DALIYUN_LIVE_NO_REDIS) \
               $(LUA_CFLAGS) $(EXT_CFLAGS) $(DEPS_CFLAGS) $(CFLAGS)
LIBFLAG     ?= -shared
LDFLAGS     ?=

# A LuaRocks build names the Lua by its headers; each Lua gets its own objects.
ifdef LUA_INCDIR
BUILD       ?= build/rock$(subst /,-,$(LUA_INCDIR))
else
BUILD       ?= build/$(LUA_PC)
endif
# src/ shows the layers: protocol/ (pure), transport/ (libcurl), limiter/, binding/ (Lua).
SRCS        := $(filter-out $(if $(filter 1,$(REDIS)),,src/limiter/redis%.c),\
                 $(wildcard src/*.c src/*/*.c))
HDRS        := $(wildcard src/*.h src/*/*.h)
OBJS        := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
MODULE      := $(BUILD)/aliyun/live/core.so

.PHONY: all deps demo test test-bins test-luajit test-5.1 test-5.3 clean asan ubsan valgrind bench fuzz install rock docs
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
	$(Q)$(CC) $(LIBFLAG) $(LDFLAGS) $(CFLAGS) $(OBJS) $(EXT_LIBS) $(DEPS_LIBS) -o $@

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

# The other stages run the specs that exercise the module under their Lua or tool:
# not those whose subject runs on a Lua of its own whatever busted runs on — the README
# and command-line specs (bin/aliyun-live is Lua 5.4), nginx (its LuaJIT), and, but for
# the sanitizers, the game-server host (it embeds Lua 5.4).
ALL_SPECS   := $(sort $(wildcard spec/*_spec.lua))
OWN_LUA     := spec/13-% spec/4% spec/5%
LUA_SPECS   := $(filter-out $(OWN_LUA) spec/60-%,$(ALL_SPECS))
SAN_SPECS   := $(filter-out $(OWN_LUA),$(ALL_SPECS))

# The library's specs once more on LuaJIT (OpenResty's branch) and on Lua 5.1 and 5.3,
# each built against that Lua's own headers.
test-luajit: deps
	@$(MAKE) --no-print-directory all test-bins LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit
	@BUILD=build/luajit LUA=luajit SPECS="$(LUA_SPECS)" scripts/test

test-5.1 test-5.3: test-%: deps
	@$(MAKE) --no-print-directory all test-bins LUA_VERSION=$*
	@BUILD=build/lua$* LUA=lua$* SPECS="$(LUA_SPECS)" scripts/test

# The suite with the module built under AddressSanitizer + UBSan. The runtime is
# preloaded into the Lua interpreter only; the servers the specs start run without it.
# intercept_tls_get_addr=0: gcc 12's LeakSanitizer follows threads' dynamic TLS through
# __tls_get_addr, and its tracer can crash on a stale TLS vector at exit ("Tracer caught
# signal 11", google/sanitizers#1322; seen once here, after all 358 specs had passed):
# a crash of the tool, not a leak. Leaks are still checked, threads' TLS too.
# The #timing specs (a 10 ms guard at frame rates) stay out, as under valgrind: a
# program slowed two- to threefold on a loaded machine misses it; the other runs keep them.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/asan CC=gcc CFLAGS="$(ASAN_FLAGS)"
	@BUILD=build/asan LUA=$(LUA) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_odr_violation=0:intercept_tls_get_addr=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  TEST_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  BUSTED_ARGS="--exclude-tags=timing" SPECS="$(or $(SPECS),$(SAN_SPECS))" scripts/test

# The suite with the module built by clang under UBSan, float-cast-overflow included
# (gcc's UBSan has no such check): a float converted to an integer it cannot hold.
UBSAN_FLAGS := -O1 -g -fsanitize=undefined,float-cast-overflow,float-divide-by-zero \
               -fno-sanitize-recover=all -fno-omit-frame-pointer
ubsan: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/ubsan CC=clang CFLAGS="$(UBSAN_FLAGS)"
	@BUILD=build/ubsan LUA=$(LUA) \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TEST_PRELOAD="$$(clang -print-file-name=libclang_rt.ubsan_standalone-x86_64.so)" \
	  SPECS="$(or $(SPECS),$(SAN_SPECS))" scripts/test

# The suite under valgrind memcheck: any error or definite leak fails the run. glibc's
# own cleanup at exit is not run (--run-libc-freeres=no): once a redis:// store has
# resolved a name, it frees getaddrinfo_a's request pool up to its capacity, rows never
# allocated included (an uninitialised jump or an invalid free, after our last code). Specs
# tagged #timing (the quota at frame rates: a 10 ms guard against a 30-fold slowdown)
# are about time, not memory, and stay out.
valgrind: deps
	@$(MAKE) --no-print-directory all test-bins BUILD=build/valgrind CFLAGS="-O1 -g"
	@BUILD=build/valgrind LUA=$(LUA) \
	  TEST_WRAPPER="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
	    --error-exitcode=99 --run-libc-freeres=no --suppressions=$(CURDIR)/scripts/valgrind.supp" \
	  BUSTED_ARGS="--exclude-tags=timing" \
	  SPECS="$(or $(SPECS),$(LUA_SPECS))" scripts/test

# What a LuaRocks build installs (the rockspec's install_variables name the places).
INST_PREFIX ?= /usr/local
INST_LIBDIR ?= $(INST_PREFIX)/lib/lua/$(LUA_VERSION)
INST_LUADIR ?= $(INST_PREFIX)/share/lua/$(LUA_VERSION)
install: $(MODULE)
	mkdir -p "$(INST_LIBDIR)/aliyun/live"
	cp $(MODULE) "$(INST_LIBDIR)/aliyun/live/core.so"
	cd lua && for f in $$(find aliyun -name '*.lua'); do \
	  mkdir -p "$(INST_LUADIR)/$$(dirname $$f)" && cp "$$f" "$(INST_LUADIR)/$$f"; done

# The source rock: the tracked files as they are now (committed or not) in an archive,
# with the rockspec pointing at it, packed by LuaRocks. `luarocks install
# --deps-mode=none build/aliyun-live-scm-1.src.rock` installs it offline.
ROCK := build/aliyun-live-scm-1.src.rock
rock:
	@rm -rf build/rock && mkdir -p build/rock
	tree=$$(git stash create); \
	  git archive --prefix=aliyun-live/ -o build/rock/aliyun-live-scm-1.tar.gz $${tree:-HEAD}
	sed 's|^  url = .*|  url = "file://$(CURDIR)/build/rock/aliyun-live-scm-1.tar.gz",|' \
	  aliyun-live-scm-1.rockspec >build/rock/aliyun-live-scm-1.rockspec
	cd build/rock && luarocks --lua-version=$(LUA_VERSION) pack aliyun-live-scm-1.rockspec
	mv build/rock/aliyun-live-scm-1.src.rock $(ROCK)
	@echo "rock: $(ROCK)"

# The API reference, generated from the source's doc comments (LDoc, config.ld).
docs: deps
	@rm -rf build/docs
	ldoc -q .
	@echo "docs: build/docs/index.html"

clean:
	rm -rf build

# Further targets (fuzzing, test hosts, benchmarks) live in mk/.
-include $(wildcard mk/*.mk)
test-bins: $(TEST_BINS)
