/*
 * sim_plan.c - the step plan (see sim_internal.h): routing of every (routing sample, MoE
 * layer, EP group of the stage holding the layer), and from it every GPU's compute
 * times, every group's analytic all-to-all times and, for the flow model, its pair (and
 * per-domain) token counts. A step's micro-batch i replays sample i mod samples
 * (workload.routed_microbatches); sample k of step t is routed as the router's step
 * t x samples + k, so every sample draws (or replays) fresh tokens.
 *
 * Plan building runs on the run's worker threads (a pool created once per run, not per
 * step), each routing the jobs j = id, id + n, ... of the (sample, layer, group) list
 * with its own router clone and workspaces. Everything a worker writes is its own
 * (plan entries of its groups and ranks, its counters, the per-group statistics);
 * the statistics are reduced afterwards in group order, so the result does not depend
 * on the number of threads (tested).
 */
#include "sim/sim_internal.h"

#include "routing/rt_placement.h"
#include "sim/sim_estimate.h"

#include <stdlib.h>
#include <string.h>

typedef struct sim_worker worker;
struct sim_worker {
	runner *R;
	int id, n, step;
	rt_router *router;
	net_alltoall *a2a;
	double *bytes, *msgs;     /* [P][P] one all-to-all's transfers and messages */
	int32_t *pairs32, *gpu32, *dom32; /* [P][P], [P][P], [P][nd_max]: the group's counts */
	int32_t *recv;            /* [slots] */
	int *members;             /* [P] */
	int64_t *demand;          /* [L][E] pairs routed, this step */
	int64_t *kept;            /* [L][E] of those, kept after capacity, this step */
	int64_t *label_kept;      /* [L][D][E] kept pairs by their token's domain label, this step (D labels; else NULL) */
	int64_t *label_tokens;    /* [D] tokens of each label the first MoE layer routed, this step */
	int64_t *lost;            /* [L] tokens that lost every choice, this step */
	int64_t *dropped;         /* [L] chosen pairs not kept, this step */
	int64_t pairs, dropped_pairs, tokens, dropped_tokens;
	ms_error err;
	int rc;
};

/* Routes local group gl (of the stage holding MoE layer l) of sample smp and writes its
 * plan entries and statistics. */
