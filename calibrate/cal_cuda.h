/*
 * cal_cuda.h - CUDA-side helpers shared by the calibration programs: the error
 * checking macros, the "is there a GPU at all" gate, the device description and the
 * provenance block every measured profile carries.
 *
 * Every CUDA runtime, cuBLAS and NCCL call in calibrate/ goes through one of the
 * CAL_*_CHECK macros: on failure it prints "<program>: <file>:<line>: <the call>
 * failed: <error name>: <error string>" and exits with CAL_EXIT_FAIL (see
 * cal_util.h); nothing continues after a failed call with undefined results. The
 * macros only expand the library names at their use, so a file that uses
 * CAL_CUBLAS_CHECK must include cublas_v2.h itself, and likewise nccl.h.
 *
 * cal_device.c (the implementation) is plain C11 against the CUDA runtime's C API.
 */
#ifndef CAL_CUDA_H
#define CAL_CUDA_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#include "calibrate/cal_profile.h"
#include "calibrate/cal_util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAL_CUDA_CHECK(call)                                                             \
	do {                                                                             \
		cudaError_t cal_e_ = (call);                                             \
		if (cal_e_ != cudaSuccess)                                               \
			cal_die_call(__FILE__, __LINE__, #call, cudaGetErrorName(cal_e_), \
				     cudaGetErrorString(cal_e_));                        \
	} while (0)

/* Checks the last kernel launch (launches return no status of their own). */
#define CAL_CUDA_CHECK_LAUNCH() CAL_CUDA_CHECK(cudaGetLastError())

#define CAL_CUBLAS_CHECK(call)                                                             \
	do {                                                                               \
		cublasStatus_t cal_s_ = (call);                                            \
		if (cal_s_ != CUBLAS_STATUS_SUCCESS)                                       \
			cal_die_call(__FILE__, __LINE__, #call, cublasGetStatusName(cal_s_), \
				     cublasGetStatusString(cal_s_));                       \
	} while (0)

/* NCCL's own name for a result code is not exported; the string is enough. */
#define CAL_NCCL_CHECK(call)                                                               \
	do {                                                                               \
		ncclResult_t cal_r_ = (call);                                              \
		if (cal_r_ != ncclSuccess)                                                 \
			cal_die_call(__FILE__, __LINE__, #call, "ncclResult",               \
				     ncclGetErrorString(cal_r_));                          \
	} while (0)

/* What we record about one GPU. Clocks come from cudaDeviceGetAttribute (the
 * cudaDeviceProp fields were removed in CUDA 13); they are the maximum (boost)
 * clocks the driver reports, not the clocks during the run. */
typedef struct cal_device_info {
	int device;
	char name[256];
	int cc_major, cc_minor;
	int sm_count;
	size_t total_mem_bytes;
	int l2_bytes;
	int sm_clock_kHz;
	int mem_clock_kHz;
	int mem_bus_bits;
	int ecc;
	char pci_bus_id[32];
	char uuid[48];
	int cuda_driver_api; /* cudaDriverGetVersion: 13000 means CUDA 13.0 */
	int cuda_runtime;    /* cudaRuntimeGetVersion */
	char driver_version[64]; /* kernel driver, e.g. "580.95.05"; "" if unknown */
} cal_device_info;

/* Library versions that a program knows (NULL or "" when it does not use the
 * library); written into provenance{}. */
typedef struct cal_versions {
	const char *cublas;
	const char *cublaslt;
	const char *nccl;
} cal_versions;

/*
 * Returns the number of CUDA devices, or exits with CAL_EXIT_NODEV and the one-line
 * message "<program>: no CUDA device found (cudaGetDeviceCount: <error>)" when there
 * is none (no GPU, no driver, or a driver too old for this runtime). If want >= 0
 * and there is no device number want, exits with CAL_EXIT_USAGE.
 */
int cal_device_require(int want);

/* Fills *info for device dev. */
void cal_device_query(int dev, cal_device_info *info);

/* Theoretical DRAM bandwidth in GB/s (1e9 B/s): 2 transfers per memory clock (DDR)
 * times the bus width. For HBM3 on the H100 SXM5, 2 x 2619 MHz x 5120 bit / 8
 * = 3352 GB/s, the datasheet's 3.35 TB/s. */
double cal_device_dram_GBps(const cal_device_info *info);

/* "NVIDIA H100 80GB HBM3 measured 2025-01-31" style default profile name. */
void cal_device_default_name(const cal_device_info *info, const char *what, char *buf,
			     size_t len);

/*
 * Writes the common head of a measured profile: name, source = "measured",
 * provenance{} and gpu{} (docs/profile-format.md). Leaves the writer at the top level
 * of profile{}, which the caller must have opened.
 */
void cal_device_write_head(ms_cfgw *w, const char *name, const cal_device_info *info,
			   const cal_versions *v, const char *command, const char *program);

/*
 * What a program does once its options are parsed, before measuring anything: checks
 * that there is a CUDA device (cal_device_require; the count goes to *ndev unless NULL)
 * and, if check_out, that the profile may be written (cal_profile_check_target), so a
 * run of minutes does not end in a refusal. Returns the command line for the
 * provenance (cal_join_argv; free it). Dies on failure.
 */
char *cal_program_begin(const cal_common_opts *c, int check_out, int argc, char **argv, int *ndev);

/*
 * Opens the output profile (c->out, refusing to overwrite without c->force; dies with
 * the message on failure) and writes the comment line, opens profile{} and writes its
 * head (name: c->name, else the device's default). The three programs start so.
 */
cal_profile *cal_profile_start(const cal_common_opts *c, const cal_device_info *info, const cal_versions *v,
			       const char *command, const char *program);

/*
 * Closes profile{} (noting a time budget that cut the run short), commits the file
 * under its final name (dies on failure) and says where it went.
 */
void cal_profile_finish(cal_profile *p, const cal_common_opts *c, int budget_hit);

/*
 * What a single-GPU program times its work with: one non-blocking stream, the buffer
 * overwritten before each timed repetition so it starts from a cold L2 (twice the L2,
 * so the work reads its inputs from HBM as it would after the previous layer ran), and
 * a pair of events and a sample per repetition.
 */
typedef struct cal_timer {
	cudaStream_t stream;
	void *flush;          /* NULL with --no-l2-flush */
	size_t flush_bytes;
	int repeats, warmup;  /* --repeats, --warmup */
	cudaEvent_t *ev_start, *ev_stop; /* [repeats] */
	double *samples;      /* [repeats] microseconds */
} cal_timer;

/* Sets up t on the current device (dies on failure); cal_timer_fini releases it. */
void cal_timer_init(cal_timer *t, const cal_common_opts *c, const cal_device_info *info);
void cal_timer_fini(cal_timer *t);

/*
 * Times run(arg), which enqueues the work on t->stream: warmup - warmed_up untimed
 * runs, then t->repeats runs, each after the L2 flush and between two events. Fills
 * *st with microseconds.
 */
void cal_timer_measure(cal_timer *t, void (*run)(void *arg), void *arg, int warmed_up, cal_stats *st);

/* Prints a two-line human-readable description of the device and versions. */
void cal_device_print(const cal_device_info *info, const cal_versions *v);

/* Splits a version code major*10000 + minor*100 + patch (cuBLAS, NCCL >= 2.9) or
 * major*1000 + minor*10 (CUDA) into "13.1.0" / "13.0". */
void cal_version_string_mmp(long code, char *buf, size_t len);
void cal_version_string_cuda(int code, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
