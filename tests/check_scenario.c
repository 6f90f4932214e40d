/*
 * check_scenario.c - loading and validation: every bad input gives the intended
 * message (file:line, key, what is allowed) and a negative code; overrides and
 * derived defaults resolve as documented.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scn_scenario.h"
#include "test_util.h"

static const char base[] =
	"model = {\n"                                   /* 1 */
	"  hidden = 1024; ffn_hidden = 2816;\n"         /* 2 */
	"  experts = 8;\n"                              /* 3 */
	"  top_k = 2;\n"                                /* 4 */
	"  moe_layers = 3; heads = 8;\n"                /* 5 */
	"};\n"                                          /* 6 */
	"cluster = { nodes = 2; gpus_per_node = 4; };\n" /* 7 */
	"parallel = { ep = 8; };\n"                     /* 8 */
	"workload = { tokens_per_rank = 512; seq_len = 512; };\n"; /* 9 */

/* Loads base with one line replaced (0: none) or text appended, plus overrides. */
static int load_variant(scn_scenario *s, ms_error *err, int line, const char *replace, const char *append,
			const scn_overrides *ov, char *path, size_t plen)
{
	char text[4096] = "";
	const char *p = base;
	int rc;
	for (int ln = 1; *p; ln++) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p) + 1;
		if (ln == line)
			strcat(text, replace);
		else
			strncat(text, p, n);
		p += n;
	}
	if (append)
		strcat(text, append);
	tu_write_temp(path, plen, text);
	ms_error_clear(err);
	rc = scn_scenario_load(s, path, ov, err);
	return rc;
}

static void expect_error(int line, const char *replace, const char *append, const char *want_fmt)
{
	scn_scenario s;
	ms_error err;
	char path[256], want[512] = "";
	const char *ph;
	int rc = load_variant(&s, &err, line, replace, append, NULL, path, sizeof path);
	/* want_fmt holds at most one %s, replaced by the file's path. */
	ph = strstr(want_fmt, "%s");
	if (ph)
		snprintf(want, sizeof want, "%.*s%s%s", (int)(ph - want_fmt), want_fmt, path, ph + 2);
	else
		snprintf(want, sizeof want, "%s", want_fmt);
	if (rc >= 0)
		ck_abort_msg("expected an error containing '%s'", want);
	if (!strstr(err.msg, want))
		ck_abort_msg("message\n  %s\ndoes not contain\n  %s", err.msg, want);
	remove(path);
}

START_TEST(valid_and_derived)
{
	scn_scenario s;
	ms_error err;
	char path[256];
	ck_assert_int_eq(load_variant(&s, &err, 0, NULL, NULL, NULL, path, sizeof path), MS_OK);
	ck_assert_int_eq(s.model.kv_heads, 8);      /* 0 -> heads */
	ck_assert_int_eq(s.model.head_dim, 128);    /* hidden / heads */
	ck_assert_int_eq(s.routing.top_k, 2);       /* 0 -> model.top_k */
	ck_assert_int_eq(s.parallel.dp, 8);
	ck_assert_int_eq(s.cluster.nics_per_node, 4);
	ck_assert_int_eq(s.model.dtype_bytes, 2);
	ck_assert_double_eq(s.routing.capacity_factor, 1.25);
	ck_assert_int_eq(s.workload.context_len, 512);
	remove(path);
	/* 12 experts do not split over 8 GPUs, but 12 + 4 replicas do under load_aware */
	ck_assert_int_eq(load_variant(&s, &err, 3, "  experts = 12;\n",
				      "routing = { placement = \"load_aware\"; redundant_experts = 4; };\n", NULL, path,
				      sizeof path),
			 MS_OK);
	remove(path);
}
END_TEST

START_TEST(default_scenario_loads)
{
	scn_scenario s;
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, NULL, NULL, &err), MS_OK);
	ck_assert_str_eq(s.source, "<built-in default>");
	ck_assert_int_eq(s.model.experts, 8);
}
END_TEST

