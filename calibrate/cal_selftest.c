/*
 * cal_selftest.c - self-test of the calibration programs' host-side code, runnable
 * without CUDA: `make calibrate-selftest` (or build/calibrate/cal_selftest DIR).
 *
 * Checks against hand-worked answers: the statistics (median and p10/p90 of five
 * samples), size/list parsing and its error paths, the shared option parser, the
 * token ladder, the seeded permutation (the values the generator gave before it moved
 * to common/ms_rng), the shell quoting of the recorded command line, float formatting
 * with the profile's 7 digits, the matrix reader's error messages, and a profile
 * written with every construct the writer (common/ms_cfgwrite) has, read back
 * with libconfig (the library the moesim reader uses) with its types checked: ints
 * stay ints, byte arrays are int64, times are floats. Then every shipped datasheet
 * profile in DIR is parsed and checked for the required keys and the absence of
 * measured tables. Ends with "N passed, N failed"; exit status 1 on any failure.
 * `make check` runs it.
 */
#include "calibrate/cal_profile.h"
#include "calibrate/cal_util.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (cond) {                                                     \
			passed++;                                               \
		} else {                                                        \
			failed++;                                               \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (1.0 + fabs(b));
}

static void test_stats(void)
{
	double s[5] = {5.0, 1.0, 4.0, 2.0, 3.0};
	double one[1] = {2.385};
	double ten[10];
	cal_stats st;

	cal_stats_compute(s, 5, &st);
	/* Sorted 1..5: h = 4q, so p10 = 1 + 0.4, p90 = 4 + 0.6. */
	CHECK(near(st.median, 3.0), "median %g", st.median);
	CHECK(near(st.p10, 1.4), "p10 %g", st.p10);
	CHECK(near(st.p90, 4.6), "p90 %g", st.p90);
	CHECK(near(st.min, 1.0) && near(st.max, 5.0), "min %g max %g", st.min, st.max);
	CHECK(near(st.mean, 3.0), "mean %g", st.mean);
	cal_stats_compute(one, 1, &st);
	CHECK(near(st.median, 2.385) && near(st.p10, 2.385) && near(st.p90, 2.385), "n=1 %g", st.median);
	for (int i = 0; i < 10; i++)
		ten[i] = 10.0 - i; /* 10..1 */
	cal_stats_compute(ten, 10, &st);
	CHECK(near(st.median, 5.5), "even-n median %g", st.median);
	CHECK(near(st.p10, 1.9) && near(st.p90, 9.1), "p10 %g p90 %g", st.p10, st.p90);
}

static void test_parse(void)
{
	int64_t v = 0, *list = NULL;
	double *dl = NULL;
	char err[256];
	int n;

	CHECK(cal_parse_size("4096", &v) == 0 && v == 4096, "4096 -> %lld", (long long)v);
	CHECK(cal_parse_size("1K", &v) == 0 && v == 1024, "1K -> %lld", (long long)v);
	CHECK(cal_parse_size("64m", &v) == 0 && v == 64 << 20, "64m -> %lld", (long long)v);
	CHECK(cal_parse_size("1GiB", &v) == 0 && v == 1 << 30, "1GiB -> %lld", (long long)v);
	CHECK(cal_parse_size("3T", &v) == 0 && v == 3LL << 40, "3T -> %lld", (long long)v);
	CHECK(cal_parse_size("", &v) != 0, "empty accepted");
	CHECK(cal_parse_size("-1", &v) != 0, "-1 accepted");
	CHECK(cal_parse_size("1.5K", &v) != 0, "1.5K accepted");
	CHECK(cal_parse_size("12Q", &v) != 0, "12Q accepted");
	CHECK(cal_parse_size("99999999999999999999", &v) != 0, "overflow accepted");
	CHECK(cal_parse_size("9000000000T", &v) != 0, "shift overflow accepted");

	n = cal_parse_size_list("1,8,16K", &list, err, sizeof err);
	CHECK(n == 3 && list[0] == 1 && list[1] == 8 && list[2] == 16384, "list n=%d", n);
	free(list);
	n = cal_parse_size_list("1,,2", &list, err, sizeof err);
	CHECK(n == -1 && strstr(err, "''") != NULL, "empty field: n=%d err=%s", n, err);
	n = cal_parse_size_list("4,x", &list, err, sizeof err);
	CHECK(n == -1 && strstr(err, "'x'") != NULL, "junk field: err=%s", err);
	n = cal_parse_double_list("0.25,1,2.385", &dl, err, sizeof err);
	CHECK(n == 3 && near(dl[2], 2.385), "double list n=%d", n);
	free(dl);
	n = cal_parse_double_list("1,-2", &dl, err, sizeof err);
	CHECK(n == -1 && strstr(err, "-2") != NULL, "negative scale: err=%s", err);
}

