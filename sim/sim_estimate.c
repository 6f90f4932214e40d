/*
 * sim_estimate.c - a run's cost before it starts (see sim_estimate.h). Every term names
 * the allocation it mirrors; sizes of structs that live in other modules are written as
 * their field counts (a struct growing by a field changes the estimate by little). O(1).
 */
#include "sim/sim_estimate.h"

#include "sim/sim_timeline.h"

#include "topology/topo_rank.h"
#include "hardware/hw_gpu.h"
#include "models/moe_arch.h"
#include "models/moe_memory.h"
#include "sim/sim_run.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

int sim_estimate_workers(int threads, int groups)
{
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 && n < 1024 ? (int)n : 1;
	}
	return threads < groups ? threads : groups;
}

void sim_estimate_run(const scn_scenario *s, int trace_depth, int threads, sim_estimate *e)
{
	const double P = s->parallel.ep, W = scn_world(s), G = W / P, pp = s->parallel.pp, Gs = G / pp;
	const double mtp = s->workload.mode == SCN_MODE_TRAINING ? s->model.mtp_layers : 0; /* played in training */
	const double L = s->model.moe_layers + mtp; /* routed layers */
	const double Lall = s->model.layers + mtp, Lst = Lall / pp;
	/* routings per step: a micro-batch's units (two halves under two-batch overlap) each routed */
	const double units = s->schedule.overlap == SCN_OVERLAP_TWO_BATCH ? 2 : 1;
	const double Rs = s->workload.routed_microbatches * units, m = (double)s->workload.microbatches;
	const double vpp = s->parallel.vpp, tp = s->parallel.tp > 1, cp = s->parallel.cp > 1;
	const double E = s->model.experts, k = s->routing.top_k, T = (double)s->workload.tokens_per_rank / units;
	const double S = s->workload.steps, K = trace_depth;
	const double passes = s->workload.mode == SCN_MODE_TRAINING ? 2 : 1;
	const int flow = s->network.model == SCN_NET_FLOW;
	const int hier = s->network.dispatcher == SCN_DISP_MEGATRON && s->network.alltoall == SCN_A2A_HIERARCHICAL;
	const int span = (s->parallel.ep - 1) * s->parallel.etp + 1; /* ranks an EP group spans */
	const double nd = topo_rank_span_max(span, topo_rank_domain_size(s->network.nvlink_domain, s->cluster.gpus_per_node));
	const double nodes = topo_rank_span_max(span, s->cluster.gpus_per_node);
	const double slots = (E + s->routing.redundant_experts) / P + 1; /* replicas on the fullest member */
	const double slots_used = ceil((E + s->routing.redundant_experts) / P); /* the placement's slots per member */
	const int global = s->routing.capacity_scope == SCN_SCOPE_GLOBAL;
	/* groups of every kind (sim_run.c runner_setup): TP, CP, EP, dense and expert DP */
	const double n_groups = W / s->parallel.tp + W / s->parallel.cp + G + s->parallel.tp * pp + P * pp;
	double ws, shared, flows_per_coll, ops_layer, colls;
	e->workers = sim_estimate_workers(threads, (int)(Rs * L * Gs));
	/* rt_router.c alloc_workspace, per worker: ids (int32) and scores (float) of a group,
	 * the capacity pass over the scope (int32 expert, float score, int64 source, uint8
	 * keep, int64 order), a kept flag per token, a trace member's rankings (int16 + float),
	 * the [P][E] int32 demand, kept and replica tables, the [P][P] int64 sent and GPU
	 * counts, the per-domain counts, the slot loads and the per-expert scratch. */
	ws = T * k * P * (4 + 4) + (global ? T * k * P : T * k) * (4 + 4 + 8 + 1 + 8) + (global ? T * P : T) +
	     T * K * (2 + 4) + P * E * 12 + P * P * 16 + P * nd * 8 + P * slots * 8 + E * 40 + nodes * 80;
	if (s->routing.router != SCN_ROUTER_TOPK) {
		/* ... and a router other than topk: the scope's [n][E] scores (float) and
		 * selections (uint8), rt_policy_ws's candidate lists (int32 expert, float score,
		 * int64 token, uint8 keep, int64 order) over n x E, its choices and priorities,
		 * one member's [T][E] score matrix (float) and the tokens' domain labels (int16,
		 * counted whether or not the trace has labels). */
		const double n = global ? T * P : T;
		ws += n * E * (4 + 1 + 4 + 4 + 8 + 1 + 8) + n * (4 * k + 16) + T * E * 4 + (P * T + n) * 2;
	}
	/* sim_plan.c sim_plan_init, per worker: [P][P] byte and message matrices (double) and
	 * three int32 count tables, expert demand [L][E] int64, the all-to-all workspace. */
	ws += P * P * (8 + 8 + 4 + 4) + P * nd * 4 + L * E * 8 + (2 * P + 2 * P) * 8 + 4096;
	/* The tables worker 0 owns: popularity and alias tables, placement (start, member,
	 * slot), the single-replica map and the node limit's member tables, per layer. */
	shared = L * ((E + 1) * 8 + E * 8 + (E + 1) * 4 + 2 * (E + s->routing.redundant_experts) * 4 + E * 4 +
		      (P + 2 + E) * 4);
	if (s->routing.router == SCN_ROUTER_BIAS_BALANCED)
		shared += S * s->model.moe_layers * E * 8; /* every step's bias (rt_router_plan_bias) */
	e->router_bytes = e->workers * ws + shared;
	/* sim_prog.c: per stage its ops (20 B; per layer and pass about 9, with TP 4 and CP 2
	 * more, full recomputation doubling the backward's) for its passes x m x vpp items. */
	ops_layer = 9 + 4 * tp + 2 * cp;
	/* sim_run.c: plan_rank [Rs][L][W][5] doubles, plan_group [Rs][L][Gs][2] doubles, gstats
	 * (7 doubles, 2 ints) and gnaive [Rs][L][Gs][4] doubles; the programs; GPU and group
	 * states; the pipeline mailboxes [W][2][m][vpp]; the engine's first slab and queue. */
	e->plan_bytes = Rs * L * W * 5 * 8 + Rs * L * Gs * 2 * 8 + Rs * L * Gs * 2 * 64 + Rs * L * Gs * 4 * 8 +
			pp * passes * m * vpp * (Lst / vpp) * ops_layer * 20 + W * 48 + n_groups * 72 + W * 2 * m * vpp * 8 +
			4096 * 48.0 + (2 * W + n_groups + 16) * 24;
	/* sim_run.c result_alloc: per step five counters, phase_s [passes][Lall][W][11], the
	 * step's phases [W][11], rank load [L][W], expert demand [L][E], dispatch and combine
	 * times [L]. */
	e->result_bytes = S * 5 * 8 + passes * Lall * W * 11 * 8 + W * 11 * 8 + L * W * 8 + L * E * 8 + L * 16;
	/* ... and (issue 14) each step's phases [S][W][11], per-expert routed and kept
	 * [S][L][E] int64, backward all-to-all times [L] x 2, the placement [L][P][slots]
	 * int32 and every slot's pairs [S][L][W][slots] int64; sim_run.c's plan_slots
	 * [Rs][L][W][slots] int32 with them. */
	e->result_bytes += S * W * 11 * 8 + S * L * E * 16 + L * 16 + L * P * slots_used * 4 + S * L * W * slots_used * 8;
	e->plan_bytes += Rs * L * W * slots_used * 4;
	/* sim_flow.c sim_flow_init: pair and GPU counts [Rs][L][Gs][P][P] int32 and domain
	 * counts [Rs][L][Gs][P][nd] int32; per EP group a net_coll (byte matrices, NCCL
	 * schedule, relay state: about 48 P^2 bytes), per other group a net_red; and the live
	 * flows, at most every group's all-to-all at once, each a variable and its links in
	 * the max-min solver (about 320 bytes). */
	flows_per_coll = (hier ? 2 : 1) * P * P;
	e->flow_bytes = flow ? Rs * L * Gs * P * P * 4 * 2 + Rs * L * Gs * P * nd * 4 + G * (48 * P * P + 8 * P * nd) +
				       G * flows_per_coll * 320 + W * 1024 + n_groups * 512
			     : 0;
	e->mem_bytes = e->router_bytes + e->plan_bytes + e->flow_bytes + e->result_bytes;
	/* Events (sim_run.c): per step one start per GPU; per micro-batch, pass and layer of its
	 * stage about five compute ops per GPU; per MoE layer two all-to-alls per EP group of its
	 * stage (and TP collectives per TP group); with flows, a collective adds its launch event
	 * and about one network event per flow (flows end at distinct times). */
	colls = passes * m * units * L * Gs * 2;
	e->flow_events = flow ? S * colls * (flows_per_coll + 1) : 0;
	e->events = S * (W + passes * m * Lst * 5 * W + colls + (tp ? passes * m * Lst * 4 * W / s->parallel.tp : 0)) +
		    e->flow_events;
	e->pairs = S * Rs * L * (W / pp) * T * k;
	e->time_s = e->pairs / SIM_RATE_PAIRS_PER_S + (e->events - e->flow_events) / SIM_RATE_EVENTS_PER_S +
		    e->flow_events / SIM_RATE_FLOW_EVENTS_PER_S;
	/* output/out_report.c: the result arrays as datasets, and the file's own metadata
	 * (groups, attributes, names: about 64 kB). */
	e->h5_bytes = S * 5 * 8 + passes * Lall * W * 11 * 8 + W * 11 * 8 + L * W * 8 + L * E * 8 + L * 16 + 65536 +
		      S * W * 11 * 8 + S * L * E * 24 + L * 16 + L * P * slots_used * 4 + S * L * W * slots_used * 8;
	e->timeline_events = 0;
}

