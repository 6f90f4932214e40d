/*
 * check_common.c - the shared plumbing of common/: atomic outputs (ms_file: force and
 * no force, abort, an output that appears meanwhile, stale temporaries of dead
 * processes, the registry and its signal-safe cleanup), the libconfig text writer
 * (ms_cfgw: its exact text, read back by libconfig with the types it promises) and
 * SplitMix64 against its published first value.
 */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ms_cfgwrite.h"
#include "common/ms_config.h"
#include "common/ms_error.h"
#include "common/ms_file.h"
#include "common/ms_mt.h"
#include "common/ms_path.h"
#include "common/ms_pool.h"
#include "common/ms_rng.h"
#include "common/ms_zipf.h"
#include "test_util.h"

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The first line of path, in buf. */
static const char *first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

/* A process id that belonged to a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

START_TEST(file_force_and_no_force)
{
	char dir[256], path[512], line[128];
	ms_file f;
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/out.txt", dir);

	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_OK);
	ck_assert(strstr(ms_file_tmp_path(&f), ".tmp.") != NULL);
	ck_assert(exists(ms_file_tmp_path(&f)));
	ck_assert(!exists(path)); /* nothing under the real name before the commit */
	fputs("first\n", ms_file_stream(&f));
	ck_assert_int_eq(ms_file_commit(&f, &err), MS_OK);
	ck_assert_str_eq(first_line(path, line, sizeof line), "first\n");
	ck_assert(!exists(ms_file_tmp_path(&f)));
	ms_file_abort(&f); /* a no-op after the commit */
	ck_assert(exists(path));

	/* Refused without force, with a message naming the path and --force. */
	ck_assert_int_eq(ms_file_check(path, 0, &err), MS_EEXIST);
	ck_assert(strstr(err.msg, path) != NULL);
	ck_assert(strstr(err.msg, "--force") != NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_EEXIST);
	ck_assert_str_eq(first_line(path, line, sizeof line), "first\n");

	/* Replaced with force. */
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 1, &err), MS_OK);
	fputs("second\n", ms_file_stream(&f));
	ck_assert_int_eq(ms_file_commit(&f, &err), MS_OK);
	ck_assert_str_eq(first_line(path, line, sizeof line), "second\n");

	/* A directory and an empty name are refused whatever force says. */
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_check(dir, 1, &err), MS_EINVAL);
	ck_assert(strstr(err.msg, "is a directory") != NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_check("", 1, &err), MS_EINVAL);

	/* A missing directory fails at the creation, naming the temporary file. */
	snprintf(path, sizeof path, "%s/no/such/out.txt", dir);
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_EIO);
	ck_assert(strstr(err.msg, "cannot create") != NULL);

	snprintf(path, sizeof path, "%s/out.txt", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0); /* empty: no temporary left behind */
}
END_TEST

