/*
 * out_h5.c - the HDF5 results file (see out_h5.h and docs/output-format.md).
 *
 * HDF5 files are byte-for-byte reproducible: object modification times are not
 * recorded (H5Pset_obj_track_times off) and nothing depends on the wall clock, the
 * host or the process. Every HDF5 identifier is closed on every path.
 */
#include "output/out_h5.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_file.h"
#include "common/ms_h5.h"
#include "hardware/hw_link.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

typedef struct h5w {
	hid_t file;
	hid_t gcpl; /* group creation: no timestamps */
	hid_t str;  /* variable-length UTF-8 strings, for the name lists */
	const char *path;
	ms_error *err;
	int failed;
} h5w;

static int h5fail(h5w *w, const char *what)
{
	if (!w->failed)
		MS_ERROR(w->err, MS_EIO, "cannot write %s to HDF5 file '%s'", what, w->path);
	w->failed = 1;
	return MS_EIO;
}

static hid_t group(h5w *w, const char *name)
{
	hid_t g = H5Gcreate2(w->file, name, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
	if (g < 0)
		h5fail(w, name);
	return g;
}

static void attr_str(h5w *w, hid_t loc, const char *name, const char *v)
{
	if (ms_h5_attr_utf8(loc, name, v) < 0)
		h5fail(w, name);
}

/*
 * Dataset creation: no timestamps; above CHUNK_MIN elements chunked (leading dimensions
 * cut until a chunk holds at most CHUNK_MAX elements) with shuffle and deflate, which
 * compresses the many zeros of per-GPU tables (GPUs of other stages) to almost nothing.
 */
enum { CHUNK_MIN = 1024, CHUNK_MAX = 65536 };

static hid_t create_plist(int rank, const hsize_t *dims)
{
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	hsize_t chunk[8], n = 1;
	H5Pset_obj_track_times(dcpl, 0);
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	if (n <= CHUNK_MIN || rank > 8)
		return dcpl;
	for (int i = 0; i < rank; i++)
		chunk[i] = dims[i];
	for (int i = 0; i < rank && n > CHUNK_MAX; i++) {
		hsize_t rest = n / chunk[i], c = CHUNK_MAX / rest;
		chunk[i] = c < 1 ? 1 : c;
		n = rest * chunk[i];
	}
	H5Pset_chunk(dcpl, rank, chunk);
	H5Pset_shuffle(dcpl);
	H5Pset_deflate(dcpl, 4);
	return dcpl;
}

/* A dataset of `type` in memory, stored as file_type (< 0: the same). */
static void dataset_as(h5w *w, hid_t loc, const char *name, hid_t type, hid_t file_type, int rank, const hsize_t *dims,
		       const void *data, const char *unit, const char *doc)
{
	hid_t sp, ds, dcpl;
	if (w->failed)
		return;
	sp = H5Screate_simple(rank, dims, NULL);
	if (sp < 0) {
		h5fail(w, name);
		return;
	}
	dcpl = create_plist(rank, dims);
	ds = H5Dcreate2(loc, name, file_type >= 0 ? file_type : type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (ds < 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
		h5fail(w, name);
	if (ds >= 0) {
		attr_str(w, ds, "unit", unit);
		attr_str(w, ds, "doc", doc);
		H5Dclose(ds);
	}
	H5Pclose(dcpl);
	H5Sclose(sp);
}

static void dataset(h5w *w, hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
		    const char *unit, const char *doc)
{
	dataset_as(w, loc, name, type, -1, rank, dims, data, unit, doc);
}

static void attr_num(h5w *w, hid_t loc, const char *name, hid_t type, const void *v)
{
	hid_t sp = H5Screate(H5S_SCALAR), at;
	at = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
	if (at < 0 || H5Awrite(at, type, v) < 0)
		h5fail(w, name);
	if (at >= 0)
		H5Aclose(at);
	H5Sclose(sp);
}

static void attr_f64(h5w *w, hid_t loc, const char *name, double v)
{
	attr_num(w, loc, name, H5T_NATIVE_DOUBLE, &v);
}

static void attr_i64(h5w *w, hid_t loc, const char *name, long long v)
{
	attr_num(w, loc, name, H5T_NATIVE_LLONG, &v);
}

/* A 1-D array of strings (e.g. phase names): variable-length UTF-8. */
static void string_list(h5w *w, hid_t loc, const char *name, const char *const *items, int n)
{
	hsize_t dims[1] = {(hsize_t)n};
	dataset(w, loc, name, w->str, 1, dims, items, "", "names, in index order");
}

/* A string list from a table of n names of `width` characters each. */
static void string_table(h5w *w, hid_t loc, const char *name, const char *table, size_t width, int n)
{
	const char **items = malloc(((size_t)n + 1) * sizeof *items);
	if (!items) {
		h5fail(w, name);
		return;
	}
	for (int i = 0; i < n; i++)
		items[i] = table + (size_t)i * width;
	string_list(w, loc, name, items, n);
	free(items);
}

/* Names from a function of the index. */
static void string_fn(h5w *w, hid_t loc, const char *name, const char *(*fn)(int), int n)
{
	const char *items[64];
	for (int i = 0; i < n && i < 64; i++)
		items[i] = fn(i);
	string_list(w, loc, name, items, n < 64 ? n : 64);
}

/* /layers' specialisation datasets (trace/tr_stats.h's figures over the run's kept pairs). */
static void write_specialisation(h5w *w, hid_t g, const sim_result *r)
{
	hsize_t d1[1] = {(hsize_t)r->layers};
	double *v = calloc((size_t)r->layers * 4 + 1, sizeof *v);
	if (!v) {
		h5fail(w, "specialisation");
		return;
	}
	for (int l = 0; l < r->layers; l++) {
		tr_layer_summary ls;
		tr_stats_summary(r->kept_labels, l, &ls);
		v[l] = ls.purity;
		v[r->layers + l] = ls.purity_baseline;
		v[2 * r->layers + l] = ls.concentration;
		v[3 * r->layers + l] = ls.concentration_baseline;
	}
	dataset(w, g, "purity", H5T_NATIVE_DOUBLE, 1, d1, v, "fraction",
		"purity of the kept pairs against the trace's domain labels, over the run: sum over experts of the "
		"dominant label's pairs / all pairs (trace stats' definition)");
	dataset(w, g, "purity_baseline", H5T_NATIVE_DOUBLE, 1, d1, v + r->layers, "fraction",
		"purity's domain-blind baseline: the largest label's share of tokens");
	dataset(w, g, "concentration", H5T_NATIVE_DOUBLE, 1, d1, v + 2 * r->layers, "fraction",
		"the share of each label's kept pairs on its top_k most used experts, over all kept pairs");
	dataset(w, g, "concentration_baseline", H5T_NATIVE_DOUBLE, 1, d1, v + 3 * r->layers, "fraction",
		"concentration's domain-blind baseline: the share of the layer's top_k most used experts");
	free(v);
}

/*
 * /steps' routing quality per (step, layer): the kept load's max/mean (from /experts/kept),
 * the chosen pairs not kept,
 * the tokens that lost every choice and, with labels, the step's own specialisation; what
 * `moesim trace stats --router --per-step` reports for the routing alone.
 */
static void write_step_layers(h5w *w, hid_t g, const sim_result *r)
{
	static const char *const spec[4][2] = {
		{"layer_purity", "[step, layer]: /layers/purity of the step's kept pairs alone"},
		{"layer_purity_baseline", "[step, layer]: its domain-blind baseline, the largest label's share of the step's tokens"},
		{"layer_concentration", "[step, layer]: /layers/concentration of the step's kept pairs alone"},
		{"layer_concentration_baseline",
		 "[step, layer]: its domain-blind baseline, the share of the step's top_k most used experts"},
	};
	const size_t SL = (size_t)r->steps * r->layers;
	hsize_t d[2] = {(hsize_t)r->steps, (hsize_t)r->layers};
	double *mm = malloc((SL + 1) * sizeof *mm);
	if (!mm) {
		h5fail(w, "/steps");
		return;
	}
	for (size_t i = 0; i < SL; i++) {
		const int64_t *k = r->expert_kept + i * r->experts;
		int64_t sum = 0, mx = 0;
		for (int e = 0; e < r->experts; e++) {
			sum += k[e];
			mx = k[e] > mx ? k[e] : mx;
		}
		mm[i] = sum > 0 ? (double)mx * r->experts / (double)sum : NAN;
	}
	dataset(w, g, "layer_load_max_over_mean", H5T_NATIVE_DOUBLE, 2, d, mm, "ratio",
		"[step, layer]: the most loaded expert's kept pairs over the mean over experts (/experts/kept), all "
		"micro-batches and EP groups of the step");
	dataset(w, g, "layer_dropped_pairs", H5T_NATIVE_INT64, 2, d, r->layer_dropped_pairs, "token-expert pairs",
		"[step, layer]: chosen pairs not kept (expert_choice: of each token's top_k by score); summed over layers, "
		"dropped_pairs");
	dataset(w, g, "layer_dropped_tokens", H5T_NATIVE_INT64, 2, d, r->layer_dropped_tokens, "tokens",
		"[step, layer]: tokens that lost every choice; summed over layers, dropped_tokens");
	for (int i = 0; r->step_specialisation && i < 4; i++)
		dataset(w, g, spec[i][0], H5T_NATIVE_DOUBLE, 2, d, r->step_specialisation + (size_t)i * SL, "fraction",
			spec[i][1]);
	free(mm);
}

/* /experts: per step, layer and expert; the placement's slots. */
static void write_experts(h5w *w, const sim_result *r)
{
	hid_t g = group(w, "experts");
	size_t n = (size_t)r->steps * r->layers * r->experts;
	int64_t *dropped = malloc((n + 1) * sizeof *dropped);
	hsize_t d[3] = {(hsize_t)r->steps, (hsize_t)r->layers, (hsize_t)r->experts};
	hsize_t ds[3] = {(hsize_t)r->layers, (hsize_t)r->ep, (hsize_t)r->slots};
	hsize_t dp[4] = {(hsize_t)r->steps, (hsize_t)r->layers, (hsize_t)r->world, (hsize_t)r->slots};
	if (g < 0 || !dropped) {
		h5fail(w, "/experts");
		free(dropped);
		if (g >= 0)
			H5Gclose(g);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dropped[i] = r->expert_routed[i] - r->expert_kept[i];
	dataset(w, g, "routed", H5T_NATIVE_INT64, 3, d, r->expert_routed, "token-expert pairs",
		"[step, layer, expert]: pairs routed to each expert before capacity, all micro-batches and EP groups of the step");
	dataset(w, g, "kept", H5T_NATIVE_INT64, 3, d, r->expert_kept, "token-expert pairs",
		"[step, layer, expert]: of those, the pairs the expert computes (after capacity drops)");
	dataset(w, g, "dropped", H5T_NATIVE_INT64, 3, d, dropped, "token-expert pairs",
		"[step, layer, expert]: routed - kept, the pairs capacity dropped");
	dataset(w, g, "slot_expert", H5T_NATIVE_INT32, 3, ds, r->slot_expert, "expert id",
		"[layer, EP member, slot]: the expert each replica slot holds, -1 for an empty slot");
	dataset(w, g, "slot_pairs", H5T_NATIVE_INT64, 4, dp, r->slot_pairs, "token-expert pairs",
		"[step, layer, gpu, slot]: pairs each replica slot of each GPU computed, all micro-batches of the step "
		"(after drops, placement and replicas)");
	free(dropped);
	H5Gclose(g);
}

/* /links: every link over the run, the hottest and every class binned over time. */
enum { BINNED_LINKS = 32 };

static void write_links(h5w *w, const sim_result *r)
{
	hid_t g = group(w, "links");
	int n = r->n_links, nb = r->link_bins, k = 0, idx[BINNED_LINKS];
	double *util = malloc(((size_t)n + 1) * sizeof *util);
	double *bb = malloc(((size_t)BINNED_LINKS * nb + 1) * sizeof *bb), *bu = malloc(((size_t)BINNED_LINKS * nb + 1) * sizeof *bu);
	double *cb = calloc((size_t)HW_LINK_COUNT * nb + 1, sizeof *cb), cap[HW_LINK_COUNT] = {0};
	hsize_t d1[1] = {(hsize_t)n}, dk[1], dkb[2], dcb[2] = {HW_LINK_COUNT, (hsize_t)nb};
	if (g < 0 || !util || !bb || !bu || !cb) {
		h5fail(w, "/links");
		goto out;
	}
	for (int i = 0; i < n; i++)
		util[i] = r->run_time_s > 0 && r->link_capacity_Bps[i] > 0 ? r->link_bytes[i] / (r->link_capacity_Bps[i] * r->run_time_s)
									     : 0;
	/* The most utilised links, highest first (the first index of equals first). */
	for (k = 0; k < BINNED_LINKS && k < n; k++) {
		int best = -1;
		for (int i = 0; i < n; i++) {
			int used = 0;
			for (int j = 0; j < k; j++)
				used |= idx[j] == i;
			if (!used && util[i] > 0 && (best < 0 || util[i] > util[best]))
				best = i;
		}
		if (best < 0)
			break;
		idx[k] = best;
		for (int b = 0; b < nb; b++) {
			double c = r->link_capacity_Bps[best] * r->link_bin_s;
			bb[(size_t)k * nb + b] = r->link_bin_bytes[(size_t)best * nb + b];
			bu[(size_t)k * nb + b] = c > 0 ? bb[(size_t)k * nb + b] / c : 0;
		}
	}
	for (int i = 0; i < n; i++)
		if (r->link_class[i] >= 0 && r->link_class[i] < HW_LINK_COUNT && r->link_capacity_Bps[i] < INFINITY) {
			cap[r->link_class[i]] += r->link_capacity_Bps[i];
			for (int b = 0; b < nb; b++)
				cb[(size_t)r->link_class[i] * nb + b] += r->link_bin_bytes[(size_t)i * nb + b];
		}
	for (int c = 0; c < HW_LINK_COUNT; c++)
		for (int b = 0; b < nb; b++)
			cb[(size_t)c * nb + b] = cap[c] > 0 ? cb[(size_t)c * nb + b] / (cap[c] * r->link_bin_s) : 0;
	attr_f64(w, g, "bin_s", r->link_bin_s);
	attr_i64(w, g, "bins", nb);
	string_table(w, g, "names", r->link_name[0], sizeof r->link_name[0], n);
	dataset(w, g, "class", H5T_NATIVE_INT8, 1, d1, r->link_class, "", "[link]: index into class_names");
	string_fn(w, g, "class_names", hw_link_class_name, HW_LINK_COUNT);
	dataset(w, g, "capacity_Bps", H5T_NATIVE_DOUBLE, 1, d1, r->link_capacity_Bps, "B/s",
		"[link]: achievable rate (inf: not a constraint)");
	dataset(w, g, "bytes", H5T_NATIVE_DOUBLE, 1, d1, r->link_bytes, "bytes", "[link]: bytes carried over the run");
	dataset(w, g, "utilisation", H5T_NATIVE_DOUBLE, 1, d1, util, "fraction", "[link]: bytes / (capacity x run time)");
	dk[0] = (hsize_t)k;
	dkb[0] = (hsize_t)k;
	dkb[1] = (hsize_t)nb;
	dataset(w, g, "binned_links", H5T_NATIVE_INT, 1, dk, idx, "link index",
		"the most utilised links, highest first (indices into names)");
	dataset(w, g, "binned_bytes", H5T_NATIVE_DOUBLE, 2, dkb, bb, "bytes",
		"[binned link, bin]: bytes each carried in each bin of bin_s seconds");
	dataset(w, g, "binned_utilisation", H5T_NATIVE_DOUBLE, 2, dkb, bu, "fraction",
		"[binned link, bin]: binned_bytes / (capacity x bin_s)");
	dataset(w, g, "class_binned_utilisation", H5T_NATIVE_DOUBLE, 2, dcb, cb, "fraction",
		"[class, bin]: bytes the class's links carried in the bin / (their summed capacity x bin_s)");
out:
	free(util);
	free(bb);
	free(bu);
	free(cb);
	if (g >= 0)
		H5Gclose(g);
}

/* /traffic: per MoE layer, the GPU-to-GPU byte matrices, one layer at a time. */
static void write_traffic(h5w *w, const sim_result *r)
{
	hid_t g = group(w, "traffic");
	hsize_t d[3] = {(hsize_t)r->layers, (hsize_t)r->world, (hsize_t)r->world};
	size_t per = (size_t)r->layers * r->world * r->world;
	if (g < 0)
		return;
	dataset(w, g, "dispatch_bytes", H5T_NATIVE_DOUBLE, 3, d, r->traffic, "bytes",
		"[layer, from gpu, to gpu]: bytes of the layer's forward dispatch, as the dispatcher moves them, all "
		"micro-batches, mean over steps");
	dataset(w, g, "combine_bytes", H5T_NATIVE_DOUBLE, 3, d, r->traffic + per, "bytes",
		"[layer, from gpu, to gpu]: the same for the forward combine");
	H5Gclose(g);
}

/* /timeline: the recorded intervals as one compound dataset (packed on file). */
static void write_timeline(h5w *w, const sim_timeline *tl)
{
	hid_t g = group(w, "timeline"), mt, ft;
	hsize_t d[1] = {(hsize_t)sim_timeline_count(tl)};
	int lo, hi;
	if (g < 0)
		return;
	mt = H5Tcreate(H5T_COMPOUND, sizeof(sim_tl_event));
	H5Tinsert(mt, "gpu", HOFFSET(sim_tl_event, gpu), H5T_NATIVE_INT32);
	H5Tinsert(mt, "stream", HOFFSET(sim_tl_event, stream), H5T_NATIVE_INT8);
	H5Tinsert(mt, "kind", HOFFSET(sim_tl_event, kind), H5T_NATIVE_INT8);
	H5Tinsert(mt, "op", HOFFSET(sim_tl_event, op), H5T_NATIVE_INT8);
	H5Tinsert(mt, "pass", HOFFSET(sim_tl_event, pass), H5T_NATIVE_INT8);
	H5Tinsert(mt, "layer", HOFFSET(sim_tl_event, layer), H5T_NATIVE_INT32);
	H5Tinsert(mt, "mb", HOFFSET(sim_tl_event, mb), H5T_NATIVE_INT32);
	H5Tinsert(mt, "start_s", HOFFSET(sim_tl_event, start_s), H5T_NATIVE_DOUBLE);
	H5Tinsert(mt, "end_s", HOFFSET(sim_tl_event, end_s), H5T_NATIVE_DOUBLE);
	H5Tinsert(mt, "bytes", HOFFSET(sim_tl_event, bytes), H5T_NATIVE_DOUBLE);
	H5Tinsert(mt, "peer", HOFFSET(sim_tl_event, peer), H5T_NATIVE_INT32);
	ft = H5Tcopy(mt);
	H5Tpack(ft); /* no padding on file: the same bytes whatever the memory held there */
	dataset_as(w, g, "events", mt, ft, 1, d, sim_timeline_events(tl), "s, bytes",
		   "one record per interval of a GPU's stream, ordered by gpu, stream, start (docs/output-format.md)");
	H5Tclose(ft);
	H5Tclose(mt);
	sim_timeline_gpus(tl, &lo, &hi);
	attr_i64(w, g, "first_gpu", lo);
	attr_i64(w, g, "last_gpu", hi);
	string_fn(w, g, "stream_names", sim_tl_stream_name, SIM_TL_NSTREAMS);
	string_fn(w, g, "kind_names", sim_tl_kind_name, SIM_TL_NKINDS);
	string_fn(w, g, "op_names", sim_tl_op_name, sim_tl_nops());
	H5Gclose(g);
}

int out_h5_write(const char *path, int force, const scn_scenario *s, const sim_result *r, const out_summary *o,
		 ms_error *err)
{
	return out_h5_write_events(path, force, s, r, o, NULL, err);
}

int out_h5_write_events(const char *path, int force, const scn_scenario *s, const sim_result *r, const out_summary *o,
			const sim_timeline *events, ms_error *err)
{
	ms_file of;
	h5w w = {0};
	hid_t g;
	int rc;
	char *text = NULL;
	size_t text_len = 0;
	FILE *mf;
	if ((rc = ms_file_begin(&of, path, force, err)) < 0)
		return rc;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	w.path = path;
	w.err = err;
	w.gcpl = H5Pcreate(H5P_GROUP_CREATE);
	H5Pset_obj_track_times(w.gcpl, 0);
	w.str = H5Tcopy(H5T_C_S1);
	H5Tset_size(w.str, H5T_VARIABLE);
	H5Tset_cset(w.str, H5T_CSET_UTF8);
	w.file = H5Fcreate(ms_file_tmp_path(&of), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (w.file < 0) {
		H5Pclose(w.gcpl);
		H5Tclose(w.str);
		ms_file_abort(&of);
		return MS_ERROR(err, MS_EIO, "cannot create HDF5 file '%s' (is the directory writable?)",
				ms_file_tmp_path(&of));
	}
	{
		/* The root group's own timestamps. */
		hid_t root = H5Gopen2(w.file, "/", H5P_DEFAULT);
		attr_str(&w, root, "format", "moesim-run");
		/* 2: the whole step (issue 11); 3: issue 14 (UTF-8, chunking, per-step and per-expert
		 * data, links over time, traffic and timeline on request) */
		attr_i64(&w, root, "version", 3);
		attr_str(&w, root, "moesim_version", MOESIM_VERSION);
		attr_str(&w, root, "scenario_source", s->source);
		mf = open_memstream(&text, &text_len);
		if (mf) {
			scn_write_resolved(mf, s);
			fclose(mf);
			attr_str(&w, root, "scenario", text ? text : "");
		} else {
			h5fail(&w, "scenario text");
		}
		free(text);
		attr_str(&w, root, "network_model", r->network_flow ? "flow" : "analytic");
		attr_i64(&w, root, "seed", (long long)s->workload.seed);
		attr_str(&w, root, "profile_source", s->cluster.profile[0] ? s->cluster.profile : "datasheet");
		attr_str(&w, root, "mode", scn_mode_name(s->workload.mode));
		attr_str(&w, root, "router", scn_router_name(s->routing.router));
		H5Gclose(root);
	}
	g = group(&w, "summary");
	if (g >= 0) {
		attr_f64(&w, g, "step_time_s", o->step_time_s);
		attr_f64(&w, g, "tokens_per_s", o->tokens_per_s);
		attr_f64(&w, g, "tokens_per_s_per_gpu", o->tokens_per_s_per_gpu);
		attr_f64(&w, g, "model_tflops_per_gpu", o->model_tflops_per_gpu);
		attr_f64(&w, g, "mfu", o->mfu);
		attr_f64(&w, g, "memory_per_gpu_bytes", r->mem_peak_bytes);
		attr_f64(&w, g, "memory_capacity_bytes", r->mem_capacity_bytes);
		attr_f64(&w, g, "model_flops_per_step", r->model_flops_per_step);
		attr_i64(&w, g, "microbatches", r->microbatches);
		attr_i64(&w, g, "critical_gpu", r->critical_gpu);
		attr_f64(&w, g, "dp_stream_s", r->dp_stream_s);
		attr_f64(&w, g, "dispatch_stream_s", r->comm_total_s[0]);
		attr_f64(&w, g, "dispatch_exposed_s", r->comm_exposed_s[0]);
		attr_f64(&w, g, "combine_stream_s", r->comm_total_s[1]);
		attr_f64(&w, g, "combine_exposed_s", r->comm_exposed_s[1]);
		attr_f64(&w, g, "tp_stream_s", r->comm_total_s[2]);
		attr_f64(&w, g, "tp_exposed_s", r->comm_exposed_s[2]);
		attr_f64(&w, g, "pp_stream_s", r->pp_total_s);
		attr_f64(&w, g, "pp_exposed_s", r->pp_exposed_s);
		attr_str(&w, g, "router", scn_router_name(s->routing.router));
		attr_f64(&w, g, "bias_gamma", s->routing.bias_gamma);
		attr_f64(&w, g, "dropped_pair_fraction", o->dropped_pair_frac);
		attr_f64(&w, g, "dropped_token_fraction", o->dropped_token_frac);
		attr_f64(&w, g, "gpu_load_max_over_mean", o->rank_load_max_mean);
		attr_f64(&w, g, "expert_load_max_over_mean", o->expert_load_max_mean);
		if (r->kept_labels) {
			attr_f64(&w, g, "purity", o->purity);
			attr_f64(&w, g, "purity_baseline", o->purity_baseline);
			attr_f64(&w, g, "concentration", o->concentration);
			attr_f64(&w, g, "concentration_baseline", o->concentration_baseline);
			attr_i64(&w, g, "domain_labels", r->kept_labels->domains);
		}
		attr_i64(&w, g, "gpus", r->world);
		attr_i64(&w, g, "ep", r->ep);
		attr_i64(&w, g, "tokens_per_step", r->tokens_per_step);
		attr_i64(&w, g, "events", (long long)r->events);
		attr_f64(&w, g, "dispatch_nvlink_bytes", r->a2a_nvlink_bytes[0]);
		attr_f64(&w, g, "dispatch_nic_bytes", r->a2a_nic_bytes[0]);
		attr_f64(&w, g, "combine_nvlink_bytes", r->a2a_nvlink_bytes[1]);
		attr_f64(&w, g, "combine_nic_bytes", r->a2a_nic_bytes[1]);
		attr_f64(&w, g, "per_pair_copy_nvlink_bytes", r->a2a_naive_nvlink_bytes[0] + r->a2a_naive_nvlink_bytes[1]);
		attr_f64(&w, g, "per_pair_copy_nic_bytes", r->a2a_naive_nic_bytes[0] + r->a2a_naive_nic_bytes[1]);
		for (int ph = 0; ph < SIM_NPHASES; ph++) {
			char name[64];
			snprintf(name, sizeof name, "phase_%s_s", sim_phase_name(ph));
			attr_f64(&w, g, name, o->phase_s[ph]);
		}
		H5Gclose(g);
	}
	g = group(&w, "steps");
	if (g >= 0) {
		hsize_t d[1] = {(hsize_t)r->steps};
		dataset(&w, g, "step_time_s", H5T_NATIVE_DOUBLE, 1, d, r->step_time_s, "s", "time of each step");
		dataset(&w, g, "pairs", H5T_NATIVE_INT64, 1, d, r->pairs, "token-expert pairs",
			"pairs routed, all layers and GPUs");
		dataset(&w, g, "dropped_pairs", H5T_NATIVE_INT64, 1, d, r->dropped_pairs, "token-expert pairs",
			"pairs dropped by capacity");
		dataset(&w, g, "tokens", H5T_NATIVE_INT64, 1, d, r->tokens, "token-layers", "tokens routed, summed over layers");
		dataset(&w, g, "dropped_tokens", H5T_NATIVE_INT64, 1, d, r->dropped_tokens, "token-layers",
			"tokens that lost every choice, summed over layers");
		{
			hsize_t dp[3] = {(hsize_t)r->steps, (hsize_t)r->world, SIM_NPHASES};
			hsize_t dl[5] = {(hsize_t)r->steps, (hsize_t)r->passes, (hsize_t)r->all_layers, (hsize_t)r->world, SIM_NPHASES};
			dataset(&w, g, "phase_time_s", H5T_NATIVE_DOUBLE, 3, dp, r->steps_phase_s, "s",
				"[step, gpu, phase]: seconds each GPU spent in each phase in each step; each row sums to the step's time");
			if (r->steps_layer_phase_s)
				dataset(&w, g, "layer_phase_time_s", H5T_NATIVE_DOUBLE, 5, dl, r->steps_layer_phase_s, "s",
					"[step, pass, layer, gpu, phase]: /phases/time_s step by step, summed over the step's micro-batches");
		}
		write_step_layers(&w, g, r);
		H5Gclose(g);
	}
	g = group(&w, "phases");
	if (g >= 0) {
		const char *names[SIM_NPHASES], *passes[2] = {"forward", "backward"};
		hsize_t d[4] = {(hsize_t)r->passes, (hsize_t)r->all_layers, (hsize_t)r->world, SIM_NPHASES};
		hsize_t ds[2] = {(hsize_t)r->world, SIM_NPHASES};
		for (int ph = 0; ph < SIM_NPHASES; ph++)
			names[ph] = sim_phase_name(ph);
		dataset(&w, g, "time_s", H5T_NATIVE_DOUBLE, 4, d, r->phase_s, "s",
			"[pass, layer, gpu, phase]: seconds each GPU spent in each phase of each transformer layer (MTP "
			"modules after the last), summed over micro-batches, mean over steps");
		dataset(&w, g, "step_time_s", H5T_NATIVE_DOUBLE, 2, ds, r->step_phase_s, "s",
			"[gpu, phase]: seconds each GPU spent in each phase over the whole step (embedding, head, bubble, "
			"data-parallel wait, optimizer included); each row sums to the step time, mean over steps");
		string_list(&w, g, "phase_names", names, SIM_NPHASES);
		string_list(&w, g, "pass_names", passes, r->passes);
		H5Gclose(g);
	}
	g = group(&w, "layers");
	if (g >= 0) {
		hsize_t d1[1] = {(hsize_t)r->layers};
		hsize_t dw[2] = {(hsize_t)r->layers, (hsize_t)r->world};
		hsize_t de[2] = {(hsize_t)r->layers, (hsize_t)r->experts};
		dataset(&w, g, "dispatch_time_s", H5T_NATIVE_DOUBLE, 1, d1, r->dispatch_s, "s",
			"forward dispatch all-to-all time, mean over EP groups and steps");
		dataset(&w, g, "combine_time_s", H5T_NATIVE_DOUBLE, 1, d1, r->combine_s, "s",
			"forward combine all-to-all time, mean over EP groups and steps");
		dataset(&w, g, "gpu_load", H5T_NATIVE_DOUBLE, 2, dw, r->rank_load, "token-expert pairs",
			"[layer, gpu]: pairs each GPU's experts received after drops, mean over steps");
		dataset(&w, g, "expert_demand", H5T_NATIVE_DOUBLE, 2, de, r->expert_demand, "token-expert pairs",
			"[layer, expert]: pairs routed to each expert before drops, all EP groups, mean over steps");
		if (r->kept_labels)
			write_specialisation(&w, g, r);
		if (r->passes == 2) {
			dataset(&w, g, "backward_dispatch_time_s", H5T_NATIVE_DOUBLE, 1, d1, r->dispatch_bwd_s, "s",
				"the backward all-to-all of the dispatch phase, mean over EP groups, micro-batches and steps");
			dataset(&w, g, "backward_combine_time_s", H5T_NATIVE_DOUBLE, 1, d1, r->combine_bwd_s, "s",
				"the backward all-to-all of the combine phase, mean over EP groups, micro-batches and steps");
		}
		H5Gclose(g);
	}
	write_experts(&w, r);
	if (r->n_links > 0)
		write_links(&w, r);
	if (r->traffic)
		write_traffic(&w, r);
	if (events)
		write_timeline(&w, events);
	g = group(&w, "memory");
	if (g >= 0) {
		const char *names[SIM_MEM_NPARTS];
		hsize_t dp[1] = {SIM_MEM_NPARTS}, dst[1] = {(hsize_t)r->mem_stages};
		for (int i = 0; i < SIM_MEM_NPARTS; i++)
			names[i] = sim_mem_part_name(i);
		attr_f64(&w, g, "peak_bytes", r->mem_peak_bytes);
		attr_f64(&w, g, "capacity_bytes", r->mem_capacity_bytes);
		attr_i64(&w, g, "peak_stage", r->mem_peak_stage);
		dataset(&w, g, "peak_parts_bytes", H5T_NATIVE_DOUBLE, 1, dp, r->mem_parts, "bytes",
			"the peak stage's memory per GPU, by part (part_names)");
		string_list(&w, g, "part_names", names, SIM_MEM_NPARTS);
		dataset(&w, g, "stage_bytes", H5T_NATIVE_DOUBLE, 1, dst, r->mem_stage_bytes, "bytes",
			"[pipeline stage]: memory per GPU of each stage");
		H5Gclose(g);
	}
	if (r->network_flow && r->n_hot_links > 0) {
		g = group(&w, "network");
		if (g >= 0) {
			const char *names[8];
			hsize_t d[1] = {(hsize_t)r->n_hot_links};
			for (int i = 0; i < r->n_hot_links; i++)
				names[i] = r->hot_link_name[i];
			string_list(&w, g, "hot_link_names", names, r->n_hot_links);
			dataset(&w, g, "hot_link_utilisation", H5T_NATIVE_DOUBLE, 1, d, r->hot_link_util, "fraction",
				"bytes / (capacity x simulated time) of the most utilised links, highest first");
			dataset(&w, g, "hot_link_bytes", H5T_NATIVE_DOUBLE, 1, d, r->hot_link_bytes, "bytes",
				"bytes the same links carried over the run");
			H5Gclose(g);
		}
	}
	H5Pclose(w.gcpl);
	H5Tclose(w.str);
	if (H5Fclose(w.file) < 0)
		h5fail(&w, "the file's last blocks");
	if (w.failed) {
		ms_file_abort(&of);
		return err->code;
	}
	return ms_file_commit(&of, err);
}