static int plan_group(worker *w, int smp, int l, int gl)
{
	runner *R = w->R;
	const rt_group_routing *rt;
	size_t at = ((size_t)smp * R->n_moe + l) * R->Gs + gl;
	double *gn = R->gnaive + at * 4;
	sim_counts c;
	double *tg = R->plan_group + at * 2;
	net_alltoall_stats *st = R->gstats + at * 2;
	int g = R->stage_of_moe[l] * R->Gs + gl; /* the router's group: ranks g x ep .. */
	int rl = l < R->s->model.moe_layers ? l : R->s->model.moe_layers - 1; /* MTP routes as the last layer */
	double uses = R->mb_uses[smp];
	if (rt_route_group(w->router, w->step * R->samples + smp, rl, g, &rt, &w->err) < 0)
		return w->err.code;
	w->pairs += (int64_t)(rt->pairs * uses);
	w->dropped_pairs += (int64_t)(rt->dropped_pairs * uses);
	w->tokens += (int64_t)(rt->tokens * uses);
	w->dropped_tokens += (int64_t)(rt->dropped_tokens * uses);
	w->lost[l] += (int64_t)(rt->dropped_tokens * uses);
	w->dropped[l] += (int64_t)(rt->dropped_pairs * uses);
	for (int p = 0; p < R->P; p++) {
		const int32_t *demand = rt->demand + (size_t)p * R->E;
		int rank = rt_ep_member_rank(g, p, R->P, R->s->parallel.etp, R->world / R->pp);
		double *t = R->plan_rank + (((size_t)smp * R->n_moe + l) * R->world + rank) * SIM_T_N;
		double sent = 0, recv_total = 0;
		for (int e = 0; e < R->E; e++) {
			w->demand[(size_t)l * R->E + e] += (int64_t)(demand[e] * uses);
			w->kept[(size_t)l * R->E + e] += (int64_t)(rt->kept[(size_t)p * R->E + e] * uses);
		}
		for (int j = 0; j < R->P; j++)
			sent += (double)rt->sent[(size_t)p * R->P + j];
		if (p == 0 && w->label_kept) { /* the group's kept pairs by label, once (not per member) */
			const int D = rt->labels;
			for (size_t i = 0; i < (size_t)D * R->E; i++)
				w->label_kept[(size_t)l * D * R->E + i] += (int64_t)(rt->label_kept[i] * uses);
			for (int d = 0; l == 0 && d < D; d++)
				w->label_tokens[d] += (int64_t)(rt->label_tokens[d] * uses);
		}
		/* What this member's expert replicas receive, one entry per slot. */
		for (int k = 0; k < rt->slots; k++) {
			int64_t v = rt->slot_load[(size_t)p * rt->slots + k];
			w->recv[k] = (int32_t)v;
			recv_total += (double)v;
		}
		t[SIM_T_LOAD] = recv_total; /* reduced into rank_load after the pool, in a fixed order */
		t[SIM_T_PERMUTE] = moe_permute_time(&R->model, sent);
		t[SIM_T_UNPERMUTE] = moe_unpermute_time(&R->model, sent);
		memcpy(R->plan_slots + (((size_t)smp * R->n_moe + l) * R->world + rank) * R->slots, w->recv,
		       (size_t)rt->slots * sizeof(int32_t));
		if (R->s->parallel.etp > 1) /* ETP: timed once the whole ETP group is routed (sim_plan_build) */
			continue;
		t[SIM_T_EXPERT_F] = moe_expert_time(&R->model, w->recv, rt->slots, MOE_FWD);
		t[SIM_T_EXPERT_B] = moe_expert_time(&R->model, w->recv, rt->slots, MOE_BWD);
	}
	/* The group's counts, as the dispatcher needs them (and the flow model later). */
	MS_ASSERT(rt->domains_max == R->nd_max, "domain stride %d vs %d", rt->domains_max, R->nd_max);
	for (size_t i = 0; i < (size_t)R->P * R->P; i++) {
		w->pairs32[i] = (int32_t)rt->sent[i];
		w->gpu32[i] = (int32_t)rt->gpu_tokens[i];
	}
	for (size_t i = 0; i < (size_t)R->P * R->nd_max; i++)
		w->dom32[i] = (int32_t)rt->domain_tokens[i];
	if (R->flow) {
		memcpy(R->fl.pairs_plan + at * R->P * R->P, w->pairs32, (size_t)R->P * R->P * sizeof(int32_t));
		memcpy(R->fl.gpu_plan + at * R->P * R->P, w->gpu32, (size_t)R->P * R->P * sizeof(int32_t));
		memcpy(R->fl.domain_plan + at * R->P * R->nd_max, w->dom32, (size_t)R->P * R->nd_max * sizeof(int32_t));
	}
	for (int p = 0; p < R->P; p++)
		w->members[p] = rt_ep_member_rank(g, p, R->P, R->s->parallel.etp, R->world / R->pp);
	c.P = R->P;
	c.ranks = w->members;
	c.domain_size = R->topo.domain_size;
	c.pairs = w->pairs32;
	c.gpu_tokens = w->gpu32;
	c.dom_tokens = w->dom32;
	c.nd_stride = R->nd_max;
	/* dir 0: towards the experts (dispatch forward, combine backward); dir 1: back. */
	for (int dir = 0; dir < 2; dir++) {
		sim_dispatch_transfers(&R->wire, dir == 0, &c, w->bytes, w->msgs, gn + 2 * dir);
		if (R->traffic_smp) /* recorded (--traffic): reduced in sim_record_traffic */
			memcpy(R->traffic_smp + (at * 2 + dir) * R->P * R->P, w->bytes, (size_t)R->P * R->P * sizeof(double));
		for (int p = 0; R->tl_sent && p < R->P; p++) { /* the timeline's bytes of each member's all-to-all */
			double row = 0;
			for (int j = 0; j < R->P; j++)
				row += w->bytes[(size_t)p * R->P + j];
			R->tl_sent[(((size_t)smp * R->n_moe + l) * R->world + w->members[p]) * 2 + dir] = row;
		}
		net_alltoall_time(w->a2a, w->members, R->P, w->bytes, w->msgs, &R->costs[dir], &st[dir]);
		tg[dir] = st[dir].time_s;
	}
	return MS_OK;
}

