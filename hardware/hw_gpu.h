/*
 * hw_gpu.h - GPU datasheet entries: peak tensor-core FLOP/s, HBM bandwidth and
 * capacity, NVLink bandwidth.
 *
 * These are the datasheet numbers the compute model starts from until a measured
 * calibration profile replaces them. Every entry cites its datasheet in hw_gpu.c.
 * All rates are dense (no structured sparsity).
 */
#ifndef HW_GPU_H
#define HW_GPU_H

typedef struct hw_gpu {
	const char *name;         /* scenario name, e.g. "h100-sxm" */
	const char *label;        /* e.g. "NVIDIA H100 SXM5 80GB" */
	double bf16_flops;        /* dense BF16/FP16 tensor FLOP/s */
	double fp8_flops;         /* dense FP8 tensor FLOP/s; 0 when unsupported */
	double fp32_flops;        /* dense TF32 tensor FLOP/s (fp32 GEMMs run as TF32) */
	double hbm_Bps;           /* HBM bandwidth, B/s */
	double nvlink_Bps;        /* NVLink bandwidth per GPU per direction, B/s */
	double hbm_bytes;         /* HBM capacity, bytes (binary GiB as the stacks hold them) */
	int sms;                  /* streaming multiprocessors */
	const char *citation;
} hw_gpu;

/* The entry named name, or NULL. */
const hw_gpu *hw_gpu_find(const char *name);

/* The i-th entry (NULL past the end), for listings. */
const hw_gpu *hw_gpu_at(int i);

#endif
