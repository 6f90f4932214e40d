/*
 * check_dualpipe.c - DualPipe (schedule.overlap = "dualpipe"): rank by rank, the actions
 * against deepseek-ai/DualPipe's step() (tests/dualpipe_oracle.py transcribes it), their
 * bookkeeping (each direction's micro-batches once forward and once backward, every
 * deferred weight chunk computed, every send received), the bubble of the DeepSeek-V3
 * report's Table 2, (PP/2 - 1)(F&B + B - 3W), timed by an independent evaluator of the
 * actions and by the engine, and the peak of PP + 1 chunks in flight.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "sim/sim_sched.h"
#include "test_util.h"

static sim_dp_action *actions(int pp, int m, int r, int *n)
{
	int cap = sim_dualpipe_cap(m);
	sim_dp_action *a = malloc((size_t)cap * sizeof *a);
	ck_assert_ptr_nonnull(a);
	*n = sim_dualpipe_build(pp, m, r, a, cap);
	ck_assert_int_ge(*n, 0);
	return a;
}

/* The encoding tests/dualpipe_oracle.py prints: rF1 a receive of activations of direction
 * 1, sB0 a send of gradients, C a commit, F / B / b (zero bubble) a chunk, X01 a forward of
 * direction 0 overlapped with a backward of direction 1, W a weight chunk. */
static void expect_actions(int pp, int m, int r, const char *want)
{
	int n;
	sim_dp_action *a = actions(pp, m, r, &n);
	char got[4096] = "";
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		const sim_dp_action *x = &a[i];
		const char *sep = i ? " " : "";
		switch (x->kind) {
		case SIM_DP_RECV_F: len += (size_t)snprintf(got + len, sizeof got - len, "%srF%d", sep, x->dir); break;
		case SIM_DP_RECV_B: len += (size_t)snprintf(got + len, sizeof got - len, "%srB%d", sep, x->dir); break;
		case SIM_DP_SEND_F: len += (size_t)snprintf(got + len, sizeof got - len, "%ssF%d", sep, x->dir); break;
		case SIM_DP_SEND_B: len += (size_t)snprintf(got + len, sizeof got - len, "%ssB%d", sep, x->dir); break;
		case SIM_DP_COMMIT: len += (size_t)snprintf(got + len, sizeof got - len, "%sC", sep); break;
		case SIM_DP_F: len += (size_t)snprintf(got + len, sizeof got - len, "%sF%d", sep, x->dir); break;
		case SIM_DP_B: len += (size_t)snprintf(got + len, sizeof got - len, "%s%c%d", sep, x->zb ? 'b' : 'B', x->dir); break;
		case SIM_DP_FB: len += (size_t)snprintf(got + len, sizeof got - len, "%sX%d%d", sep, x->dir, x->dir1); break;
		default: len += (size_t)snprintf(got + len, sizeof got - len, "%sW", sep); break;
		}
	}
	ck_assert_msg(strcmp(got, want) == 0, "pp %d m %d rank %d:\n got  %s\n want %s", pp, m, r, got, want);
	free(a);
}

/* `python3 tests/dualpipe_oracle.py --actions 4 8 R`, ranks 0 and 1 (2 and 3 mirror them). */
START_TEST(actions_as_dualpipe)
{
	expect_actions(4, 8, 0,
		       "C F0 sF0 C F0 sF0 C F0 rF1 C F1 sF0 C b1 sB1 rF1 C W C F1 C X01 sF0 sB1 rF1 rB0 C X10 C B1 sB1 "
		       "rF1 rB0 C X10 C B1 sB1 rB0 C b0 C W rB0 C b0 C W C");
	expect_actions(4, 8, 1,
		       "rF0 C F0 sF0 rF0 rF1 C F1 sF1 C F0 sF0 rF0 rF1 C F1 C F0 sF1 rB1 C B1 sF0 sB1 rF1 rB0 C X10 sF1 "
		       "sB0 rF0 rB1 C X01 sF0 sB1 rF1 rB0 C X10 sF1 sB0 rB1 C B1 sB1 rB0 C B0 sB0 rB1 C b1 sB1 rB0 C b0 "
		       "sB0 C W C W C");
}
END_TEST

/* Each direction's m / 2 micro-batches run forward once, in order, and backward once,
 * after; every deferred weight chunk is computed; each rank sends as many activations and
 * gradients as its neighbour receives. */
