/*
 * check_output.c - the HDF5 output: schema and values read back through the HDF5 API,
 * atomic writes (no file on failure, no overwrite without force), same bytes for the
 * same scenario and seed.
 */
#include <check.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/out_report.h"
#include "sim/sim_timeline.h"
#include "test_util.h"

static sim_result *run_default(scn_scenario *s, const char *set)
{
	ms_error err;
	sim_result *r = NULL;
	scn_overrides ov = {set ? 1 : 0, {set}};
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(s, NULL, &ov, &err), MS_OK);
	ck_assert_int_eq(sim_run_scenario(s, 0, &r, &err), MS_OK);
	return r;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(*len ? *len : 1);
	ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

START_TEST(h5_schema_and_values)
{
	scn_scenario s;
	sim_result *r = run_default(&s, "workload.steps=2");
	out_summary o;
	ms_error err;
	char dir[256], path[512];
	hid_t f, ds, sp, g, a;
	hsize_t dims[4];
	double *buf, v;
	ms_error_clear(&err);
	out_summary_compute(r, &o);
	snprintf(path, sizeof path, "%s/run.h5", tu_temp_dir(dir, sizeof dir));
	ck_assert_int_eq(out_h5_write(path, 0, &s, r, &o, &err), MS_OK);
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	ds = H5Dopen2(f, "/phases/time_s", H5P_DEFAULT);
	sp = H5Dget_space(ds);
	ck_assert_int_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 4);
	ck_assert_uint_eq(dims[0], 2); /* training: forward and backward */
	ck_assert_uint_eq(dims[1], (hsize_t)s.model.layers);
	ck_assert_uint_eq(dims[2], 32);
	ck_assert_uint_eq(dims[3], SIM_NPHASES);
	buf = malloc(sizeof(double) * dims[0] * dims[1] * dims[2] * dims[3]);
	ck_assert_int_ge(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
	ck_assert_mem_eq(buf, r->phase_s, sizeof(double) * dims[0] * dims[1] * dims[2] * dims[3]);
	free(buf);
	H5Sclose(sp);
	H5Dclose(ds);
	g = H5Gopen2(f, "/summary", H5P_DEFAULT);
	a = H5Aopen(g, "step_time_s", H5P_DEFAULT);
	H5Aread(a, H5T_NATIVE_DOUBLE, &v);
	ck_assert(v == o.step_time_s);
	H5Aclose(a);
	{
		/* The whole step's figures (issue 11's names), as the summary computed them. */
		const char *names[] = {"tokens_per_s_per_gpu", "model_tflops_per_gpu", "mfu", "memory_per_gpu_bytes"};
		double want[] = {o.tokens_per_s_per_gpu, o.model_tflops_per_gpu, o.mfu, r->mem_peak_bytes};
		for (int i = 0; i < 4; i++) {
			a = H5Aopen(g, names[i], H5P_DEFAULT);
			ck_assert_int_ge(a, 0);
			H5Aread(a, H5T_NATIVE_DOUBLE, &v);
			ck_assert_msg(v == want[i] && v > 0, "%s = %g", names[i], v);
			H5Aclose(a);
		}
		ck_assert(o.mfu < 1 && r->mem_peak_bytes < r->mem_capacity_bytes);
		ck_assert(tu_rel(o.tokens_per_s_per_gpu * r->world, o.tokens_per_s) < 1e-12);
	}
	H5Gclose(g);
	/* the default runs the flow model: its hottest links are written */
	ck_assert_int_gt(r->n_hot_links, 0);
	ds = H5Dopen2(f, "/network/hot_link_utilisation", H5P_DEFAULT);
	ck_assert_int_ge(ds, 0);
	sp = H5Dget_space(ds);
	ck_assert_int_eq(H5Sget_simple_extent_npoints(sp), r->n_hot_links);
	H5Sclose(sp);
	{
		double util[8];
		ck_assert_int_ge(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, util), 0);
		ck_assert(util[0] == r->hot_link_util[0] && util[0] > 0 && util[0] <= 1);
	}
	H5Dclose(ds);
	H5Fclose(f);
	remove(path);
	rmdir(dir);
	sim_result_free(r);
}
END_TEST

