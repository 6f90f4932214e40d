/*
 * fuzz_import_vllm_npy.c - `moesim trace import --format vllm` on one file named seq0.npy
 * (fuzz_import.h: import, then validate what was written). Seeds: tests/data/traces/.
 */
#include "fuzz_import.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	fuzz_write_file("seq0.npy", data, size, path, sizeof path);
	fuzz_import(path, "vllm");
	return 0;
}