START_TEST(file_abort_and_library_written)
{
	char dir[256], path[512], tmp[MS_FILE_PATH_MAX + 32], line[128];
	ms_file f;
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/out.h5", dir);

	/* Abort removes the temporary file and leaves no output. */
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_OK);
	fputs("half", ms_file_stream(&f));
	snprintf(tmp, sizeof tmp, "%s", ms_file_tmp_path(&f));
	ms_file_abort(&f);
	ck_assert(!exists(tmp));
	ck_assert(!exists(path));
	ms_file_abort(&f); /* twice is harmless */

	/* begin: the caller's library writes the temporary name itself (as H5Fcreate does). */
	ck_assert_int_eq(ms_file_begin(&f, path, 0, &err), MS_OK);
	ck_assert_ptr_null(ms_file_stream(&f));
	ck_assert(!exists(ms_file_tmp_path(&f)));
	write_text(ms_file_tmp_path(&f), "library bytes\n");
	ck_assert_int_eq(ms_file_commit(&f, &err), MS_OK);
	ck_assert_str_eq(first_line(path, line, sizeof line), "library bytes\n");

	/* begin, then the library fails before creating anything: abort has nothing to remove. */
	ck_assert_int_eq(ms_file_begin(&f, path, 1, &err), MS_OK);
	ms_file_abort(&f);
	ck_assert_str_eq(first_line(path, line, sizeof line), "library bytes\n");

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(file_appeared_meanwhile)
{
	char dir[256], path[512], tmp[MS_FILE_PATH_MAX + 32], line[128];
	ms_file f;
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/p.cfg", dir);
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_OK);
	fputs("ours\n", ms_file_stream(&f));
	snprintf(tmp, sizeof tmp, "%s", ms_file_tmp_path(&f));
	write_text(path, "theirs\n"); /* another run finished first */
	ck_assert_int_eq(ms_file_commit(&f, &err), MS_EEXIST);
	ck_assert_msg(strstr(err.msg, "appeared") && strstr(err.msg, tmp), "%s", err.msg);
	/* Both kept: theirs under the name, ours in the temporary file the message names. */
	ck_assert_str_eq(first_line(path, line, sizeof line), "theirs\n");
	ck_assert_str_eq(first_line(tmp, line, sizeof line), "ours\n");
	ck_assert_int_eq(unlink(tmp), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(file_stale_temporaries)
{
	char dir[256], path[512], dead[600], live[600], other[600];
	ms_file f;
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/run.h5", dir);
	snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)dead_pid());
	snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
	snprintf(other, sizeof other, "%s/runs.h5.tmp.%ld", dir, (long)dead_pid()); /* another output's */
	write_text(dead, "left by a crash\n");
	write_text(live, "being written\n");
	write_text(other, "not ours\n");

	ck_assert_int_eq(ms_file_remove_stale(path), 1);
	ck_assert(!exists(dead));
	ck_assert(exists(live));
	ck_assert(exists(other));

	/* Opening an output clears them too. */
	write_text(dead, "left by a crash\n");
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_open(&f, path, 0, &err), MS_OK);
	ck_assert(!exists(dead));
	ck_assert(exists(live));
	ms_file_abort(&f);

	ck_assert_int_eq(unlink(live), 0);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(file_cleanup_all)
{
	char dir[256], path[MS_FILE_MAX_OPEN + 1][512], tmp[2][MS_FILE_PATH_MAX + 32];
	ms_file f[MS_FILE_MAX_OPEN + 1];
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	for (int i = 0; i <= MS_FILE_MAX_OPEN; i++)
		snprintf(path[i], sizeof path[i], "%s/out%d", dir, i);

	ms_error_clear(&err);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(ms_file_open(&f[i], path[i], 0, &err), MS_OK);
		fputs("partial", ms_file_stream(&f[i]));
		fflush(ms_file_stream(&f[i]));
		snprintf(tmp[i], sizeof tmp[i], "%s", ms_file_tmp_path(&f[i]));
	}
	/* What a SIGINT handler would call: every temporary file goes. */
	ms_file_cleanup_all();
	ck_assert(!exists(tmp[0]));
	ck_assert(!exists(tmp[1]));
	ms_file_cleanup_all(); /* again: nothing left, nothing done */
	for (int i = 0; i < 2; i++)
		ms_file_abort(&f[i]);

	/* The registry holds MS_FILE_MAX_OPEN outputs; one more is refused, not lost. */
	for (int i = 0; i < MS_FILE_MAX_OPEN; i++)
		ck_assert_int_eq(ms_file_begin(&f[i], path[i], 0, &err), MS_OK);
	ck_assert_int_eq(ms_file_begin(&f[MS_FILE_MAX_OPEN], path[MS_FILE_MAX_OPEN], 0, &err), MS_ERANGE);
	ck_assert(strstr(err.msg, "outputs open at once") != NULL);
	ms_file_abort(&f[0]);
	ms_error_clear(&err);
	ck_assert_int_eq(ms_file_begin(&f[MS_FILE_MAX_OPEN], path[MS_FILE_MAX_OPEN], 0, &err), MS_OK);
	for (int i = 1; i <= MS_FILE_MAX_OPEN; i++)
		ms_file_abort(&f[i]);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The text of a small profile with every construct, written to a memory stream. */
