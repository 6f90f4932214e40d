# moesim - one non-recursive Makefile (musl's shape): sources found by wildcard,
# objects in build/, -MMD -MP dependencies, local overrides from config.mak.
#
#   make            build ./moesim
#   make check      build and run every Check suite (tests/check_*.c)
#   make asan       the same suites under AddressSanitizer + UBSan
#   make valgrind   the same suites and command-line tests under valgrind
#   make install    the binary, the shipped scenarios and the recorder under PREFIX
#                   (default /usr/local; DESTDIR=dir stages into dir/PREFIX)
#   make fuzz       build the libFuzzer harnesses (tests/fuzz/, clang) and run each for
#                   FUZZ_SECONDS (default 60; FUZZ_ONLY="a b" for some); docs/robustness.md
#   make bench      build and run the benchmarks in bench/ (BENCH_FULL=1: the long ones too)
#   make calibrate  build the CUDA calibration programs (only where nvcc exists)
#   make deps       install the Debian packages moesim needs (as root)
#   WERROR=1        turn warnings into errors (CI does)
#   BUILD=dir BIN=path  build elsewhere (e.g. BUILD=build/x BIN=build/x/moesim); make clean
#                       with the same BUILD and BIN removes that build only

CC ?= cc
PKGS := gsl libconfig hdf5 zlib
DEBIAN_PACKAGES := build-essential pkg-config libgsl-dev libconfig-dev libhdf5-dev zlib1g-dev check libsimgrid-dev hdf5-tools strace \
	valgrind clang libclang-rt-dev libopenmpi-dev openmpi-bin
# The Python recorder (tools/) and its tests; moesim plot and the analysis example
# (tools/moesim_plot.py, tools/moesim_straggler.py):
PY_PACKAGES := python3-torch python3-h5py python3-numpy python3-pytest python3-matplotlib python3-pandas

MODULES := common scenario hardware models topology parallel routing network trace profile sim output sweep cli
BUILD := build
BIN := moesim
PREFIX := /usr/local
DESTDIR :=

-include config.mak

# MPI (moesim sweep under mpirun, sweep/sw_mpi.h): built where Open MPI's pkg-config file
# is (Debian's libopenmpi-dev); MPI=0 builds without it. Only sweep/sw_mpi.c sees mpi.h.
MPI ?= $(shell pkg-config --exists ompi 2>/dev/null && echo 1)
ifeq ($(MPI),1)
MPI_CFLAGS := -DMS_HAVE_MPI $(shell pkg-config --cflags ompi)
MPI_LIBS := $(shell pkg-config --libs ompi)
endif

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
LDLIBS_ALL := $(PKG_LIBS) $(MPI_LIBS) -lm $(LDLIBS)

