/*
 * cal_device.c - the GPU gate, device description and provenance writer shared by
 * the calibration programs (see cal_cuda.h).
 *
 * The single-GPU timer (cal_timer) lives here too: cal_gemm and cal_copy time their
 * work the same way.
 *
 * cal_device_require() is the first CUDA call every program makes after parsing its
 * command line, so a machine without a GPU or driver gets one clear line and exit
 * status 2 rather than a failure deep inside a library.
 */
#include "calibrate/cal_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cal_device_require(int want)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess) {
		const char *hint = "";

		if (e == cudaErrorInsufficientDriver)
			hint = "; install an NVIDIA driver that supports this CUDA runtime";
		cal_die(CAL_EXIT_NODEV, "no CUDA device found (cudaGetDeviceCount: %s: %s%s)",
			cudaGetErrorName(e), cudaGetErrorString(e), hint);
	}
	if (n <= 0)
		cal_die(CAL_EXIT_NODEV, "no CUDA device found (cudaGetDeviceCount: 0 devices)");
	if (want >= n)
		cal_die(CAL_EXIT_USAGE,
			"--device %d but only %d CUDA device(s) are visible (numbered from 0; check CUDA_VISIBLE_DEVICES)",
			want, n);
	return n;
}

static int attr(enum cudaDeviceAttr a, int dev)
{
	int v = 0;

	CAL_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, dev));
	return v;
}

void cal_device_query(int dev, cal_device_info *info)
{
	struct cudaDeviceProp prop;
	const unsigned char *u;

	memset(info, 0, sizeof *info);
	CAL_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
	info->device = dev;
	snprintf(info->name, sizeof info->name, "%s", prop.name);
	info->cc_major = prop.major;
	info->cc_minor = prop.minor;
	info->sm_count = prop.multiProcessorCount;
	info->total_mem_bytes = prop.totalGlobalMem;
	info->l2_bytes = prop.l2CacheSize;
	info->mem_bus_bits = prop.memoryBusWidth;
	info->ecc = prop.ECCEnabled;
	info->sm_clock_kHz = attr(cudaDevAttrClockRate, dev);
	info->mem_clock_kHz = attr(cudaDevAttrMemoryClockRate, dev);
	snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%04x:%02x:%02x.0", prop.pciDomainID,
		 prop.pciBusID, prop.pciDeviceID);
	u = (const unsigned char *)prop.uuid.bytes;
	snprintf(info->uuid, sizeof info->uuid,
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	CAL_CUDA_CHECK(cudaDriverGetVersion(&info->cuda_driver_api));
	CAL_CUDA_CHECK(cudaRuntimeGetVersion(&info->cuda_runtime));
	cal_nvidia_driver_version(info->driver_version, sizeof info->driver_version);
}

double cal_device_dram_GBps(const cal_device_info *info)
{
	return 2.0 * info->mem_clock_kHz * 1e3 * (info->mem_bus_bits / 8.0) / 1e9;
}

