/*
 * check_step.c - the whole step: Megatron's pipeline schedules item by item, the
 * pipeline bubble as it comes out of the engine against its closed forms (1F1B and
 * interleaved), tensor parallelism's collectives by hand, data-parallel scaling, and
 * the layout and uneven-stage rules as the run sees them.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hardware/hw_gpu.h"
#include "models/moe_arch.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "sim/sim_sched.h"
#include "test_util.h"

static void expect_items(int pp, int vpp, int m, int r, const char *want)
{
	int n = sim_sched_count(m, vpp, 0);
	sim_sched_item *it = malloc((size_t)n * sizeof *it);
	char got[1024] = "";
	size_t len = 0;
	sim_sched_build(pp, vpp, m, r, 0, it);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(got + len, sizeof got - len, "%s%c%d%s", i ? " " : "", it[i].backward ? 'B' : 'F',
					it[i].mb, vpp > 1 ? (it[i].chunk ? "b" : "a") : "");
	ck_assert_msg(strcmp(got, want) == 0, "pp %d vpp %d m %d rank %d:\n got  %s\n want %s", pp, vpp, m, r, got, want);
	free(it);
}

/* Worked by hand from schedules.py: 1F1B warms up pp - r - 1 forwards; interleaved rank 0
 * of pp 2, vpp 2 warms up (2 - 0 - 1) x 2 + (2 - 1) x 2 = 4 virtual micro-batches, which
 * get_schedule_table orders (mb 0, 1 through chunk a, then through b; then mb 2, 3). */
START_TEST(schedules_by_hand)
{
	expect_items(4, 1, 6, 1, "F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 B4 B5");
	expect_items(4, 1, 6, 3, "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5");
	expect_items(4, 1, 2, 0, "F0 F1 B0 B1"); /* warm-up capped at m */
	expect_items(1, 1, 3, 0, "F0 B0 F1 B1 F2 B2");
	expect_items(2, 2, 4, 0, "F0a F1a F0b F1b F2a B0b F3a B1b F2b B0a F3b B1a B2b B3b B2a B3a");
	expect_items(2, 2, 4, 1, "F0a F1a F0b B0b F1b B1b F2a B0a F3a B1a F2b B2b F3b B3b B2a B3a");
}
END_TEST

/* Every (micro-batch, chunk) runs forward once and backward once, the backward later. */
START_TEST(schedules_complete)
{
	for (int pp = 1; pp <= 6; pp++)
		for (int vpp = 1; vpp <= (pp > 1 ? 3 : 1); vpp++)
			for (int m = 1; m <= 13; m++) {
				int n = sim_sched_count(m, vpp, 0);
				sim_sched_item *it = malloc((size_t)n * sizeof *it);
				if (vpp > 1 && m % pp != 0) {
					free(it);
					continue;
				}
				for (int r = 0; r < pp; r++) {
					int *seen = calloc((size_t)m * vpp * 2, sizeof *seen);
					sim_sched_build(pp, vpp, m, r, 0, it);
					for (int i = 0; i < n; i++) {
						int k = (it[i].mb * vpp + it[i].chunk) * 2 + it[i].backward;
						ck_assert(it[i].mb >= 0 && it[i].mb < m && it[i].chunk >= 0 && it[i].chunk < vpp);
						ck_assert_int_eq(seen[k], 0);
						if (it[i].backward)
							ck_assert_int_eq(seen[k - 1], 1);
						seen[k] = 1;
					}
					free(seen);
				}
				free(it);
			}
}
END_TEST


/*
 * A pipeline of identical stages with nothing to communicate but the activations: one
 * GPU per stage (ep 1, dp 1), balanced routing, 8 layers a stage, a 1-token vocabulary (so
 * the embedding and head, which only the end stages run, are 1e-3 of a stage's work), and
 * NVLink so fast that the activations' sends take no time. Each GPU
 * idles, waiting for its neighbours or for the last stage at the end, (p - 1)(tf + tb):
 * 1F1B's bubble (p - 1) / (m + p - 1) of the pipeline's time (Narayanan et al. 2021, sec.
 * 2.2); interleaved with v chunks, (p - 1) / v of it: (p - 1) / (v m + p - 1).
 */
