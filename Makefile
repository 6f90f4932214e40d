# moesim - one non-recursive Makefile (musl's shape): sources found by wildcard,
# objects in build/, -MMD -MP dependencies, local overrides from config.mak.
#
#   make            build ./moesim
#   make check      build and run every Check suite (tests/check_*.c)
#   make asan       the same suites under AddressSanitizer + UBSan
#   make valgrind   the same suites and command-line tests under valgrind
#   make install    the binary, the shipped scenarios and the recorder under PREFIX
#                   (default /usr/local; DESTDIR=dir stages into dir/PREFIX)
#   make bench      build and run the benchmarks in bench/
#   make calibrate  build the CUDA calibration programs (only where nvcc exists)
#   make deps       install the Debian packages moesim needs (as root)
#   WERROR=1        turn warnings into errors (CI does)
#   BUILD=dir BIN=path  build elsewhere (e.g. BUILD=build/x BIN=build/x/moesim); make clean
#                       with the same BUILD and BIN removes that build only

CC ?= cc
PKGS := gsl libconfig hdf5 zlib
DEBIAN_PACKAGES := build-essential pkg-config libgsl-dev libconfig-dev libhdf5-dev zlib1g-dev check libsimgrid-dev hdf5-tools strace
# The Python recorder (tools/) and its tests:
PY_PACKAGES := python3-torch python3-h5py python3-numpy python3-pytest

MODULES := common scenario hardware models topology routing network trace profile sim output cli
BUILD := build
BIN := moesim
PREFIX := /usr/local
DESTDIR :=

-include config.mak

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef -Wvla \
	-Wold-style-definition -Wnull-dereference -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT ?= -O2 -g
CFLAGS_ALL := -pthread -std=c11 -D_ISOC11_SOURCE -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -I. -I$(BUILD) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm $(LDLIBS)

LIB_SRCS := $(filter-out cli/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
GEN_SRCS := $(BUILD)/gen/scn_default_text.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:$(BUILD)/%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check asan valgrind bench deps clean calibrate depcheck docs install
all: depcheck $(BIN)

depcheck:
	@pkg-config --exists $(PKGS) check || { echo "moesim: missing libraries; run 'make deps' as root (or: apt-get install $(DEBIAN_PACKAGES))" >&2; exit 1; }

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES) $(PY_PACKAGES); \
	else \
		echo "run as root: apt-get install -y $(DEBIAN_PACKAGES) $(PY_PACKAGES)"; exit 1; \
	fi

$(BIN): $(BUILD)/cli/main.o $(BUILD)/libmoesim.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/libmoesim.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

# The default scenario is compiled into the binary from scenarios/default.cfg.
$(BUILD)/gen/scn_default_text.c: scenarios/default.cfg
	@mkdir -p $(dir $@)
	{ echo '/* generated from scenarios/default.cfg by the Makefile; do not edit */'; \
	  echo '#include "scenario/scn_scenario.h"'; \
	  echo 'const char scn_default_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

# The test runner's suite list is generated from the suites the test files define,
# so adding tests/check_<module>.c is all it takes to add a suite. It is replaced only
# when the list changes, so editing one test file does not recompile the others.
$(BUILD)/gen/suites.h: $(filter tests/check_%.c,$(TEST_SRCS))
	@mkdir -p $(dir $@)
	@{ for f in $^; do sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void)$$/SUITE(\1)/p' $$f; done; } > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(TEST_OBJS): $(BUILD)/gen/suites.h

$(BUILD)/check_moesim: $(TEST_OBJS) $(BUILD)/libmoesim.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

check: depcheck $(BIN) $(BUILD)/check_moesim
	MOESIM_BIN=./$(BIN) MOESIM_SRC=. $(BUILD)/check_moesim
	MOESIM_BIN=./$(BIN) MOESIM_SRC=. sh tests/cli_test.sh
	MOESIM_BIN=./$(BIN) sh tests/ref_test.sh
	$(MAKE) --no-print-directory calibrate-selftest
	$(MAKE) --no-print-directory net-simgrid-check
	@if /usr/bin/python3 -c 'import torch, h5py, pytest' 2>/dev/null; then MOESIM_BIN=./$(BIN) sh tools/run_tests.sh; \
	else echo "check: skipping the Python recorder tests (install: $(PY_PACKAGES))"; fi

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDLIBS="-fsanitize=address,undefined" build/asan/check_moesim build/asan/moesim-asan
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1 MOESIM_BIN=build/asan/moesim-asan MOESIM_SRC=. build/asan/check_moesim
	MOESIM_BIN=build/asan/moesim-asan MOESIM_SRC=. sh tests/cli_test.sh

$(BUILD)/moesim-asan: $(BUILD)/cli/main.o $(BUILD)/libmoesim.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

VALGRIND := valgrind --error-exitcode=3 -q --leak-check=full --errors-for-leak-kinds=definite

# The command-line tests run the binary through a wrapper that puts it under valgrind:
# a memory error or a definite leak exits 3, which no test expects, so it fails the test.
valgrind: $(BIN) $(BUILD)/check_moesim
	CK_FORK=no MOESIM_BIN=./$(BIN) MOESIM_SRC=. $(VALGRIND) $(BUILD)/check_moesim
	@{ echo '#!/bin/sh'; echo 'exec $(VALGRIND) "$(abspath $(BIN))" "$$@"'; } > $(BUILD)/moesim-valgrind.tmp && \
		chmod +x $(BUILD)/moesim-valgrind.tmp && mv $(BUILD)/moesim-valgrind.tmp $(BUILD)/moesim-valgrind
	MOESIM_BIN=$(BUILD)/moesim-valgrind MOESIM_SRC=. sh tests/cli_test.sh

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmoesim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -O3 -o $@ $^ $(LDLIBS_ALL)

bench: depcheck $(BIN) $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
	@echo "== bench/analytic_vs_flow.sh"; sh bench/analytic_vs_flow.sh ./$(BIN)
	$(MAKE) --no-print-directory net-simgrid-bench

-include calibrate/calibrate.mk
-include network/network.mk

# Installed layout: the lead's run-time lookup finds the data from the binary's own
# directory, <exe dir>/../share/moesim.
SHARE := $(DESTDIR)$(PREFIX)/share/moesim
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/scenarios/traces $(SHARE)/scenarios/topologies $(SHARE)/tools/tiny_moe
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/moesim
	install -m 644 scenarios/*.cfg $(SHARE)/scenarios/
	install -m 644 scenarios/traces/* $(SHARE)/scenarios/traces/
	install -m 644 scenarios/topologies/* $(SHARE)/scenarios/topologies/
	install -m 755 tools/moesim_record.py $(SHARE)/tools/
	install -m 644 tools/tiny_moe/*.py tools/tiny_moe/README.md tools/tiny_moe/corpus_manifest.json \
		tools/tiny_moe/tiny_moe.pt $(SHARE)/tools/tiny_moe/

# Removes this build (BUILD and BIN as given; by default build/ and ./moesim).
clean:
	rm -rf -- "$(BUILD)" "$(BIN)"

# Only this build's dependency files: other builds live under build/ too (build/asan/).
-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BUILD)/cli/main.d

docs: $(BIN)
	sh tools/gen_scenario_reference.sh ./$(BIN)
