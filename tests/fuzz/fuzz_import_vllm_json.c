/*
 * fuzz_import_vllm_json.c - `moesim trace import --format vllm` on one file named response.json
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
	fuzz_write_file("response.json", data, size, path, sizeof path);
	fuzz_import(path, "vllm");
	return 0;
}
