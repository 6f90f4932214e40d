/*
 * fuzz_import_megatron.c - `moesim trace import --format megatron` on a directory holding
 * router_trace_rank0.jsonl and, when the input contains the line "--logits--", the bytes
 * after it as the sidecar logits_rank0.bin (fuzz_import.h: import, then validate what was
 * written). Seeds: tests/data/traces/megatron*.
 */
#include "fuzz_import.h"

static const char sep[] = "\n--logits--\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], dir[256];
	size_t n = size;
	for (size_t i = 0; i + sizeof sep - 1 <= size; i++)
		if (memcmp(data + i, sep, sizeof sep - 1) == 0) {
			n = i;
			break;
		}
	snprintf(dir, sizeof dir, "%s/mg", fuzz_scratch());
	mkdir(dir, 0700);
	fuzz_write_file("mg/router_trace_rank0.jsonl", data, n, path, sizeof path);
	fuzz_write_file("mg/logits_rank0.bin", data + (n < size ? n + sizeof sep - 1 : size),
			n < size ? size - n - (sizeof sep - 1) : 0, path, sizeof path);
	if (n == size)
		unlink(path);
	fuzz_import(dir, "megatron");
	return 0;
}