/* A program's own options for test_options: --width N and --flag. */
enum { OPT_WIDTH = 1, OPT_FLAG };

typedef struct own_opts {
	int64_t width;
	int flag;
} own_opts;

static void own_option(void *ctx, int code, const char *arg)
{
	own_opts *o = ctx;

	if (code == OPT_WIDTH)
		o->width = cal_arg_int("width", arg, 1, 1 << 20);
	else
		o->flag = 1;
}

static void no_usage(FILE *f)
{
	(void)f;
}

static void test_options(void)
{
	static const struct option own[] = {{"width", 1, NULL, OPT_WIDTH}, {"flag", 0, NULL, OPT_FLAG}, {NULL, 0, NULL, 0}};
	char a0[] = "cal_test", a1[] = "--out", a2[] = "x.cfg", a3[] = "--width", a4[] = "4K", a5[] = "--repeats",
	     a6[] = "7", a7[] = "--flag", a8[] = "--no-l2-flush", a9[] = "--budget-s", a10[] = "2.5";
	char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, NULL};
	own_opts o = {0, 0};
	cal_common_opts c;

	cal_options_parse(11, argv, own, own_option, &o, &c, "default.cfg", CAL_OPTS_BYTES, no_usage);
	CHECK(!strcmp(c.out, "x.cfg") && c.repeats == 7 && c.warmup == 3 && !c.l2_flush && c.budget_s == 2.5 &&
	      c.seed == 1 && !c.force, "shared options: out %s repeats %d warmup %d l2 %d budget %g", c.out, c.repeats,
	      c.warmup, c.l2_flush, c.budget_s);
	CHECK(o.width == 4096 && o.flag == 1, "own options: width %lld flag %d", (long long)o.width, o.flag);
}

static void test_permutation(void)
{
	/* What cal_random_permutation gave with its own SplitMix64 copy: the same seed
	 * must keep timing the same access pattern. */
	static const int32_t expect[10] = {0, 9, 5, 8, 6, 4, 7, 2, 1, 3};
	int32_t p[10];
	int same = 1;

	cal_random_permutation(p, 10, 42);
	for (int i = 0; i < 10; i++)
		same &= p[i] == expect[i];
	CHECK(same, "permutation of 10 with seed 42 changed: %d %d %d ...", p[0], p[1], p[2]);
}

static void test_ladder(void)
{
	int64_t v[64];
	int n = cal_ladder_pow2_mid(1, 65536, v, 64);
	static const int64_t head[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32};

	CHECK(n == 32, "1..65536 has %d points, expected 17 powers + 15 midpoints", n);
	for (int i = 0; i < 10 && n == 32; i++)
		CHECK(v[i] == head[i], "ladder[%d] = %lld", i, (long long)v[i]);
	CHECK(n == 32 && v[30] == 49152 && v[31] == 65536, "tail %lld %lld", (long long)v[30],
	      (long long)v[31]);
	n = cal_ladder_pow2_mid(5, 20, v, 64);
	CHECK(n == 4 && v[0] == 6 && v[3] == 16, "5..20: n=%d", n); /* 6 8 12 16 */
	n = cal_ladder_pow2(1024, 1LL << 30, v, 64);
	CHECK(n == 21 && v[0] == 1024 && v[20] == 1LL << 30, "1K..1G: n=%d", n);
	n = cal_ladder_pow2_mid(1, 65536, v, 4);
	CHECK(n == 32, "capped call still counts: %d", n);
}

static void test_argv(void)
{
	char a0[] = "cal_gemm", a1[] = "--name", a2[] = "H100 run", a3[] = "it's",
	     a4[] = "--shapes=4096x14336";
	char *argv[] = {a0, a1, a2, a3, a4};
	char *s = cal_join_argv(5, argv);

	CHECK(s && !strcmp(s, "cal_gemm --name 'H100 run' 'it'\\''s' --shapes=4096x14336"), "got %s", s);
	free(s);
}

