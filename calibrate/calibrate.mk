# calibrate/calibrate.mk - builds the CUDA calibration programs (docs/calibrate.md).
#
# Included by the top-level Makefile, or used on its own:
#     make -f calibrate/calibrate.mk calibrate
#
# Targets (both phony; neither is added to the default goal):
#   calibrate           build/calibrate/cal_gemm, cal_copy, cal_alltoall (if NCCL is
#                       found) and cal_alltoall_mpi (if mpicc is found). Without nvcc it
#                       prints why and succeeds, so `make calibrate` never fails on a
#                       machine without CUDA.
#   calibrate-selftest  builds and runs the host-side self-test (no CUDA needed: it
#                       checks the profile writer, statistics and parsers, and reads every
#                       shipped profile in calibrate/profiles/ back with libconfig); the
#                       top-level `make check` runs it.
#
# Every variable is prefixed CAL_ (NVCC excepted, the conventional name), so the
# fragment does not collide with the including Makefile. Overrides, on the command
# line or in config.mak:
#   NVCC=/path/to/nvcc      (NVCC= pretends there is none)
#   CAL_CUDA_HOME           CUDA toolkit root (default: from nvcc's location)
#   CAL_NCCL_HOME           NCCL root with include/ and lib/ (else searched: the CUDA
#                           toolkit, /usr/include + /usr/lib/x86_64-linux-gnu, /usr/local)
#   CAL_NCCL_INC, CAL_NCCL_LIBDIR, CAL_NCCL_LIB   the same, finer grained
#   CAL_MPICC=/path/to/mpicc  (CAL_MPICC= skips the MPI variant)
#   CAL_ARCH                nvcc -gencode flags (default: sm_80 and sm_90 code + sm_90 PTX)
#   CAL_BUILD               output directory (default build/calibrate)
#   WERROR=1                warnings are errors, as in the top-level Makefile

CAL_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

ifeq ($(origin NVCC),undefined)
NVCC := $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
endif
CAL_CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/,%,$(dir $(realpath $(or $(shell command -v $(NVCC) 2>/dev/null),$(NVCC))))),/usr/local/cuda)
CAL_CUDA_INC ?= $(CAL_CUDA_HOME)/include
CAL_CUDA_LIBDIR ?= $(firstword $(wildcard $(CAL_CUDA_HOME)/lib64 $(CAL_CUDA_HOME)/lib) $(CAL_CUDA_HOME)/lib64)

CAL_NCCL_HOME ?=
CAL_NCCL_INC ?= $(patsubst %/nccl.h,%,$(firstword $(wildcard \
	$(if $(CAL_NCCL_HOME),$(CAL_NCCL_HOME)/include/nccl.h) \
	$(CAL_CUDA_INC)/nccl.h /usr/include/nccl.h /usr/local/include/nccl.h)))
CAL_NCCL_LIBDIR ?= $(patsubst %/,%,$(dir $(firstword $(wildcard \
	$(if $(CAL_NCCL_HOME),$(CAL_NCCL_HOME)/lib/libnccl.so* $(CAL_NCCL_HOME)/lib64/libnccl.so*) \
	$(CAL_CUDA_LIBDIR)/libnccl.so* /usr/lib/x86_64-linux-gnu/libnccl.so* \
	/usr/lib64/libnccl.so* /usr/local/lib/libnccl.so*))))
# A pip wheel (nvidia-nccl-cu13) ships only libnccl.so.2, without the -lnccl symlink.
CAL_NCCL_LIB ?= $(if $(wildcard $(CAL_NCCL_LIBDIR)/libnccl.so),-lnccl,-l:libnccl.so.2)

ifeq ($(origin CAL_MPICC),undefined)
CAL_MPICC := $(shell command -v mpicc 2>/dev/null)
endif

CAL_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90
CAL_BUILD ?= build/calibrate
CAL_OBJ := $(CAL_BUILD)/obj

CAL_WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef -Wvla \
	-Wold-style-definition -Wimplicit-fallthrough
CAL_NVCC_WARN := -Xcompiler -Wall,-Wextra,-Wshadow
ifeq ($(WERROR),1)
CAL_WARN += -Werror
CAL_NVCC_WARN += -Werror all-warnings
endif
CAL_CC ?= $(or $(CC),cc)
CAL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -g $(CAL_WARN) -I.
CAL_CUDA_CFLAGS = $(CAL_CFLAGS) -isystem $(CAL_CUDA_INC)
CAL_NVCCFLAGS = -std=c++17 -O2 -g -lineinfo $(CAL_ARCH) $(CAL_NVCC_WARN) -I.
CAL_RPATH = -Xlinker -rpath -Xlinker $(CAL_CUDA_LIBDIR)

# The plumbing the programs share with moesim (common/: errors, atomic outputs, the
# libconfig writer, SplitMix64), compiled here with CAL_CC and the fragment's flags.
CAL_SHARED_OBJS := $(CAL_OBJ)/ms_error.o $(CAL_OBJ)/ms_file.o $(CAL_OBJ)/ms_cfgwrite.o $(CAL_OBJ)/ms_rng.o
CAL_COMMON_OBJS := $(CAL_OBJ)/cal_util.o $(CAL_OBJ)/cal_profile.o $(CAL_SHARED_OBJS)
CAL_DEVICE_OBJS := $(CAL_COMMON_OBJS) $(CAL_OBJ)/cal_device.o

CAL_PROGRAMS := $(CAL_BUILD)/cal_gemm $(CAL_BUILD)/cal_copy
ifneq ($(and $(CAL_NCCL_INC),$(CAL_NCCL_LIBDIR)),)
CAL_PROGRAMS += $(CAL_BUILD)/cal_alltoall
CAL_HAVE_NCCL := 1
ifneq ($(CAL_MPICC),)
CAL_PROGRAMS += $(CAL_BUILD)/cal_alltoall_mpi
endif
endif