static char *cfgw_text(int sig, int *nonfinite, char *key, size_t keylen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ms_cfgw w;
	const int64_t ints[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	const int64_t wide[2] = {1024, 4294967296LL};
	const double floats[3] = {12.0, 2.385, 1e9};
	const char *const names[2] = {"a", "b\"c"};
	ck_assert_ptr_nonnull(f);
	ms_cfgw_init(&w, f, sig);
	ms_cfgw_comment(&w, "two\nlines");
	ms_cfgw_group_begin(&w, "profile");
	ms_cfgw_str(&w, "name", "q\" b\\ n\n t\t x\x01");
	ms_cfgw_int(&w, "small", 42);
	ms_cfgw_int(&w, "big", 5000000000LL);
	ms_cfgw_int64(&w, "forced", 7);
	ms_cfgw_bool(&w, "flag", 1);
	ms_cfgw_float(&w, "third", 1.0 / 3.0);
	ms_cfgw_float_sig(&w, "bad", NAN, 3);
	ms_cfgw_int_array(&w, "ints", ints, 10, 0);
	ms_cfgw_int_array(&w, "wide", wide, 2, 0);
	ms_cfgw_float_array(&w, "floats", floats, 3);
	ms_cfgw_str_array(&w, "names", names, 2);
	ms_cfgw_list_begin(&w, "tables");
	ms_cfgw_group_begin(&w, NULL);
	ms_cfgw_int(&w, "n", 1);
	ms_cfgw_group_end(&w);
	ms_cfgw_array_begin(&w, NULL);
	ms_cfgw_float(&w, NULL, 0.5);
	ms_cfgw_float(&w, NULL, INFINITY);
	ms_cfgw_array_end(&w);
	ms_cfgw_list_end(&w);
	ms_cfgw_list_begin(&w, "empty");
	ms_cfgw_list_end(&w);
	ms_cfgw_group_end(&w);
	ck_assert_int_eq(w.depth, 0);
	ck_assert_int_eq(w.failed, 0);
	*nonfinite = w.nonfinite;
	snprintf(key, keylen, "%s", w.nonfinite_key);
	fclose(f);
	return text;
}

START_TEST(cfgw_exact_text)
{
	static const char expect[] =
		"// two\n"
		"// lines\n"
		"profile = {\n"
		"  name = \"q\\\" b\\\\ n\\n t\\t x\\x01\";\n"
		"  small = 42;\n"
		"  big = 5000000000L;\n"
		"  forced = 7L;\n"
		"  flag = true;\n"
		"  third = 0.3333333333333333;\n"
		"  bad = 0.0;\n"
		"  ints = [1, 2, 3, 4, 5, 6, 7, 8,\n"
		"      9, 10];\n"
		"  wide = [1024L, 4294967296L];\n"
		"  floats = [12.0, 2.385, 1.0e+09];\n"
		"  names = [\"a\", \"b\\\"c\"];\n"
		"  tables = (\n"
		"    {\n"
		"      n = 1;\n"
		"    },\n"
		"    [0.5, 0.0]\n"
		"  );\n"
		"  empty = (\n"
		"  );\n"
		"};\n";
	int nonfinite;
	char key[80];
	char *text = cfgw_text(0, &nonfinite, key, sizeof key);
	ck_assert_str_eq(text, expect);
	ck_assert_int_eq(nonfinite, 2);
	ck_assert_str_eq(key, "bad");
	free(text);
	/* The writer's own digits (the calibration programs use 7). */
	text = cfgw_text(7, &nonfinite, key, sizeof key);
	ck_assert(strstr(text, "  third = 0.3333333;\n") != NULL);
	free(text);
}
END_TEST

START_TEST(cfgw_reads_back)
{
	int nonfinite;
	char key[80];
	const char *s = NULL;
	char *text = cfgw_text(0, &nonfinite, key, sizeof key);
	config_t cfg;
	const config_setting_t *p, *a;
	config_init(&cfg);
	ck_assert_msg(config_read_string(&cfg, text), "line %d: %s", config_error_line(&cfg), config_error_text(&cfg));
	p = config_lookup(&cfg, "profile");
	ck_assert_ptr_nonnull(p);
	ck_assert(config_setting_lookup_string(p, "name", &s));
	ck_assert_str_eq(s, "q\" b\\ n\n t\t x\x01");
	ck_assert_int_eq(config_setting_type(config_setting_get_member(p, "small")), CONFIG_TYPE_INT);
	ck_assert_int_eq(config_setting_type(config_setting_get_member(p, "big")), CONFIG_TYPE_INT64);
	ck_assert_int_eq(config_setting_type(config_setting_get_member(p, "forced")), CONFIG_TYPE_INT64);
	ck_assert(config_setting_get_float(config_setting_get_member(p, "third")) == 1.0 / 3.0); /* round trip */
	a = config_setting_get_member(p, "wide");
	ck_assert_int_eq(config_setting_type(config_setting_get_elem(a, 0)), CONFIG_TYPE_INT64);
	ck_assert(config_setting_get_int64_elem(a, 1) == 4294967296LL);
	a = config_setting_get_member(p, "floats");
	ck_assert_int_eq(config_setting_type(config_setting_get_elem(a, 0)), CONFIG_TYPE_FLOAT);
	ck_assert(config_setting_get_float_elem(a, 2) == 1e9);
	ck_assert_int_eq(config_setting_length(config_setting_get_member(p, "tables")), 2);
	ck_assert_int_eq(config_setting_length(config_setting_get_member(p, "empty")), 0);
	config_destroy(&cfg);
	free(text);
}
END_TEST

START_TEST(splitmix64_reference)
{
	/* SplitMix64 seeded with 0 starts 0xe220a8397b1dcdaf (Steele, Lea, Flood 2014; the
	 * reference implementation's output), and the state moves by the golden gamma. */
	uint64_t st = 0;
	ck_assert(ms_splitmix64(&st) == 0xe220a8397b1dcdafull);
	ck_assert(st == 0x9e3779b97f4a7c15ull);
	ck_assert(ms_splitmix64(&st) == ms_mix64(0x9e3779b97f4a7c15ull));
}
END_TEST

/* --- ms_path, ms_pool, ms_zipf, ms_warn, ms_config ------------------------------------ */

START_TEST(path_join_rules)
{
	char out[32];
	ck_assert_int_eq(ms_path_join(out, sizeof out, "runs/a.cfg", "t/x.h5"), 0);
	ck_assert_str_eq(out, "runs/t/x.h5");
	ck_assert_int_eq(ms_path_join(out, sizeof out, "/abs/dir/a.cfg", "x.h5"), 0);
	ck_assert_str_eq(out, "/abs/dir/x.h5");
	ck_assert_int_eq(ms_path_join(out, sizeof out, "a.cfg", "t/x.h5"), 0); /* no directory part */
	ck_assert_str_eq(out, "t/x.h5");
	ck_assert_int_eq(ms_path_join(out, sizeof out, "runs/a.cfg", "/etc/x.h5"), 0);
	ck_assert_str_eq(out, "/etc/x.h5");
	ck_assert_int_eq(ms_path_join(out, sizeof out, NULL, "x.h5"), 0);
	ck_assert_str_eq(out, "x.h5");
	/* 12 + 1 + 19 = 32 bytes do not fit 32 with the NUL: refused, out emptied. */
	ck_assert_int_eq(ms_path_join(out, sizeof out, "abcdefghijkl/a.cfg", "0123456789012345678"), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(ms_path_join(out, sizeof out, "abcdefghijkl/a.cfg", "012345678901234567"), 0);
	ck_assert_uint_eq(strlen(out), 31);
}
END_TEST

START_TEST(data_dir_holds_the_default)
{
	/* Run from the checkout (make check), the data directory is found and holds it. */
	char f[4200];
	const char *d = ms_data_dir(NULL);
	ck_assert_msg(d[0] != '\0', "no data directory found");
	snprintf(f, sizeof f, "%s/scenarios/default.cfg", d);
	ck_assert_msg(access(f, R_OK) == 0, "%s", f);
	ck_assert_ptr_eq(ms_data_dir("/nonexistent"), d); /* computed once */
}
END_TEST

typedef struct pool_probe {
	int runs[7];        /* how often each job index ran in this generation */
} pool_probe;

static void pool_job(void *arg, int i)
{
	pool_probe *p = arg;
	p->runs[i]++; /* each job index writes only its own slot */
}

START_TEST(pool_runs_each_job_once)
{
	ms_error err;
	ms_pool *p;
	ms_error_clear(&err);
	for (int n = 1; n <= 7; n += 3) {
		p = ms_pool_create(n, &err);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(ms_pool_size(p), n);
		for (int gen = 0; gen < 250; gen++) {
			pool_probe probe;
			memset(&probe, 0, sizeof probe);
			ms_pool_run(p, pool_job, &probe);
			for (int i = 0; i < 7; i++)
				ck_assert_int_eq(probe.runs[i], i < n ? 1 : 0);
		}
		ms_pool_destroy(p);
	}
	ms_pool_destroy(NULL);
}
END_TEST

START_TEST(zipf_weights_are_a_permuted_power_law)
{
	/* Every weight 1/(r+1)^s appears exactly once; the permutation is the seed's. */
	enum { N = 37 };
	double p[N], q[N];
	size_t perm[N];
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	int seen[N] = {0};
	gsl_rng_set(r, 2385);
	ms_zipf_popularity(r, N, 1.385, perm, p);
	for (int e = 0; e < N; e++) {
		double rank = pow(1.0 / p[e], 1.0 / 1.385) - 1.0; /* invert the weight */
		int k = (int)lround(rank);
		ck_assert_msg(fabs(rank - k) < 1e-9 && k >= 0 && k < N, "expert %d weight %g", e, p[e]);
		seen[k]++;
		ck_assert_uint_eq(perm[k], (size_t)e);
	}
	for (int k = 0; k < N; k++)
		ck_assert_int_eq(seen[k], 1);
	gsl_rng_set(r, 2385);
	ms_zipf_popularity(r, N, 1.385, perm, q);
	ck_assert_mem_eq(p, q, sizeof p);
	/* s = 0 is uniform. */
	ms_zipf_popularity(r, N, 0.0, perm, q);
	for (int e = 0; e < N; e++)
		ck_assert(q[e] == 1.0);
	gsl_rng_free(r);
}
END_TEST

static void collect(void *ctx, const char *msg)
{
	char *buf = ctx;
	strncat(buf, msg, 255 - strlen(buf));
	strncat(buf, "|", 255 - strlen(buf));
}

START_TEST(warn_goes_where_the_caller_says)
{
	char buf[256] = "";
	ms_warn w = {collect, buf};
	ms_warn none = {NULL, NULL};
	ms_warn_emit(&w, "layer %d of %s", 3, "t.h5");
	ms_warn_emit(&w, "%.3f", 2.385);
	ck_assert_str_eq(buf, "layer 3 of t.h5|2.385|");
	ms_warn_emit(NULL, "dropped %d", 1); /* no channel: nothing happens */
	ms_warn_emit(&none, "dropped %d", 2);
	ck_assert_str_eq(buf, "layer 3 of t.h5|2.385|");
}
END_TEST

START_TEST(config_type_names)
{
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_INT), "an integer");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_INT64), "an integer");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_FLOAT), "a number");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_STRING), "a string");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_GROUP), "a group");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_BOOL), "a boolean");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_ARRAY), "an array");
	ck_assert_str_eq(ms_config_type_name(CONFIG_TYPE_LIST), "a list");
	ck_assert_str_eq(ms_config_type_name(-7), "an unknown type");
}
END_TEST