static const char pipe_cfg[] =
	"model = { hidden = 1024; ffn_hidden = 2816; experts = 4; top_k = 2; moe_layers = 32; heads = 8; vocab = 1; };\n"
	"cluster = { nodes = 1; gpus_per_node = 4; nvlink_GBps = 1e6; nvlink_latency_us = 0; };\n"
	"network = { model = \"%s\"; launch_us = 0; link_latency_us = 0; };\n"
	"parallel = { ep = 1; pp = 4; vpp = %d; };\n"
	"workload = { global_batch = %d; micro_batch = 1; seq_len = 2048; };\n"
	"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";

static void check_bubble(const char *net, int vpp, int m)
{
	char text[2048];
	scn_scenario s;
	sim_result *r;
	double want = vpp == 1 ? 3.0 / (m + 3) : 3.0 / (vpp * m + 3.0);
	snprintf(text, sizeof text, pipe_cfg, net, vpp, m);
	r = tu_run_text(text, &s);
	for (int w = 0; w < 4; w++) {
		const double *ph = r->step_phase_s + (size_t)w * SIM_NPHASES;
		double idle = ph[SIM_PH_BUBBLE] + ph[SIM_PH_WAIT];
		double pipeline = r->step_time_s[0] - ph[SIM_PH_OPTIMIZER] - ph[SIM_PH_DP];
		/* the optimizer runs after each stage's last backward: the end stage's tail */
		double frac = idle / pipeline;
		ck_assert_msg(fabs(frac - want) < 5e-3 * want, "%s vpp %d m %d: GPU %d idles %.6f of the pipeline, want %.6f", net,
			      vpp, m, w, frac, want);
	}
	sim_result_free(r);
}

START_TEST(bubble_1f1b)
{
	check_bubble("analytic", 1, 8);
	check_bubble("analytic", 1, 3);
	check_bubble("flow", 1, 8);
}
END_TEST

START_TEST(bubble_interleaved)
{
	check_bubble("analytic", 2, 8);
	check_bubble("analytic", 2, 4);
}
END_TEST

/*
 * Pipeline sends in flight and exposed: with one micro-batch every receive waits for its
 * whole transfer (nothing else to do), so all of the sends' time is exposed; with eight,
 * the warm-up forwards hide part of it. The same six transfers per micro-batch (three
 * forward, three backward over 4 stages) reach one GPU each.
 */
START_TEST(pp_sends_exposed)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 4; top_k = 2; moe_layers = 8; heads = 8; vocab = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 4; nvlink_GBps = 2; };\n"
		"network = { model = \"analytic\"; };\n"
		"parallel = { ep = 1; pp = 4; };\n"
		"workload = { global_batch = %d; micro_batch = 1; seq_len = 2048; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	char text[1024];
	scn_scenario s;
	sim_result *r1, *r8;
	snprintf(text, sizeof text, cfg, 1);
	r1 = tu_run_text(text, &s);
	snprintf(text, sizeof text, cfg, 8);
	r8 = tu_run_text(text, &s);
	ck_assert(r1->pp_total_s > 0 && tu_rel(r1->pp_exposed_s, r1->pp_total_s) < 1e-9);
	ck_assert(tu_rel(r8->pp_total_s, 8 * r1->pp_total_s) < 1e-9);
	ck_assert(r8->pp_exposed_s < 0.9 * r8->pp_total_s);
	for (int w = 0; w < 4; w++) /* the exposed part is inside the bubble */
		ck_assert(r1->step_phase_s[(size_t)w * SIM_NPHASES + SIM_PH_BUBBLE] > 0);
	sim_result_free(r1);
	sim_result_free(r8);
}
END_TEST

