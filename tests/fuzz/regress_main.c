/*
 * regress_main.c - runs a fuzz harness without libFuzzer: every file named on the command
 * line (or found in a directory named there) is passed once to LLVMFuzzerTestOneInput.
 * `make check` links it with each harness and feeds tests/fuzz/regress/<harness>/, the
 * crashers that fuzzing found (each fixed), so they stay fixed under gcc, ASan and
 * valgrind alike. Prints the number of inputs; a crash ends the run with its signal.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "regress: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "regress: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int count = 0, bad = 0;
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;
			char **names = NULL;
			int n = 0, cap = 0;
			while (d && (de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				if (n == cap) {
					cap = cap ? 2 * cap : 16;
					names = realloc(names, (size_t)cap * sizeof *names);
					if (!names)
						abort();
				}
				names[n] = malloc(strlen(argv[i]) + strlen(de->d_name) + 2);
				if (!names[n])
					abort();
				sprintf(names[n], "%s/%s", argv[i], de->d_name);
				n++;
			}
			if (d)
				closedir(d);
			qsort(names, (size_t)n, sizeof *names, cmp);
			for (int j = 0; j < n; j++) {
				bad += run_file(names[j]) < 0;
				count++;
				free(names[j]);
			}
			free(names);
		} else {
			bad += run_file(argv[i]) < 0;
			count++;
		}
	}
	printf("regress %s: %d input%s\n", argv[0], count, count == 1 ? "" : "s");
	return bad ? 1 : 0;
}