/* The pool's job i: worker i routes its share of the (sample, layer, group) list. */
static void worker_job(void *arg, int i)
{
	worker *w = &((runner *)arg)->workers[i];
	runner *R = w->R;
	long jobs = (long)R->samples * R->n_moe * R->Gs;
	for (long j = w->id; j < jobs && w->rc == MS_OK; j += w->n)
		w->rc = plan_group(w, (int)(j / ((long)R->n_moe * R->Gs)), (int)(j / R->Gs % R->n_moe), (int)(j % R->Gs));
}

/*
 * Expert tensor parallelism (Megatron-Core's alltoall dispatcher with an expert TP group):
 * after the all-to-all an ETP group all-gathers what its members received, each member
 * computes every row with 1 / etp of each expert's width, and the outputs are reduce-
 * scattered back. So a member's expert time is that of its group's summed slot loads at
 * ffn_hidden / etp, and the gather moves the group's rows.
 */
static int etp_times(runner *R, ms_error *err)
{
	int etp = R->s->parallel.etp, S = R->slots;
	int32_t *sum = ms_calloc(err, (size_t)S + 1, sizeof *sum, "expert loads");
	if (!sum)
		return MS_ENOMEM;
	for (int smp = 0; smp < R->samples; smp++)
		for (int l = 0; l < R->n_moe; l++) {
			int lo = R->stage_of_moe[l] * (R->world / R->pp), hi = lo + R->world / R->pp;
			for (int base = lo; base < hi; base += etp) { /* ETP groups: etp consecutive ranks */
				size_t at = ((size_t)smp * R->n_moe + l) * R->world;
				double rows = 0, tf, tb;
				memset(sum, 0, (size_t)S * sizeof *sum);
				for (int c = 0; c < etp; c++) {
					const int32_t *v = R->plan_slots + (at + base + c) * S;
					for (int k = 0; k < S; k++)
						sum[k] += v[k];
					rows += R->plan_rank[(at + base + c) * SIM_T_N + SIM_T_LOAD];
				}
				tf = moe_expert_time(&R->emodel, sum, S, MOE_FWD);
				tb = moe_expert_time(&R->emodel, sum, S, MOE_BWD);
				for (int c = 0; c < etp; c++) {
					double *t = R->plan_rank + (at + base + c) * SIM_T_N;
					t[SIM_T_EXPERT_F] = tf;
					t[SIM_T_EXPERT_B] = tb;
					t[SIM_T_ETP] = rows;
				}
			}
		}
	free(sum);
	return MS_OK;
}

/* Purity and concentration of MoE layer l's kept pairs in this step alone (tr_stats'
 * definitions), into res->step_specialisation: the step's label counts are in worker 0's
 * arrays, its kept load in expert_kept. */
static void step_specialisation(runner *R, int step, int l)
{
	sim_result *res = R->res;
	const int D = res->kept_labels->domains;
	const size_t SL = (size_t)res->steps * R->n_moe, at = (size_t)step * R->n_moe + l;
	tr_layer_summary ls;
	tr_stats_specialisation(R->E, D, res->kept_labels->top_k, res->expert_kept + at * R->E,
				R->workers[0].label_kept + (size_t)l * D * R->E, R->workers[0].label_tokens, &ls);
	res->step_specialisation[at] = ls.purity;
	res->step_specialisation[SL + at] = ls.purity_baseline;
	res->step_specialisation[2 * SL + at] = ls.concentration;
	res->step_specialisation[3 * SL + at] = ls.concentration_baseline;
}