const char *sim_estimate_bytes(double b, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	int u = 0;
	while (b >= 1000 && u < 6) {
		b /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.*f %s", b < 10 ? 2 : b < 100 ? 1 : 0, b, unit[u]);
	return buf;
}

const char *sim_estimate_duration(double s, char *buf, size_t len)
{
	if (s < 90)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 90 * 60)
		snprintf(buf, len, "%.1f min", s / 60);
	else if (s < 48 * 3600)
		snprintf(buf, len, "%.1f hours", s / 3600);
	else if (s < 3 * 365.25 * 86400)
		snprintf(buf, len, "%.0f days", s / 86400);
	else
		snprintf(buf, len, "%.0f years", s / (365.25 * 86400));
	return buf;
}

/* The keys that lower the largest part of the memory. */
static const char *memory_advice(const scn_scenario *s, const sim_estimate *e)
{
	double worker_part = e->router_bytes;
	if (worker_part >= e->plan_bytes && worker_part >= e->flow_bytes && worker_part >= e->result_bytes) {
		if (s->routing.capacity_scope == SCN_SCOPE_GLOBAL)
			return e->workers > 1 ? "lower workload.micro_batch (or seq_len), use routing.capacity_scope = \"rank\" "
						"(its workspace is one GPU's tokens, not the group's), or route on fewer "
						"threads (MOESIM_THREADS; each holds a workspace)"
					      : "lower workload.micro_batch (or seq_len), or use routing.capacity_scope = \"rank\" "
						"(its workspace is one GPU's tokens, not the group's)";
		return e->workers > 1 ? "lower workload.micro_batch (or seq_len), or route on fewer threads (MOESIM_THREADS; "
					"each holds a workspace)"
				      : "lower workload.micro_batch (or seq_len)";
	}
	if (e->flow_bytes >= e->plan_bytes && e->flow_bytes >= e->result_bytes)
		return "use network.model = \"analytic\" (no per-pair plan, no flows), or fewer model.moe_layers, "
		       "a smaller parallel.ep or fewer cluster.nodes";
	return "use fewer model.moe_layers or fewer cluster.nodes";
}

