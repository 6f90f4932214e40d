/*
 * check_fit.c - `trace synth --match` (trace/tr_fit.h): a trace synthesised with known
 * parameters (per-layer copy probabilities, plain and with the first two swapped, three
 * topics with their own shares and
 * sequence mixture) is measured and fitted, and the fit must give those parameters
 * back within their sampling error; the measurement itself by hand on a tiny trace; topics
 * inside a label found again by clustering the sequences.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/tr_fit.h"
#include "trace/tr_synth.h"
#include "trace/tr_writer.h"
#include "test_util.h"

enum { L = 2, E = 8, D = 3 };

START_TEST(match_recovers_known_parameters)
{
	static const char *const names[D] = {"code", "prose", "math"};
	static const double rho[L] = {0.15, 0.6}, swap[L] = {0.12, 0.0}, mix[D] = {0.5, 0.3, 0.2};
	double table[L * D * E], w[L * D * E];
	char dir[4096], src[4200], syn[4200];
	tr_synth_opts o;
	tr_fit *f, *g;
	tr_reader *r;
	ms_error err;
	/* Shares: domain d leans on experts 3d and 3d + 1 in layer 0, on 7 - d in layer 1; awkward values. */
	for (int l = 0; l < L; l++)
		for (int d = 0; d < D; d++) {
			double *s = table + ((size_t)l * D + d) * E, sum = 0;
			for (int e = 0; e < E; e++) {
				s[e] = 0.05 + 0.0137 * e;
				if (l == 0 && (e == 3 * d || e == 3 * d + 1))
					s[e] += 0.385;
				if (l == 1 && e == 7 - d)
					s[e] += 0.2385;
				sum += s[e];
			}
			for (int e = 0; e < E; e++)
				s[e] /= sum;
		}
	snprintf(src, sizeof src, "%s/known.h5", tu_temp_dir(dir, sizeof dir));
	snprintf(syn, sizeof syn, "%s/fitted.h5", dir);
	tr_synth_defaults(&o);
	o.layers = L;
	o.experts = E;
	o.depth = 4;
	o.top_k = 2;
	o.tokens = 96000;
	o.seed = 2385;
	o.dist = TR_DIST_UNIFORM;
	o.domains = D;
	o.domain_table = table;
	o.domain_mix = mix;
	o.domain_names = names;
	o.layer_correlation = rho;
	o.layer_swap = swap;
	o.steps = 3;
	o.ranks = 2;
	o.seq_len = 64;
	ms_error_clear(&err);
	ck_assert_msg(tr_synth_write(src, 1, &o, &err) == MS_OK, "%s", err.msg);
	ck_assert_msg(tr_synth_weights(&o, w, NULL, &err) == MS_OK, "%s", err.msg);

	ck_assert_ptr_nonnull(r = tr_open(src, &err));
	ck_assert_msg(tr_fit_measure(r, 0, 1, &f, &err) == MS_OK, "%s", err.msg);
	tr_close(r);
	ck_assert_msg(tr_fit_solve(f, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(f->domains, D);
	ck_assert_int_eq(f->steps, 3);
	ck_assert_int_eq(f->ranks, 2);
	ck_assert_int_eq(f->seq_len, 64);
	ck_assert_int_eq(f->sequences, 1500);
	ck_assert_str_eq(f->domain_names[2], "math");
	/* 1,500 sequences: a mixture share's standard error is at most 0.013. */
	for (int d = 0; d < D; d++)
		ck_assert_msg(fabs(f->domain_mix[d] - mix[d]) < 0.04, "domain %d mixture %.4f, true %.4f", d, f->domain_mix[d],
			      mix[d]);
	/* At least 19,000 tokens a domain: a share's standard error is below 0.003. */
	for (int i = 0; i < L * D * E; i++)
		ck_assert_msg(fabs(f->domain_shares[i] - table[i]) < 0.012, "layer %d domain %d expert %d: share %.4f, true %.4f",
			      i / (D * E), i / E % D, i % E, f->domain_shares[i], table[i]);
	/* rho: the repeat rate over 94,500 pairs (standard error 0.002) through (r1 - b) / (1 - b). */
	for (int l = 0; l < L; l++) {
		double b = 0;
		for (int d = 0; d < D; d++)
			for (int e = 0; e < E; e++)
				b += mix[d] * w[((size_t)l * D + d) * E + e] * w[((size_t)l * D + d) * E + e];
		ck_assert_msg(fabs(f->baseline[l] - b) < 0.01, "layer %d: b %.4f, true %.4f", l, f->baseline[l], b);
		ck_assert_msg(fabs(f->rho[l] - rho[l]) < 0.02, "layer %d: rho %.4f, true %.4f", l, f->rho[l], rho[l]);
		ck_assert_msg(fabs(f->swap[l] - swap[l]) < 0.02, "layer %d: swap %.4f, true %.4f", l, f->swap[l], swap[l]);
	}
	/* Synthesised from the fit and measured back: the same repeat rates and skew. */
	tr_fit_synth_opts(f, &o);
	o.seed = 7;
	ck_assert_msg(tr_synth_write(syn, 1, &o, &err) == MS_OK, "%s", err.msg);
	ck_assert_ptr_nonnull(r = tr_open(syn, &err));
	ck_assert_msg(tr_fit_measure(r, 0, 1, &g, &err) == MS_OK, "%s", err.msg);
	tr_close(r);
	for (int l = 0; l < L; l++) {
		ck_assert_msg(fabs(g->repeat1[l] - f->repeat1[l]) < 0.015, "layer %d: r1 %.4f vs %.4f", l, g->repeat1[l],
			      f->repeat1[l]);
		ck_assert_msg(fabs(g->repeat12[l] - f->repeat12[l]) < 0.015, "layer %d: r12 %.4f vs %.4f", l, g->repeat12[l],
			      f->repeat12[l]);
		ck_assert_msg(fabs(g->seq_skew[l] - f->seq_skew[l]) / f->seq_skew[l] < 0.02, "layer %d: skew %.4f vs %.4f", l,
			      g->seq_skew[l], f->seq_skew[l]);
		ck_assert_msg(fabs(g->max_mean[l] - f->max_mean[l]) / f->max_mean[l] < 0.02, "layer %d: max/mean %.4f vs %.4f",
			      l, g->max_mean[l], f->max_mean[l]);
	}
	tr_fit_free(f);
	tr_fit_free(g);
	remove(src);
	remove(syn);
}
END_TEST

START_TEST(measure_by_hand)
{
	/* One layer, 4 experts, top-2; sequences [0,1] [0,2] [1,0] | [2,3] [3,2] [3,0] (the stats_by_hand
	 * rankings, second sequence's middle one swapped). Pairs: 4. First choice repeats: (0,0) yes,
	 * (0,1) no, (2,3) no, (3,3) yes: r1 = 0.5. First among the previous two: + (1 in {0,2})? no;
	 * (3 in {2,3}) yes: r12 = 0.75. Sequence loads: (3,2,1,0) and (1,0,2,3), max/mean 3 / (6 / 4)
	 * = 2 each: skew 2. */
	static const int16_t ids[12] = {0, 1, 0, 2, 1, 0, 2, 3, 3, 2, 3, 0};
	static const float sc[12] = {0.6f, 0.3f, 0.5f, 0.4f, 0.7f, 0.2f, 0.6f, 0.3f, 0.55f, 0.35f, 0.8f, 0.1f};
	tr_token tok[6];
	tr_meta m;
	tr_writer *wr;
	tr_reader *r;
	tr_fit *f;
	ms_error err;
	char dir[4096], path[4200];
	memset(&m, 0, sizeof m);
	m.num_layers = 1;
	m.num_experts = 4;
	m.depth = 2;
	m.top_k = 2;
	m.score_kind = TR_SCORE_SOFTMAX;
	for (int i = 0; i < 6; i++)
		tok[i] = (tr_token){.sequence = i / 3, .step = 0, .position = i % 3, .rank = 0, .domain = -1};
	snprintf(path, sizeof path, "%s/hand.h5", tu_temp_dir(dir, sizeof dir));
	ms_error_clear(&err);
	ck_assert_ptr_nonnull(wr = tr_writer_create(path, 1, &m, &err));
	ck_assert_msg(tr_writer_append(wr, 6, ids, sc, NULL, tok, &err) == MS_OK, "%s", err.msg);
	ck_assert_msg(tr_writer_finish(wr, &err) == MS_OK, "%s", err.msg);
	ck_assert_ptr_nonnull(r = tr_open(path, &err));
	ck_assert_msg(tr_fit_measure(r, 0, 1, &f, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(f->pairs, 4);
	ck_assert_int_eq(f->sequences, 2);
	ck_assert_int_eq(f->seq_len, 3);
	ck_assert_double_eq_tol(f->repeat1[0], 0.5, 1e-12);
	ck_assert_double_eq_tol(f->repeat12[0], 0.75, 1e-12);
	ck_assert_double_eq_tol(f->seq_skew[0], 2.0, 1e-12);
	ck_assert_double_eq_tol(f->max_mean[0], 4.0 / 3.0, 1e-12);
	ck_assert_double_eq_tol(f->shares[0], 4.0 / 12.0, 1e-12);
	tr_fit_free(f);
	/* Too few tokens to fit is a message. */
	ck_assert_int_eq(tr_fit_measure(r, 3, 1, &f, &err), MS_ERANGE);
	tr_close(r);
	remove(path);
}
END_TEST

START_TEST(topics_recovered_by_clustering)
{
	/* Four topics written as two labels (topics 0, 1 -> "a"; 2, 3 -> "b"), each topic on its own two
	 * experts in both layers; clustering two topics a label must find them: mixture and shares. */
	static const char *const names[2] = {"a", "b"};
	static const int label[4] = {0, 0, 1, 1};
	static const double mix[4] = {0.4, 0.1, 0.2, 0.3};
	double table[2 * 4 * 8];
	char dir[4096], src[4200];
	tr_synth_opts o;
	tr_fit *f;
	tr_reader *r;
	ms_error err;
	for (int l = 0; l < 2; l++)
		for (int q = 0; q < 4; q++)
			for (int e = 0; e < 8; e++)
				table[(l * 4 + q) * 8 + e] = e / 2 == q ? 0.4 : 0.2 / 6;
	snprintf(src, sizeof src, "%s/topics.h5", tu_temp_dir(dir, sizeof dir));
	tr_synth_defaults(&o);
	o.layers = 2;
	o.experts = 8;
	o.depth = 2;
	o.top_k = 2;
	o.tokens = 40000;
	o.seed = 2385;
	o.domains = 4;
	o.domain_table = table;
	o.domain_mix = mix;
	o.topic_label = label;
	o.labels = 2;
	o.domain_names = names;
	o.seq_len = 50;
	ms_error_clear(&err);
	ck_assert_msg(tr_synth_write(src, 1, &o, &err) == MS_OK, "%s", err.msg);
	ck_assert_ptr_nonnull(r = tr_open(src, &err));
	ck_assert_int_eq(tr_get_info(r)->num_domains, 2);
	ck_assert_msg(tr_fit_measure(r, 0, 2, &f, &err) == MS_OK, "%s", err.msg);
	tr_close(r);
	ck_assert_int_eq(f->topics, 4);
	for (int q = 0; q < 4; q++) {
		/* The topic's dominant experts say which true topic it is. */
		int e0 = 0, t;
		for (int e = 1; e < 8; e++)
			if (f->topic_shares[q * 8 + e] > f->topic_shares[q * 8 + e0])
				e0 = e;
		t = e0 / 2;
		ck_assert_int_eq(f->topic_label[q], label[t]);
		ck_assert_msg(fabs(f->topic_mix[q] - mix[t]) < 0.05, "topic %d (true %d): mixture %.3f, true %.3f", q, t,
			      f->topic_mix[q], mix[t]);
		for (int l = 0; l < 2; l++)
			for (int e = 0; e < 8; e++)
				ck_assert_msg(fabs(f->topic_shares[(l * 4 + q) * 8 + e] - table[(l * 4 + t) * 8 + e]) < 0.03,
					      "layer %d topic %d expert %d: %.4f, true %.4f", l, q, e,
					      f->topic_shares[(l * 4 + q) * 8 + e], table[(l * 4 + t) * 8 + e]);
	}
	tr_fit_free(f);
	remove(src);
}
END_TEST

Suite *fit_suite(void)
{
	Suite *s = suite_create("fit");
	TCase *tc = tcase_create("match");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, match_recovers_known_parameters);
	tcase_add_test(tc, measure_by_hand);
	tcase_add_test(tc, topics_recovered_by_clustering);
	suite_add_tcase(s, tc);
	return s;
}