START_TEST(actions_complete)
{
	for (int pp = 2; pp <= 10; pp += 2)
		for (int m = 2 * pp; m <= 3 * pp + 2; m += 2) {
			int sends[64][2][2] = {{{0}}}, recvs[64][2][2] = {{{0}}};
			for (int r = 0; r < pp; r++) {
				int n, f[2] = {0, 0}, b[2] = {0, 0}, deferred = 0;
				sim_dp_action *a = actions(pp, m, r, &n);
				for (int i = 0; i < n; i++) {
					const sim_dp_action *x = &a[i];
					int fd = -1, fm = 0, bd = -1, bm = 0;
					if (x->kind == SIM_DP_F || x->kind == SIM_DP_FB)
						fd = x->dir, fm = x->mb;
					if (x->kind == SIM_DP_B)
						bd = x->dir, bm = x->mb;
					if (x->kind == SIM_DP_FB)
						bd = x->dir1, bm = x->mb1;
					if (fd >= 0) {
						ck_assert_int_eq(fm, f[fd]);
						f[fd]++;
					}
					if (bd >= 0) {
						ck_assert_int_eq(bm, b[bd]);
						ck_assert_int_lt(bm, f[bd]);
						b[bd]++;
					}
					deferred += x->kind == SIM_DP_B && x->zb;
					deferred -= x->kind == SIM_DP_W;
					ck_assert_int_ge(deferred, 0);
					if (x->kind == SIM_DP_SEND_F || x->kind == SIM_DP_SEND_B) {
						int to = (x->dir == 0) == (x->kind == SIM_DP_SEND_F) ? r + 1 : r - 1;
						ck_assert(to >= 0 && to < pp);
						sends[to][x->kind == SIM_DP_SEND_B][x->dir]++;
					}
					if (x->kind == SIM_DP_RECV_F || x->kind == SIM_DP_RECV_B)
						recvs[r][x->kind == SIM_DP_RECV_B][x->dir]++;
				}
				for (int d = 0; d < 2; d++) {
					ck_assert_int_eq(f[d], m / 2);
					ck_assert_int_eq(b[d], m / 2);
				}
				ck_assert_int_eq(deferred, 0);
				ck_assert_int_eq(a[n - 1].kind, SIM_DP_COMMIT);
				free(a);
			}
			ck_assert(memcmp(sends, recvs, sizeof sends) == 0);
		}
}
END_TEST

/*
 * An evaluator of the actions, independent of the engine: every rank runs its actions in
 * order; a commit launches the posted sends (landing `lat` later) and waits for the
 * posted receives; F, B, W and FB take the given times, a zero-bubble B takes B - W.
 * Writes each rank's end and busy time; returns 0 on a deadlock.
 */
typedef struct chunk_times {
	double F, B, W, FB, lat;
} chunk_times;

#define MAXP 16
#define MAXM 64

static int evaluate(int pp, int m, const chunk_times *c, double *end, double *busy, int *peak0, int *peak1)
{
	sim_dp_action *a[MAXP];
	int n[MAXP], pc[MAXP], progress = 1, done = 0;
	int posted[MAXP][8][3], np[MAXP], open[MAXP][2];
	/* arrival of (kind 0 activations / 1 gradients, direction, index) at a rank, < 0: not yet */
	static double arrive[MAXP][2][2][MAXM];
	for (int r = 0; r < pp; r++) {
		a[r] = actions(pp, m, r, &n[r]);
		pc[r] = np[r] = 0;
		end[r] = busy[r] = 0;
		open[r][0] = open[r][1] = peak0[r] = peak1[r] = 0;
		for (int k = 0; k < 2 * 2 * MAXM; k++)
			(&arrive[r][0][0][0])[k] = -1;
	}
	while (progress) {
		progress = 0;
		for (int r = 0; r < pp; r++)
			while (pc[r] < n[r]) {
				const sim_dp_action *x = &a[r][pc[r]];
				int blocked = 0;
				switch (x->kind) {
				case SIM_DP_RECV_F:
				case SIM_DP_RECV_B:
				case SIM_DP_SEND_F:
				case SIM_DP_SEND_B:
					posted[r][np[r]][0] = x->kind;
					posted[r][np[r]][1] = x->dir;
					posted[r][np[r]][2] = x->mb;
					np[r]++;
					break;
				case SIM_DP_COMMIT:
					for (int j = 0; j < np[r]; j++) {
						int k = posted[r][j][0], d = posted[r][j][1], i = posted[r][j][2];
						if (k == SIM_DP_SEND_F || k == SIM_DP_SEND_B) {
							int g = k == SIM_DP_SEND_B, to = (d == 0) != g ? r + 1 : r - 1;
							arrive[to][g][d][i] = end[r] + c->lat;
							posted[r][j][0] = -1; /* launched */
						}
					}
					for (int j = 0; j < np[r] && !blocked; j++) {
						int k = posted[r][j][0];
						if (k == SIM_DP_RECV_F || k == SIM_DP_RECV_B)
							blocked = arrive[r][k == SIM_DP_RECV_B][posted[r][j][1]][posted[r][j][2]] < 0;
					}
					if (blocked)
						break;
					for (int j = 0; j < np[r]; j++) {
						int k = posted[r][j][0];
						if (k == SIM_DP_RECV_F || k == SIM_DP_RECV_B)
							end[r] = fmax(end[r], arrive[r][k == SIM_DP_RECV_B][posted[r][j][1]][posted[r][j][2]]);
					}
					np[r] = 0;
					break;
				case SIM_DP_F: end[r] += c->F, busy[r] += c->F, open[r][x->dir]++; break;
				case SIM_DP_B: {
					double d = x->zb ? c->B - c->W : c->B;
					end[r] += d, busy[r] += d, open[r][x->dir]--;
					break;
				}
				case SIM_DP_FB: end[r] += c->FB, busy[r] += c->FB, open[r][x->dir]++; break;
				default: end[r] += c->W, busy[r] += c->W; break;
				}
				if (blocked)
					break;
				if (open[r][0] + open[r][1] > peak0[r] + peak1[r])
					peak0[r] = open[r][0], peak1[r] = open[r][1];
				if (x->kind == SIM_DP_FB)
					open[r][x->dir1]--;
				pc[r]++;
				progress = 1;
			}
	}
	for (int r = 0; r < pp; r++) {
		done += pc[r] == n[r];
		free(a[r]);
	}
	return done == pp;
}

