/*
 * fuzz_import_jsonl.c - `moesim trace import --format jsonl` on one file named sample.jsonl
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
	fuzz_write_file("sample.jsonl", data, size, path, sizeof path);
	fuzz_import(path, "jsonl");
	return 0;
}