START_TEST(h5_atomic_and_reproducible)
{
	scn_scenario s;
	sim_result *r = run_default(&s, "workload.steps=1");
	out_summary o;
	ms_error err;
	char dir[256], a[512], b[512];
	size_t la, lb;
	char *ba, *bb;
	out_summary_compute(r, &o);
	tu_temp_dir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/a.h5", dir);
	snprintf(b, sizeof b, "%s/b.h5", dir);
	ms_error_clear(&err);
	ck_assert_int_eq(out_h5_write(a, 0, &s, r, &o, &err), MS_OK);
	ck_assert_int_eq(out_h5_write(b, 0, &s, r, &o, &err), MS_OK);
	ba = slurp(a, &la);
	bb = slurp(b, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(ba, bb, la);
	free(ba);
	free(bb);
	/* No overwrite without force, and the old file is untouched. */
	ck_assert_int_eq(out_h5_write(a, 0, &s, r, &o, &err), MS_EEXIST);
	ck_assert(strstr(err.msg, "pass --force") != NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(out_h5_write(a, 1, &s, r, &o, &err), MS_OK);
	/* A path whose directory does not exist fails cleanly and leaves nothing. */
	snprintf(b, sizeof b, "%s/missing/c.h5", dir);
	ms_error_clear(&err);
	ck_assert_int_eq(out_h5_write(b, 0, &s, r, &o, &err), MS_EIO);
	ck_assert(strstr(err.msg, "cannot create HDF5 file") != NULL);
	snprintf(b, sizeof b, "%s/b.h5", dir);
	remove(a);
	remove(b);
	ck_assert_int_eq(rmdir(dir), 0); /* empty: no temporary left behind */
	sim_result_free(r);
}
END_TEST

/* Reads a whole dataset as native type (the caller frees); its element count in *n. */
static void *read_all(hid_t f, const char *name, hid_t type, size_t size, hsize_t *n)
{
	hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), sp;
	hsize_t dims[8];
	int rank;
	void *buf;
	ck_assert_msg(ds >= 0, "no dataset %s", name);
	sp = H5Dget_space(ds);
	rank = H5Sget_simple_extent_dims(sp, dims, NULL);
	*n = 1;
	for (int i = 0; i < rank; i++)
		*n *= dims[i];
	buf = malloc(*n * size + 1);
	ck_assert_int_ge(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
	H5Sclose(sp);
	H5Dclose(ds);
	return buf;
}

/*
 * Version 3's datasets through libhdf5 (the h5py tests, tools/tests/test_run_outputs.py,
 * hold every value; these run where Python is missing): /experts adds up to /steps, the
 * timeline's compound records come back as recorded, /links' bins add up to the links'
 * bytes, /traffic to the summary's bytes, and two writes give the same bytes.
 */
START_TEST(h5_version3_read_back)
{
	scn_scenario s;
	sim_inputs in;
	sim_record rec;
	sim_result *r = NULL;
	out_summary o;
	ms_error err;
	scn_overrides ov = {1, {"workload.steps=2"}};
	char dir[256], a[512], b[512];
	hid_t f;
	hsize_t n, nl;
	int64_t *routed, *kept, sum = 0, ksum = 0, dropped = 0;
	double *lb, *bins, *traffic, tsum = 0, want;
	sim_tl_event *ev;
	size_t la, lbz;
	char *ba, *bb;
	hid_t mt;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, NULL, &ov, &err), MS_OK);
	ck_assert_int_eq(sim_inputs_open(&in, &s, NULL, &err), MS_OK);
	memset(&rec, 0, sizeof rec);
	rec.layer_steps = rec.links = rec.traffic = 1;
	rec.timeline = sim_timeline_create(0, -1, &err);
	in.record = &rec;
	ck_assert_msg(sim_run(&in, 0, &r, &err) == MS_OK, "%s", err.msg);
	sim_inputs_close(&in);
	out_summary_compute(r, &o);
	tu_temp_dir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/a.h5", dir);
	snprintf(b, sizeof b, "%s/b.h5", dir);
	ck_assert_int_eq(out_h5_write_events(a, 0, &s, r, &o, rec.timeline, &err), MS_OK);
	ck_assert_int_eq(out_h5_write_events(b, 0, &s, r, &o, rec.timeline, &err), MS_OK);
	ba = slurp(a, &la);
	bb = slurp(b, &lbz);
	ck_assert_uint_eq(la, lbz);
	ck_assert_mem_eq(ba, bb, la);
	free(ba);
	free(bb);
	f = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	routed = read_all(f, "/experts/routed", H5T_NATIVE_INT64, 8, &n);
	kept = read_all(f, "/experts/kept", H5T_NATIVE_INT64, 8, &n);
	for (hsize_t i = 0; i < n; i++) {
		sum += routed[i];
		ksum += kept[i];
	}
	for (int st = 0; st < r->steps; st++)
		dropped += r->dropped_pairs[st];
	ck_assert_int_eq(sum, r->pairs[0] + r->pairs[1]);
	ck_assert_int_eq(sum - ksum, dropped);
	free(routed);
	free(kept);
	/* the compound records, through a memory type of our own */
	mt = H5Tcreate(H5T_COMPOUND, sizeof(sim_tl_event));
	H5Tinsert(mt, "gpu", HOFFSET(sim_tl_event, gpu), H5T_NATIVE_INT32);
	H5Tinsert(mt, "op", HOFFSET(sim_tl_event, op), H5T_NATIVE_INT8);
	H5Tinsert(mt, "start_s", HOFFSET(sim_tl_event, start_s), H5T_NATIVE_DOUBLE);
	H5Tinsert(mt, "end_s", HOFFSET(sim_tl_event, end_s), H5T_NATIVE_DOUBLE);
	H5Tinsert(mt, "bytes", HOFFSET(sim_tl_event, bytes), H5T_NATIVE_DOUBLE);
	ev = read_all(f, "/timeline/events", mt, sizeof *ev, &n);
	ck_assert_uint_eq(n, sim_timeline_count(rec.timeline));
	for (hsize_t i = 0; i < n; i++) {
		const sim_tl_event *e = &sim_timeline_events(rec.timeline)[i];
		ck_assert(ev[i].gpu == e->gpu && ev[i].op == e->op && ev[i].start_s == e->start_s && ev[i].end_s == e->end_s &&
			  ev[i].bytes == e->bytes);
	}
	free(ev);
	H5Tclose(mt);
	/* the links: the binned ones' bins add up to their bytes */
	lb = read_all(f, "/links/bytes", H5T_NATIVE_DOUBLE, 8, &nl);
	ck_assert_uint_eq(nl, (hsize_t)r->n_links);
	bins = read_all(f, "/links/binned_bytes", H5T_NATIVE_DOUBLE, 8, &n);
	{
		int *idx = read_all(f, "/links/binned_links", H5T_NATIVE_INT, sizeof(int), &nl);
		hsize_t nb = n / nl;
		ck_assert_uint_eq(nb, (hsize_t)r->link_bins);
		for (hsize_t k = 0; k < nl; k++) {
			double t = 0;
			for (hsize_t j = 0; j < nb; j++)
				t += bins[k * nb + j];
			ck_assert_msg(tu_rel(t, lb[idx[k]]) < 1e-9, "link %d: bins %.15g, bytes %.15g", idx[k], t, lb[idx[k]]);
		}
		ck_assert_int_eq(idx[0], r->hot_link_index[0]);
		free(idx);
	}
	free(lb);
	free(bins);
	traffic = read_all(f, "/traffic/dispatch_bytes", H5T_NATIVE_DOUBLE, 8, &n);
	for (hsize_t i = 0; i < n; i++)
		tsum += traffic[i];
	want = r->a2a_nvlink_bytes[0] + r->a2a_nic_bytes[0];
	ck_assert_msg(tu_rel(tsum, want) < 1e-9, "traffic %.15g, summary %.15g", tsum, want);
	free(traffic);
	H5Fclose(f);
	remove(a);
	remove(b);
	rmdir(dir);
	sim_timeline_destroy(rec.timeline);
	sim_result_free(r);
}
END_TEST

Suite *output_suite(void)
{
	Suite *s = suite_create("output");
	TCase *tc = tcase_create("h5");
	tcase_add_test(tc, h5_schema_and_values);
	tcase_add_test(tc, h5_atomic_and_reproducible);
	tcase_add_test(tc, h5_version3_read_back);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