/* Routes every (layer, group) of a step and fills the plan and the routing statistics. */
int sim_plan_build(runner *R, int step, ms_error *err)
{
	sim_result *res = R->res;
	int rc;
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		w->step = step;
		w->pairs = w->dropped_pairs = w->tokens = w->dropped_tokens = 0;
		w->rc = MS_OK;
		ms_error_clear(&w->err);
		memset(w->demand, 0, (size_t)R->n_moe * R->E * sizeof *w->demand);
		memset(w->kept, 0, (size_t)R->n_moe * R->E * sizeof *w->kept);
		memset(w->lost, 0, (size_t)R->n_moe * sizeof *w->lost);
		memset(w->dropped, 0, (size_t)R->n_moe * sizeof *w->dropped);
		if (w->label_kept) {
			memset(w->label_kept, 0, (size_t)R->n_moe * res->kept_labels->domains * R->E * sizeof *w->label_kept);
			memset(w->label_tokens, 0, (size_t)res->kept_labels->domains * sizeof *w->label_tokens);
		}
	}
	ms_pool_run(R->pool, worker_job, R);
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		if (w->rc < 0)
			return MS_ERROR(err, w->rc, "%s", w->err.msg);
		res->pairs[step] += w->pairs;
		res->dropped_pairs[step] += w->dropped_pairs;
		res->tokens[step] += w->tokens;
		res->dropped_tokens[step] += w->dropped_tokens;
		for (int l = 0; l < R->n_moe; l++) {
			res->layer_dropped_tokens[(size_t)step * R->n_moe + l] += w->lost[l];
			res->layer_dropped_pairs[(size_t)step * R->n_moe + l] += w->dropped[l];
		}
	}
	if (res->kept_labels) {
		/* Integer sums, in worker order: the same whatever the thread count. The step's
		 * counts gather in worker 0's arrays (reset at the next step) for its own figures. */
		tr_stats *ks = res->kept_labels;
		worker *w0 = &R->workers[0];
		const size_t LDE = (size_t)R->n_moe * ks->domains * R->E;
		for (int i = 1; i < R->n_workers; i++) {
			const worker *w = &R->workers[i];
			for (size_t j = 0; j < LDE; j++)
				w0->label_kept[j] += w->label_kept[j];
			for (int d = 0; d < ks->domains; d++)
				w0->label_tokens[d] += w->label_tokens[d];
		}
		for (size_t j = 0; j < LDE; j++)
			ks->domain_load[j] += w0->label_kept[j];
		for (int d = 0; d < ks->domains; d++)
			ks->domain_tokens[d] += w0->label_tokens[d];
	}
	if (R->s->parallel.etp > 1 && (rc = etp_times(R, err)) < 0)
		return rc;
	if (R->traffic_smp)
		sim_record_traffic(R);
	for (int l = 0; l < R->n_moe; l++) {
		for (int smp = 0; smp < R->samples; smp++)
			for (int gl = 0; gl < R->Gs; gl++)
				for (int p = 0; p < R->P; p++) {
					int rank = rt_ep_member_rank(R->stage_of_moe[l] * R->Gs + gl, p, R->P, R->s->parallel.etp,
								     R->world / R->pp);
					const double *t = R->plan_rank + (((size_t)smp * R->n_moe + l) * R->world + rank) * SIM_T_N;
					res->rank_load[(size_t)l * R->world + rank] += t[SIM_T_LOAD] * R->mb_uses[smp] / R->m * R->inv_steps;
				}
		for (int e = 0; e < R->E; e++) {
			int64_t c = 0, k = 0;
			size_t at = ((size_t)step * R->n_moe + l) * R->E + e;
			for (int i = 0; i < R->n_workers; i++) {
				c += R->workers[i].demand[(size_t)l * R->E + e];
				k += R->workers[i].kept[(size_t)l * R->E + e];
			}
			res->expert_demand[(size_t)l * R->E + e] += (double)c / R->m * R->inv_steps;
			res->expert_routed[at] = c;
			res->expert_kept[at] = k;
			if (res->kept_labels)
				res->kept_labels->load[(size_t)l * R->E + e] += k;
		}
		for (int smp = 0; smp < R->samples; smp++) /* every slot's pairs over the step's micro-batches */
			for (size_t i = 0; i < (size_t)R->world * R->slots; i++)
				res->slot_pairs[((size_t)step * R->n_moe + l) * R->world * R->slots + i] +=
					(int64_t)R->plan_slots[((size_t)smp * R->n_moe + l) * R->world * R->slots + i] *
					(int64_t)R->mb_uses[smp];
		for (int smp = 0; smp < R->samples; smp++)
			for (int g = 0; g < R->Gs; g++)
				for (int dir = 0; dir < 2; dir++) {
					size_t at = ((size_t)smp * R->n_moe + l) * R->Gs + g;
					const net_alltoall_stats *st = R->gstats + at * 2 + dir;
					/* per step: every micro-batch moves its sample's bytes */
					double k = R->mb_uses[smp] * R->inv_steps;
					if (!R->flow)
						(dir ? res->combine_s : res->dispatch_s)[l] +=
							st->time_s * k / ((double)R->Gs * R->m * R->units);
					res->nvlink_bytes += st->nvlink_bytes * k;
					res->nic_bytes += st->nic_bytes * k;
					res->a2a_nvlink_bytes[dir] += st->nvlink_bytes * k;
					res->a2a_nic_bytes[dir] += st->nic_bytes * k;
					res->a2a_naive_nvlink_bytes[dir] += R->gnaive[at * 4 + 2 * dir] * k;
					res->a2a_naive_nic_bytes[dir] += R->gnaive[at * 4 + 2 * dir + 1] * k;
					if (st->nvlink_max_bytes > res->hot_nvlink_bytes) {
						res->hot_nvlink_bytes = st->nvlink_max_bytes;
						res->hot_nvlink_rank = st->hot_nvlink_rank;
						res->hot_nvlink_layer = l;
					}
					if (st->nic_max_bytes > res->hot_nic_bytes) {
						res->hot_nic_bytes = st->nic_max_bytes;
						res->hot_nic = st->hot_nic;
						res->hot_nic_layer = l;
					}
				}
		if (res->kept_labels) /* the step's specialisation, from its own counts (after expert_kept) */
			step_specialisation(R, step, l);
	}
	return MS_OK;
}