static void test_format(void)
{
	char b[48];

	/* The profiles' 7 significant digits (cal_profile.h). */
	ms_cfgw_format_float(12.0, 7, b, sizeof b);
	CHECK(!strcmp(b, "12.0"), "12 -> %s", b);
	ms_cfgw_format_float(2.385, 7, b, sizeof b);
	CHECK(!strcmp(b, "2.385"), "2.385 -> %s", b);
	ms_cfgw_format_float(1e9, 7, b, sizeof b);
	CHECK(!strcmp(b, "1.0e+09"), "1e9 -> %s", b);
	ms_cfgw_format_float(-3.5e-7, 7, b, sizeof b);
	CHECK(!strcmp(b, "-3.5e-07"), "-3.5e-7 -> %s", b);
	ms_cfgw_format_float(3.14159265358979, 7, b, sizeof b);
	CHECK(!strcmp(b, "3.141593"), "pi -> %s", b);
	CHECK(ms_cfgw_format_float(NAN, 7, b, sizeof b) == 1 && !strcmp(b, "0.0"), "nan -> %s", b);
	CHECK(ms_cfgw_format_float(0.0, 7, b, sizeof b) == 0 && !strcmp(b, "0.0"), "0 -> %s", b);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void test_matrix(const char *dir)
{
	char path[512], err[512];
	int64_t *m = NULL;
	int n = 0;

	snprintf(path, sizeof path, "%s/m.txt", dir);
	write_file(path, "# 2 ranks\n0 1K # self, then peer\n\n2048, 3\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) == 0 && n == 2, "read: %s", err);
	if (m && n == 2)
		CHECK(m[0] == 0 && m[1] == 1024 && m[2] == 2048 && m[3] == 3, "values %lld %lld %lld %lld",
		      (long long)m[0], (long long)m[1], (long long)m[2], (long long)m[3]);
	free(m);
	m = NULL;

	write_file(path, "1 2 3\n4 5\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "m.txt:2: 2 values, expected 3"),
	      "ragged: %s", err);
	write_file(path, "1 2\n3 4\n5 6\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "m.txt:3: more than 2 rows"),
	      "too many rows: %s", err);
	write_file(path, "1 2 3\n4 5 6\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "2 rows of 3 values"),
	      "not square: %s", err);
	write_file(path, "1 abc\n3 4\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "m.txt:1: 'abc'"),
	      "junk: %s", err);
	write_file(path, "# nothing\n\n");
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "no values"), "empty: %s", err);
	snprintf(path, sizeof path, "%s/absent.txt", dir);
	CHECK(cal_matrix_read(path, &m, &n, err, sizeof err) != 0 && strstr(err, "cannot open"), "absent: %s", err);
}

static const config_setting_t *member(const config_setting_t *s, const char *name)
{
	return s ? config_setting_get_member(s, name) : NULL;
}