void cal_version_string_mmp(long code, char *buf, size_t len)
{
	if (code <= 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	snprintf(buf, len, "%ld.%ld.%ld", code / 10000, (code / 100) % 100, code % 100);
}

void cal_version_string_cuda(int code, char *buf, size_t len)
{
	if (code <= 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	snprintf(buf, len, "%d.%d", code / 1000, (code % 1000) / 10);
}

void cal_device_default_name(const cal_device_info *info, const char *what, char *buf,
			     size_t len)
{
	char date[32];

	cal_utc_now_iso8601(date, sizeof date);
	date[10] = '\0'; /* keep YYYY-MM-DD */
	snprintf(buf, len, "%s %s %s", info->name, what, date);
}

void cal_device_write_head(ms_cfgw *w, const char *name, const cal_device_info *info,
			   const cal_versions *v, const char *command, const char *program)
{
	char buf[64], date[32], host[256];

	ms_cfgw_str(w, "name", name);
	ms_cfgw_str(w, "source", "measured");
	ms_cfgw_str(w, "program", program);

	ms_cfgw_group_begin(w, "provenance");
	ms_cfgw_str(w, "gpu", info->name);
	snprintf(buf, sizeof buf, "%d.%d", info->cc_major, info->cc_minor);
	ms_cfgw_str(w, "cc", buf);
	ms_cfgw_int(w, "sm_count", info->sm_count);
	ms_cfgw_str(w, "pci_bus_id", info->pci_bus_id);
	ms_cfgw_str(w, "uuid", info->uuid);
	ms_cfgw_bool(w, "ecc", info->ecc);
	if (info->driver_version[0])
		ms_cfgw_str(w, "driver", info->driver_version);
	cal_version_string_cuda(info->cuda_driver_api, buf, sizeof buf);
	ms_cfgw_str(w, "driver_cuda", buf);
	cal_version_string_cuda(info->cuda_runtime, buf, sizeof buf);
	ms_cfgw_str(w, "cuda_runtime", buf);
	if (v && v->cublas && v->cublas[0])
		ms_cfgw_str(w, "cublas", v->cublas);
	if (v && v->cublaslt && v->cublaslt[0])
		ms_cfgw_str(w, "cublaslt", v->cublaslt);
	if (v && v->nccl && v->nccl[0])
		ms_cfgw_str(w, "nccl", v->nccl);
	ms_cfgw_int(w, "sm_clock_MHz", info->sm_clock_kHz / 1000);
	ms_cfgw_int(w, "mem_clock_MHz", info->mem_clock_kHz / 1000);
	cal_utc_now_iso8601(date, sizeof date);
	ms_cfgw_str(w, "date", date);
	cal_hostname(host, sizeof host);
	ms_cfgw_str(w, "host", host);
	ms_cfgw_str(w, "command", command ? command : "");
	ms_cfgw_group_end(w);

	ms_cfgw_group_begin(w, "gpu");
	ms_cfgw_str(w, "name", info->name);
	snprintf(buf, sizeof buf, "%d.%d", info->cc_major, info->cc_minor);
	ms_cfgw_str(w, "cc", buf);
	ms_cfgw_int(w, "sm_count", info->sm_count);
	ms_cfgw_float(w, "hbm_GiB", (double)info->total_mem_bytes / (1024.0 * 1024.0 * 1024.0));
	ms_cfgw_float(w, "hbm_GBps", cal_device_dram_GBps(info));
	ms_cfgw_float(w, "l2_MiB", info->l2_bytes / (1024.0 * 1024.0));
	ms_cfgw_int(w, "mem_bus_bits", info->mem_bus_bits);
	ms_cfgw_group_end(w);
}

void cal_device_print(const cal_device_info *info, const cal_versions *v)
{
	char rt[16], drv[16];

	cal_version_string_cuda(info->cuda_runtime, rt, sizeof rt);
	cal_version_string_cuda(info->cuda_driver_api, drv, sizeof drv);
	printf("# device %d: %s, cc %d.%d, %d SMs, %.1f GiB, L2 %.1f MiB, SM clock %d MHz, memory clock %d MHz x %d bit (%.0f GB/s theoretical)\n",
	       info->device, info->name, info->cc_major, info->cc_minor, info->sm_count,
	       (double)info->total_mem_bytes / (1024.0 * 1024.0 * 1024.0), info->l2_bytes / 1048576.0,
	       info->sm_clock_kHz / 1000, info->mem_clock_kHz / 1000, info->mem_bus_bits,
	       cal_device_dram_GBps(info));
	printf("# driver %s (CUDA %s), runtime %s%s%s%s%s%s%s\n",
	       info->driver_version[0] ? info->driver_version : "?", drv, rt,
	       v && v->cublas ? ", cuBLAS " : "", v && v->cublas ? v->cublas : "",
	       v && v->cublaslt ? ", cuBLASLt " : "", v && v->cublaslt ? v->cublaslt : "",
	       v && v->nccl ? ", NCCL " : "", v && v->nccl ? v->nccl : "");
}

char *cal_program_begin(const cal_common_opts *c, int check_out, int argc, char **argv, int *ndev)
{
	char err[512], *command;
	int n = cal_device_require(c->device);

	if (ndev)
		*ndev = n;
	if (check_out && cal_profile_check_target(c->out, c->force, err, sizeof err) != 0)
		cal_die(CAL_EXIT_USAGE, "%s", err);
	command = cal_join_argv(argc, argv);
	if (!command)
		cal_die(CAL_EXIT_FAIL, "out of host memory");
	return command;
}

cal_profile *cal_profile_start(const cal_common_opts *c, const cal_device_info *info, const cal_versions *v,
			       const char *command, const char *program)
{
	char err[512], name[512], comment[160];
	cal_profile *p = cal_profile_open(c->out, c->force, err, sizeof err);
	ms_cfgw *w;
	if (!p)
		cal_die(CAL_EXIT_FAIL, "%s", err);
	if (c->name)
		snprintf(name, sizeof name, "%s", c->name);
	else
		cal_device_default_name(info, "measured", name, sizeof name);
	snprintf(comment, sizeof comment, "moesim calibration profile written by %s (docs/profile-format.md)", program);
	w = cal_profile_writer(p);
	ms_cfgw_comment(w, comment);
	ms_cfgw_group_begin(w, "profile");
	cal_device_write_head(w, name, info, v, command, program);
	return p;
}

void cal_profile_finish(cal_profile *p, const cal_common_opts *c, int budget_hit)
{
	char err[512];
	ms_cfgw *w = cal_profile_writer(p);
	if (budget_hit)
		ms_cfgw_comment(w, "the time budget (--budget-s) ended the run early; larger points are missing");
	ms_cfgw_group_end(w);
	if (cal_profile_commit(p, err, sizeof err) != 0)
		cal_die(CAL_EXIT_FAIL, "%s", err);
	printf("\n# wrote %s\n", c->out);
}

void cal_timer_init(cal_timer *t, const cal_common_opts *c, const cal_device_info *info)
{
	memset(t, 0, sizeof *t);
	t->repeats = c->repeats;
	t->warmup = c->warmup;
	CAL_CUDA_CHECK(cudaStreamCreateWithFlags(&t->stream, cudaStreamNonBlocking));
	if (c->l2_flush) {
		t->flush_bytes = (size_t)(info->l2_bytes > 0 ? info->l2_bytes : 64 << 20) * 2;
		CAL_CUDA_CHECK(cudaMalloc(&t->flush, t->flush_bytes));
	}
	t->ev_start = calloc((size_t)t->repeats, sizeof *t->ev_start);
	t->ev_stop = calloc((size_t)t->repeats, sizeof *t->ev_stop);
	t->samples = calloc((size_t)t->repeats, sizeof *t->samples);
	if (!t->ev_start || !t->ev_stop || !t->samples)
		cal_die(CAL_EXIT_FAIL, "out of host memory");
	for (int r = 0; r < t->repeats; r++) {
		CAL_CUDA_CHECK(cudaEventCreate(&t->ev_start[r]));
		CAL_CUDA_CHECK(cudaEventCreate(&t->ev_stop[r]));
	}
}

void cal_timer_fini(cal_timer *t)
{
	for (int r = 0; r < t->repeats; r++) {
		CAL_CUDA_CHECK(cudaEventDestroy(t->ev_start[r]));
		CAL_CUDA_CHECK(cudaEventDestroy(t->ev_stop[r]));
	}
	if (t->flush)
		CAL_CUDA_CHECK(cudaFree(t->flush));
	CAL_CUDA_CHECK(cudaStreamDestroy(t->stream));
	free(t->ev_start);
	free(t->ev_stop);
	free(t->samples);
	memset(t, 0, sizeof *t);
}

void cal_timer_measure(cal_timer *t, void (*run)(void *arg), void *arg, int warmed_up, cal_stats *st)
{
	const int R = t->repeats;

	for (int w = warmed_up; w < t->warmup; w++)
		run(arg);
	for (int r = 0; r < R; r++) {
		if (t->flush)
			CAL_CUDA_CHECK(cudaMemsetAsync(t->flush, r & 0xff, t->flush_bytes, t->stream));
		CAL_CUDA_CHECK(cudaEventRecord(t->ev_start[r], t->stream));
		run(arg);
		CAL_CUDA_CHECK(cudaEventRecord(t->ev_stop[r], t->stream));
	}
	CAL_CUDA_CHECK(cudaEventSynchronize(t->ev_stop[R - 1]));
	for (int r = 0; r < R; r++) {
		float ms = 0.0f;

		CAL_CUDA_CHECK(cudaEventElapsedTime(&ms, t->ev_start[r], t->ev_stop[r]));
		t->samples[r] = 1e3 * ms;
	}
	cal_stats_compute(t->samples, R, st);
}
