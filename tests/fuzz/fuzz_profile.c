/*
 * fuzz_profile.c - a calibration profile (profile/prof_profile.h): the loader (libconfig
 * text, tables, units, monotonicity, the fits) on one scratch file, then the profile
 * written back as `moesim calibrate` writes it. Seeds: tests/data/profiles/.
 */
#include "fuzz_util.h"

#include "profile/prof_profile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	const char *paths[1] = {path};
	prof_profile *p = NULL;
	ms_error err;
	fuzz_write_file("profile.cfg", data, size, path, sizeof path);
	ms_error_clear(&err);
	if (prof_profile_load(&p, paths, 1, &err) == MS_OK) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			prof_profile_write(p, f, "fuzz", "fuzz", &err);
			fclose(f);
		}
		prof_profile_destroy(p);
	} else if (!err.msg[0]) {
		abort(); /* every refusal has a message */
	}
	return 0;
}
