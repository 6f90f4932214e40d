/* test_util.c - see test_util.h. */
#include "test_util.h"

#include "models/moe_model.h"
#include "sim/sim_inputs.h"
#include "sim/sim_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

const char *tu_write_temp(char *buf, size_t len, const char *text)
{
	int fd;
	FILE *f;
	snprintf(buf, len, "/tmp/moesim-test-XXXXXX");
	fd = mkstemp(buf);
	if (fd < 0)
		abort();
	f = fdopen(fd, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return buf;
}

const char *tu_temp_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/moesim-test-dir-XXXXXX");
	if (!mkdtemp(buf))
		abort();
	return buf;
}

double tu_rel(double a, double b)
{
	double m = fmax(fabs(a), fabs(b));
	return fabs(a - b) / (m > 1e-300 ? m : 1e-300);
}

static void attr_int(hid_t loc, const char *name, hid_t type, const void *v)
{
	hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, type, v);
	H5Aclose(a);
	H5Sclose(sp);
}

static void attr_text(hid_t loc, const char *name, const char *v)
{
	hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a;
	H5Tset_size(st, strlen(v));
	a = H5Acreate2(loc, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, st, v);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(st);
}

static void write_ds(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data)
{
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), sp = H5Screate_simple(rank, dims, NULL), d;
	H5Pset_create_intermediate_group(lcpl, 1);
	d = H5Dcreate2(file, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
	H5Dclose(d);
	H5Sclose(sp);
	H5Pclose(lcpl);
}

void tu_write_trace(const char *path, int L, int E, int K, long long T, const short *ids, const float *scores,
		    const int *ranks)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t d3[3] = {(hsize_t)L, (hsize_t)T, (hsize_t)K}, d1[1] = {(hsize_t)T};
	int version = 1;
	long long *seq = calloc((size_t)T, sizeof *seq);
	int *zeros = calloc((size_t)T, sizeof *zeros), *pos = calloc((size_t)T, sizeof *pos);
	if (f < 0 || !seq || !zeros || !pos)
		abort();
	for (long long t = 0; t < T; t++)
		pos[t] = (int)t;
	attr_text(f, "format", "moesim-trace");
	attr_int(f, "version", H5T_NATIVE_INT, &version);
	attr_int(f, "num_layers", H5T_NATIVE_INT, &L);
	attr_int(f, "num_experts", H5T_NATIVE_INT, &E);
	attr_int(f, "depth", H5T_NATIVE_INT, &K);
	attr_int(f, "num_tokens", H5T_NATIVE_LLONG, &T);
	attr_text(f, "model", "test");
	attr_text(f, "score_kind", "softmax");
	attr_text(f, "source", "tests/test_util.c");
	attr_text(f, "created", "2026-11-22T00:00:00Z");
	write_ds(f, "/routing/expert_ids", H5T_NATIVE_SHORT, 3, d3, ids);
	write_ds(f, "/routing/scores", H5T_NATIVE_FLOAT, 3, d3, scores);
	write_ds(f, "/tokens/step", H5T_NATIVE_INT, 1, d1, zeros);
	write_ds(f, "/tokens/sequence", H5T_NATIVE_LLONG, 1, d1, seq);
	write_ds(f, "/tokens/position", H5T_NATIVE_INT, 1, d1, pos);
	write_ds(f, "/tokens/rank", H5T_NATIVE_INT, 1, d1, ranks ? ranks : zeros);
	H5Fclose(f);
	free(seq);
	free(zeros);
	free(pos);
}

static sim_inputs tu_in;
static int tu_in_open;

const sim_inputs *tu_inputs(const scn_scenario *scenario)
{
	ms_error err;
	tu_inputs_release();
	ms_error_clear(&err);
	if (sim_inputs_open(&tu_in, scenario, NULL, &err) < 0)
		ck_abort_msg("opening the scenario's inputs: %s", err.msg);
	tu_in_open = 1;
	return &tu_in;
}

void tu_inputs_release(void)
{
	if (tu_in_open)
		sim_inputs_close(&tu_in);
	tu_in_open = 0;
}

int tu_model_init(moe_model *m, const scn_scenario *s, ms_error *err)
{
	sim_inputs in;
	int rc = sim_inputs_open(&in, s, NULL, err);
	if (rc == MS_OK)
		rc = moe_model_init(m, s, in.profile, err);
	sim_inputs_close(&in);
	return rc;
}

void tu_load_textf(scn_scenario *s, const char *name, const char *fmt, ...)
{
	char text[4096];
	ms_error err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, name, NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
}

struct sim_result *tu_run_text(const char *text, scn_scenario *s)
{
	ms_error err;
	sim_result *r = NULL;
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, "test", NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
	if (sim_run_scenario(s, 0, &r, &err) < 0)
		ck_abort_msg("%s", err.msg);
	return r;
}