int sim_estimate_check(const scn_scenario *s, const sim_estimate *e, double mem_avail_bytes, double disk_free_bytes,
		       const char *out_path, ms_error *err)
{
	char a[32], b[32], c[32], d[32], f[32], g[32], t[32];
	if (mem_avail_bytes >= 0 && e->mem_bytes > mem_avail_bytes)
		return MS_ERROR(err, MS_ERANGE,
				"the run needs about %s (routing workspaces %s on %d thread%s, plan %s, flow model %s, "
				"results %s) but %s are available: %s",
				sim_estimate_bytes(e->mem_bytes, a, sizeof a), sim_estimate_bytes(e->router_bytes, b, sizeof b),
				e->workers, e->workers == 1 ? "" : "s", sim_estimate_bytes(e->plan_bytes, c, sizeof c),
				sim_estimate_bytes(e->flow_bytes, d, sizeof d), sim_estimate_bytes(e->result_bytes, f, sizeof f),
				sim_estimate_bytes(mem_avail_bytes, g, sizeof g), memory_advice(s, e));
	if (e->events > SIM_LIMIT_EVENTS || e->time_s > SIM_LIMIT_TIME_S) {
		const char *more = e->flow_events > 0.5 * e->events
					   ? ", or use network.model = \"analytic\" (one event per all-to-all, not one per flow)"
				   : e->pairs / SIM_RATE_PAIRS_PER_S > 0.5 * e->time_s ? ", or lower workload.micro_batch (or seq_len)"
											: "";
		return MS_ERROR(err, MS_ERANGE,
				"the run needs about %.3g events and %.3g routed token-expert pairs over %d step%s, "
				"roughly %s on one thread (limits: %.0e events, %s): lower workload.steps (the results "
				"are means over steps; a few steps usually settle them)%s",
				e->events, e->pairs, s->workload.steps, s->workload.steps == 1 ? "" : "s",
				sim_estimate_duration(e->time_s, t, sizeof t), SIM_LIMIT_EVENTS,
				sim_estimate_duration(SIM_LIMIT_TIME_S, a, sizeof a), more);
	}
	if (disk_free_bytes >= 0 && e->h5_bytes > disk_free_bytes)
		return MS_ERROR(err, MS_ERANGE,
				"%s: the results file needs about %s but its file system has %s free: write it "
				"elsewhere, or use fewer model.moe_layers or fewer cluster.nodes",
				out_path ? out_path : "the output", sim_estimate_bytes(e->h5_bytes, a, sizeof a),
				sim_estimate_bytes(disk_free_bytes, b, sizeof b));
	return MS_OK;
}

