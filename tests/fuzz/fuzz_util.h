/*
 * fuzz_util.h - what every harness in tests/fuzz/ shares: the libFuzzer entry points'
 * prototypes, a private scratch directory for inputs that must be files (HDF5, the
 * importers, profiles, nccl-tests logs), and writing the input there.
 *
 * Each harness defines LLVMFuzzerTestOneInput (and may define fuzz_init, called once
 * through LLVMFuzzerInitialize). The same source builds two ways: with clang and
 * -fsanitize=fuzzer for `make fuzz`, and with the project's compiler and
 * tests/fuzz/regress_main.c for `make check`, which feeds every file kept under
 * tests/fuzz/regress/<harness>/ to LLVMFuzzerTestOneInput once.
 *
 * A harness never fails on bad input: rejecting it with an error message is the
 * expected outcome; only a crash, a sanitizer report or a leak is a finding.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The scratch directory, made once per process (mkdtemp) and removed at exit. */
static char fuzz_dir[64];
static char fuzz_rm_cmd[128];

static inline void fuzz_cleanup(void)
{
	if (fuzz_dir[0] && system(fuzz_rm_cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

static inline const char *fuzz_scratch(void)
{
	if (!fuzz_dir[0]) {
		snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/moesim-fuzz-XXXXXX");
		if (!mkdtemp(fuzz_dir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		snprintf(fuzz_rm_cmd, sizeof fuzz_rm_cmd, "rm -rf '%s'", fuzz_dir);
		atexit(fuzz_cleanup);
	}
	return fuzz_dir;
}

/* Writes data to <scratch>/name into path[len]; aborts if it cannot (not an input fault). */
static inline void fuzz_write_file(const char *name, const uint8_t *data, size_t size, char *path, size_t len)
{
	FILE *f;
	snprintf(path, len, "%s/%s", fuzz_scratch(), name);
	f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/* A NUL-terminated copy of the input (the text parsers take C strings). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