/* The bubble of every rank (the last rank's end less its own busy time) is at most the
 * report's (PP/2 - 1)(F&B + B - 3W), and equal to it where the report's chunks are: F = W
 * = B / 2 (a chunk's forward, input-gradient and weight-gradient GEMMs of one shape). */
START_TEST(bubble_as_the_report)
{
	static const chunk_times equal[] = {{1.3, 2.6, 1.3, 3.9, 0}, {1.0, 2.0, 1.0, 2.5, 0}, {0.7, 1.4, 0.7, 1.6, 0}};
	static const chunk_times other[] = {{1.3, 2.9, 1.1, 3.7, 0}, {0.7, 1.9, 0.4, 2.2, 0}, {1.0, 2.4, 1.0, 3.4, 0}};
	for (int pp = 2; pp <= 8; pp += 2)
		for (int m = 2 * pp; m <= 4 * pp; m += pp) {
			double end[MAXP], busy[MAXP];
			int p0[MAXP], p1[MAXP];
			for (size_t k = 0; k < 6; k++) {
				const chunk_times *c = k < 3 ? &equal[k] : &other[k - 3];
				double T = 0, worst = 0, want = (pp / 2 - 1) * (c->FB + c->B - 3 * c->W);
				ck_assert(evaluate(pp, m, c, end, busy, p0, p1));
				for (int r = 0; r < pp; r++)
					T = fmax(T, end[r]);
				for (int r = 0; r < pp; r++) {
					ck_assert_msg(T - busy[r] <= want + 1e-9, "pp %d m %d case %zu rank %d: bubble %.9f > %.9f", pp, m,
						      k, r, T - busy[r], want);
					worst = fmax(worst, T - busy[r]);
					/* PP + 1 chunks at the peak: pp - r of stage r, r + 1 of stage pp - 1 - r */
					ck_assert_int_eq(p0[r], pp - r);
					ck_assert_int_eq(p1[r], r + 1);
				}
				if (k < 3)
					ck_assert_msg(fabs(worst - want) < 1e-9, "pp %d m %d case %zu: bubble %.9f, the report's %.9f", pp,
						      m, k, worst, want);
			}
		}
}
END_TEST

/*
 * The engine against the evaluator: identical stages with nothing to communicate but
 * the activations (one GPU a stage, ep 1, a 1-token vocabulary, sends that take no time),
 * short sequences so that the attention's core (which has no weight gradient) is 1e-3 of
 * a chunk, and weights read at the HBM rate: each compute op's backward is twice its
 * forward, and its weight part one forward, so F = W = B / 2 and, with nothing to
 * overlap, F&B = F + B. Every GPU then idles (PP/2 - 1)(F&B + B - 3W) = (PP - 2) F
 * before the gradients' reduction.
 */