/*
 * What recording adds (sim_timeline.h). The timeline's records: per step, per GPU, its
 * stage's compute ops and the waits between them (about 1.5 records per op: the ops of
 * e->events, which counts five per layer and micro-batch), its data-parallel buckets and,
 * under overlap, its all-to-alls; measured against real runs in tests/check_run.c.
 */
void sim_estimate_record(const scn_scenario *s, const sim_record *rec, int timeline_gpus, sim_estimate *e)
{
	const double W = scn_world(s), pp = s->parallel.pp, S = s->workload.steps;
	const double mtp = s->workload.mode == SCN_MODE_TRAINING ? s->model.mtp_layers : 0;
	const double Lall = s->model.layers + mtp, L = s->model.moe_layers + mtp;
	const double passes = s->workload.mode == SCN_MODE_TRAINING ? 2 : 1, m = (double)s->workload.microbatches;
	const double units = s->schedule.overlap == SCN_OVERLAP_TWO_BATCH ? 2 : 1;
	const double tp = s->parallel.tp > 1, cp = s->parallel.cp > 1;
	const double Rs = s->workload.routed_microbatches * units, P = s->parallel.ep;
	const double Gs = W / P / pp;
	/* per GPU per step: each layer's ops of each micro-batch (dense, MoE, TP and CP
	 * collectives), a wait beside every other one (measured: 1.2 records an op in the
	 * default scenario, 1.0 in a balanced one), and the embedding, head and optimizer */
	const double per_gpu = passes * m * units * (Lall / pp) * (7 + 4 * tp + 2 * cp) * 1.5 + 3 * m + 4;
	if (!rec)
		return;
	if (rec->layer_steps) {
		double b = S * passes * Lall * W * 11 * 8;
		e->result_bytes += b;
		e->h5_bytes += b;
	}
	if (rec->traffic) { /* [Rs][L][Gs][2][P][P] per sample; the result's [2][L][W][W], written compressed */
		e->plan_bytes += Rs * L * Gs * 2 * P * P * 8;
		e->result_bytes += 2 * L * W * W * 8;
		e->h5_bytes += 2 * L * W * P * 8;
	}
	if (rec->links && s->network.model == SCN_NET_FLOW) { /* about 6 links a GPU, 128 bins each, and a name */
		e->flow_bytes += W * 6 * (128 * 8 * 2 + 120);
		e->h5_bytes += W * 6 * (8 * 3 + 40) + 32 * 128 * 16 + 6 * 128 * 8;
	}
	if (rec->timeline) {
		double gpus = timeline_gpus > 0 && timeline_gpus < W ? timeline_gpus : W;
		e->timeline_events = S * per_gpu * gpus;
		e->result_bytes += e->timeline_events * sizeof(sim_tl_event) + Rs * L * W * 16;
	}
	e->mem_bytes = e->router_bytes + e->plan_bytes + e->flow_bytes + e->result_bytes;
}

int sim_estimate_fits(const scn_scenario *s, double *peak_bytes, double *capacity_bytes, char *advice, size_t len,
		      ms_error *err)
{
	par_layout lay;
	moe_arch arch;
	moe_memory m;
	int fits;
	if (peak_bytes)
		*peak_bytes = -1;
	if (capacity_bytes)
		*capacity_bytes = -1;
	if (len)
		advice[0] = '\0';
	if (!hw_gpu_find(s->cluster.gpu))
		return 1;
	if (sim_layout_init(&lay, s, err) < 0)
		return err->code;
	par_layout_fini(&lay);
	if (moe_arch_init(&arch, s, err) < 0 || moe_memory_estimate(s, &arch, &m, err) < 0)
		return err->code;
	fits = m.fits;
	if (peak_bytes)
		*peak_bytes = m.peak_bytes;
	if (capacity_bytes)
		*capacity_bytes = m.capacity;
	if (!fits && len)
		moe_memory_advice(s, &m, advice, len);
	moe_memory_free(&m);
	return fits;
}