START_TEST(impossible_values)
{
	expect_error(4, "  top_k = 9;\n", NULL, "%s:4: model.top_k = 9 but model.experts = 8");
	expect_error(8, "parallel = { ep = 3; };\n", NULL,
		     "%s:8: parallel.ep = 3 does not divide the cluster's 8 GPUs");
	expect_error(3, "  experts = 12;\n", NULL, "%s:8: parallel.ep = 8 does not divide model.experts = 12");
	expect_error(5, "  moe_layers = 3; heads = 8; kv_heads = 3;\n", NULL,
		     "%s:5: model.kv_heads = 3 does not divide model.heads = 8");
	expect_error(8, "parallel = { ep = 8; pp = 3; };\n", NULL,
		     "%s:8: parallel.tp x cp x pp = 1 x 1 x 3 = 3 does not divide the cluster's 8 GPUs");
	expect_error(8, "parallel = { ep = 8; dp = 4; };\n", NULL,
		     "%s:8: parallel.dp = 4 but the cluster's 8 GPUs / (tp x cp x pp = 1) = 8");
	expect_error(9, "workload = { tokens_per_rank = 512; micro_batch = 2; seq_len = 512; };\n", NULL,
		     "%s:9: workload.tokens_per_rank = 512 but micro_batch = 2 x 512 / 1 = 1024");
	expect_error(9, "workload = { global_batch = 12; micro_batch = 1; seq_len = 512; };\n", NULL,
		     "%s:9: workload.global_batch = 12 is not a multiple of micro_batch x dp = 1 x 8 = 8");
	expect_error(9, "workload = { tokens_per_rank = 700; seq_len = 512; };\n", NULL,
		     "%s:9: workload.tokens_per_rank = 700 is not a whole number of sequences");
	expect_error(0, NULL, "routing = { top_k = 9; };\n", "%s:10: routing.top_k = 9 but model.experts = 8");
	expect_error(0, NULL, "routing = { placement = \"load_aware\"; redundant_experts = 3; };\n",
		     "%s:10: model.experts + routing.redundant_experts = 8 + 3 is not a multiple of parallel.ep = 8");
	expect_error(0, NULL, "routing = { redundant_experts = 8; };\n",
		     "%s:10: routing.redundant_experts = 8 needs routing.placement = \"load_aware\"");
	expect_error(0, NULL, "routing = { placement = \"file\"; };\n",
		     "%s:10: routing.placement = \"file\" needs routing.placement_file");
	expect_error(0, NULL, "routing = { source = \"trace\"; };\n",
		     "%s:10: routing.source = \"trace\" needs routing.trace = \"FILE.h5\"");
	expect_error(0, NULL, "routing = { distribution = \"balanced\";\n node_limit = 1; };\n",
		     "%s:11: routing.node_limit = 1 cannot apply to routing.distribution = \"balanced\"");
	expect_error(0, NULL, "routing = { capacity_factor = \"dropless\";\n pad_to_capacity = true; };\n",
		     "%s:11: routing.pad_to_capacity = true needs a numeric routing.capacity_factor, but it is "
		     "\"dropless\" (");
	expect_error(0, NULL, "routing = { pad_to_capacity = 1; };\n",
		     "%s:10: routing.pad_to_capacity must be true or false (no quotes), not an integer");

}
END_TEST

START_TEST(bad_types_and_ranges)
{
	expect_error(3, "  experts = \"eight\";\n", NULL, "%s:3: model.experts must be an integer, not a string");
	expect_error(3, "  experts = 0;\n", NULL, "%s:3: model.experts = 0 is out of range: allowed 1 to 65536");
	expect_error(0, NULL, "routing = { capacity_factor = -1.5; };\n", "%s:10: routing.capacity_factor = -1.5 is out of range");
	expect_error(0, NULL, "routing = { capacity_factor = \"lots\"; };\n",
		     "%s:10: routing.capacity_factor = \"lots\" is not allowed: give a number > 0 or \"dropless\"");
	expect_error(0, NULL, "routing = { drop_policy = \"random\"; };\n",
		     "%s:10: routing.drop_policy = \"random\" is not allowed: choose one of probs|position");
	expect_error(0, NULL, "cluster2 = { nodes = 1; };\n", "%s:10: unknown section 'cluster2'");
	expect_error(3, "  expert = 8;\n", NULL, "%s:3: unknown key 'model.expert' (did you mean 'model.experts'?)");
	expect_error(3, "\n", NULL, "missing required key model.experts: add `experts = ...;` to the model section");
	expect_error(2, "  hidden = = 1024; ffn_hidden = 2816;\n", NULL, "%s:2: syntax error");
	expect_error(7, "cluster = 3;\n", NULL, "%s:7: 'cluster' must be a group");
}
END_TEST

START_TEST(overrides)
{
	scn_scenario s;
	ms_error err;
	char path[256];
	scn_overrides ov = {3, {"routing.top_k=4", "routing.capacity_factor=dropless", "model.name=\"x y\""}};
	ck_assert_int_eq(load_variant(&s, &err, 0, NULL, NULL, &ov, path, sizeof path), MS_OK);
	ck_assert_int_eq(s.routing.top_k, 4);
	ck_assert_double_eq(s.routing.capacity_factor, 0.0);
	ck_assert_str_eq(s.model.name, "x y");
	remove(path);

	ov = (scn_overrides){1, {"model.top_k=9"}};
	ck_assert_int_lt(load_variant(&s, &err, 0, NULL, NULL, &ov, path, sizeof path), 0);
	ck_assert_str_eq(err.msg, "--set model.top_k=9: model.top_k = 9 but model.experts = 8: top_k must be at most experts");
	remove(path);

	ov = (scn_overrides){1, {"model.topk=9"}};
	ck_assert_int_lt(load_variant(&s, &err, 0, NULL, NULL, &ov, path, sizeof path), 0);
	ck_assert_str_eq(err.msg, "--set model.topk=9: unknown key 'model.topk' (did you mean 'model.top_k'?)");
	remove(path);

	ov = (scn_overrides){1, {"model.hidden"}};
	ck_assert_int_lt(load_variant(&s, &err, 0, NULL, NULL, &ov, path, sizeof path), 0);
	ck_assert(strstr(err.msg, "expected section.key=value") != NULL);
	remove(path);

	ov = (scn_overrides){1, {"model.hidden=12x"}};
	ck_assert_int_lt(load_variant(&s, &err, 0, NULL, NULL, &ov, path, sizeof path), 0);
	ck_assert_str_eq(err.msg, "--set model.hidden=12x: model.hidden = 12x is not an integer");
	remove(path);
}
END_TEST

