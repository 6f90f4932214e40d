/*
 * sim_timeline.c - the event timeline (see sim_timeline.h): records appended as the run
 * accounts time, sorted once at the end. The hooks the runner calls (sim_tl_*, declared
 * in sim_internal.h) turn the runner's state at that point (the GPU's op, its streams'
 * running items, the plan's bytes) into a record, so that sim_run.c only calls them.
 *
 * The compute stream's start times come from a cursor per GPU: the runner accounts every
 * second of a GPU's compute stream to one phase, in time order (a compute op when it
 * starts, or when it ends under SM sharing; a wait when it ends), so each accounted
 * interval starts where the previous one ended. The tests hold the cursor against the
 * engine's clock: the last interval of every GPU ends at the run's end.
 */
#include "sim/sim_timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_bins.h"
#include "sim/sim_internal.h"

struct sim_timeline {
	int lo, hi;            /* GPUs recorded */
	sim_tl_event *ev;
	size_t n, cap;
	double *cursor;        /* [world] */
	int world, mailboxes;
	/* [world x mailboxes] a pending send into each mailbox: sender, start, bytes, pass, mb */
	int32_t *p_src, *p_pass, *p_mb;
	double *p_start, *p_bytes;
	int failed;            /* an allocation failed while recording */
	uint32_t seq;
};

/* Op names: the compute ops (W_*), the collectives (C_*), then the waits and the send. */
enum { OP_WAIT_EP = W_NCOMPUTE + 9, OP_WAIT_RECV, OP_WAIT_DP, OP_BARRIER, OP_SENDING, N_OPS };

static const char *const op_names[N_OPS] = {
	"embed", "attention", "dense_ffn", "router", "shared_experts", "permute", "experts", "unpermute", "head",
	"mtp_proj", "optimizer", "tp_allgather", "tp_reducescatter", "cp_allgather", "cp_reducescatter",
	"alltoall_to_experts", "alltoall_back", "dp_collective", "etp_allgather", "etp_reducescatter",
	"wait_ep_stream", "wait_recv", "wait_dp_stream", "step_barrier", "send"};

/* The names above follow sim_internal.h's enums: a new compute op or collective must be named here. */
_Static_assert(W_NCOMPUTE == 11 && C_ETP_RS == 8 && OP_WAIT_EP == 20, "name the new op in op_names");

const char *sim_tl_op_name(int op)
{
	return op >= 0 && op < N_OPS ? op_names[op] : "?";
}

int sim_tl_nops(void)
{
	return N_OPS;
}

const char *sim_tl_stream_name(int stream)
{
	static const char *const n[SIM_TL_NSTREAMS] = {"compute", "communication", "data_parallel", "pipeline"};
	return stream >= 0 && stream < SIM_TL_NSTREAMS ? n[stream] : "?";
}

const char *sim_tl_kind_name(int kind)
{
	return kind == SIM_TL_KIND_SEND ? "send" : sim_phase_name(kind);
}

sim_timeline *sim_timeline_create(int gpu_lo, int gpu_hi, ms_error *err)
{
	sim_timeline *t = ms_calloc(err, 1, sizeof *t, "timeline");
	if (!t)
		return NULL;
	t->lo = gpu_lo > 0 ? gpu_lo : 0;
	t->hi = gpu_hi;
	return t;
}

static void free_run_state(sim_timeline *t)
{
	free(t->cursor);
	free(t->p_src);
	free(t->p_pass);
	free(t->p_mb);
	free(t->p_start);
	free(t->p_bytes);
	t->cursor = t->p_start = t->p_bytes = NULL;
	t->p_src = t->p_pass = t->p_mb = NULL;
}

void sim_timeline_destroy(sim_timeline *t)
{
	if (!t)
		return;
	free_run_state(t);
	free(t->ev);
	free(t);
}

size_t sim_timeline_count(const sim_timeline *t)
{
	return t->n;
}

const sim_tl_event *sim_timeline_events(const sim_timeline *t)
{
	return t->ev;
}

void sim_timeline_gpus(const sim_timeline *t, int *lo, int *hi)
{
	*lo = t->lo;
	*hi = t->hi;
}

