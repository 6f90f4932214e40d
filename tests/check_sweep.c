/*
 * check_sweep.c - moesim sweep's pieces: the sweep section crossed as nested loops
 * would cross it (the oracle), every bad section refused with file:line and the fix,
 * the Pareto front against the brute-force definition, records that survive their
 * text form, a point file that cannot be written twice, and a point run equal to the
 * same scenario run directly.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/out_report.h"
#include "sim/sim_run.h"
#include "sweep/sw_point.h"
#include "sweep/sw_store.h"
#include "sweep/sw_table.h"
#include "test_util.h"

static const char base[] =
	"model = { hidden = 256; ffn_hidden = 512; experts = 8; top_k = 2; moe_layers = 2; heads = 4; vocab = 1000; };\n"
	"cluster = { nodes = 1; gpus_per_node = 4; gpu_hour_cost = 2.385; };\n"
	"parallel = { ep = 4; };\n"
	"workload = { seq_len = 128; micro_batch = 2; };\n"
	"routing = { source = \"synthetic\"; };\n"
	"network = { model = \"analytic\"; };\n";

static const char sweep3[] =
	"sweep = {\n"                                                              /* 7 */
	"  routing = { capacity_factor = (1.0, \"dropless\");\n"                   /* 8 */
	"              top_k = [1, 2, 3]; };\n"                                    /* 9 */
	"  zip = ( { cluster = { nodes = [1, 2]; };\n"                             /* 10 */
	"            parallel = { ep = [4, 8]; }; } );\n"                          /* 11 */
	"};\n";

static const char *write_scenario(char *path, size_t len, const char *sweep)
{
	char text[8192];
	snprintf(text, sizeof text, "%s%s", base, sweep);
	return tu_write_temp(path, len, text);
}

START_TEST(crossing_as_nested_loops)
{
	char path[256], buf[SW_POINT_BUF], where[512];
	int line[SCN_MAX_OVERRIDES];
	sw_spec sp;
	ms_error err;
	scn_overrides ov;
	scn_scenario *s = malloc(sizeof *s);
	static const char *const cf[] = {"1", "dropless"}, *const k[] = {"1", "2", "3"}, *const nodes[] = {"1", "2"},
				 *const ep[] = {"4", "8"};
	int64_t i = 0;
	ms_error_clear(&err);
	write_scenario(path, sizeof path, sweep3);
	ck_assert_int_eq(sw_spec_load(&sp, path, NULL, &err), MS_OK);
	ck_assert_int_eq(sp.naxes, 3);
	ck_assert_int_eq(sp.nkeys, 4);
	ck_assert_int_eq(sp.npoints, 12);
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 3; b++)
			for (int z = 0; z < 2; z++, i++) {
				ck_assert_str_eq(sw_spec_value(&sp, i, 0), cf[a]);
				ck_assert_str_eq(sw_spec_value(&sp, i, 1), k[b]);
				ck_assert_str_eq(sw_spec_value(&sp, i, 2), nodes[z]);
				ck_assert_str_eq(sw_spec_value(&sp, i, 3), ep[z]);
			}
	/* Point 9 = (dropless, top_k 2, zip 1): values land in the scenario, and each is
	 * named by its own line of the file. */
	sw_spec_point(&sp, 9, &ov, line, buf);
	ck_assert_int_eq(ov.n, 4);
	ck_assert_str_eq(ov.items[1], "routing.top_k=2");
	ck_assert_int_eq(line[0], 8);
	ck_assert_int_eq(line[1], 9);
	ck_assert_int_eq(line[3], 11);
	ck_assert_int_eq(sw_spec_load_point(&sp, 9, s, &err), MS_OK);
	ck_assert(s->routing.capacity_factor <= 0);
	ck_assert_int_eq(s->routing.top_k, 2);
	ck_assert_int_eq(s->cluster.nodes, 2);
	ck_assert_int_eq(s->parallel.ep, 8);
	snprintf(where, sizeof where, "%s:9", path);
	ck_assert_str_eq(scn_where(s, "routing.top_k", buf, sizeof buf), where);
	sw_spec_label(&sp, 9, buf, sizeof buf);
	ck_assert_str_eq(buf, "routing.capacity_factor=dropless routing.top_k=2 cluster.nodes=2 parallel.ep=8");
	sw_spec_fini(&sp);
	free(s);
	unlink(path);
}
END_TEST

