/*
 * hw_gpu.c - the built-in datasheet table (see hw_gpu.h). Numbers are per GPU,
 * dense, taken from the cited vendor datasheets; NVLink figures are the datasheets'
 * bidirectional totals halved to get one direction.
 */
#include "hardware/hw_gpu.h"

#include <string.h>

/* HBM capacities are binary: an "80GB" H100 holds 81,559 MiB (nvidia-smi), five 16 GiB stacks. */
#define GiB (1024.0 * 1024.0 * 1024.0)

static const hw_gpu gpus[] = {
	{"h100-sxm", "NVIDIA H100 SXM5 80GB", 989.4e12, 1978.9e12, 494.7e12, 3.35e12, 450e9, 80.0 * GiB, 132,
	 "NVIDIA H100 Tensor Core GPU datasheet (2023), SXM column: BF16 1,979 TFLOPS and FP8 3,958 TFLOPS with "
	 "sparsity (half without), TF32 989 with sparsity, HBM3 80GB at 3.35 TB/s, NVLink 900 GB/s; 132 SMs (NVIDIA H100 Tensor Core GPU Architecture whitepaper, 2022, SXM5)"},
	{"h800", "NVIDIA H800 SXM5 80GB", 989.4e12, 1978.9e12, 494.7e12, 3.35e12, 200e9, 80.0 * GiB, 132,
	 "NVIDIA H800 product brief: H100 SXM compute and memory (80GB HBM3), NVLink limited to 400 GB/s; 132 SMs (DeepSeek-V3 report, sec. 3.2.2)"},
	{"h200", "NVIDIA H200 SXM 141GB", 989.4e12, 1978.9e12, 494.7e12, 4.8e12, 450e9, 141.0 * GiB, 132,
	 "NVIDIA H200 Tensor Core GPU datasheet (2024), SXM column: BF16 1,979 TFLOPS with sparsity, HBM3e "
	 "141GB at 4.8 TB/s, NVLink 900 GB/s; the H100's 132 SMs (same GH100 die)"},
	{"a100-sxm", "NVIDIA A100 SXM4 80GB", 312e12, 0.0, 156e12, 2.039e12, 300e9, 80.0 * GiB, 108,
	 "NVIDIA A100 Tensor Core GPU datasheet (2021), SXM 80GB column: BF16 312 TFLOPS, TF32 156, HBM2e "
	 "80GB at 2,039 GB/s, NVLink 600 GB/s; no FP8; 108 SMs (NVIDIA A100 Tensor Core GPU Architecture whitepaper, 2020)"},
	{"b200", "NVIDIA B200 (HGX B200)", 2.25e15, 4.5e15, 1.1e15, 8.0e12, 900e9, 180.0 * GiB, 148,
	 "NVIDIA HGX B200 datasheet (2024), per GPU: FP8 9 PFLOPS and BF16 4.5 PFLOPS with sparsity (half "
	 "without), HBM3e 180GB at 8 TB/s, NVLink 5 1.8 TB/s; 148 SMs (NVIDIA Blackwell architecture technical brief, 2024)"},
};

const hw_gpu *hw_gpu_find(const char *name)
{
	for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++)
		if (strcmp(gpus[i].name, name) == 0)
			return &gpus[i];
	return NULL;
}

const hw_gpu *hw_gpu_at(int i)
{
	if (i < 0 || (size_t)i >= sizeof gpus / sizeof gpus[0])
		return NULL;
	return &gpus[i];
}
