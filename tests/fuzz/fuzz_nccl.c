/*
 * fuzz_nccl.c - an nccl-tests log (profile/prof_nccl.h), text or -J JSON: read as the
 * importer reads it (alltoall_perf only) and as `calibrate compare` reads it (any
 * collective, in-place columns too), then written as a profile. Seeds:
 * tests/data/nccl-tests/.
 */
#include "fuzz_util.h"

#include "profile/prof_nccl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static prof_nccl r; /* large (PROF_MAX_POINTS rows): not on the stack */
	char path[256];
	prof_nccl_opts o;
	ms_error err;
	fuzz_write_file("nccl.txt", data, size, path, sizeof path);
	for (int mode = 0; mode < 2; mode++) {
		memset(&o, 0, sizeof o);
		o.scope = -1;
		o.any = mode;
		o.in_place = mode;
		ms_error_clear(&err);
		if (prof_nccl_read(path, &o, &r, &err) == MS_OK) {
			FILE *f = fopen("/dev/null", "w");
			if (f) {
				prof_nccl_write(&r, f, path, "fuzz", &err);
				fclose(f);
			}
		} else if (!err.msg[0]) {
			abort(); /* every refusal has a message */
		}
	}
	return 0;
}
