# network/network.mk - the SimGrid cross-check and benchmark of the flow-level network
# (docs/network.md). Included by the Makefile (-include network/network.mk).
#
#   make net-simgrid-check   every flow of moesim's model within 1 % of SimGrid's max-min
#   make net-simgrid-bench   the 128-GPU skewed all-to-all: moesim vs SimGrid wall time
#                            (BENCH_FULL=1: 256 GPUs too, where SimGrid takes over 10 minutes)
#
# Both need Debian's libsimgrid-dev (SimGrid 3.32, C++); without it they print why they
# are skipped and succeed, so `make check` still passes on a machine without SimGrid.

NET_SIMGRID_OK := $(shell pkg-config --exists simgrid 2>/dev/null && echo yes)
NET_SIMGRID_CFLAGS := $(shell pkg-config --cflags simgrid 2>/dev/null)
NET_SIMGRID_LIBS := $(shell pkg-config --libs simgrid 2>/dev/null)
NET_CXX ?= g++
NET_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -I. -I$(BUILD) $(PKG_CFLAGS) $(NET_SIMGRID_CFLAGS)
NET_SIMGRID_CHECK := $(BUILD)/tests/simgrid_check
NET_SIMGRID_BENCH := $(BUILD)/bench/simgrid_network
NET_SIMGRID_SKIP := echo "moesim: SimGrid cross-check skipped: libsimgrid-dev is not installed (apt-get install libsimgrid-dev)"

.PHONY: net-simgrid-check net-simgrid-bench

$(NET_SIMGRID_CHECK): tests/simgrid_check.cpp tests/simgrid_common.hpp $(BUILD)/libmoesim.a
	@mkdir -p $(dir $@)
	$(NET_CXX) $(NET_CXXFLAGS) -o $@ $< $(BUILD)/libmoesim.a $(NET_SIMGRID_LIBS) $(LDLIBS_ALL)

$(NET_SIMGRID_BENCH): bench/simgrid_network.cpp tests/simgrid_common.hpp $(BUILD)/libmoesim.a
	@mkdir -p $(dir $@)
	$(NET_CXX) $(NET_CXXFLAGS) -O3 -o $@ $< $(BUILD)/libmoesim.a $(NET_SIMGRID_LIBS) $(LDLIBS_ALL)

ifeq ($(NET_SIMGRID_OK),yes)
net-simgrid-check: $(NET_SIMGRID_CHECK)
	MOESIM_SRC=. $(NET_SIMGRID_CHECK) --log=root.thresh:warning
net-simgrid-bench: $(NET_SIMGRID_BENCH)
	for n in 128 $(if $(BENCH_FULL),256); do $(NET_SIMGRID_BENCH) $$n --log=root.thresh:warning || exit 1; done
else
net-simgrid-check:
	@$(NET_SIMGRID_SKIP)
net-simgrid-bench:
	@$(NET_SIMGRID_SKIP)
endif