START_TEST(missing_file)
{
	scn_scenario s;
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, "/nonexistent/x.cfg", NULL, &err), MS_EIO);
	ck_assert_str_eq(err.msg, "cannot read scenario file '/nonexistent/x.cfg': No such file or directory");
}
END_TEST

START_TEST(resolved_round_trip)
{
	/* The resolved text loads back to the same values. */
	scn_scenario a, b;
	ms_error err;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&a, NULL, NULL, &err), MS_OK);
	f = open_memstream(&text, &len);
	scn_write_resolved(f, &a);
	fclose(f);
	ck_assert_int_eq(scn_scenario_load_text(&b, text, "resolved", NULL, &err), MS_OK);
	free(text);
	ck_assert_int_eq(a.model.kv_heads, b.model.kv_heads);
	ck_assert_double_eq(a.routing.capacity_factor, b.routing.capacity_factor);
	ck_assert_double_eq(a.routing.zipf_s, b.routing.zipf_s);
	ck_assert_int_eq(a.routing.distribution, b.routing.distribution);
	ck_assert_int_eq((int)a.workload.seed, (int)b.workload.seed);
	ck_assert_str_eq(a.cluster.gpu, b.cluster.gpu);
}
END_TEST

START_TEST(one_rule_for_named_files)
{
	/* Every key naming a file follows scn_resolve_path's rule, whatever the key. */
	char path[512], out[512];
	scn_scenario s;
	ms_error err;
	const char *keys[] = {"routing.trace", "cluster.profile", "network.file", "routing.placement_file"};
	scn_overrides ov = {1, {"routing.placement_file=from/set.txt"}};
	ms_error_clear(&err);
	ck_assert_int_eq(load_variant(&s, &err, 0, NULL, "", &ov, path, sizeof path), MS_OK);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char dir[512];
		const char *slash = strrchr(path, '/');
		snprintf(dir, sizeof dir, "%.*s/rel/x.h5", (int)(slash - path), path);
		/* From the file (or its default): the scenario file's directory. */
		if (strcmp(keys[i], "routing.placement_file") != 0) {
			ck_assert_int_eq(scn_resolve_path(&s, keys[i], "rel/x.h5", out, sizeof out, &err), MS_OK);
			ck_assert_str_eq(out, dir);
		}
		/* Absolute: as given. */
		ck_assert_int_eq(scn_resolve_path(&s, keys[i], "/abs/x.h5", out, sizeof out, &err), MS_OK);
		ck_assert_str_eq(out, "/abs/x.h5");
	}
	/* From --set: the working directory, as typed. */
	ck_assert_int_eq(scn_resolve_path(&s, "routing.placement_file", "from/set.txt", out, sizeof out, &err), MS_OK);
	ck_assert_str_eq(out, "from/set.txt");
	/* Too long for the buffer: an error naming the key's origin, no truncated name. */
	ck_assert_int_eq(scn_resolve_path(&s, "routing.trace", "a/long/name.h5", out, 8, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "routing.trace: the path is longer than 7 bytes") != NULL, "%s", err.msg);
	ck_assert_str_eq(out, "");
	unlink(path);
	/* The built-in default: the data directory's scenarios/ (the checkout here). */
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, NULL, NULL, &err), MS_OK);
	ck_assert_int_eq(scn_resolve_path(&s, "routing.trace", s.routing.trace, out, sizeof out, &err), MS_OK);
	ck_assert_msg(strstr(out, "scenarios/traces/tiny-moe-4dom.h5") != NULL && access(out, R_OK) == 0, "%s", out);
}
END_TEST

Suite *scenario_suite(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, valid_and_derived);
	tcase_add_test(tc, default_scenario_loads);
	tcase_add_test(tc, impossible_values);
	tcase_add_test(tc, bad_types_and_ranges);
	tcase_add_test(tc, overrides);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, resolved_round_trip);
	tcase_add_test(tc, one_rule_for_named_files);
	suite_add_tcase(s, tc);
	return s;
}
