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

Suite *output_suite(void)
{
	Suite *s = suite_create("output");
	TCase *tc = tcase_create("h5");
	tcase_add_test(tc, h5_schema_and_values);
	tcase_add_test(tc, h5_atomic_and_reproducible);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