static void test_profile_roundtrip(const char *dir)
{
	char path[512], err[512];
	cal_profile *p;
	ms_cfgw *w;
	config_t cfg;
	const config_setting_t *root, *prof, *gemm, *g0, *arr;
	const char *str = NULL;
	const int64_t tokens[] = {1, 2, 3, 65536};
	const int64_t bytes[] = {1024, 4294967296LL};
	const double times[] = {12.0, 2.385, 1e9, 0.5};
	struct stat st;

	snprintf(path, sizeof path, "%s/p.cfg", dir);
	unlink(path);
	p = cal_profile_open(path, 0, err, sizeof err);
	CHECK(p != NULL, "open: %s", err);
	if (!p)
		return;
	w = cal_profile_writer(p);
	ms_cfgw_comment(w, "first line\nsecond line");
	ms_cfgw_group_begin(w, "profile");
	ms_cfgw_str(w, "name", "quote \" backslash \\ newline \n end");
	ms_cfgw_str(w, "source", "measured");
	ms_cfgw_int(w, "small", 42);
	ms_cfgw_int(w, "big", 5000000000LL);
	ms_cfgw_bool(w, "flag", 1);
	ms_cfgw_float(w, "whole", 3.0);
	ms_cfgw_list_begin(w, "gemm");
	for (int i = 0; i < 2; i++) {
		ms_cfgw_group_begin(w, NULL);
		ms_cfgw_int(w, "experts", 8 * i + 1);
		ms_cfgw_int_array(w, "tokens", tokens, 4, 0);
		ms_cfgw_float_array(w, "time_us", times, 4);
		ms_cfgw_int_array(w, "bytes", bytes, 2, 1);
		ms_cfgw_group_end(w);
	}
	ms_cfgw_list_end(w);
	ms_cfgw_list_begin(w, "empty");
	ms_cfgw_list_end(w);
	ms_cfgw_group_end(w);
	CHECK(stat(path, &st) != 0, "the real name exists before commit");
	CHECK(cal_profile_commit(p, err, sizeof err) == 0, "commit: %s", err);
	CHECK(stat(path, &st) == 0, "no file after commit");

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		CHECK(0, "libconfig: %s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return;
	}
	root = config_root_setting(&cfg);
	prof = member(root, "profile");
	CHECK(prof != NULL, "no profile group");
	CHECK(config_setting_lookup_string(prof, "name", &str) &&
	      !strcmp(str, "quote \" backslash \\ newline \n end"), "name round trip: %s", str ? str : "(none)");
	CHECK(config_setting_type(member(prof, "small")) == CONFIG_TYPE_INT, "small not int");
	CHECK(config_setting_type(member(prof, "big")) == CONFIG_TYPE_INT64 &&
	      config_setting_get_int64(member(prof, "big")) == 5000000000LL, "big not int64");
	CHECK(config_setting_type(member(prof, "flag")) == CONFIG_TYPE_BOOL, "flag not bool");
	CHECK(config_setting_type(member(prof, "whole")) == CONFIG_TYPE_FLOAT, "3.0 not float");
	gemm = member(prof, "gemm");
	CHECK(gemm && config_setting_is_list(gemm) && config_setting_length(gemm) == 2, "gemm list");
	g0 = gemm ? config_setting_get_elem(gemm, 1) : NULL;
	CHECK(g0 && config_setting_get_int(member(g0, "experts")) == 9, "second element");
	arr = member(g0, "tokens");
	CHECK(arr && config_setting_is_array(arr) && config_setting_length(arr) == 4 &&
	      config_setting_type(config_setting_get_elem(arr, 0)) == CONFIG_TYPE_INT &&
	      config_setting_get_int_elem(arr, 3) == 65536, "tokens array");
	arr = member(g0, "time_us");
	CHECK(arr && config_setting_type(config_setting_get_elem(arr, 0)) == CONFIG_TYPE_FLOAT &&
	      near(config_setting_get_float_elem(arr, 0), 12.0) &&
	      near(config_setting_get_float_elem(arr, 1), 2.385) &&
	      near(config_setting_get_float_elem(arr, 2), 1e9), "time_us array");
	arr = member(g0, "bytes");
	CHECK(arr && config_setting_type(config_setting_get_elem(arr, 0)) == CONFIG_TYPE_INT64 &&
	      config_setting_get_int64_elem(arr, 0) == 1024 &&
	      config_setting_get_int64_elem(arr, 1) == 4294967296LL, "bytes array int64");
	arr = member(prof, "empty");
	CHECK(arr && config_setting_is_list(arr) && config_setting_length(arr) == 0, "empty list");
	config_destroy(&cfg);

	/* Refusals: an existing profile is not overwritten without --force. */
	CHECK(cal_profile_check_target(path, 0, err, sizeof err) != 0 && strstr(err, "--force"),
	      "exists, no force: %s", err);
	CHECK(cal_profile_open(path, 0, err, sizeof err) == NULL, "opened over an existing file");
	CHECK(cal_profile_check_target(path, 1, err, sizeof err) == 0, "force refused: %s", err);
	CHECK(cal_profile_check_target(dir, 1, err, sizeof err) != 0 && strstr(err, "is a directory"),
	      "directory as --out: %s", err);
	{
		char nodir[600];

		snprintf(nodir, sizeof nodir, "%s/no/such/dir/p.cfg", dir);
		CHECK(cal_profile_check_target(nodir, 0, err, sizeof err) != 0 &&
		      strstr(err, "does not exist"), "missing directory: %s", err);
	}
	/* A profile that appears while measuring is kept, and ours is left in .tmp. */
	unlink(path);
	p = cal_profile_open(path, 0, err, sizeof err);
	CHECK(p != NULL, "reopen: %s", err);
	if (p) {
		char tmp[600];

		snprintf(tmp, sizeof tmp, "%s", cal_profile_tmp_path(p));
		ms_cfgw_str(cal_profile_writer(p), "x", "y");
		write_file(path, "someone else's\n");
		CHECK(cal_profile_commit(p, err, sizeof err) != 0 && strstr(err, "appeared"), "race: %s", err);
		CHECK(stat(tmp, &st) == 0, "temporary profile was not kept");
		unlink(tmp);
	}
	/* Abort removes the temporary file. */
	unlink(path);
	p = cal_profile_open(path, 0, err, sizeof err);
	if (p) {
		char tmp[600];

		snprintf(tmp, sizeof tmp, "%s", cal_profile_tmp_path(p));
		cal_profile_abort(p);
		CHECK(stat(tmp, &st) != 0 && stat(path, &st) != 0, "abort left files behind");
	}
}