START_TEST(bad_sections)
{
	static const struct {
		const char *sweep, *set, *msg;
	} cases[] = {
		{"", NULL, "no sweep section"},
		{"sweep = {\n routing = { topk = [1]; };\n};\n", NULL, ":8: unknown key 'routing.topk' (did you mean 'routing.top_k'?)"},
		{"sweep = {\n routing = { top_k = [\"x\"]; };\n};\n", NULL, ":8: routing.top_k = x is not an integer"},
		{"sweep = {\n routing = { capacity_factor = [1.25,\n -2.0]; };\n};\n", NULL,
		 ":9: routing.capacity_factor = -2 is out of range"},
		{"sweep = {\n zip = ( { cluster = { nodes = [1, 2, 4]; };\n parallel = { ep = [4, 8]; }; } );\n};\n", NULL,
		 "parallel.ep has 2 values but cluster.nodes has 3"},
		{"sweep = {\n routing = { top_k = [1]; };\n zip = ( { routing = { top_k = [2]; }; } );\n};\n", NULL,
		 ":9: routing.top_k is swept twice (also at line 8)"},
		{"sweep = {\n routing = { top_k = 2; };\n};\n", NULL, ":8: sweep routing.top_k must be a list of values"},
		{"sweep = {\n routing = { top_k = []; };\n};\n", NULL, ":8: sweep routing.top_k has no values"},
		{"sweep = {\n routing = { top_k = [1, 2]; };\n};\n", "routing.top_k=1",
		 "--set routing.top_k=1: routing.top_k is swept at"},
		{"sweep = {\n output = { h5 = [\"a.h5\"]; };\n};\n", NULL, "output.h5 cannot be swept"},
		{"sweep = {\n routing = { top_k = ({ a = 1; }); };\n};\n", NULL, "a value must be a number, a string or a boolean"},
		{"sweep = {};\n", NULL, "the sweep section is empty"},
		{"sweep = {\n zip = ( { } );\n};\n", NULL, "empty zip group"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		char path[256];
		sw_spec sp;
		ms_error err;
		scn_overrides ov = {cases[c].set ? 1 : 0, {cases[c].set}};
		ms_error_clear(&err);
		write_scenario(path, sizeof path, cases[c].sweep);
		ck_assert_int_lt(sw_spec_load(&sp, path, &ov, &err), 0);
		ck_assert_msg(strstr(err.msg, cases[c].msg), "case %zu: '%s' lacks '%s'", c, err.msg, cases[c].msg);
		unlink(path);
	}
}
END_TEST

/* The definition: p is best unless some q is at least as good everywhere and better somewhere. */
START_TEST(pareto_against_brute_force)
{
	enum { N = 240 };
	double obj[N * 4];
	int best[N];
	unsigned x = 2385;
	for (int k = 3; k <= 4; k++) {
		for (int i = 0; i < N * k; i++) {
			/* few distinct values, so ties in every objective are common */
			x = x * 1103515245u + 12345u;
			obj[i] = (double)((x >> 8) % 6) * 1.5 - 4;
		}
		sw_pareto(N, k, obj, best);
		for (int p = 0; p < N; p++) {
			int dominated = 0;
			for (int q = 0; q < N && !dominated; q++) {
				int le = 1, lt = 0;
				for (int d = 0; d < k; d++) {
					le &= obj[q * k + d] <= obj[p * k + d];
					lt |= obj[q * k + d] < obj[p * k + d];
				}
				dominated = le && lt;
			}
			ck_assert_msg(best[p] == !dominated, "k %d point %d: %d, brute force %d", k, p, best[p], !dominated);
		}
	}
}
END_TEST

START_TEST(record_text_round_trip)
{
	sw_record r, back;
	char text[SW_RECORD_TEXT_MAX];
	ms_error err;
	int n;
	ms_error_clear(&err);
	sw_record_init(&r, 41);
	sw_record_reason(&r, SW_UNFIT, "needs 95.2 GiB\nof 80 GiB");
	r.out[SW_O_STEP_TIME] = 2.385e-3 / 3.0;
	r.out[SW_O_GPUS] = 72;
	r.out[SW_O_PHASE0 + 3] = 1e-300;
	n = sw_record_write(&r, 0xabcdef0123456789ull, text, sizeof text);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sw_record_read(&back, 0xabcdef0123456789ull, text, &err), MS_OK);
	ck_assert_int_eq(back.point, 41);
	ck_assert_int_eq(back.status, SW_UNFIT);
	ck_assert_str_eq(back.reason, "needs 95.2 GiB;of 80 GiB");
	for (int i = 0; i < SW_NOUT; i++)
		ck_assert(isnan(r.out[i]) ? isnan(back.out[i]) : back.out[i] == r.out[i]);
	ck_assert_int_eq(sw_record_read(&back, 0x1ull, text, &err), MS_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "another sweep"));
	text[n - 4] = '\0'; /* "end\n" cut off */
	ms_error_clear(&err);
	ck_assert_int_eq(sw_record_read(&back, 0xabcdef0123456789ull, text, &err), MS_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "cut short"));
}
END_TEST