/*
 * Tensor parallelism by hand: with tp 2 every attention block all-gathers its input and
 * reduce-scatters its output over the TP pair (sequence parallelism), S = T x tp x h x 2
 * bytes; a ring of 2 takes one step of latency + S / 2 / B each way.
 */
START_TEST(tp_collectives_by_hand)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 3; heads = 8; vocab = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = 238.5; nvlink_latency_us = 2.385; };\n"
		"network = { model = \"analytic\"; nvlink_efficiency = 1.0; launch_us = 0; };\n"
		"parallel = { ep = 8; tp = 2; };\n"
		"workload = { micro_batch = 1; seq_len = 2048; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	scn_scenario s;
	sim_result *r = tu_run_text(cfg, &s);
	double T = 2048 / 2, S = T * 2 * 1024 * 2;
	double one = 2.385e-6 + S / 2 / 238.5e9;
	ck_assert_int_eq(s.workload.tokens_per_rank, 1024);
	for (int l = 0; l < 3; l++)
		for (int w = 0; w < 8; w++)
			for (int pass = 0; pass < 2; pass++) {
				double tp = r->phase_s[sim_phase_index(r, pass, l, w, SIM_PH_TP)];
				ck_assert_msg(tu_rel(tp, 2 * one) < 1e-9, "layer %d GPU %d pass %d: TP %.9g s, by hand %.9g s", l,
					      w, pass, tp, 2 * one);
			}
	sim_result_free(r);
}
END_TEST

/*
 * TP communication overlap by hand (training.tp_comm_overlap): the same attention blocks
 * with sequences of 8,192 tokens, so that each block's compute a (at the SMs its
 * collectives leave, rate = 1 - comm_sms / SMs) outlasts its all-gather and reduce-
 * scatter, c = 2 x (latency + S / 2 / B) on the communication stream. The block then takes
 * a + c (1 - rate): its compute slowed while c runs, none of c exposed. Each layer's
 * dense phase grows by c (1 - rate) over the serialised run's, its tp phase is 0.
 */
START_TEST(tp_comm_overlap_by_hand)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 3; heads = 8; vocab = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = 238.5; nvlink_latency_us = 2.385; };\n"
		"network = { model = \"analytic\"; nvlink_efficiency = 1.0; launch_us = 0; };\n"
		"parallel = { ep = 8; tp = 2; };\n"
		"training = { tp_comm_overlap = %s; };\n"
		"workload = { micro_batch = 1; seq_len = 8192; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	char text[1024];
	scn_scenario s0, s1;
	sim_result *r0, *r1;
	double T = 8192 / 2, S = T * 2 * 1024 * 2, c = 2 * (2.385e-6 + S / 2 / 238.5e9);
	double rate = 1.0 - 20.0 / hw_gpu_find("h100-sxm")->sms;
	snprintf(text, sizeof text, cfg, "false");
	r0 = tu_run_text(text, &s0);
	snprintf(text, sizeof text, cfg, "true");
	r1 = tu_run_text(text, &s1);
	for (int l = 0; l < 3; l++)
		for (int w = 0; w < 8; w++)
			for (int pass = 0; pass < 2; pass++) {
				double d0 = r0->phase_s[sim_phase_index(r0, pass, l, w, SIM_PH_DENSE)];
				double t0 = r0->phase_s[sim_phase_index(r0, pass, l, w, SIM_PH_TP)];
				double d1 = r1->phase_s[sim_phase_index(r1, pass, l, w, SIM_PH_DENSE)];
				double t1 = r1->phase_s[sim_phase_index(r1, pass, l, w, SIM_PH_TP)];
				ck_assert(tu_rel(t0, c) < 1e-9);
				ck_assert_msg(d0 > c / rate, "layer %d: the attention must outlast its collectives", l);
				ck_assert_msg(fabs(t1) < 1e-15 && tu_rel(d1 - d0, c * (1 - rate)) < 1e-6,
					      "layer %d GPU %d pass %d: dense %.9g (serialised %.9g), tp %.3g; by hand +%.9g, 0", l, w,
					      pass, d1, d0, t1, c * (1 - rate));
			}
	ck_assert(tu_rel(r1->comm_total_s[2], 3 * 2 * c) < 1e-9 && r1->comm_exposed_s[2] < 1e-15);
	sim_result_free(r0);
	sim_result_free(r1);
}
END_TEST