/* The placement (the same for every EP group) and room for every slot's pairs, into
 * the result. MTP modules route as the last MoE layer, and are placed as it is. */
static int placement_result(runner *R, ms_error *err)
{
	sim_result *res = R->res;
	const rt_placement *pl = rt_router_placement(R->workers[0].router);
	int S = pl->slots;
	res->slots = S;
	res->slot_expert = ms_calloc(err, (size_t)R->n_moe * R->P * S + 1, sizeof *res->slot_expert, "results");
	res->slot_pairs = ms_calloc(err, (size_t)R->s->workload.steps * R->n_moe * R->world * S + 1, sizeof *res->slot_pairs,
				    "per-step results");
	if (!res->slot_expert || !res->slot_pairs)
		return MS_ENOMEM;
	for (size_t i = 0; i < (size_t)R->n_moe * R->P * S; i++)
		res->slot_expert[i] = -1;
	for (int l = 0; l < R->n_moe; l++) {
		int pl_l = l < pl->layers ? l : pl->layers - 1;
		for (int e = 0; e < R->E; e++)
			for (int k = pl->rep_start[pl_l][e]; k < pl->rep_start[pl_l][e + 1]; k++)
				res->slot_expert[((size_t)l * R->P + pl->rep_member[pl_l][k]) * S + pl->rep_slot[pl_l][k]] = e;
	}
	return MS_OK;
}

int sim_plan_slots(const runner *R)
{
	return rt_router_placement(R->workers[0].router)->slots;
}