/* A shipped datasheet profile: parses, has the documented keys, no measured tables. */
static void check_datasheet(const char *path)
{
	config_t cfg;
	const config_setting_t *prof, *gpu, *prov;
	const char *s = NULL;
	static const char *const floats[] = {"peak_bf16_TFLOPs", "peak_fp8_TFLOPs", "peak_tf32_TFLOPs",
					     "hbm_GBps", "hbm_GiB", "nvlink_GBps"};
	static const char *const tables[] = {"gemm", "copy", "permute", "alltoall", "alltoallv"};

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		CHECK(0, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return;
	}
	prof = member(config_root_setting(&cfg), "profile");
	CHECK(prof != NULL, "%s: no profile group", path);
	if (!prof) {
		config_destroy(&cfg);
		return;
	}
	CHECK(config_setting_lookup_string(prof, "source", &s) && !strcmp(s, "datasheet"),
	      "%s: source is not \"datasheet\"", path);
	CHECK(config_setting_lookup_string(prof, "name", &s) && *s, "%s: no name", path);
	prov = member(prof, "provenance");
	CHECK(prov && config_setting_lookup_string(prov, "citation", &s) && strlen(s) > 20,
	      "%s: provenance.citation missing or too short", path);
	gpu = member(prof, "gpu");
	CHECK(gpu && config_setting_lookup_string(gpu, "name", &s) && *s, "%s: gpu.name", path);
	CHECK(gpu && config_setting_lookup_string(gpu, "cc", &s) && strchr(s, '.'), "%s: gpu.cc", path);
	for (size_t i = 0; gpu && i < sizeof floats / sizeof floats[0]; i++) {
		const config_setting_t *f = member(gpu, floats[i]);

		CHECK(f && config_setting_type(f) == CONFIG_TYPE_FLOAT && config_setting_get_float(f) >= 0.0,
		      "%s: gpu.%s missing, negative or not a float", path, floats[i]);
	}
	if (gpu) {
		const config_setting_t *bf = member(gpu, "peak_bf16_TFLOPs"), *fp8 = member(gpu, "peak_fp8_TFLOPs");

		/* FP8 is exactly twice BF16 on every part that has it (dense). */
		if (bf && fp8 && config_setting_get_float(fp8) > 0)
			CHECK(near(config_setting_get_float(fp8), 2.0 * config_setting_get_float(bf)) ||
			      fabs(config_setting_get_float(fp8) - 2.0 * config_setting_get_float(bf)) < 0.2,
			      "%s: fp8 %g is not 2x bf16 %g", path, config_setting_get_float(fp8),
			      config_setting_get_float(bf));
	}
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		CHECK(member(prof, tables[i]) == NULL, "%s: a datasheet profile must not hold a %s table",
		      path, tables[i]);
	config_destroy(&cfg);
}

static void test_datasheets(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL, "cannot open %s: %s", dir, strerror(errno));
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char path[1024];

		if (len < 5 || strcmp(e->d_name + len - 4, ".cfg"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		check_datasheet(path);
		n++;
	}
	closedir(d);
	CHECK(n >= 4, "only %d profiles in %s", n, dir);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cal_selftest.XXXXXX";
	char cmd[256];

	cal_set_progname("cal_selftest");
	if (argc != 2) {
		fprintf(stderr, "usage: cal_selftest PROFILE_DIR (e.g. calibrate/profiles)\n");
		return CAL_EXIT_USAGE;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "cal_selftest: mkdtemp: %s\n", strerror(errno));
		return CAL_EXIT_FAIL;
	}
	test_stats();
	test_parse();
	test_options();
	test_permutation();
	test_ladder();
	test_argv();
	test_format();
	test_matrix(dir);
	test_profile_roundtrip(dir);
	test_datasheets(argv[1]);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cal_selftest: could not remove %s\n", dir);
	printf("cal_selftest: %d passed, %d failed\n", passed, failed);
	return failed ? CAL_EXIT_FAIL : CAL_EXIT_OK;
}