/*
 * Expert tensor parallelism by hand: 8 GPUs as EP 4 x ETP 2, balanced routing. Each
 * expert receives 512 pairs from each of its group's 4 members; a GPU's 2 experts get
 * 4,096 rows, its ETP pair gathers 8,192 (S = 8,192 x 1024 x 2 B) and computes them all
 * at half the width: the same FLOPs as EP 8, so the same expert time, plus an all-gather
 * and a reduce-scatter of one ring step each (latency + S / 2 / B) per pass.
 */
START_TEST(etp_by_hand)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 2; heads = 8; vocab = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = 238.5; nvlink_latency_us = 2.385; };\n"
		"network = { model = \"analytic\"; nvlink_efficiency = 1.0; launch_us = 0; };\n"
		"parallel = { ep = %d; etp = %d; };\n"
		"workload = { micro_batch = 1; seq_len = 2048; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	char text[2048];
	scn_scenario s1, s2;
	sim_result *r1, *r2;
	double S = 8192.0 * 1024 * 2, one = 2.385e-6 + S / 2 / 238.5e9;
	snprintf(text, sizeof text, cfg, 8, 1);
	r1 = tu_run_text(text, &s1);
	snprintf(text, sizeof text, cfg, 4, 2);
	r2 = tu_run_text(text, &s2);
	for (int l = 0; l < 2; l++)
		for (int w = 0; w < 8; w++)
			for (int pass = 0; pass < 2; pass++) {
				double e1 = r1->phase_s[sim_phase_index(r1, pass, l, w, SIM_PH_EXPERT)];
				double e2 = r2->phase_s[sim_phase_index(r2, pass, l, w, SIM_PH_EXPERT)];
				double tp = r2->phase_s[sim_phase_index(r2, pass, l, w, SIM_PH_TP)];
				ck_assert_msg(tu_rel(e1, e2) < 1e-12, "expert %.9g vs %.9g", e1, e2);
				ck_assert_msg(tu_rel(tp, 2 * one) < 1e-9, "layer %d GPU %d pass %d: ETP %.9g s, by hand %.9g s", l,
					      w, pass, tp, 2 * one);
				ck_assert(r1->phase_s[sim_phase_index(r1, pass, l, w, SIM_PH_TP)] == 0);
			}
	sim_result_free(r1);
	sim_result_free(r2);
}
END_TEST

/*
 * Data parallelism: the same per-GPU work on 1 and on 4 nodes (dp 8 -> 32, global batch x 4,
 * EP inside each node). The step differs only by the gradient sync the compute cannot hide
 * and by the optimizer, whose shard shrinks with dp; the cross-node rings make the first
 * grow, so the tokens per second per GPU fall by exactly that.
 */