static const char dual_cfg[] =
	"model = { hidden = 1024; ffn_hidden = 2816; experts = 4; top_k = 2; moe_layers = 32; heads = 8; vocab = 1; };\n"
	"cluster = { nodes = 1; gpus_per_node = %d; nvlink_GBps = 1e6; nvlink_latency_us = 0; };\n"
	"network = { model = \"analytic\"; launch_us = 0; link_latency_us = 0; };\n"
	"parallel = { ep = 1; pp = %d; };\n"
	"schedule = { overlap = \"dualpipe\"; };\n"
	"workload = { global_batch = %d; micro_batch = 1; seq_len = 16; };\n"
	"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";

static void check_engine_bubble(int pp, int m)
{
	char text[2048];
	scn_scenario s;
	sim_result *r;
	snprintf(text, sizeof text, dual_cfg, pp, pp, m);
	r = tu_run_text(text, &s);
	for (int w = 0; w < pp; w++) {
		const double *ph = r->step_phase_s + (size_t)w * SIM_NPHASES;
		double idle = ph[SIM_PH_BUBBLE] + ph[SIM_PH_WAIT], fwd = 0;
		/* a forward chunk: the GPU's forward compute over its m chunks */
		for (int l = 0; l < r->all_layers; l++)
			for (int k = 0; k < SIM_NPHASES; k++)
				fwd += r->phase_s[sim_phase_index(r, 0, l, w, k)];
		fwd /= m;
		ck_assert_msg(fabs(idle - (pp - 2) * fwd) <= 5e-3 * fmax(idle, fwd), "pp %d m %d GPU %d: idles %.9f s, (PP - 2) F = %.9f s",
			      pp, m, w, idle, (pp - 2) * fwd);
	}
	sim_result_free(r);
}

START_TEST(bubble_on_the_engine)
{
	check_engine_bubble(4, 8);
	check_engine_bubble(4, 12);
	check_engine_bubble(8, 16);
	check_engine_bubble(2, 6);
}
END_TEST

/*
 * Uneven stages with a dense first stage (DeepSeek-V3's shape): stage 0 has no expert
 * parameters, so its copies hold three gradient buckets, not four; they must still meet
 * in the same order in the union of their data-parallel groups (this deadlocked), and
 * every GPU's phases add up to the step.
 */
START_TEST(dense_first_stage)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 4; top_k = 2; dense_layers = 2; moe_layers = 6; heads = 8; "
		"mtp_layers = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; };\n"
		"network = { model = \"%s\"; };\n"
		"parallel = { %s; pp = 4; first_stage_layers = 2; last_stage_layers = 2; };\n"
		"training = { tp_comm_overlap = %s; };\n"
		"schedule = { overlap = \"dualpipe\"; };\n"
		"workload = { global_batch = 16; micro_batch = 1; seq_len = 512; };\n";
	/* analytic, flow, and with TP collectives on the communication stream too */
	for (int k = 0; k < 3; k++) {
		char text[1024];
		scn_scenario s;
		sim_result *r;
		snprintf(text, sizeof text, cfg, k == 1 ? "flow" : "analytic", k == 2 ? "ep = 2; tp = 2" : "ep = 2",
			 k == 2 ? "true" : "false");
		r = tu_run_text(text, &s);
		for (int w = 0; w < 8; w++) {
			double sum = 0;
			for (int ph = 0; ph < SIM_NPHASES; ph++)
				sum += r->step_phase_s[(size_t)w * SIM_NPHASES + ph];
			ck_assert_msg(tu_rel(sum, r->step_time_s[0]) < 1e-9, "GPU %d: phases %.9g s, step %.9g s", w, sum,
				      r->step_time_s[0]);
		}
		ck_assert(r->dp_stream_s > 0);
		ck_assert(k < 2 || r->comm_total_s[2] > 0);
		/* the F&B pairs run their all-to-alls beside the other chunk's compute */
		ck_assert(r->comm_total_s[0] > 0 && r->comm_exposed_s[0] < r->comm_total_s[0]);
		ck_assert(r->comm_total_s[1] > 0 && r->comm_exposed_s[1] < r->comm_total_s[1]);
		sim_result_free(r);
	}
}
END_TEST

Suite *dualpipe_suite(void)
{
	Suite *s = suite_create("dualpipe");
	TCase *tc = tcase_create("dualpipe");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, actions_as_dualpipe);
	tcase_add_test(tc, actions_complete);
	tcase_add_test(tc, bubble_as_the_report);
	tcase_add_test(tc, bubble_on_the_engine);
	tcase_add_test(tc, dense_first_stage);
	suite_add_tcase(s, tc);
	return s;
}