START_TEST(store_never_twice)
{
	char path[256], dir[256], other[300];
	sw_spec sp, sp2;
	sw_store st;
	sw_record r, back;
	ms_error err;
	ms_error_clear(&err);
	write_scenario(path, sizeof path, sweep3);
	ck_assert_int_eq(sw_spec_load(&sp, path, NULL, &err), MS_OK);
	tu_temp_dir(dir, sizeof dir);
	ck_assert_int_eq(sw_store_open(&st, dir, &sp, 0, &err), MS_OK);
	ck_assert_int_eq(sw_store_get(&st, 3, &back, &err), 0);
	sw_record_init(&r, 3);
	r.out[SW_O_TOKENS_PER_S] = 2385.5;
	ck_assert_int_eq(sw_store_put(&st, &r, &err), MS_OK);
	ck_assert_int_eq(sw_store_get(&st, 3, &back, &err), 1);
	ck_assert(back.out[SW_O_TOKENS_PER_S] == 2385.5);
	ck_assert_int_eq(sw_store_put(&st, &r, &err), MS_EEXIST);
	/* Reopened by the same sweep: kept. By another (a --set added): refused, or emptied with force. */
	ck_assert_int_eq(sw_store_open(&st, dir, &sp, 0, &err), MS_OK);
	ck_assert_int_eq(sw_store_get(&st, 3, &back, &err), 1);
	{
		scn_overrides ov = {1, {"workload.seed=7"}};
		ck_assert_int_eq(sw_spec_load(&sp2, path, &ov, &err), MS_OK);
	}
	ms_error_clear(&err);
	ck_assert_int_eq(sw_store_open(&st, dir, &sp2, 0, &err), MS_EEXIST);
	ck_assert_ptr_nonnull(strstr(err.msg, "another sweep"));
	ms_error_clear(&err);
	ck_assert_int_eq(sw_store_open(&st, dir, &sp2, 1, &err), MS_OK);
	ck_assert_int_eq(sw_store_get(&st, 3, &back, &err), 0);
	snprintf(other, sizeof other, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(other), 0);
	sw_spec_fini(&sp);
	sw_spec_fini(&sp2);
	unlink(path);
}
END_TEST

