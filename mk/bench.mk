# Benchmarks: baselines in C (plain libcurl, signing alone) and the Lua harness.
BENCH_CORE := src/buf.c src/protocol/encode.c src/protocol/sign.c src/protocol/request.c

$(BUILD)/bench/curl_loop: bench/curl_loop.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=c99 -Wall -Wextra -Werror $< $(shell $(PKG_CONFIG) --cflags --libs libcurl) -o $@

$(BUILD)/bench/sign_cost: bench/sign_cost.c $(BENCH_CORE) $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -Isrc -Isrc/protocol $< \
	  $(BENCH_CORE) $(shell $(PKG_CONFIG) --cflags --libs libcrypto) -o $@

# The LuaJIT build is what nginx loads (bench/cosocket.lua).
bench: deps
	@$(MAKE) -s --no-print-directory all $(BUILD)/bench/curl_loop $(BUILD)/bench/sign_cost \
	  $(GAME_SERVER) >&2
	@$(MAKE) -s --no-print-directory all LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit >&2
	@BUILD=$(BUILD) LUA=$(LUA) GAME_SERVER=$(GAME_SERVER) bench/run
