# libFuzzer targets (fuzz/*.c) with AddressSanitizer + UBSan, built with clang from the
# sources they exercise (not the module), each run for FUZZ_SECONDS on a copy of its
# seed corpus under build/fuzz/. Any crash, sanitizer report or failed check fails the
# run and leaves the input in build/fuzz/artifacts/<target>/. Inputs that once crashed
# (fuzz/regressions/<target>/) are replayed first. See fuzz/README.md.
#   make fuzz                  60 s per target, one after the other
#   make fuzz FUZZ_SECONDS=600
#   make fuzz FUZZ_TARGETS=xmltree
#   make fuzz-ci               10 s per target
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build/fuzz
FUZZ_SRC     ?= src
FUZZ_LUA_PC  ?= lua5.4
FUZZ_TARGETS := encode json xml classify xmltree answer
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
FUZZ_CFLAGS  ?= -g -O1 -fno-omit-frame-pointer
FUZZ_ALL_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
                   -Wno-unused-parameter -fsanitize=fuzzer,address,undefined \
                   -fno-sanitize-recover=all -I$(FUZZ_SRC) -I$(FUZZ_SRC)/protocol -I$(FUZZ_SRC)/binding \
                   $(shell $(PKG_CONFIG) --cflags $(FUZZ_LUA_PC) expat 2>/dev/null) $(FUZZ_CFLAGS)
# Known findings in src/ not fixed yet (fuzz/README.md): each name lets exactly that
# through, so that the rest is still fuzzed. FUZZ_TOLERATE= (in another FUZZ_BUILD) is
# fully strict and fails on them.
FUZZ_TOLERATE ?=
FUZZ_ALL_CFLAGS += $(FUZZ_TOLERATE:%=-DFUZZ_TOLERATE_%)
FUZZ_LUA_LIBS   := $(shell $(PKG_CONFIG) --libs $(FUZZ_LUA_PC) 2>/dev/null)
FUZZ_EXPAT_LIBS := $(shell $(PKG_CONFIG) --libs expat 2>/dev/null)
# libFuzzer options for every run: a slow input (> 10 s) is a finding too.
FUZZ_OPTS    ?= -timeout=10 -print_final_stats=1

.PHONY: fuzz fuzz-ci fuzz-bins

# Each target is built from the sources it exercises, never the module.
FUZZ_DECODE_SRCS := $(addprefix $(FUZZ_SRC)/,binding/decode.c binding/error.c \
                      protocol/answer.c protocol/xml.c protocol/encode.c compat.c buf.c)
$(FUZZ_BUILD)/encode:  $(FUZZ_SRC)/protocol/encode.c $(FUZZ_SRC)/buf.c
$(FUZZ_BUILD)/json $(FUZZ_BUILD)/xml $(FUZZ_BUILD)/classify: fuzz/harness.h fuzz/reference.h \
    $(FUZZ_DECODE_SRCS)
$(FUZZ_BUILD)/xmltree: $(FUZZ_SRC)/protocol/xml.c $(FUZZ_SRC)/buf.c
$(FUZZ_BUILD)/answer:  fuzz/reference.h $(FUZZ_SRC)/protocol/answer.c

FUZZ_LIBS_encode   :=
FUZZ_LIBS_json     := $(FUZZ_LUA_LIBS) $(FUZZ_EXPAT_LIBS)
FUZZ_LIBS_xml      := $(FUZZ_LUA_LIBS) $(FUZZ_EXPAT_LIBS)
FUZZ_LIBS_classify := $(FUZZ_LUA_LIBS) $(FUZZ_EXPAT_LIBS)
# xmltree: no Lua. xml.c's XML_ParserCreate and buf.c's realloc are wrapped by the
# linker so that the target can make either fail (fuzz/xmltree.c).
FUZZ_LIBS_xmltree  := $(FUZZ_EXPAT_LIBS) -Wl,--wrap=XML_ParserCreate -Wl,--wrap=realloc
FUZZ_LIBS_answer   :=

$(FUZZ_BINS): $(FUZZ_BUILD)/%: fuzz/%.c fuzz/check.h $(wildcard $(FUZZ_SRC)/*.h $(FUZZ_SRC)/*/*.h) mk/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) $(filter %.c,$^) $(FUZZ_LIBS_$*) -lm -o $@

fuzz-bins: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-bins
	@set -e; for t in $(FUZZ_TARGETS); do \
	  corpus=$(FUZZ_BUILD)/corpus/$$t; art=$(FUZZ_BUILD)/artifacts/$$t; \
	  mkdir -p $$corpus $$art; \
	  cp -n fuzz/corpus/$$t/* $$corpus/ 2>/dev/null || true; \
	  if [ -n "$$(ls fuzz/regressions/$$t 2>/dev/null)" ]; then \
	    echo "== fuzz $$t: replaying fuzz/regressions/$$t"; \
	    $(FUZZ_BUILD)/$$t $(FUZZ_OPTS) -artifact_prefix=$$art/ fuzz/regressions/$$t/* \
	      || { echo "fuzz $$t: a regression input fails"; exit 1; }; \
	  fi; \
	  echo "== fuzz $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$$art/ \
	    $$corpus || { echo "fuzz $$t: FAILED, input saved in $$art/"; exit 1; }; \
	done; echo "fuzz: $(FUZZ_TARGETS) ran $(FUZZ_SECONDS) s each without a finding"

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10