START_TEST(dp_scaling)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 4; heads = 8; "
		"vocab = 32000; };\n"
		"cluster = { nodes = %d; gpus_per_node = 8; };\n"
		"network = { model = \"%s\"; };\n"
		"parallel = { ep = 8; };\n"
		"training = { overlap_grad_reduce = %s; };\n"
		"workload = { global_batch = %d; micro_batch = 1; seq_len = 2048; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	const char *nets[] = {"analytic", "flow"}, *ov[] = {"false", "true"};
	for (int n = 0; n < 2; n++)
		for (int o = 0; o < 2; o++) {
			char text[2048];
			scn_scenario s1, s4;
			sim_result *r1, *r4;
			double dp1 = 0, dp4 = 0, op1 = 0, op4 = 0, t1, t4;
			snprintf(text, sizeof text, cfg, 1, nets[n], ov[o], 16);
			r1 = tu_run_text(text, &s1);
			snprintf(text, sizeof text, cfg, 4, nets[n], ov[o], 64);
			r4 = tu_run_text(text, &s4);
			for (int w = 0; w < 8; w++) {
				dp1 += r1->step_phase_s[(size_t)w * SIM_NPHASES + SIM_PH_DP] / 8;
				op1 += r1->step_phase_s[(size_t)w * SIM_NPHASES + SIM_PH_OPTIMIZER] / 8;
			}
			for (int w = 0; w < 32; w++) {
				dp4 += r4->step_phase_s[(size_t)w * SIM_NPHASES + SIM_PH_DP] / 32;
				op4 += r4->step_phase_s[(size_t)w * SIM_NPHASES + SIM_PH_OPTIMIZER] / 32;
			}
			t1 = r1->step_time_s[0];
			t4 = r4->step_time_s[0];
			ck_assert_msg(dp4 > dp1 && op4 < op1, "%s: dp %.6g -> %.6g, optimizer %.6g -> %.6g", nets[n], dp1, dp4,
				      op1, op4);
			/* Exactly, except where the flow model lets the overlapped gradient flows share
			 * the links with the all-to-alls (then the all-to-alls slow down too). */
			if (n == 0 || o == 0)
				ck_assert_msg(fabs((t4 - t1) - ((dp4 - dp1) + (op4 - op1))) < 1e-9 * t1,
					      "%s overlap %s: step %.9g -> %.9g, dp %.9g -> %.9g, optimizer %.9g -> %.9g",
					      nets[n], ov[o], t1, t4, dp1, dp4, op1, op4);
			else
				ck_assert(t4 - t1 >= (dp4 - dp1) + (op4 - op1) - 1e-9 * t1);
			ck_assert(t4 > t1); /* per GPU: the same tokens in a longer step */
			ck_assert_int_eq(r4->tokens_per_step, 4 * r1->tokens_per_step);
			sim_result_free(r1);
			sim_result_free(r4);
		}
}
END_TEST

/*
 * Two-batch overlap by hand (schedule.overlap = two_batch, no SM sharing): one MoE layer,
 * prefill, 8 GPUs of one node, balanced routing. Each half (T / 2 tokens) takes a (attention
 * and router), p (permute), e (experts), u (unpermute) on the compute stream; its dispatch d
 * and combine c run on the communication stream, in order, each when its input is ready:
 *   D0 after a + p; D1 after the second a + p and D0; E0 after D0; E1 after E0 and D1;
 *   C0 after E0 and D1; C1 after E1 and C0; U0 after E1 and C0; U1 after U0 and C1,
 * so each stage exposes max(0, its communication - the other half's computation). The
 * step is that, plus the embedding and LM head; the communication stream carries 2d + 2c.
 */