int sim_timeline_begin(sim_timeline *t, int world, int mailboxes, ms_error *err)
{
	size_t k = (size_t)world * (size_t)mailboxes + 1;
	free_run_state(t);
	t->n = 0;
	t->failed = 0;
	t->seq = 0;
	t->world = world;
	t->mailboxes = mailboxes;
	if (t->hi < 0 || t->hi >= world)
		t->hi = world - 1;
	t->cursor = ms_calloc(err, (size_t)world, sizeof *t->cursor, "timeline");
	t->p_src = ms_calloc(err, k, sizeof *t->p_src, "timeline");
	t->p_pass = ms_calloc(err, k, sizeof *t->p_pass, "timeline");
	t->p_mb = ms_calloc(err, k, sizeof *t->p_mb, "timeline");
	t->p_start = ms_calloc(err, k, sizeof *t->p_start, "timeline");
	t->p_bytes = ms_calloc(err, k, sizeof *t->p_bytes, "timeline");
	if (!t->cursor || !t->p_src || !t->p_pass || !t->p_mb || !t->p_start || !t->p_bytes)
		return MS_ENOMEM;
	return MS_OK;
}

void sim_timeline_step(sim_timeline *t, double t0_s)
{
	for (int g = 0; g < t->world; g++)
		t->cursor[g] = t0_s;
}

void sim_timeline_add(sim_timeline *t, const sim_tl_event *e)
{
	if (e->gpu < t->lo || e->gpu > t->hi || !(e->end_s > e->start_s) || t->failed)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		sim_tl_event *ev = realloc(t->ev, cap * sizeof *ev);
		if (!ev) {
			t->failed = 1;
			return;
		}
		t->ev = ev;
		t->cap = cap;
	}
	t->ev[t->n] = *e;
	t->ev[t->n].seq = t->seq++;
	t->n++;
}

void sim_timeline_compute(sim_timeline *t, int gpu, int pass, int layer, int mb, int kind, int op, double d,
			  double bytes)
{
	sim_tl_event e;
	double start = t->cursor[gpu];
	if (d <= 0)
		return;
	t->cursor[gpu] = start + d;
	memset(&e, 0, sizeof e);
	e.start_s = start;
	e.end_s = start + d;
	e.bytes = bytes;
	e.gpu = gpu;
	e.layer = layer;
	e.mb = mb;
	e.peer = -1;
	e.stream = SIM_TL_COMPUTE;
	e.kind = (int8_t)kind;
	e.op = (int8_t)op;
	e.pass = (int8_t)pass;
	sim_timeline_add(t, &e);
}

void sim_timeline_send(sim_timeline *t, int src, int dst, int key, int pass, int mb, double now_s, double bytes)
{
	size_t i = (size_t)dst * t->mailboxes + key;
	t->p_src[i] = src;
	t->p_pass[i] = pass;
	t->p_mb[i] = mb;
	t->p_start[i] = now_s;
	t->p_bytes[i] = bytes;
}

void sim_timeline_landed(sim_timeline *t, int dst, int key, double now_s)
{
	size_t i = (size_t)dst * t->mailboxes + key;
	sim_tl_event e;
	memset(&e, 0, sizeof e);
	e.start_s = t->p_start[i];
	e.end_s = now_s;
	e.bytes = t->p_bytes[i];
	e.gpu = t->p_src[i];
	e.layer = -1;
	e.mb = t->p_mb[i];
	e.peer = dst;
	e.stream = SIM_TL_PIPE;
	e.kind = SIM_TL_KIND_SEND;
	e.op = OP_SENDING;
	e.pass = (int8_t)t->p_pass[i];
	sim_timeline_add(t, &e);
}