/* The inline MT19937 is GSL's gsl_rng_mt19937 output for output: get, uniform and
 * uniform_pos interleaved over several refills, for seeds that catch the seeding's
 * special cases (0 means 4357; only the low 32 bits are kept, so 2^32 is not 0). */
START_TEST(mt19937_matches_gsl)
{
	static const unsigned long seeds[] = {0, 1, 4357, 2385, 0xffffffffUL, 0x100000000UL, 0x123456789abcdefUL,
					      18446744073709551557UL};
	gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
	ms_mt19937 m;
	ck_assert_ptr_nonnull(g);
	for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
		gsl_rng_set(g, seeds[si]);
		ms_mt_seed(&m, seeds[si]);
		for (int i = 0; i < 5000; i++) {
			switch (i % 3) {
			case 0: ck_assert_uint_eq(ms_mt_get(&m), gsl_rng_get(g)); break;
			case 1: ck_assert(ms_mt_uniform(&m) == gsl_rng_uniform(g)); break;
			default: ck_assert(ms_mt_uniform_pos(&m) == gsl_rng_uniform_pos(g)); break;
			}
		}
	}
	/* Re-seeding mid-stream restarts the stream. */
	gsl_rng_set(g, 42);
	ms_mt_seed(&m, 42);
	ck_assert_uint_eq(ms_mt_get(&m), gsl_rng_get(g));
	gsl_rng_free(g);
}
END_TEST

Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("ms_file");
	tcase_add_test(tc, file_force_and_no_force);
	tcase_add_test(tc, file_abort_and_library_written);
	tcase_add_test(tc, file_appeared_meanwhile);
	tcase_add_test(tc, file_stale_temporaries);
	tcase_add_test(tc, file_cleanup_all);
	suite_add_tcase(s, tc);
	tc = tcase_create("ms_cfgwrite");
	tcase_add_test(tc, cfgw_exact_text);
	tcase_add_test(tc, cfgw_reads_back);
	tcase_add_test(tc, splitmix64_reference);
	tcase_add_test(tc, mt19937_matches_gsl);
	suite_add_tcase(s, tc);
	tc = tcase_create("plumbing");
	tcase_add_test(tc, path_join_rules);
	tcase_add_test(tc, data_dir_holds_the_default);
	tcase_add_test(tc, pool_runs_each_job_once);
	tcase_add_test(tc, zipf_weights_are_a_permuted_power_law);
	tcase_add_test(tc, warn_goes_where_the_caller_says);
	tcase_add_test(tc, config_type_names);
	suite_add_tcase(s, tc);
	return s;
}