static void check_two_batch(double nvlink_GBps)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 1; heads = 8; vocab = 1; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = %g; };\n"
		"network = { model = \"analytic\"; };\n"
		"parallel = { ep = 8; };\n"
		"schedule = { overlap = \"two_batch\"; comm_sms = 0; };\n"
		"workload = { mode = \"prefill\"; micro_batch = 1; seq_len = 4096; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	char text[2048];
	scn_scenario s;
	sim_result *r;
	double ar, p, e, u, d, c, eh, t, D0, D1, E0, E1, C0, C1, U0, U1, want, sum = 0;
	const double *ph;
	snprintf(text, sizeof text, cfg, nvlink_GBps);
	r = tu_run_text(text, &s);
	ph = r->step_phase_s; /* GPU 0; balanced: all alike */
	ar = r->phase_s[sim_phase_index(r, 0, 0, 0, SIM_PH_DENSE)] / 2;
	p = r->phase_s[sim_phase_index(r, 0, 0, 0, SIM_PH_PERMUTE)] / 2;
	e = r->phase_s[sim_phase_index(r, 0, 0, 0, SIM_PH_EXPERT)] / 2;
	u = r->phase_s[sim_phase_index(r, 0, 0, 0, SIM_PH_UNPERMUTE)] / 2;
	d = r->dispatch_s[0];
	c = r->combine_s[0];
	eh = ph[SIM_PH_DENSE] - 2 * ar; /* embedding and head, once per micro-batch */
	t = ar + p;
	D0 = t + d;
	D1 = fmax(D0, 2 * t) + d;
	E0 = fmax(2 * t, D0) + e;
	E1 = fmax(E0, D1) + e;
	C0 = fmax(D1, E0) + c;
	C1 = fmax(C0, E1) + c;
	U0 = fmax(E1, C0) + u;
	U1 = fmax(U0, C1) + u;
	want = U1 + eh;
	ck_assert(d > 0 && c > 0 && e > 0);
	ck_assert_msg(tu_rel(r->step_time_s[0], want) < 1e-9, "NVLink %g GB/s: step %.9g s, by hand %.9g s", nvlink_GBps,
		      r->step_time_s[0], want);
	ck_assert(tu_rel(r->comm_total_s[0], 2 * d) < 1e-9 && tu_rel(r->comm_total_s[1], 2 * c) < 1e-9);
	ck_assert(tu_rel(r->comm_exposed_s[0] + r->comm_exposed_s[1], U1 - 2 * (t + e + u)) < 1e-6 ||
		  fabs(r->comm_exposed_s[0] + r->comm_exposed_s[1] - (U1 - 2 * (t + e + u))) < 1e-12);
	for (int ph2 = 0; ph2 < SIM_NPHASES; ph2++)
		sum += ph[ph2];
	ck_assert(tu_rel(sum, r->step_time_s[0]) < 1e-9);
	sim_result_free(r);
}

START_TEST(two_batch_by_hand)
{
	check_two_batch(450);  /* communication shorter than the other half's compute: hidden */
	check_two_batch(2.5);  /* communication longer: exposed */
}
END_TEST

/* SM sharing: the same layers with the all-to-all's kernels holding 20 of 132 SMs run their
 * overlapped compute slower (here that time was waited anyway: the step may stay), never
 * faster than with no SMs taken; and overlap beats none. */
START_TEST(two_batch_sm_sharing)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 2; heads = 8; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = 20; };\n"
		"network = { model = \"analytic\"; };\n"
		"parallel = { ep = 8; };\n"
		"schedule = { overlap = \"two_batch\"; comm_sms = %d; };\n"
		"workload = { micro_batch = 1; seq_len = 4096; };\n"
		"routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n";
	char text[2048];
	scn_scenario s0, s1, sn;
	sim_result *r0, *r1, *rn;
	snprintf(text, sizeof text, cfg, 0);
	r0 = tu_run_text(text, &s0);
	snprintf(text, sizeof text, cfg, 20);
	r1 = tu_run_text(text, &s1);
	snprintf(text, sizeof text, /* the same without overlap */
		 "model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 2; heads = 8; };\n"
		 "cluster = { nodes = 1; gpus_per_node = 8; nvlink_GBps = 20; };\n"
		 "network = { model = \"analytic\"; };\n"
		 "parallel = { ep = 8; };\n"
		 "workload = { micro_batch = 1; seq_len = 4096; };\n"
		 "routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n");
	rn = tu_run_text(text, &sn);
	ck_assert_msg(r1->step_time_s[0] >= r0->step_time_s[0], "%g vs %g", r1->step_time_s[0], r0->step_time_s[0]);
	ck_assert_msg(r0->step_time_s[0] < rn->step_time_s[0], "overlap %g, none %g", r0->step_time_s[0],
		      rn->step_time_s[0]);
	/* slowed compute: the experts' phase grows, by at most 132 / 112 */
	{
		double e0 = r0->step_phase_s[SIM_PH_EXPERT], e1 = r1->step_phase_s[SIM_PH_EXPERT];
		ck_assert(e1 > e0 && e1 <= e0 * 132.0 / 112.0 * (1 + 1e-9));
	}
	sim_result_free(r0);
	sim_result_free(r1);
	sim_result_free(rn);
}
END_TEST

