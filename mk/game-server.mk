# Static embedding and the example C host (examples/game-server/), included by the
# Makefile after its variables (BUILD, CC, WARN, CFLAGS, LUA_CFLAGS, DEPS_LIBS, OBJS).
#   make static        $(BUILD)/libaliyun_live_core.a: the core for a host to link
#   make game-server   $(BUILD)/examples/game-server
#   make tsan          the host and the core under ThreadSanitizer, run against the emulator
#   make event-loop    $(BUILD)/examples/event-loop (examples/event-loop/): a host that
#                      sleeps in poll(2) on client:fds() and client:timeout()
AR          ?= ar
OBJCOPY     ?= objcopy
STATIC_LIB  := $(BUILD)/libaliyun_live_core.a
STATIC_OBJ  := $(BUILD)/obj/aliyun_live_core.o
GAME_SERVER := $(BUILD)/examples/game-server
GAME_SRCS   := examples/game-server/main.c examples/game-server/loop.c
GAME_LUA_LIBS ?= $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null)
# lua-cjson's archive (Debian's lua-cjson-dev), linked in so that the host carries
# cjson.safe itself (by its path: -l would pick the shared one when both exist; the
# compiler knows where its library directories are, the .pc file names none).
CJSON_LUA   := $(if $(filter luajit,$(LUA_PC)),lua5.1,$(LUA_PC))
CJSON_A     ?= $(shell $(CC) -print-file-name=lib$(CJSON_LUA)-cjson.a)
# Where the checkout is, seen from the executable's directory (found at run time).
GAME_ROOT_REL := $(shell realpath -m --relative-to=$(BUILD)/examples $(CURDIR))
GAME_CFLAGS := $(WARN) -D_POSIX_C_SOURCE=200809L -pthread $(LUA_CFLAGS) $(CFLAGS) \
               -DGAME_ROOT_REL='"$(GAME_ROOT_REL)"'

EVENT_LOOP  := $(BUILD)/examples/event-loop

# The host needs Lua 5.2's C API (luaL_traceback, LUA_OK): 5.3, 5.4 or LuaJIT.
ifneq ($(filter luajit,$(LUA_PC))$(filter-out 5.1 5.2,$(LUA_VERSION)),)
TEST_BINS   += $(GAME_SERVER)
endif
TEST_BINS   += $(EVENT_LOOP)

.PHONY: static game-server tsan event-loop

# It loads the module as any Lua program does (LUA_CPATH), nothing linked in.
$(EVENT_LOOP): examples/event-loop/main.c mk/game-server.mk
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(WARN) -D_POSIX_C_SOURCE=200809L $(LUA_CFLAGS) $(CFLAGS) $< $(GAME_LUA_LIBS) \
	  -lm $(LDFLAGS) -o $@

event-loop: deps
	@$(MAKE) --no-print-directory $(EVENT_LOOP)

# One relocatable object of the whole core, its hidden symbols made local: a host that
# links the archive sees luaopen_aliyun_live_core and nothing else (no buf_*, http_*,
# sign_* to clash with its own names). The objects are the module's, same flags.
$(STATIC_LIB): $(OBJS) mk/game-server.mk
	@mkdir -p $(@D)
	$(if $(Q),@echo "  AR      $@")
	$(Q)$(CC) -r -nostdlib $(OBJS) -o $(STATIC_OBJ)
	$(Q)$(OBJCOPY) --localize-hidden $(STATIC_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $(STATIC_OBJ)

$(GAME_SERVER): $(GAME_SRCS) examples/game-server/game.h $(STATIC_LIB) mk/game-server.mk
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(GAME_CFLAGS) $(GAME_SRCS) $(STATIC_LIB) $(CJSON_A) $(GAME_LUA_LIBS) \
	  $(DEPS_LIBS) $(LDFLAGS) -o $@

static: deps
	@$(MAKE) --no-print-directory $(STATIC_LIB)

game-server: deps
	@$(MAKE) --no-print-directory $(GAME_SERVER)

# ThreadSanitizer: the core's objects and the host built with clang -fsanitize=thread
# in build/tsan (Lua, libcurl, OpenSSL and lua-cjson stay uninstrumented: their own
# memory is not watched, ours is), then 4 threads against a private emulator. Any
# report fails the run (halt_on_error, and the log is checked for a WARNING too).
TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CFLAGS="$(TSAN_FLAGS)" \
	  build/tsan/examples/game-server
	@examples/game-server/tsan-run build/tsan/examples/game-server
