# Test hosts of the limiter specs (spec/20-limiter_spec.lua, spec/22-limiter_stores_spec.lua),
# built by `make test-bins`. Included by the Makefile after its variables (BUILD, CC,
# WARN, ALL_CFLAGS, HDRS, LUA_CFLAGS, DEPS_LIBS, MODULE); the specs also ask for them with
# `make -f Makefile -f mk/limiter-tests.mk BIN`, which the guard below makes harmless
# when the Makefile includes this file.
ifndef LIMITER_TESTS_MK
LIMITER_TESTS_MK := 1

LUA_LIBS     ?= $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null)
HOST_CFLAGS  := $(WARN) -D_POSIX_C_SOURCE=200809L $(CFLAGS)
# The limiter objects once more with the test hooks (limiter.h: LIMITER_TEST_HOOKS),
# for the test hosts only: the module never contains them.
LIMITER_HOOK_OBJS := $(patsubst src/%.c,$(BUILD)/spec/obj/%.o,$(wildcard src/limiter/*.c))

TEST_BINS    += $(BUILD)/spec/threads $(BUILD)/spec/shm_hold $(BUILD)/spec/resp_canned

.PHONY: limiter-test-hosts
limiter-test-hosts: $(MODULE) $(BUILD)/spec/threads $(BUILD)/spec/shm_hold $(BUILD)/spec/resp_canned

$(BUILD)/spec/obj/limiter/%.o: src/limiter/%.c $(HDRS) mk/limiter-tests.mk
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DLIMITER_TEST_HOOKS -c $< -o $@

# Threads, each with its own lua_State, sharing the `process` store (and fork() while
# they decide). Links liblua itself (it is a host program, unlike the module).
$(BUILD)/spec/threads: spec/c/threads.c mk/limiter-tests.mk
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(LUA_CFLAGS) $< -o $@ $(LUA_LIBS) -lpthread -lm

# A process that dies, or stops, holding the shm store's lock.
$(BUILD)/spec/shm_hold: spec/c/shm_hold.c $(LIMITER_HOOK_OBJS) mk/limiter-tests.mk
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -DLIMITER_TEST_HOOKS -Isrc/limiter $< $(LIMITER_HOOK_OBJS) -o $@ $(DEPS_LIBS)

# A "Redis" that answers every command with one canned reply (replies a real server
# running our script cannot give).
$(BUILD)/spec/resp_canned: spec/c/resp_canned.c mk/limiter-tests.mk
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $< -o $@

endif