/* Uneven stages (DeepSeek-V3's 61 layers on 16 stages): the layers each stage runs. */
START_TEST(uneven_stages)
{
	scn_scenario s;
	ms_error err;
	par_layout lay;
	static const char *set[] = {"model.moe_layers=58", "model.dense_layers=3", "cluster.nodes=2",
				    "parallel.pp=16", "parallel.ep=1", "model.experts=8", "parallel.first_stage_layers=3",
				    "parallel.last_stage_layers=2", "workload.global_batch=16"};
	scn_overrides ov = {9, {0}};
	int lo, hi, total = 0;
	for (int i = 0; i < 9; i++)
		ov.items[i] = set[i];
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, NULL, &ov, &err), MS_OK);
	ck_assert_int_eq(sim_layout_init(&lay, &s, &err), MS_OK);
	par_layout_fini(&lay);
	scn_stage_layers(&s, 0, &lo, &hi);
	ck_assert(lo == 0 && hi == 3);
	scn_stage_layers(&s, 1, &lo, &hi);
	ck_assert(lo == 3 && hi == 7);
	scn_stage_layers(&s, 14, &lo, &hi);
	ck_assert(lo == 55 && hi == 59);
	scn_stage_layers(&s, 15, &lo, &hi);
	ck_assert(lo == 59 && hi == 61);
	for (int v = 0; v < 16; v++) {
		scn_stage_layers(&s, v, &lo, &hi);
		total += hi - lo;
	}
	ck_assert_int_eq(total, 61);
	s.parallel.last_stage_layers = 3; /* 61 - 3 - 3 = 55 over 14 middle stages */
	ck_assert_int_eq(sim_layout_init(&lay, &s, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "leaves 55 layers for 14 middle stage(s) of pp = 16") != NULL, "%s", err.msg);
	par_layout_fini(&lay);
}
END_TEST

/* The summary's whole-step figures: tokens computed, FLOPs as Megatron counts them
 * (models/moe_arch.c, checked there against Megatron's formula), less the expert FLOPs of
 * the pairs a capacity dropped. */
START_TEST(model_flops_and_mfu)
{
	static const char cfg[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 4; heads = 8; };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; };\n"
		"network = { model = \"analytic\"; };\n"
		"parallel = { ep = 8; };\n"
		"workload = { global_batch = 24; micro_batch = 1; seq_len = 2048; };\n"
		"routing = { distribution = \"zipf\"; zipf_s = 1.5; capacity_factor = %s; };\n";
	const char *cfs[] = {"\"dropless\"", "1.0"};
	const hw_gpu *g = hw_gpu_find("h100-sxm");
	for (int c = 0; c < 2; c++) {
		char text[1024];
		scn_scenario s;
		sim_result *r;
		moe_arch a;
		ms_error err;
		double want;
		snprintf(text, sizeof text, cfg, cfs[c]);
		r = tu_run_text(text, &s);
		ms_error_clear(&err);
		ck_assert_int_eq(moe_arch_init(&a, &s, &err), MS_OK);
		ck_assert_int_eq(r->tokens_per_step, 24 * 2048);
		ck_assert_int_eq(r->microbatches, 3);
		ck_assert(r->peak_flops == g->bf16_flops);
		ck_assert(c == 0 ? r->dropped_pairs[0] == 0 : r->dropped_pairs[0] > 0);
		want = 24.0 * 2048 * moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING) -
		       (double)r->dropped_pairs[0] * 3 * 6 * 1024.0 * 2816;
		ck_assert_msg(tu_rel(r->model_flops_per_step, want) < 1e-12, "%.12g vs %.12g", r->model_flops_per_step, want);
		sim_result_free(r);
	}
}
END_TEST

