# The Loom -- one non-recursive GNU Makefile (STYLE.md "Tests and build").
#
#   make                 build every library, service and test binary into build/
#   make deps            install the Debian and npm packages the project needs
#   make test            run every test (unit, integration, contracts); starts
#                        a throwaway PostgreSQL and anvil where a test needs them
#   make SANITIZE=address,undefined test
#   make fuzz            build the libFuzzer targets (clang) and run each briefly
#   make bench           build and run the benchmarks in tests/bench/
#   make lint            clang-format check and banned-function grep
#   make up / make down  the whole stack on one machine (deploy/up.sh; KEEP=1 keeps state)
#   make demo            install, build, make up, then a client's jobs end to end
#   V=1                  show the full commands
#
# Sources are found by convention, so a new module needs no Makefile edit:
#   common/*.c common/eth/*.c proto/*.c  -> build/libloom.a
#   services/<name>/*.c                  -> build/bin/loom-<name> (main.c holds main)
#   clients/cli/*.c                      -> build/bin/loom
#   tests/unit/test_<x>.c                -> build/tests/test_<x> (cmocka; links
#                                           libloom.a, every service's and the
#                                           CLI's modules but their main.c)
#   tests/bench/bench_<x>.c              -> build/bench/bench_<x>
#   tests/fuzz/fuzz_<x>.c                -> build/fuzz/fuzz_<x> (clang -fsanitize=fuzzer)

.SUFFIXES:
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
SHELL := /bin/bash

BUILD   ?= build
CC      ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
CLANG   ?= clang

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wwrite-strings -Wvla -Wundef -fno-common -Werror
CSTD := -std=c11 -D_GNU_SOURCE
OPT  ?= -O2 -g
CPPFLAGS += -I. -Icommon -Iproto -I/usr/include/cjson -MMD -MP
CFLAGS   += $(CSTD) $(OPT) $(WARN) -fPIC
LDFLAGS  +=
LDLIBS   += -levent -levent_pthreads -lnanomsg -lpq -lcjson -lcurl -lsecp256k1 \
            -lnettle -lwslay -lOpenCL -lturbojpeg -lpng -lcrypto -lm -lpthread

ifneq ($(SANITIZE),)
BUILD   := build-san
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS   := $(sort $(wildcard common/*.c common/eth/*.c proto/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB        := $(BUILD)/libloom.a

SERVICES   := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/*.c)))))
SVC_BINS   := $(patsubst services/%/main.c,$(BUILD)/bin/loom-%,$(wildcard services/*/main.c))
CLI_SRCS   := $(wildcard clients/cli/*.c)
CLI_BIN    := $(if $(CLI_SRCS),$(BUILD)/bin/loom)
CLI_LIB    := $(if $(CLI_SRCS),$(BUILD)/lib/libcli.a)

# Each service's modules (all but main.c) also go into an archive so unit
# tests can link them.
define service_rules
$(1)_SRCS := $$(filter-out services/$(1)/main.c,$$(wildcard services/$(1)/*.c))
$(1)_OBJS := $$($(1)_SRCS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/lib/libsvc_$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(BUILD)/bin/loom-$(1): $(BUILD)/obj/services/$(1)/main.o $(BUILD)/lib/libsvc_$(1).a $(LIB)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
SVC_LIBS += $(BUILD)/lib/libsvc_$(1).a
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

TEST_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS  := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_OBJS := $(HELPER_SRCS:%.c=$(BUILD)/obj/%.o)

.PHONY: all deps test test-unit fuzz fuzz-build bench lint clean help
all: $(LIB) $(SVC_BINS) $(CLI_BIN) $(TEST_BINS) $(BENCH_BINS)

help:
	@sed -n '3,20p' Makefile

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Tests build argv arrays from string literals.
$(BUILD)/obj/tests/%.o: CFLAGS += -Wno-write-strings -Wno-discarded-qualifiers

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(CLI_BIN): $(CLI_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The CLI's modules but main.c, for unit tests, as the services' archives.
$(CLI_LIB): $(filter-out %/main.o,$(CLI_SRCS:%.c=$(BUILD)/obj/%.o))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(HELPER_OBJS) $(SVC_LIBS) $(CLI_LIB) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(HELPER_OBJS) $(SVC_LIBS) $(CLI_LIB) $(LIB) -lcmocka $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(SVC_LIBS) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(SVC_LIBS) $(LIB) $(LDLIBS) -lopenblas

# libFuzzer targets: clang, its own object tree, ASan + UBSan.
# The library and service modules are compiled once with sanitizer coverage
# into one archive; each target links only the members it needs.
FUZZ_CFLAGS := $(CSTD) -O1 -g -I. -Icommon -Iproto -I/usr/include/cjson \
               -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_LIB_SRCS := $(LIB_SRCS) $(foreach s,$(SERVICES),$($(s)_SRCS)) \
                 $(filter-out %/main.c,$(CLI_SRCS))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzzobj/%.o)
FUZZ_LIB      := $(BUILD)/fuzz/libfuzzloom.a
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC-FUZZ $<"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

# `make test` is the README's test command: it installs what is missing,
# builds, starts PostgreSQL and anvil, and runs every test.
test:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory all
	@scripts/test.sh $(BUILD)

test-unit: all
	@LOOM_TEST_ONLY=unit scripts/test.sh $(BUILD)

FUZZ_SECONDS ?= 30
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@scripts/fuzz.sh all $(FUZZ_SECONDS)

bench: all
	@scripts/bench.sh $(BUILD)

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-san

.PHONY: up down demo
up: $(SVC_BINS) $(CLI_BIN)
	@LOOM_BUILD=$(BUILD) deploy/up.sh
down:
	@deploy/down.sh $(if $(KEEP),--keep)
demo:
	@deploy/demo.sh

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