void sim_plan_fini(runner *R)
{
	for (int i = 0; R->workers && i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		/* Clones first: worker 0 holds the router that owns the shared tables. */
		if (i > 0)
			rt_router_destroy(w->router);
		net_alltoall_destroy(w->a2a);
		free(w->bytes);
		free(w->msgs);
		free(w->pairs32);
		free(w->gpu32);
		free(w->dom32);
		free(w->recv);
		free(w->members);
		free(w->demand);
		free(w->kept);
		free(w->label_kept);
		free(w->label_tokens);
		free(w->lost);
		free(w->dropped);
	}
	if (R->workers)
		rt_router_destroy(R->workers[0].router);
	free(R->workers);
	ms_pool_destroy(R->pool);
}

int sim_plan_init(runner *R, int threads, ms_error *err)
{
	/* With a replayed trace's domain labels: purity and concentration of the kept pairs
	 * (trace/tr_stats.h's definitions), counted over the run's steps. */
	const int D = R->in->trace ? rt_trace_labels(R->in->trace) : 0;
	int slots;
	if (D > 0 && !(R->res->kept_labels = tr_stats_create(R->n_moe, R->E, R->s->routing.top_k, D, err)))
		return MS_ENOMEM;
	if (D > 0 && !(R->res->step_specialisation = ms_calloc(err, 4 * (size_t)R->res->steps * R->n_moe + 1,
							       sizeof *R->res->step_specialisation, "per-step results")))
		return MS_ENOMEM;
	R->n_workers = sim_estimate_workers(threads, R->samples * R->n_moe * R->Gs); /* one rule, shared with the estimate */
	R->workers = ms_calloc(err, (size_t)R->n_workers, sizeof *R->workers, "workers");
	if (!R->workers || !(R->pool = ms_pool_create(R->n_workers, err)))
		return MS_ENOMEM;
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		w->R = R;
		w->id = i;
		w->n = R->n_workers;
		w->router = i == 0 ? rt_router_create(R->route_s ? R->route_s : R->s, R->in->trace, err) : rt_router_clone(R->workers[0].router, err);
		if (!w->router)
			return err->code ? err->code : MS_ENOMEM;
		/* bias_balanced: every step's bias, before the clones share it (rt_router.h). */
		if (i == 0 && rt_router_plan_bias(w->router, R->s->workload.steps, R->samples, err) < 0)
			return err->code;
		slots = rt_router_placement(w->router)->slots;
		w->a2a = net_alltoall_create(&R->topo, R->P, err);
		w->bytes = ms_calloc(err, (size_t)R->P * R->P, sizeof(double), "byte matrix");
		w->msgs = ms_calloc(err, (size_t)R->P * R->P, sizeof(double), "message matrix");
		w->pairs32 = ms_calloc(err, (size_t)R->P * R->P, sizeof(int32_t), "group counts");
		w->gpu32 = ms_calloc(err, (size_t)R->P * R->P, sizeof(int32_t), "group counts");
		w->dom32 = ms_calloc(err, (size_t)R->P * R->nd_max, sizeof(int32_t), "group counts");
		w->recv = ms_calloc(err, (size_t)slots + 1, sizeof(int32_t), "expert loads");
		w->members = ms_calloc(err, (size_t)R->P, sizeof(int), "group members");
		w->demand = ms_calloc(err, (size_t)R->n_moe * R->E, sizeof(int64_t), "expert demand");
		w->kept = ms_calloc(err, (size_t)R->n_moe * R->E, sizeof(int64_t), "expert demand");
		w->lost = ms_calloc(err, (size_t)R->n_moe, sizeof(int64_t), "lost tokens");
		w->dropped = ms_calloc(err, (size_t)R->n_moe, sizeof(int64_t), "dropped pairs");
		if (!w->a2a || !w->bytes || !w->msgs || !w->pairs32 || !w->gpu32 || !w->dom32 || !w->recv || !w->members ||
		    !w->demand || !w->kept || !w->lost || !w->dropped)
			return MS_ENOMEM;
		if (D > 0) {
			w->label_kept = ms_calloc(err, (size_t)R->n_moe * D * R->E, sizeof *w->label_kept, "label counts");
			w->label_tokens = ms_calloc(err, (size_t)D, sizeof *w->label_tokens, "label counts");
			if (!w->label_kept || !w->label_tokens)
				return MS_ENOMEM;
		}
	}
	return placement_result(R, err);
}

