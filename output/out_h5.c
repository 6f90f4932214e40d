/*
 * out_h5.c - the HDF5 results file (see out_h5.h and docs/output-format.md).
 *
 * HDF5 files are byte-for-byte reproducible: object modification times are not
 * recorded (H5Pset_obj_track_times off) and nothing depends on the wall clock, the
 * host or the process. Every HDF5 identifier is closed on every path.
 */
#include "output/out_h5.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_file.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

typedef struct h5w {
	hid_t file;
	hid_t dcpl; /* dataset creation: no timestamps */
	hid_t gcpl; /* group creation: no timestamps */
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

static void dataset(h5w *w, hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
		    const char *unit, const char *doc)
{
	hid_t sp, ds;
	if (w->failed)
		return;
	sp = H5Screate_simple(rank, dims, NULL);
	if (sp < 0) {
		h5fail(w, name);
		return;
	}
	ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
	if (ds < 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
		h5fail(w, name);
	if (ds >= 0) {
		hid_t st = H5Tcopy(H5T_C_S1), asp = H5Screate(H5S_SCALAR), at;
		const char *keys[2] = {"unit", "doc"}, *vals[2] = {unit, doc};
		for (int i = 0; i < 2; i++) {
			H5Tset_size(st, strlen(vals[i]) + 1);
			at = H5Acreate2(ds, keys[i], st, asp, H5P_DEFAULT, H5P_DEFAULT);
			if (at < 0 || H5Awrite(at, st, vals[i]) < 0)
				h5fail(w, name);
			if (at >= 0)
				H5Aclose(at);
		}
		H5Sclose(asp);
		H5Tclose(st);
		H5Dclose(ds);
	}
	H5Sclose(sp);
}

static void attr_str(h5w *w, hid_t loc, const char *name, const char *v)
{
	hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), at;
	H5Tset_size(st, strlen(v) + 1);
	at = H5Acreate2(loc, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
	if (at < 0 || H5Awrite(at, st, v) < 0)
		h5fail(w, name);
	if (at >= 0)
		H5Aclose(at);
	H5Sclose(sp);
	H5Tclose(st);
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

/* A 1-D array of fixed-length strings (e.g. phase names). */
static void string_list(h5w *w, hid_t loc, const char *name, const char *const *items, int n)
{
	size_t width = 1;
	char *buf;
	hsize_t dims[1] = {(hsize_t)n};
	hid_t st;
	for (int i = 0; i < n; i++)
		width = strlen(items[i]) + 1 > width ? strlen(items[i]) + 1 : width;
	buf = calloc((size_t)n, width);
	if (!buf) {
		h5fail(w, name);
		return;
	}
	for (int i = 0; i < n; i++)
		memcpy(buf + (size_t)i * width, items[i], strlen(items[i]));
	st = H5Tcopy(H5T_C_S1);
	H5Tset_size(st, width);
	dataset(w, loc, name, st, 1, dims, buf, "", "names, in index order");
	H5Tclose(st);
	free(buf);
}

int out_h5_write(const char *path, int force, const scn_scenario *s, const sim_result *r, const out_summary *o,
		 ms_error *err)
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
	w.dcpl = H5Pcreate(H5P_DATASET_CREATE);
	w.gcpl = H5Pcreate(H5P_GROUP_CREATE);
	H5Pset_obj_track_times(w.dcpl, 0);
	H5Pset_obj_track_times(w.gcpl, 0);
	w.file = H5Fcreate(ms_file_tmp_path(&of), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (w.file < 0) {
		H5Pclose(w.dcpl);
		H5Pclose(w.gcpl);
		ms_file_abort(&of);
		return MS_ERROR(err, MS_EIO, "cannot create HDF5 file '%s' (is the directory writable?)",
				ms_file_tmp_path(&of));
	}
	{
		/* The root group's own timestamps. */
		hid_t root = H5Gopen2(w.file, "/", H5P_DEFAULT);
		attr_str(&w, root, "format", "moesim-run");
		attr_i64(&w, root, "version", 2); /* 2: the whole step (issue 11): phases per micro-batch sum, /memory */
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
		attr_f64(&w, g, "dropped_pair_fraction", o->dropped_pair_frac);
		attr_f64(&w, g, "dropped_token_fraction", o->dropped_token_frac);
		attr_f64(&w, g, "gpu_load_max_over_mean", o->rank_load_max_mean);
		attr_f64(&w, g, "expert_load_max_over_mean", o->expert_load_max_mean);
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
		H5Gclose(g);
	}
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
	H5Pclose(w.dcpl);
	H5Pclose(w.gcpl);
	if (H5Fclose(w.file) < 0)
		h5fail(&w, "the file's last blocks");
	if (w.failed) {
		ms_file_abort(&of);
		return err->code;
	}
	return ms_file_commit(&of, err);
}