/* A point gives what the same scenario gives when run directly with the values as --set. */
START_TEST(point_equals_direct_run)
{
	char path[256], buf[SW_POINT_BUF];
	int line[SCN_MAX_OVERRIDES];
	sw_spec sp;
	sw_record rec;
	sw_run_opts o = {1, -1, 0, 0};
	scn_overrides ov;
	scn_scenario *s = malloc(sizeof *s);
	sim_result *r = NULL;
	out_summary sum;
	ms_error err;
	ms_error_clear(&err);
	write_scenario(path, sizeof path, sweep3);
	ck_assert_int_eq(sw_spec_load(&sp, path, NULL, &err), MS_OK);
	sw_point_run(&sp, 2, &o, &rec); /* capacity 1.0, top-2, 1 node */
	ck_assert_msg(rec.status == SW_OK, "%s", rec.reason);
	sw_spec_point(&sp, 2, &ov, line, buf);
	ck_assert_int_eq(scn_scenario_load(s, path, &ov, &err), MS_OK);
	ck_assert_int_eq(sim_run_scenario(s, 1, &r, &err), MS_OK);
	out_summary_compute(r, &sum);
	ck_assert(rec.out[SW_O_STEP_TIME] == sum.step_time_s);
	ck_assert(rec.out[SW_O_DROPPED_PAIRS] == sum.dropped_pair_frac);
	ck_assert(rec.out[SW_O_GPUS] == 4);
	ck_assert(fabs(rec.out[SW_O_COST_PER_HOUR] - 4 * 2.385) < 1e-12);
	ck_assert(fabs(rec.out[SW_O_COST_PER_MTOKEN] - 4 * 2.385 / (sum.tokens_per_s * 3600) * 1e6) < 1e-12);
	/* Point 5 (top-3, the zip's second pair: 2 nodes, ep 8) runs too. */
	sw_point_run(&sp, 5, &o, &rec);
	ck_assert_int_eq(rec.status, SW_OK);
	sw_spec_fini(&sp);
	sim_result_free(r);
	free(s);
	unlink(path);
}
END_TEST

START_TEST(unfit_and_refused_points)
{
	char path[256];
	sw_spec sp;
	sw_record rec;
	sw_run_opts o = {1, -1, 0, 0};
	ms_error err;
	ms_error_clear(&err);
	write_scenario(path, sizeof path,
		       "sweep = {\n"
		       "  cluster = { gpu_memory_GiB = [80.0, 0.001]; };\n"   /* 8 */
		       "  routing = { top_k = [2, 9]; };\n"                   /* 9 */
		       "};\n");
	ck_assert_int_eq(sw_spec_load(&sp, path, NULL, &err), MS_OK);
	ck_assert_int_eq(sw_point_check(&sp, 0, &o, &rec), 1);
	ck_assert_int_eq(sw_point_check(&sp, 1, &o, &rec), 0);
	ck_assert_int_eq(rec.status, SW_REFUSED);
	ck_assert_ptr_nonnull(strstr(rec.reason, ":9: routing.top_k = 9 but model.experts = 8"));
	ck_assert_int_eq(sw_point_check(&sp, 2, &o, &rec), 0);
	ck_assert_int_eq(rec.status, SW_UNFIT);
	ck_assert(rec.out[SW_O_MEM_HEADROOM] < 0);
	ck_assert(rec.out[SW_O_GPUS] == 4);
	o.allow_memory_overflow = 1;
	ck_assert_int_eq(sw_point_check(&sp, 2, &o, &rec), 1);
	sw_spec_fini(&sp);
	unlink(path);
}
END_TEST

Suite *sweep_suite(void)
{
	Suite *s = suite_create("sweep");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, crossing_as_nested_loops);
	tcase_add_test(tc, bad_sections);
	tcase_add_test(tc, pareto_against_brute_force);
	tcase_add_test(tc, record_text_round_trip);
	tcase_add_test(tc, store_never_twice);
	tcase_add_test(tc, point_equals_direct_run);
	tcase_add_test(tc, unfit_and_refused_points);
	suite_add_tcase(s, tc);
	return s;
}