LIB_SRCS := $(filter-out cli/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
GEN_SRCS := $(BUILD)/gen/scn_default_text.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:$(BUILD)/%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check asan valgrind bench deps clean calibrate depcheck docs install fuzz fuzz-build fuzz-regress
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

$(BUILD)/sweep/sw_mpi.o: CFLAGS_ALL += $(MPI_CFLAGS)

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
	$(MAKE) --no-print-directory fuzz-regress
	$(MAKE) --no-print-directory calibrate-selftest
	$(MAKE) --no-print-directory net-simgrid-check
	@if /usr/bin/python3 -c 'import torch, h5py, pytest' 2>/dev/null; then MOESIM_BIN=./$(BIN) sh tools/run_tests.sh; \
	elif /usr/bin/python3 -c 'import h5py, pytest' 2>/dev/null; then \
		echo "check: skipping the Python recorder tests (install: $(PY_PACKAGES)); running the run-output tests"; \
		MOESIM_BIN=./$(BIN) /usr/bin/python3 -m pytest -q -p no:cacheprovider tools/tests/test_run_outputs.py; \
	else echo "check: skipping the Python recorder and run-output tests (install: $(PY_PACKAGES))"; fi

# Leaks inside libraries we do not own, each with its upstream bug (tests/lsan.supp,
# tests/valgrind.supp).
LSAN_ENV := LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDLIBS="-fsanitize=address,undefined" build/asan/check_moesim build/asan/moesim-asan
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1 $(LSAN_ENV) MOESIM_BIN=build/asan/moesim-asan MOESIM_SRC=. build/asan/check_moesim
	$(LSAN_ENV) MOESIM_CHECKER=asan MOESIM_BIN=build/asan/moesim-asan MOESIM_SRC=. sh tests/cli_test.sh
	@# the fuzzers' crashers and seeds under the sanitizers, where an over-read shows
	$(LSAN_ENV) $(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDLIBS="-fsanitize=address,undefined" fuzz-regress

$(BUILD)/moesim-asan: $(BUILD)/cli/main.o $(BUILD)/libmoesim.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

VALGRIND := valgrind --error-exitcode=3 -q --leak-check=full --errors-for-leak-kinds=definite \
	--suppressions=$(abspath tests/valgrind.supp)

# The command-line tests run the binary through a wrapper that puts it under valgrind:
# a memory error or a definite leak exits 3, which no test expects, so it fails the test.
valgrind: $(BIN) $(BUILD)/check_moesim
	CK_FORK=no MOESIM_BIN=./$(BIN) MOESIM_SRC=. $(VALGRIND) $(BUILD)/check_moesim
	@{ echo '#!/bin/sh'; echo 'exec $(VALGRIND) "$(abspath $(BIN))" "$$@"'; } > $(BUILD)/moesim-valgrind.tmp && \
		chmod +x $(BUILD)/moesim-valgrind.tmp && mv $(BUILD)/moesim-valgrind.tmp $(BUILD)/moesim-valgrind
	MOESIM_CHECKER=valgrind MOESIM_BIN=$(BUILD)/moesim-valgrind MOESIM_SRC=. sh tests/cli_test.sh

# Fuzzing (tests/fuzz/, docs/robustness.md). Each harness tests/fuzz/fuzz_<name>.c builds
# twice: with clang and libFuzzer (make fuzz; the library's sources compiled by clang into
# build/fuzz with the same sanitizers) and with $(CC) and tests/fuzz/regress_main.c
# (make check), which feeds it every crasher kept in tests/fuzz/regress/<name>/ and its
# seeds, so what fuzzing found stays fixed.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ONLY ?= $(FUZZ_HARNESSES)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_HDRS := $(wildcard tests/fuzz/*.h)
# Seed inputs per harness, taken from the tree (no copies): scenarios, the small traces,
# importer samples, profiles, nccl-tests logs; tests/fuzz/seeds/<name>/ holds the few
# written for fuzzing only.
T_ := tests/data/traces
FUZZ_SEEDS_scenario_text := scenarios/*.cfg tests/fuzz/seeds/scenario_text/*
FUZZ_SEEDS_scenario_set := tests/fuzz/seeds/scenario_set/*
FUZZ_SEEDS_trace_h5 := $(T_)/good/*.h5 $(T_)/bad/score-nan.h5 $(T_)/bad/rank-negative.h5 $(T_)/bad/order-step-back.h5 \
	$(T_)/bad/truncated.h5 $(T_)/bad/id-duplicate.h5 $(T_)/bad/scores-vs-logits.h5
FUZZ_SEEDS_import_jsonl := $(T_)/sample.jsonl
FUZZ_SEEDS_import_vllm_npy := $(T_)/vllm-seq0.npy
FUZZ_SEEDS_import_vllm_json := $(T_)/vllm-response.json
FUZZ_SEEDS_import_megatron := $(T_)/megatron/*.jsonl tests/fuzz/seeds/import_megatron/*
FUZZ_SEEDS_profile := tests/data/profiles/h100-synthetic/*.cfg
FUZZ_SEEDS_nccl := tests/data/nccl-tests/*.txt tests/data/nccl-tests/*.json
FUZZ_SEEDS_sweep_spec := scenarios/sweep-*.cfg bench/sweep-1000.cfg

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: needs clang with libFuzzer ('make deps' installs clang)" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" build/fuzz/libmoesim.a
	@for h in $(FUZZ_ONLY); do \
		if [ ! build/fuzz/fuzz_$$h -nt tests/fuzz/fuzz_$$h.c ] || [ ! build/fuzz/fuzz_$$h -nt build/fuzz/libmoesim.a ]; then \
			echo "$(FUZZ_CC) -o build/fuzz/fuzz_$$h"; \
			$(FUZZ_CC) -pthread -std=c11 -D_ISOC11_SOURCE -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) \
				-I. -Ibuild/fuzz $(PKG_CFLAGS) -o build/fuzz/fuzz_$$h tests/fuzz/fuzz_$$h.c build/fuzz/libmoesim.a $(LDLIBS_ALL) || exit 1; \
		fi; \
	done

# Each harness: the seeds copied into build/fuzz/corpus/<name> (which keeps what earlier
# runs found), its dictionary, FUZZ_SECONDS of fuzzing under nice, one at a time; the
# last status line (executions, cov, ft) into build/fuzz/<name>.log; crashers into
# build/fuzz/crash/<name>/ (to be fixed, then kept in tests/fuzz/regress/<name>/).
fuzz: fuzz-build
	@for h in $(FUZZ_ONLY); do \
		mkdir -p build/fuzz/corpus/$$h build/fuzz/crash/$$h; \
		case $$h in \
		scenario_text) s="$(FUZZ_SEEDS_scenario_text)";; scenario_set) s="$(FUZZ_SEEDS_scenario_set)";; \
		trace_h5) s="$(FUZZ_SEEDS_trace_h5)";; import_jsonl) s="$(FUZZ_SEEDS_import_jsonl)";; \
		import_vllm_npy) s="$(FUZZ_SEEDS_import_vllm_npy)";; import_vllm_json) s="$(FUZZ_SEEDS_import_vllm_json)";; \
		import_megatron) s="$(FUZZ_SEEDS_import_megatron)";; profile) s="$(FUZZ_SEEDS_profile)";; \
		nccl) s="$(FUZZ_SEEDS_nccl)";; sweep_spec) s="$(FUZZ_SEEDS_sweep_spec)";; *) s="";; esac; \
		for f in $$s; do [ -f "$$f" ] && cp "$$f" build/fuzz/corpus/$$h/seed-$$(echo "$$f" | tr / _); done; \
		d=""; [ -f tests/fuzz/$$h.dict ] && d="-dict=tests/fuzz/$$h.dict"; \
		echo "== fuzz $$h: $(FUZZ_SECONDS) s"; \
		$(LSAN_ENV) nice -n 19 build/fuzz/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=4096 \
			-max_len=65536 $$d -artifact_prefix=build/fuzz/crash/$$h/ build/fuzz/corpus/$$h >build/fuzz/$$h.log 2>&1; \
		rc=$$?; grep -E "^#[0-9]+" build/fuzz/$$h.log | tail -1; \
		if [ $$rc -ne 0 ]; then echo "fuzz $$h: FAILED (exit $$rc), see build/fuzz/$$h.log and build/fuzz/crash/$$h/" >&2; exit 1; fi; \
	done

FUZZ_REGRESS_BINS := $(FUZZ_HARNESSES:%=$(BUILD)/fuzz-regress/%)
$(BUILD)/fuzz-regress/%: tests/fuzz/fuzz_%.c tests/fuzz/regress_main.c $(FUZZ_HDRS) $(BUILD)/libmoesim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -D_DEFAULT_SOURCE -Wno-missing-prototypes -o $@ $< tests/fuzz/regress_main.c $(BUILD)/libmoesim.a $(LDLIBS_ALL)

# The crashers (tests/fuzz/regress/<name>/) and the seeds, through each harness once.
fuzz-regress: $(FUZZ_REGRESS_BINS)
	@for h in $(FUZZ_HARNESSES); do \
		case $$h in \
		scenario_text) s="$(FUZZ_SEEDS_scenario_text)";; scenario_set) s="$(FUZZ_SEEDS_scenario_set)";; \
		trace_h5) s="$(FUZZ_SEEDS_trace_h5)";; import_jsonl) s="$(FUZZ_SEEDS_import_jsonl)";; \
		import_vllm_npy) s="$(FUZZ_SEEDS_import_vllm_npy)";; import_vllm_json) s="$(FUZZ_SEEDS_import_vllm_json)";; \
		import_megatron) s="$(FUZZ_SEEDS_import_megatron)";; profile) s="$(FUZZ_SEEDS_profile)";; \
		nccl) s="$(FUZZ_SEEDS_nccl)";; sweep_spec) s="$(FUZZ_SEEDS_sweep_spec)";; *) s="";; esac; \
		r=""; [ -d tests/fuzz/regress/$$h ] && r=tests/fuzz/regress/$$h; \
		$(BUILD)/fuzz-regress/$$h $$r $$s || { echo "fuzz-regress: $$h failed" >&2; exit 1; }; \
	done

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmoesim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -O3 -o $@ $^ $(LDLIBS_ALL)

# BENCH_FULL=1 adds the runs of issue 13 that take many minutes to hours (bench_network
# and bench_scale --full: exact 1,024 GPUs, 8,192 GPUs, the 256-GPU low-latency dispatch
# exact, the whole flow-level DeepSeek-V3 step); docs/benchmarks.md, "Scale (issue 13)".
bench: depcheck $(BIN) $(BENCH_BINS)
	@for b in $(BENCH_BINS); do a=; case $$b in */bench_network|*/bench_scale) a="$(if $(BENCH_FULL),--full)";; esac; \
		echo "== $$b $$a"; $$b $$a || exit 1; done
	@echo "== bench/analytic_vs_flow.sh"; sh bench/analytic_vs_flow.sh ./$(BIN)
	@echo "== bench/sweep_1000.sh"; sh bench/sweep_1000.sh ./$(BIN)
	@echo "== bench/scenarios.sh"; sh bench/scenarios.sh ./$(BIN)
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
	install -m 755 tools/moesim_record.py tools/moesim_plot.py tools/moesim_straggler.py $(SHARE)/tools/
	install -m 644 tools/tiny_moe/*.py tools/tiny_moe/README.md tools/tiny_moe/corpus_manifest.json \
		tools/tiny_moe/tiny_moe.pt $(SHARE)/tools/tiny_moe/

# Removes this build (BUILD and BIN as given; by default build/ and ./moesim).
clean:
	rm -rf -- "$(BUILD)" "$(BIN)"

# Only this build's dependency files: other builds live under build/ too (build/asan/).
-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BUILD)/cli/main.d

docs: $(BIN)
	sh tools/gen_scenario_reference.sh ./$(BIN)