/* Records sorted by (gpu, stream, start, end, order recorded): no two compare equal. */
static int cmp_event(const void *pa, const void *pb)
{
	const sim_tl_event *a = pa, *b = pb;
	if (a->gpu != b->gpu)
		return a->gpu < b->gpu ? -1 : 1;
	if (a->stream != b->stream)
		return a->stream < b->stream ? -1 : 1;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	if (a->end_s != b->end_s)
		return a->end_s < b->end_s ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int sim_timeline_end(sim_timeline *t, ms_error *err)
{
	free_run_state(t);
	if (t->failed)
		return MS_ERROR(err, MS_ENOMEM, "out of memory recording the timeline (%zu events so far): record fewer GPUs "
				"(--timeline-gpus) or fewer steps", t->n);
	qsort(t->ev, t->n, sizeof *t->ev, cmp_event);
	return MS_OK;
}

/* ---- the runner's hooks ---- */

/* The plan's bytes rank sends in the all-to-all `what` of (layer, mb, half). */
static double a2a_bytes(const runner *R, int rank, int what, int layer, int mb, int half)
{
	int moe, smp;
	if (!R->tl_sent || layer < 0 || (moe = R->moe_of[layer]) < 0)
		return 0;
	smp = sim_sample_of(R, mb, half);
	rank = sim_plan_rank(R, moe, rank); /* DualPipe: the mirror replays the forward stage's routing */
	return R->tl_sent[(((size_t)smp * R->n_moe + moe) * R->world + rank) * 2 + (what == C_A2A_BACK)];
}

void sim_tl_account(runner *R, int rank, int pass, int layer, int phase, double d)
{
	const gpu_state *g = &R->gpus[rank];
	const sim_prog *p = sim_prog_of(R, rank);
	int op = OP_BARRIER, mb = -1;
	double bytes = 0;
	if (g->pc >= 0 && g->pc < p->n_ops) {
		const sim_op *o = &p->ops[g->pc];
		switch (o->kind) {
		case OP_COMPUTE:
			op = o->what;
			mb = o->what == W_OPTIMIZER ? -1 : o->mb;
			break;
		case OP_COLL:
			op = W_NCOMPUTE + o->what;
			mb = o->what == C_DP ? -1 : o->mb;
			if ((o->what == C_A2A_TO || o->what == C_A2A_BACK) && phase != SIM_PH_WAIT)
				bytes = a2a_bytes(R, rank, o->what, o->layer, o->mb, o->half);
			break;
		case OP_EP_WAIT: op = OP_WAIT_EP; mb = o->mb; break;
		case OP_RECV: op = OP_WAIT_RECV; mb = o->mb; break;
		case OP_DP_WAIT: op = OP_WAIT_DP; break;
		default: break;
		}
	}
	sim_timeline_compute(R->tl, rank, pass, layer, mb, phase, op, d, bytes);
}

void sim_tl_stream_done(runner *R, int rank, int stream, double now)
{
	const gpu_state *g = &R->gpus[rank];
	const sim_prog *p = sim_prog_of(R, rank);
	sim_tl_event e;
	memset(&e, 0, sizeof e);
	e.gpu = rank;
	e.end_s = now;
	e.peer = -1;
	e.stream = (int8_t)stream;
	if (stream == SIM_TL_COMM) {
		const sim_ep_item *it = &p->ep_items[g->ep_next];
		e.start_s = g->ep_start;
		e.kind = (int8_t)it->phase;
		e.op = (int8_t)(W_NCOMPUTE + it->what);
		e.pass = (int8_t)it->pass;
		e.layer = it->layer;
		e.mb = it->mb;
		if (it->what == C_A2A_TO || it->what == C_A2A_BACK)
			e.bytes = a2a_bytes(R, rank, it->what, it->layer, it->mb, it->half);
	} else {
		e.start_s = g->dp_start;
		e.kind = SIM_PH_DP;
		e.op = W_NCOMPUTE + C_DP;
		e.pass = 1;
		e.layer = -1;
		e.mb = -1;
		e.bytes = p->buckets[g->dp_next].bytes;
	}
	sim_timeline_add(R->tl, &e);
}

/* ---- what a run records on request (sim_record) ---- */

enum { LINK_BINS_MAX = 128 };

int sim_record_init(runner *R, ms_error *err)
{
	const sim_record *rec = R->rec;
	if (!rec)
		return MS_OK;
	if (R->tl) {
		R->tl_sent = ms_calloc(err, (size_t)R->samples * R->n_moe * R->world * 2, sizeof *R->tl_sent, "timeline");
		if (!R->tl_sent)
			return MS_ENOMEM;
		if (sim_timeline_begin(R->tl, R->world, 2 * R->m * R->chunks, err) < 0)
			return err->code;
	}
	if (rec->traffic) {
		R->traffic_smp = ms_calloc(err, (size_t)R->samples * R->n_moe * R->Gs * 2 * R->P * R->P, sizeof *R->traffic_smp,
					   "traffic matrices");
		if (!R->traffic_smp)
			return MS_ENOMEM;
	}
	if (rec->links && R->flow) {
		if (!(R->bins = net_bins_create(R->fl.graph->n_links, LINK_BINS_MAX, err)))
			return err->code;
		net_model_set_bins(R->fl.net, R->bins);
	}
	return MS_OK;
}

/* The step's traffic matrices (sim_plan_build, after the routing): every sample's, as
 * often as micro-batches replay it, into the result's [2][layers][world][world]. */
void sim_record_traffic(runner *R)
{
	sim_result *res = R->res;
	size_t W = (size_t)R->world, PP = (size_t)R->P * R->P;
	for (int smp = 0; smp < R->samples; smp++)
		for (int l = 0; l < R->n_moe; l++)
			for (int gl = 0; gl < R->Gs; gl++) {
				int g = R->stage_of_moe[l] * R->Gs + gl;
				for (int dir = 0; dir < 2; dir++) {
					const double *T = R->traffic_smp + ((((size_t)smp * R->n_moe + l) * R->Gs + gl) * 2 + dir) * PP;
					double *M = res->traffic + ((size_t)dir * R->n_moe + l) * W * W;
					for (int i = 0; i < R->P; i++) {
						int ri = rt_ep_member_rank(g, i, R->P, R->s->parallel.etp, R->world / R->pp);
						for (int j = 0; j < R->P; j++) {
							int rj = rt_ep_member_rank(g, j, R->P, R->s->parallel.etp, R->world / R->pp);
							M[(size_t)ri * W + rj] += T[(size_t)i * R->P + j] * R->mb_uses[smp] * R->inv_steps;
						}
					}
				}
			}
}

/* Every link's name, class, capacity, bytes and bins into the result. */
static int links_result(runner *R, ms_error *err)
{
	sim_result *r = R->res;
	const topo_graph *gr = R->fl.graph;
	const double *bytes = net_model_link_bytes(R->fl.net);
	int n = gr->n_links, nb = net_bins_used(R->bins, r->run_time_s);
	r->n_links = n;
	r->link_bins = nb;
	r->link_bin_s = net_bins_width(R->bins);
	r->link_name = ms_calloc(err, (size_t)n + 1, sizeof *r->link_name, "link results");
	r->link_class = ms_calloc(err, (size_t)n + 1, sizeof *r->link_class, "link results");
	r->link_capacity_Bps = ms_calloc(err, (size_t)n + 1, sizeof *r->link_capacity_Bps, "link results");
	r->link_bytes = ms_calloc(err, (size_t)n + 1, sizeof *r->link_bytes, "link results");
	r->link_bin_bytes = ms_calloc(err, (size_t)n * nb + 1, sizeof *r->link_bin_bytes, "link results");
	if (!r->link_name || !r->link_class || !r->link_capacity_Bps || !r->link_bytes || !r->link_bin_bytes)
		return MS_ENOMEM;
	for (int i = 0; i < n; i++) {
		const topo_link *lk = &gr->links[i];
		snprintf(r->link_name[i], sizeof r->link_name[i], "%s -> %s (%s)", gr->names[lk->src], gr->names[lk->dst],
			 hw_link_class_name(lk->cls));
		r->link_class[i] = (int8_t)lk->cls;
		r->link_capacity_Bps[i] = net_model_link_capacity(R->fl.net, i);
		r->link_bytes[i] = bytes[i];
		memcpy(r->link_bin_bytes + (size_t)i * nb, net_bins_row(R->bins, i), (size_t)nb * sizeof(double));
	}
	return MS_OK;
}

int sim_record_fini(runner *R, ms_error *err)
{
	int rc = MS_OK;
	if (R->tl && (rc = sim_timeline_end(R->tl, err)) < 0)
		return rc;
	if (R->bins) {
		rc = links_result(R, err);
		net_model_set_bins(R->fl.net, NULL);
		net_bins_destroy(R->bins);
		R->bins = NULL;
	}
	return rc;
}

void sim_record_release(runner *R)
{
	if (R->bins && R->fl.net)
		net_model_set_bins(R->fl.net, NULL);
	net_bins_destroy(R->bins);
	R->bins = NULL;
	free(R->tl_sent);
	free(R->traffic_smp);
	R->tl_sent = R->traffic_smp = NULL;
}
