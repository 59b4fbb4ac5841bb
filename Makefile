# ckpt: `make` builds libckpt and every tool into bin/; `make test` runs the whole suite.
# Sanitizer build: `make san` (ASan + UBSan) builds under build/san and runs the suite there.
# Fuzzing: `make fuzz` (clang's libFuzzer) builds tests/fuzz/fuzz_*.c into build/fuzz/ and
# runs each for FUZZ_SECONDS; not part of `make test` (see tests/fuzz/run).

BUILD   ?= build
BIN     ?= bin
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
VERSION := 0.1.0

# The library's levels, lowest first: a file includes only from its own level or below
# (docs/ARCHITECTURE.md; tests/cli/layering.sh checks it).
LEVELS  := lib/base lib/tensor lib/checkpoint lib/engine formats lib/infer lib/check

PKGS    := libcrypto libarchive
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
# (-Wno-psabi: the forward pass's 16-lane vectors pass between inlined helpers only, never
#  across an ABI boundary; clang warns on every such helper built without AVX-512.
#  -ffp-contract=off: no fused multiply-adds, so every clone gives the same bits; GCC's
#  -std=c11 implies it, clang's does not)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-psabi -ffp-contract=off -pthread \
           $(addprefix -I,$(LEVELS)) -Ilib -DCKPT_VERSION='"$(VERSION)"' $(SANFLAGS)
CFLAGS  += $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -pthread
LDFLAGS += $(SANFLAGS)

LIB_SRC := $(sort $(wildcard $(addsuffix /*.c,$(LEVELS))))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_SRC := $(sort $(wildcard cmd/*.c))
TOOLS   := $(patsubst cmd/%.c,$(BIN)/ckpt-%,$(filter-out cmd/ckpt.c,$(CMD_SRC))) \
           $(if $(wildcard cmd/ckpt.c),$(BIN)/ckpt)
MANS    := $(sort $(wildcard man/*.1))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEV_SRC := $(sort $(wildcard fixtures/gen/*.c bench/*.c))
DEVTOOLS := $(patsubst %.c,$(BUILD)/dev/%,$(notdir $(DEV_SRC)))
LIBA    := $(BUILD)/libckpt.a

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
REPLAYS := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SECONDS ?= 30

.PHONY: all test san fuzz fuzz-build clean install uninstall
# keep the objects of tools and tests (make would delete them as intermediates)
.SECONDARY:
all: $(TOOLS) $(UNITS) $(DEVTOOLS) $(REPLAYS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/ckpt-%: $(BUILD)/cmd/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/ckpt: $(BUILD)/cmd/ckpt.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/dev/%: $(BUILD)/fixtures/gen/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/dev/%: $(BUILD)/bench/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the fuzz targets without libFuzzer, for tests/cli/fuzz-replay.sh
$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIBA)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

test: all
	@CKPT_BIN=$(abspath $(BIN)) CKPT_BUILD=$(abspath $(BUILD)) tests/run-all

# (CKPT_SANITIZED tells the slowest tests, e.g. crash-safety.sh, to do fewer rounds)
san:
	CKPT_SANITIZED=1 $(MAKE) BUILD=build/san BIN=build/san/bin OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

# (fuzz-build is meant to run inside `make fuzz`, with clang and BUILD=build/fuzz)
fuzz-build: $(FUZZERS)

fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 SANFLAGS="$(FUZZ_SAN)" fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run build/fuzz

# `make install PREFIX=/usr DESTDIR=/tmp/pkg`: the programs into BINDIR, the man pages
# into MANDIR/man1 (unstripped: a packager strips, as Debian's dh_strip does).
install: $(TOOLS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(MANS) $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MANS)))

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CMD_SRC:%.c=$(BUILD)/%.d) $(UNIT_SRC:%.c=$(BUILD)/%.d) $(DEV_SRC:%.c=$(BUILD)/%.d) \
	 $(FUZZ_SRC:%.c=$(BUILD)/%.d) $(BUILD)/tests/fuzz/replay.d