.PHONY: calibrate calibrate-selftest

ifeq ($(strip $(NVCC)),)
calibrate:
	@echo "calibrate: nvcc not found (not on PATH, no /usr/local/cuda/bin/nvcc); the CUDA calibration programs are not built. Install the CUDA toolkit or run 'make calibrate NVCC=/path/to/nvcc'."
else
calibrate: $(CAL_PROGRAMS)
	@echo "calibrate: built $(CAL_PROGRAMS)"
	$(if $(CAL_HAVE_NCCL),,@echo "calibrate: nccl.h/libnccl not found (searched $(CAL_CUDA_INC), /usr/include, /usr/local/include); cal_alltoall and cal_alltoall_mpi not built. Set CAL_NCCL_HOME=<dir with include/nccl.h and lib/libnccl.so*>.")
	$(if $(CAL_HAVE_NCCL),$(if $(CAL_MPICC),,@echo "calibrate: mpicc not found; cal_alltoall_mpi (multi-node all-to-all) not built. Install an MPI (e.g. apt-get install libopenmpi-dev) to build it."))
endif

$(CAL_OBJ)/cal_util.o $(CAL_OBJ)/cal_profile.o $(CAL_OBJ)/cal_selftest.o: $(CAL_OBJ)/%.o: calibrate/%.c
	@mkdir -p $(dir $@)
	$(CAL_CC) $(CAL_CFLAGS) -MMD -MP -c -o $@ $<

$(CAL_SHARED_OBJS): $(CAL_OBJ)/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CAL_CC) $(CAL_CFLAGS) -MMD -MP -c -o $@ $<

$(CAL_OBJ)/cal_device.o: $(CAL_OBJ)/%.o: calibrate/%.c
	@mkdir -p $(dir $@)
	$(CAL_CC) $(CAL_CUDA_CFLAGS) -MMD -MP -c -o $@ $<

$(CAL_OBJ)/cal_alltoall.o: calibrate/cal_alltoall.c
	@mkdir -p $(dir $@)
	$(CAL_CC) $(CAL_CUDA_CFLAGS) -isystem $(CAL_NCCL_INC) -MMD -MP -c -o $@ $<

$(CAL_OBJ)/cal_alltoall_mpi.o: calibrate/cal_alltoall.c
	@mkdir -p $(dir $@)
	$(CAL_MPICC) $(CAL_CUDA_CFLAGS) -isystem $(CAL_NCCL_INC) -DCAL_WITH_MPI -MMD -MP -c -o $@ $<

$(CAL_OBJ)/cal_gemm.o $(CAL_OBJ)/cal_copy.o: $(CAL_OBJ)/%.o: calibrate/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CAL_NVCCFLAGS) -MMD -MP -c -o $@ $<

$(CAL_BUILD)/cal_gemm: $(CAL_OBJ)/cal_gemm.o $(CAL_DEVICE_OBJS)
	$(NVCC) $(CAL_ARCH) -o $@ $^ -L$(CAL_CUDA_LIBDIR) $(CAL_RPATH) -lcublasLt -lcublas

$(CAL_BUILD)/cal_copy: $(CAL_OBJ)/cal_copy.o $(CAL_DEVICE_OBJS)
	$(NVCC) $(CAL_ARCH) -o $@ $^ -L$(CAL_CUDA_LIBDIR) $(CAL_RPATH)

$(CAL_BUILD)/cal_alltoall: $(CAL_OBJ)/cal_alltoall.o $(CAL_DEVICE_OBJS)
	$(NVCC) -o $@ $^ -L$(CAL_NCCL_LIBDIR) -Xlinker -rpath -Xlinker $(CAL_NCCL_LIBDIR) \
		$(CAL_RPATH) $(CAL_NCCL_LIB)

$(CAL_BUILD)/cal_alltoall_mpi: $(CAL_OBJ)/cal_alltoall_mpi.o $(CAL_DEVICE_OBJS)
	$(CAL_MPICC) -o $@ $^ -L$(CAL_NCCL_LIBDIR) -Wl,-rpath,$(CAL_NCCL_LIBDIR) \
		-L$(CAL_CUDA_LIBDIR) -Wl,-rpath,$(CAL_CUDA_LIBDIR) $(CAL_NCCL_LIB) -lcudart -lm

CAL_LIBCONFIG_CFLAGS = $(shell pkg-config --cflags libconfig 2>/dev/null)
CAL_LIBCONFIG_LIBS = $(or $(shell pkg-config --libs libconfig 2>/dev/null),-lconfig)

$(CAL_BUILD)/cal_selftest: $(CAL_OBJ)/cal_selftest.o $(CAL_COMMON_OBJS)
	$(CAL_CC) -o $@ $^ $(CAL_LIBCONFIG_LIBS) -lm

$(CAL_OBJ)/cal_selftest.o: CAL_CFLAGS += $(CAL_LIBCONFIG_CFLAGS)

calibrate-selftest: $(CAL_BUILD)/cal_selftest
	$(CAL_BUILD)/cal_selftest calibrate/profiles

-include $(wildcard $(CAL_OBJ)/*.d)

# A fragment must not choose the including Makefile's default goal; used alone
# (make -f calibrate/calibrate.mk), its default is `calibrate`.
ifeq ($(firstword $(MAKEFILE_LIST)),calibrate/calibrate.mk)
.DEFAULT_GOAL := calibrate
else
.DEFAULT_GOAL := $(CAL_SAVED_DEFAULT_GOAL)
endif