/* The whole step's scenario refusals, each with the message that names the fix. */
START_TEST(whole_step_refusals)
{
	static const char base[] =
		"model = { hidden = 1024; ffn_hidden = 2816; experts = 8; top_k = 2; moe_layers = 4; heads = 8; %s };\n"
		"cluster = { nodes = 1; gpus_per_node = 8; %s };\n"
		"parallel = { %s%s };\n"
		"schedule = { %s };\n"
		"workload = { seq_len = 512; %s };\n";
	static const struct {
		const char *model, *cluster, *parallel, *schedule, *workload, *want;
	} c[] = {
		{"", "", "cp = 2;", "", "mode = \"decode\"; micro_batch = 2;",
		 "parallel.cp = 2 in decode: context parallelism splits a sequence's tokens"},
		{"", "", "pp = 1;", "", "mode = \"prefill\"; micro_batch = 1; global_batch = 16;",
		 "prefill runs one batch per step: global_batch = 16 is 2 micro-batches of 1 per DP rank"},
		{"attention = \"mha\"; kv_heads = 2;", "", "", "", "micro_batch = 1;",
		 "model.attention = \"mha\" but model.kv_heads = 2 differs from heads = 8"},
		{"", "gpu_memory_GiB = 8; reserved_memory_GiB = 8;", "", "", "micro_batch = 1;",
		 "cluster.reserved_memory_GiB = 8 leaves nothing of cluster.gpu_memory_GiB = 8"},
		{"", "", "pp = 1;", "overlap = \"dualpipe\";", "micro_batch = 1; global_batch = 8;",
		 "schedule.overlap = \"dualpipe\" needs an even parallel.pp of at least 2 (DualPipe: num_ranks % 2 == 0), "
		 "and pp = 1"},
		{"", "", "pp = 2; vpp = 2;", "overlap = \"dualpipe\";", "micro_batch = 1; global_batch = 8;",
		 "places two stages on each rank itself; set parallel.vpp = 1 (it is 2)"},
		{"", "", "pp = 4; ep = 2;", "overlap = \"dualpipe\";", "micro_batch = 1; global_batch = 12;",
		 "needs an even number of micro-batches of at least 2 x pp = 8 (DualPipe: num_chunks % 2 == 0 and num_chunks "
		 ">= num_ranks x 2), and global_batch = 12 gives 6 (micro_batch 1 x dp 2 each); raise workload.global_batch "
		 "to a multiple of 4 of at least 16"},
		{"", "", "pp = 2;", "overlap = \"dualpipe\";", "mode = \"prefill\"; micro_batch = 1; global_batch = 16;",
		 "schedule.overlap = \"dualpipe\" is a training schedule and workload.mode is \"prefill\""},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char text[2048];
		scn_scenario s;
		ms_error err;
		snprintf(text, sizeof text, base, c[i].model, c[i].cluster, strstr(c[i].parallel, "ep =") ? "" : "ep = 8; ",
			 c[i].parallel, c[i].schedule, c[i].workload);
		ms_error_clear(&err);
		ck_assert_int_eq(scn_scenario_load_text(&s, text, "refusal", NULL, &err), MS_EINVAL);
		ck_assert_msg(strstr(err.msg, c[i].want) != NULL, "case %zu: %s", i, err.msg);
	}
}
END_TEST

Suite *step_suite(void)
{
	Suite *s = suite_create("step");
	TCase *tc = tcase_create("step");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, schedules_by_hand);
	tcase_add_test(tc, schedules_complete);
	tcase_add_test(tc, bubble_1f1b);
	tcase_add_test(tc, bubble_interleaved);
	tcase_add_test(tc, pp_sends_exposed);
	tcase_add_test(tc, tp_collectives_by_hand);
	tcase_add_test(tc, tp_comm_overlap_by_hand);
	tcase_add_test(tc, etp_by_hand);
	tcase_add_test(tc, dp_scaling);
	tcase_add_test(tc, two_batch_by_hand);
	tcase_add_test(tc, two_batch_sm_sharing);
	tcase_add_test(tc, uneven_stages);
	tcase_add_test(tc, whole_step_refusals);
	tcase_add_test(tc, model_flops_and_mfu);
	suite_add_tcase(s, tc);
	return s;
}
