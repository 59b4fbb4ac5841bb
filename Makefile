# ckpt: `make` builds libckpt and every tool into bin/; `make test` runs the whole suite.
# Sanitizer build: `make san` (ASan + UBSan) builds under build/san and runs the suite there.

BUILD   ?= build
BIN     ?= bin
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

PKGS    := libcrypto zlib libarchive
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
           -Ilib -Iformats -DCKPT_VERSION='"$(VERSION)"' $(SANFLAGS)
CFLAGS  += $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -pthread
LDFLAGS += $(SANFLAGS)

LIB_SRC := $(sort $(wildcard lib/*.c lib/*/*.c formats/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_SRC := $(sort $(wildcard cmd/*.c))
TOOLS   := $(patsubst cmd/%.c,$(BIN)/ckpt-%,$(filter-out cmd/ckpt.c,$(CMD_SRC))) \
           $(if $(wildcard cmd/ckpt.c),$(BIN)/ckpt)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEV_SRC := $(sort $(wildcard fixtures/gen/*.c bench/*.c))
DEVTOOLS := $(patsubst %.c,$(BUILD)/dev/%,$(notdir $(DEV_SRC)))
LIBA    := $(BUILD)/libckpt.a

.PHONY: all test san clean install
# keep the objects of tools and tests (make would delete them as intermediates)
.SECONDARY:
all: $(TOOLS) $(UNITS) $(DEVTOOLS)

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

test: all
	@CKPT_BIN=$(abspath $(BIN)) CKPT_BUILD=$(abspath $(BUILD)) tests/run-all

san:
	$(MAKE) BUILD=build/san BIN=build/san/bin OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

install: $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CMD_SRC:%.c=$(BUILD)/%.d) $(UNIT_SRC:%.c=$(BUILD)/%.d) $(DEV_SRC:%.c=$(BUILD)/%.d)
