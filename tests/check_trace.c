/*
 * check_trace.c - router traces: writer -> reader round trip (values, metadata, chunk
 * boundaries, a one-chunk cache, same bytes twice); the validator against every bad case
 * built with the HDF5 API (each message checked); statistics against a trace worked out
 * by hand; Plackett-Luce inclusion probabilities against brute-force enumeration; the
 * synthetic models within statistical tolerance at fixed seeds; the Mixtral-8x7B MMLU
 * popularity reproduced within 2%; the importers on samples in each source format; the
 * `moesim trace` command line.
 */
#include <check.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "test_util.h"
#include "trace/tr_import.h"
#include "trace/tr_reader.h"
#include "trace/tr_stats.h"
#include "trace/tr_synth.h"
#include "trace/tr_validate.h"
#include "trace/tr_writer.h"

/* Temporary directories of the running test, removed by its teardown (traces of tens of
 * MB would otherwise pile up in /tmp). */
static char made_dirs[64][256];
static int n_made;

static const char *tmpdir(char *buf, size_t len)
{
	tu_temp_dir(buf, len);
	if (n_made < 64)
		snprintf(made_dirs[n_made++], sizeof made_dirs[0], "%s", buf);
	return buf;
}

static void remove_dirs(void)
{
	for (int i = 0; i < n_made; i++) {
		DIR *d = opendir(made_dirs[i]);
		struct dirent *e;
		char path[520];
		if (!d)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof path, "%.255s/%.255s", made_dirs[i], e->d_name);
			remove(path);
		}
		closedir(d);
		rmdir(made_dirs[i]);
	}
	n_made = 0;
}

static void no_setup(void)
{
}

static const char *src_path(char *buf, size_t n, const char *rel)
{
	const char *src = getenv("MOESIM_SRC");
	snprintf(buf, n, "%s/%s", src && *src ? src : ".", rel);
	return buf;
}

static char *slurp_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int same_bytes(const char *a, const char *b)
{
	size_t la, lb;
	char *x = slurp_file(a, &la), *y = slurp_file(b, &lb);
	int same = la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

/* ---- a deterministic trace: values from a formula, so any block can be checked ---- */

static int16_t f_id(int l, int64_t t, int j, int E)
{
	/* Distinct per token: consecutive experts from a token- and layer-dependent start. */
	return (int16_t)((t * 7 + l * 3 + j) % E);
}

static float f_score(int l, int64_t t, int j)
{
	return (float)(0.5 / (j + 1)) * (float)(1.0 - 0.001 * (double)((t + l) % 97));
}

static tr_token f_token(int64_t t, int D)
{
	tr_token k;
	k.step = (int32_t)(t / 5000);
	k.rank = (int32_t)((t / 1000) % 5);
	k.sequence = t / 100;
	k.position = (int32_t)(t % 100);
	k.domain = D > 0 ? (int16_t)((t / 100) % D) : -1;
	return k;
}

/* Writes the formula trace: L layers, T tokens, E experts, depth K, D domains, logits. */
static void write_formula(const char *path, int L, int64_t T, int E, int K, int D, int logits, int64_t chunk)
{
	static const char *names[3] = {"code", "prose", "math"};
	tr_meta m;
	ms_error err;
	tr_writer *w;
	const int64_t B = 3001; /* append in odd blocks: the writer re-chunks */
	int16_t *ids = malloc((size_t)L * B * K * sizeof *ids);
	float *sc = malloc((size_t)L * B * K * sizeof *sc);
	float *lg = logits ? calloc((size_t)L * B * E, sizeof *lg) : NULL;
	tr_token *tok = malloc((size_t)B * sizeof *tok);
	memset(&m, 0, sizeof m);
	m.num_layers = L;
	m.num_experts = E;
	m.depth = K;
	m.top_k = K > 1 ? 2 : 1;
	m.score_kind = logits ? TR_SCORE_OTHER : TR_SCORE_SOFTMAX;
	m.model = "formula";
	m.source = "check_trace.c";
	m.has_logits = logits;
	m.num_domains = D;
	m.domain_names = names;
	m.chunk_tokens = chunk;
	ms_error_clear(&err);
	w = tr_writer_create(path, 1, &m, &err);
	ck_assert_msg(w != NULL, "%s", err.msg);
	for (int64_t t0 = 0; t0 < T; t0 += B) {
		int64_t n = T - t0 < B ? T - t0 : B;
		for (int64_t i = 0; i < n; i++) {
			tok[i] = f_token(t0 + i, D);
			for (int l = 0; l < L; l++)
				for (int j = 0; j < K; j++) {
					ids[((size_t)l * n + i) * K + j] = f_id(l, t0 + i, j, E);
					sc[((size_t)l * n + i) * K + j] = f_score(l, t0 + i, j);
				}
			if (lg)
				for (int l = 0; l < L; l++)
					lg[((size_t)l * n + i) * E + (size_t)((t0 + i) % E)] = 1.5f;
		}
		ck_assert_msg(tr_writer_append(w, n, ids, sc, lg, tok, &err) == MS_OK, "%s", err.msg);
	}
	ck_assert_msg(tr_writer_finish(w, &err) == MS_OK, "%s", err.msg);
	free(ids);
	free(sc);
	free(lg);
	free(tok);
}

static void check_block(tr_reader *r, int l, int64_t t0, int64_t n, int k)
{
	const tr_info *in = tr_get_info(r);
	int16_t *ids = malloc((size_t)n * k * sizeof *ids);
	float *sc = malloc((size_t)n * k * sizeof *sc);
	ms_error err;
	ms_error_clear(&err);
	ck_assert_msg(tr_read_routing_topk(r, l, t0, n, k, ids, sc, &err) == MS_OK, "%s", err.msg);
	for (int64_t i = 0; i < n; i++)
		for (int j = 0; j < k; j++) {
			if (ids[i * k + j] != f_id(l, t0 + i, j, in->num_experts) || sc[i * k + j] != f_score(l, t0 + i, j))
				ck_abort_msg("layer %d token %lld rank %d: got %d %g", l, (long long)(t0 + i), j, ids[i * k + j],
					     (double)sc[i * k + j]);
		}
	free(ids);
	free(sc);
}

START_TEST(round_trip)
{
	char dir[256], path[512];
	ms_error err;
	tr_reader *r;
	const tr_info *in;
	tr_token tok[300];
	float lg[4 * 8];
	snprintf(path, sizeof path, "%s/a.h5", tmpdir(dir, sizeof dir));
	write_formula(path, 3, 2385, 8, 3, 3, 1, 0);
	ms_error_clear(&err);
	r = tr_open(path, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	in = tr_get_info(r);
	ck_assert_int_eq(in->num_layers, 3);
	ck_assert_int_eq(in->num_experts, 8);
	ck_assert_int_eq(in->depth, 3);
	ck_assert_int_eq(in->num_tokens, 2385);
	ck_assert_int_eq(in->top_k, 2);
	ck_assert_int_eq(in->score_kind, TR_SCORE_OTHER);
	ck_assert_int_eq(in->has_logits, 1);
	ck_assert_int_eq(in->has_domain, 1);
	ck_assert_int_eq(in->num_domains, 3);
	ck_assert_str_eq(in->domain_names[2], "math");
	ck_assert_str_eq(in->model, "formula");
	ck_assert_str_eq(in->source, "check_trace.c");
	ck_assert_str_eq(in->created, TR_CREATED_UNKNOWN);
	ck_assert_int_eq(in->chunk_tokens, 2385); /* min(T, 65536) */
	for (int l = 0; l < 3; l++) {
		check_block(r, l, 0, 2385, 3);
		check_block(r, l, 1000, 385, 2);
		check_block(r, l, 2384, 1, 1);
	}
	ck_assert_int_eq(tr_read_tokens(r, 2000, 300, tok, &err), MS_OK);
	for (int i = 0; i < 300; i++) {
		tr_token want = f_token(2000 + i, 3);
		ck_assert_int_eq(tok[i].step, want.step);
		ck_assert_int_eq(tok[i].rank, want.rank);
		ck_assert_int_eq(tok[i].sequence, want.sequence);
		ck_assert_int_eq(tok[i].position, want.position);
		ck_assert_int_eq(tok[i].domain, want.domain);
	}
	ck_assert_int_eq(tr_read_logits(r, 2, 17, 4, lg, &err), MS_OK);
	for (int i = 0; i < 4; i++)
		for (int e = 0; e < 8; e++)
			ck_assert_float_eq(lg[i * 8 + e], e == (17 + i) % 8 ? 1.5f : 0.0f);
	/* Out-of-range requests are errors, not crashes. */
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_routing(r, 3, 0, 1, NULL, NULL, &err), MS_ERANGE);
	ck_assert_msg(strstr(err.msg, "layer 3 is out of range: num_layers = 3"), "%s", err.msg);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_routing(r, 0, 2380, 6, NULL, NULL, &err), MS_ERANGE);
	ck_assert_msg(strstr(err.msg, "tokens 2380..2385 are out of range: num_tokens = 2385"), "%s", err.msg);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_routing_topk(r, 0, 0, 1, 4, NULL, NULL, &err), MS_ERANGE);
	tr_close(r);
}
END_TEST

START_TEST(streams_past_one_chunk)
{
	/* T spans three chunks; read token-major in blocks that straddle chunk boundaries, with
	 * the smallest cache (one chunk per dataset), then layer-major with the default cache. */
	char dir[256], path[512];
	const int64_t T = 2 * TR_CHUNK_TOKENS + 123;
	ms_error err;
	tr_reader *r;
	tr_token *tok = malloc(10007 * sizeof *tok);
	snprintf(path, sizeof path, "%s/big.h5", tmpdir(dir, sizeof dir));
	write_formula(path, 2, T, 16, 2, 0, 0, 0);
	ms_error_clear(&err);
	r = tr_open(path, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	ck_assert_int_eq(tr_get_info(r)->chunk_tokens, TR_CHUNK_TOKENS);
	ck_assert_int_eq(tr_get_info(r)->has_domain, 0);
	ck_assert_int_eq(tr_set_cache(r, 1, &err), MS_OK);
	for (int64_t t0 = 0; t0 < T; t0 += 10007) {
		int64_t n = T - t0 < 10007 ? T - t0 : 10007;
		for (int l = 0; l < 2; l++)
			check_block(r, l, t0, n, 2);
		ck_assert_int_eq(tr_read_tokens(r, t0, n, tok, &err), MS_OK);
		ck_assert_int_eq(tok[n - 1].sequence, (t0 + n - 1) / 100);
		ck_assert_int_eq(tok[n - 1].domain, -1);
	}
	ck_assert_int_eq(tr_set_cache(r, 0, &err), MS_OK);
	for (int l = 0; l < 2; l++)
		check_block(r, l, 0, T, 2);
	/* A replay of several recorded ranks jumps between distant token streams: blocks
	 * from chunks 0, 2, 1, 0, 2... of both layers, through a cache of two score chunks
	 * (four id chunks), so chunks are evicted and decoded again. */
	ck_assert_int_eq(tr_set_cache(r, 2 * (size_t)TR_CHUNK_TOKENS * 2 * sizeof(float), &err), MS_OK);
	for (int i = 0; i < 24; i++) {
		int64_t base = (int64_t)((i * 2) % 3) * TR_CHUNK_TOKENS;
		int64_t t0 = base + (base == 2 * TR_CHUNK_TOKENS ? i % 100 : (i * 4099) % 60000);
		check_block(r, i % 2, t0, T - t0 < 5000 ? T - t0 : 5000, i % 3 == 0 ? 1 : 2);
	}
	tr_close(r);
	free(tok);
}
END_TEST

/* Rewrites /routing/expert_ids of the formula trace with another storage layout. */
static void restore_ids(const char *path, int L, int64_t T, int K, int E, int layout)
{
	hid_t f, sp, dcpl, ds;
	hsize_t dims[3] = {(hsize_t)L, (hsize_t)T, (hsize_t)K}, chunk[3] = {1, 7, (hsize_t)K};
	int16_t *v = malloc((size_t)L * T * K * sizeof *v);
	for (int l = 0; l < L; l++)
		for (int64_t t = 0; t < T; t++)
			for (int j = 0; j < K; j++)
				v[((size_t)l * T + t) * K + j] = f_id(l, t, j, E);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	ck_assert_int_ge(H5Ldelete(f, "/routing/expert_ids", H5P_DEFAULT), 0);
	sp = H5Screate_simple(3, dims, NULL);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	if (layout >= 1)
		H5Pset_chunk(dcpl, 3, chunk); /* chunks of 7 tokens: reads straddle them */
	if (layout == 2)
		H5Pset_deflate(dcpl, 1); /* deflate without shuffle */
	if (layout == 3) {
		H5Pset_fletcher32(dcpl); /* a filter the fast path leaves to HDF5 */
		H5Pset_shuffle(dcpl);
	}
	ds = H5Dcreate2(f, "/routing/expert_ids", layout == 3 ? H5T_STD_I16BE : H5T_STD_I16LE, sp, H5P_DEFAULT, dcpl,
			H5P_DEFAULT);
	ck_assert_int_ge(ds, 0);
	ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
	H5Dclose(ds);
	H5Pclose(dcpl);
	H5Sclose(sp);
	H5Fclose(f);
	free(v);
}

START_TEST(other_layouts_and_paths)
{
	/* The reader's own chunk decoder and HDF5's read path agree on every layout: the
	 * writer's (shuffle + deflate), contiguous, chunked unfiltered, deflate without shuffle
	 * (the last two decoded by the reader), fletcher32 + shuffle with big-endian ids (HDF5). */
	char dir[256], path[512];
	tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/l.h5", dir);
	for (int hdf5_path = 0; hdf5_path <= 1; hdf5_path++) {
		if (hdf5_path)
			tr_use_own_decoder(0);
		for (int layout = -1; layout <= 3; layout++) {
			ms_error err;
			tr_reader *r;
			write_formula(path, 2, 300, 8, 3, 0, 0, 64);
			if (layout >= 0)
				restore_ids(path, 2, 300, 3, 8, layout);
			ms_error_clear(&err);
			r = tr_open(path, &err);
			ck_assert_msg(r != NULL, "%s", err.msg);
			for (int l = 0; l < 2; l++) {
				check_block(r, l, 0, 300, 3);
				check_block(r, l, 60, 70, 2);
				check_block(r, l, 299, 1, 1);
			}
			tr_close(r);
		}
	}
	tr_use_own_decoder(1);
}
END_TEST

START_TEST(same_bytes_twice)
{
	char dir[256], a[512], b[512];
	tmpdir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/a.h5", dir);
	snprintf(b, sizeof b, "%s/b.h5", dir);
	write_formula(a, 2, 5000, 8, 2, 2, 0, 1000);
	sleep(1); /* a timestamp anywhere in the file would now differ */
	write_formula(b, 2, 5000, 8, 2, 2, 0, 1000);
	ck_assert_msg(same_bytes(a, b), "two writes of the same trace differ");
}
END_TEST

START_TEST(writer_refuses_bad_values)
{
	char dir[256], path[512], tmp[600];
	tr_meta m;
	ms_error err;
	tr_writer *w;
	int16_t ids[4] = {1, 2, 3, 3};
	float sc[4] = {0.5f, 0.25f, 0.5f, 0.25f};
	tr_token tok[2] = {{0, 0, 0, 0, -1}, {0, 0, 1, 0, -1}};
	snprintf(path, sizeof path, "%s/w.h5", tmpdir(dir, sizeof dir));
	memset(&m, 0, sizeof m);
	m.num_layers = 1;
	m.num_experts = 4;
	m.depth = 2;
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "layer 0, token 1: expert 3 is listed twice"), "%s", err.msg);
	tr_writer_abort(w);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_int_ne(access(path, F_OK), 0);

	ids[3] = 4;
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "expert id 4 (rank 1) is out of range: 4 experts"), "%s", err.msg);
	tr_writer_abort(w);

	ids[3] = 0;
	sc[1] = NAN;
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "token 0: score nan (rank 1) is not finite"), "%s", err.msg);
	tr_writer_abort(w);

	sc[1] = 0.75f; /* softmax scores must not increase */
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "exceeds"), "%s", err.msg);
	tr_writer_abort(w);

	sc[1] = 0.25f;
	tok[1].position = 0; /* the same key twice */
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "token 1 (step 0, rank 0, sequence 0, position 0) does not follow token 0"), "%s",
		      err.msg);
	tr_writer_abort(w);

	tok[1].position = 1;
	ms_error_clear(&err);
	w = tr_writer_create(path, 0, &m, &err);
	ck_assert_int_eq(tr_writer_append(w, 2, ids, sc, NULL, tok, &err), MS_OK);
	ck_assert_int_eq(tr_writer_finish(w, &err), MS_OK);
	ck_assert_ptr_null(tr_writer_create(path, 0, &m, &err));
	ck_assert_int_eq(err.code, MS_EEXIST);
	ck_assert_msg(strstr(err.msg, "exists; pass --force"), "%s", err.msg);
}
END_TEST

/* ---- validation ---- */

typedef struct problems {
	int n;
	char first[1024];
	char all[8192];
} problems;

static void collect(void *ctx, const char *msg)
{
	problems *p = ctx;
	if (p->n++ == 0)
		snprintf(p->first, sizeof p->first, "%s", msg);
	if (strlen(p->all) + strlen(msg) + 2 < sizeof p->all) {
		strcat(p->all, msg);
		strcat(p->all, "\n");
	}
}

static int64_t validate(const char *path, problems *p)
{
	ms_error err;
	memset(p, 0, sizeof *p);
	ms_error_clear(&err);
	return tr_validate(path, collect, p, 100, &err);
}

/* The base trace for the bad cases: 2 layers, 50 tokens, 8 experts, depth 2, 2 domains. */
static void base_trace(char *path, size_t n, char *dir, int logits)
{
	snprintf(path, n, "%s/t.h5", tmpdir(dir, 256));
	write_formula(path, 2, 50, 8, 2, 2, logits, 0);
}

static hid_t open_rw(const char *path)
{
	hid_t f;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	return f;
}

/* Overwrites one element of a dataset (coordinates of its rank). */
static void poke(const char *path, const char *ds_name, const hsize_t *coord, hid_t mem_type, const void *value)
{
	hid_t f = open_rw(path), ds = H5Dopen2(f, ds_name, H5P_DEFAULT), fs = H5Dget_space(ds);
	hsize_t one = 1;
	hid_t ms = H5Screate_simple(1, &one, NULL);
	ck_assert_int_ge(H5Sselect_elements(fs, H5S_SELECT_SET, 1, coord), 0);
	ck_assert_int_ge(H5Dwrite(ds, mem_type, ms, fs, H5P_DEFAULT, value), 0);
	H5Sclose(ms);
	H5Sclose(fs);
	H5Dclose(ds);
	H5Fclose(f);
}

/* Replaces a dataset with a zero-filled one of another type and shape. */
static void replace_ds(const char *path, const char *name, hid_t type, int rank, const hsize_t *dims)
{
	hid_t f = open_rw(path), sp, ds;
	ck_assert_int_ge(H5Ldelete(f, name, H5P_DEFAULT), 0);
	if (type >= 0) {
		sp = H5Screate_simple(rank, dims, NULL);
		ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		ck_assert_int_ge(ds, 0);
		H5Dclose(ds);
		H5Sclose(sp);
	}
	H5Fclose(f);
}

static void set_attr_str(const char *path, const char *name, const char *v)
{
	hid_t f = open_rw(path), st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a;
	H5Adelete(f, name);
	H5Tset_size(st, strlen(v) + 1);
	a = H5Acreate2(f, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, st, v);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(st);
	H5Fclose(f);
}

static void set_attr_int(const char *path, const char *name, int v)
{
	hid_t f = open_rw(path), sp = H5Screate(H5S_SCALAR), a;
	H5Adelete(f, name);
	a = H5Acreate2(f, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_INT, &v);
	H5Aclose(a);
	H5Sclose(sp);
	H5Fclose(f);
}

#define EXPECT_PROBLEM(path, text)                                                                       \
	do {                                                                                             \
		problems p_;                                                                             \
		int64_t n_ = validate(path, &p_);                                                        \
		ck_assert_msg(n_ >= 1, "no problem found, expected '%s'", text);                          \
		ck_assert_msg(strstr(p_.all, text) != NULL, "expected '%s' among:\n%s", text, p_.all); \
		ck_assert_msg(strncmp(p_.first, path, strlen(path)) == 0, "message does not name the file: %s", p_.first); \
	} while (0)

START_TEST(validate_accepts_good)
{
	char dir[256], path[512], tiny[512];
	problems p;
	base_trace(path, sizeof path, dir, 0);
	ck_assert_int_eq(validate(path, &p), 0);
	/* The recorder's real trace (shipped with the repository) is valid too. */
	src_path(tiny, sizeof tiny, "scenarios/traces/tiny-moe-4dom.h5");
	if (access(tiny, R_OK) == 0) {
		ck_assert_msg(validate(tiny, &p) == 0, "%s", p.first);
	}
}
END_TEST

START_TEST(validate_id_range_and_duplicates)
{
	char dir[256], path[512];
	hsize_t c1[3] = {1, 37, 1}, c2[3] = {0, 5, 1};
	int16_t nine = 9, dup;
	base_trace(path, sizeof path, dir, 0);
	poke(path, "/routing/expert_ids", c1, H5T_NATIVE_INT16, &nine);
	dup = f_id(0, 5, 0, 8);
	poke(path, "/routing/expert_ids", c2, H5T_NATIVE_INT16, &dup);
	{
		char want[700];
		problems p;
		snprintf(want, sizeof want, "%s: /routing/expert_ids[0, 5, 1] = %d repeats [0, 5, 0]: a token's experts must be distinct",
			 path, dup);
		ck_assert_int_eq(validate(path, &p), 2);
		ck_assert_str_eq(p.first, want);
		snprintf(want, sizeof want, "%s: /routing/expert_ids[1, 37, 1] = 9 is out of range: num_experts = 8", path);
		ck_assert_msg(strstr(p.all, want), "%s", p.all);
	}
}
END_TEST

START_TEST(validate_scores)
{
	char dir[256], path[512];
	hsize_t c1[3] = {1, 7, 0}, c2[3] = {0, 9, 1}, c3[3] = {1, 11, 1};
	float nan = NAN, inf = INFINITY, big = 0.99f;
	base_trace(path, sizeof path, dir, 0);
	poke(path, "/routing/scores", c1, H5T_NATIVE_FLOAT, &nan);
	poke(path, "/routing/scores", c2, H5T_NATIVE_FLOAT, &inf);
	poke(path, "/routing/scores", c3, H5T_NATIVE_FLOAT, &big);
	EXPECT_PROBLEM(path, "/routing/scores[1, 7, 0] = nan is not finite");
	EXPECT_PROBLEM(path, "/routing/scores[0, 9, 1] = inf is not finite");
	EXPECT_PROBLEM(path, "/routing/scores[1, 11, 1] = 0.99 exceeds [1, 11, 0]");
}
END_TEST

START_TEST(validate_logits)
{
	char dir[256], path[512];
	hsize_t c[3] = {1, 3, 3};
	float v = 2.385f;
	problems p;
	base_trace(path, sizeof path, dir, 1);
	/* score_kind "other": logits are only checked for finiteness. */
	ck_assert_int_eq(validate(path, &p), 0);
	set_attr_str(path, "score_kind", "sigmoid");
	poke(path, "/routing/logits", c, H5T_NATIVE_FLOAT, &v);
	EXPECT_PROBLEM(path, "does not match /routing/logits: sigmoid gives");
	v = INFINITY;
	poke(path, "/routing/logits", c, H5T_NATIVE_FLOAT, &v);
	EXPECT_PROBLEM(path, "/routing/logits[1, 3, 3] = inf is not finite");
}
END_TEST

START_TEST(validate_structure)
{
	char dir[256], path[512];
	hsize_t d3[3] = {2, 50, 2}, d1[1] = {49};
	ms_error err;
	base_trace(path, sizeof path, dir, 0);
	replace_ds(path, "/routing/scores", -1, 0, NULL);
	EXPECT_PROBLEM(path, "missing dataset /routing/scores");
	/* tr_open stops at the same problem. */
	ms_error_clear(&err);
	ck_assert_ptr_null(tr_open(path, &err));
	ck_assert_int_eq(err.code, MS_EFORMAT);
	ck_assert_msg(strstr(err.msg, "missing dataset /routing/scores"), "%s", err.msg);

	base_trace(path, sizeof path, dir, 0);
	replace_ds(path, "/routing/expert_ids", H5T_STD_I32LE, 3, d3);
	EXPECT_PROBLEM(path, "/routing/expert_ids has type int32, expected int16");

	base_trace(path, sizeof path, dir, 0);
	replace_ds(path, "/tokens/step", H5T_STD_I32LE, 1, d1);
	EXPECT_PROBLEM(path, "/tokens/step has shape [49], expected [50] (num_tokens)");

	base_trace(path, sizeof path, dir, 0);
	replace_ds(path, "/tokens/domain_names", -1, 0, NULL);
	EXPECT_PROBLEM(path, "/tokens/domain is present but /tokens/domain_names is missing");
}
END_TEST

START_TEST(validate_attributes)
{
	char dir[256], path[512];
	base_trace(path, sizeof path, dir, 0);
	set_attr_str(path, "format", "nonsense");
	EXPECT_PROBLEM(path, "root attribute 'format' = 'nonsense', expected 'moesim-trace'");

	base_trace(path, sizeof path, dir, 0);
	set_attr_int(path, "version", 2);
	EXPECT_PROBLEM(path, "trace format version 2 is not supported");

	base_trace(path, sizeof path, dir, 0);
	set_attr_int(path, "depth", 9);
	EXPECT_PROBLEM(path, "root attribute 'depth' = 9 must be in 1..num_experts = 8");

	base_trace(path, sizeof path, dir, 0);
	{
		hid_t f = open_rw(path);
		H5Adelete(f, "num_experts");
		H5Fclose(f);
	}
	EXPECT_PROBLEM(path, "missing root attribute 'num_experts'");

	base_trace(path, sizeof path, dir, 0);
	set_attr_str(path, "score_kind", "relu");
	EXPECT_PROBLEM(path, "root attribute 'score_kind' = 'relu', expected 'softmax', 'sigmoid' or 'other'");
}
END_TEST

START_TEST(validate_tokens)
{
	char dir[256], path[512];
	hsize_t c4[1] = {4}, c6[1] = {6}, c10[1] = {10};
	int32_t neg = -1, pos9 = 9;
	int16_t two = 2;
	base_trace(path, sizeof path, dir, 0);
	poke(path, "/tokens/rank", c4, H5T_NATIVE_INT32, &neg);
	poke(path, "/tokens/domain", c6, H5T_NATIVE_INT16, &two);
	poke(path, "/tokens/position", c10, H5T_NATIVE_INT32, &pos9);
	EXPECT_PROBLEM(path, "/tokens/rank[4] = -1 is negative");
	EXPECT_PROBLEM(path, "/tokens/domain[6] = 2 is out of range: 2 domain names");
	EXPECT_PROBLEM(path, "token 10 (step 0, rank 0, sequence 0, position 9) repeats token 9 (step 0, rank 0, "
			     "sequence 0, position 9)");
}
END_TEST

START_TEST(validate_broken_files)
{
	char dir[256], path[512], txt[512], missing[512];
	base_trace(path, sizeof path, dir, 0);
	{
		/* Truncated: the second half of the file is gone. */
		size_t len;
		char *all = slurp_file(path, &len);
		FILE *f = fopen(path, "wb");
		fwrite(all, 1, len / 2, f);
		fclose(f);
		free(all);
	}
	EXPECT_PROBLEM(path, "not an HDF5 file, or truncated or corrupt (HDF5 cannot open it)");

	snprintf(txt, sizeof txt, "%s/text.h5", dir);
	{
		FILE *f = fopen(txt, "w");
		fputs("layer,expert,value\n", f);
		fclose(f);
	}
	EXPECT_PROBLEM(txt, "not an HDF5 file");
	snprintf(missing, sizeof missing, "%s/none.h5", dir);
	EXPECT_PROBLEM(missing, "cannot read the file: No such file or directory");

	/* A corrupt chunk: garble the compressed bytes of /routing/scores. */
	base_trace(path, sizeof path, dir, 0);
	{
		hid_t f, ds, sp;
		haddr_t addr;
		hsize_t size, off[3];
		unsigned mask;
		FILE *fp;
		H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
		f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
		ds = H5Dopen2(f, "/routing/scores", H5P_DEFAULT);
		sp = H5Dget_space(ds);
		ck_assert_int_ge(H5Dget_chunk_info(ds, sp, 1, off, &mask, &addr, &size), 0);
		H5Sclose(sp);
		H5Dclose(ds);
		H5Fclose(f);
		fp = fopen(path, "r+b");
		fseek(fp, (long)addr + 2, SEEK_SET);
		for (hsize_t i = 2; i + 4 < size; i++)
			fputc((int)(0xA5 ^ i), fp);
		fclose(fp);
	}
	EXPECT_PROBLEM(path, "/routing/scores: cannot read layer 1, tokens 0..49: the file is truncated or corrupt");
	{
		/* The reader reports the same, with an error, not a crash. */
		ms_error err;
		tr_reader *r;
		float sc[100];
		ms_error_clear(&err);
		r = tr_open(path, &err);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(tr_read_routing(r, 1, 0, 50, NULL, sc, &err), MS_EIO);
		ck_assert_msg(strstr(err.msg, "truncated or corrupt"), "%s", err.msg);
		tr_close(r);
	}
}
END_TEST

/* ---- statistics ---- */

/* 1 layer, 4 experts, top-2, 6 tokens in two sequences of two domains (worked in docs). */
static void write_hand_trace(const char *path)
{
	static const char *names[2] = {"code", "prose"};
	int16_t ids[12] = {0, 1, 0, 2, 1, 0, 2, 3, 2, 3, 3, 0};
	float sc[12] = {0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f};
	tr_token tok[6] = {{0, 0, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 2, 0, 0},
			   {1, 0, 0, 0, 1}, {1, 0, 1, 0, 1}, {1, 0, 2, 0, 1}};
	tr_meta m;
	ms_error err;
	tr_writer *w;
	memset(&m, 0, sizeof m);
	m.num_layers = 1;
	m.num_experts = 4;
	m.depth = 2;
	m.num_domains = 2;
	m.domain_names = names;
	ms_error_clear(&err);
	w = tr_writer_create(path, 1, &m, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_msg(tr_writer_append(w, 6, ids, sc, NULL, tok, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(tr_writer_finish(w, &err), MS_OK);
}

START_TEST(stats_by_hand)
{
	char dir[256], path[512];
	ms_error err;
	tr_reader *r;
	tr_stats *s;
	tr_layer_summary o;
	int dom;
	snprintf(path, sizeof path, "%s/hand.h5", tmpdir(dir, sizeof dir));
	write_hand_trace(path);
	ms_error_clear(&err);
	r = tr_open(path, &err);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(tr_stats_default_top_k(tr_get_info(r)), 2);
	ck_assert_int_eq(tr_stats_compute(r, 2, &s, &err), MS_OK);
	/* loads 4, 2, 3, 3 (mean 3); first choices 2, 1, 2, 1; pairs in sequences: 4, repeats 2. */
	ck_assert_int_eq(s->load[0], 4);
	ck_assert_int_eq(s->load[1], 2);
	ck_assert_int_eq(s->load[2], 3);
	ck_assert_int_eq(s->load[3], 3);
	ck_assert_int_eq(s->seq_pairs, 4);
	ck_assert_int_eq(s->repeats[0], 2);
	tr_stats_summary(s, 0, &o);
	ck_assert_double_eq_tol(o.max_mean, 4.0 / 3, 1e-12);
	ck_assert_double_eq_tol(o.min_mean, 2.0 / 3, 1e-12);
	ck_assert_double_eq_tol(o.cv, sqrt(0.5) / 3, 1e-12);
	ck_assert_double_eq_tol(o.repeat_rate, 0.5, 1e-12);
	ck_assert_double_eq_tol(o.repeat_independent, 10.0 / 36, 1e-12);
	/* Domain loads: code 3, 2, 1, 0; prose 1, 0, 2, 3. */
	ck_assert_double_eq_tol(o.purity, 10.0 / 12, 1e-12);
	ck_assert_double_eq_tol(o.purity_baseline, 0.5, 1e-12);
	ck_assert_double_eq_tol(o.concentration, 10.0 / 12, 1e-12);
	ck_assert_double_eq_tol(o.concentration_baseline, 7.0 / 12, 1e-12);
	ck_assert_double_eq_tol(tr_stats_expert_purity(s, 0, 0, &dom), 0.75, 1e-12);
	ck_assert_int_eq(dom, 0);
	ck_assert_double_eq_tol(tr_stats_expert_purity(s, 0, 3, &dom), 1.0, 1e-12);
	ck_assert_int_eq(dom, 1);
	ck_assert_double_eq_tol(tr_stats_domain_concentration(s, 0, 0), 5.0 / 6, 1e-12);
	tr_stats_free(s);
	/* Top-1: loads are the first choices 2, 1, 2, 1. */
	ck_assert_int_eq(tr_stats_compute(r, 1, &s, &err), MS_OK);
	tr_stats_summary(s, 0, &o);
	ck_assert_double_eq_tol(o.max_mean, 2 / 1.5, 1e-12);
	ck_assert_double_eq_tol(o.concentration, 4.0 / 6, 1e-12); /* code: e0 2 of 3; prose: e2 2 of 3 */
	tr_stats_free(s);
	ck_assert_int_eq(tr_stats_compute(r, 3, &s, &err), MS_ERANGE);
	tr_close(r);
}
END_TEST

/* The report of `moesim trace stats` for the hand trace: every number worked out above. */
START_TEST(stats_report_by_hand)
{
	char dir[256], path[512], want[4096], *got = NULL;
	size_t len = 0;
	ms_error err;
	tr_reader *r;
	tr_stats *s;
	FILE *f;
	snprintf(path, sizeof path, "%s/hand.h5", tmpdir(dir, sizeof dir));
	write_hand_trace(path);
	ms_error_clear(&err);
	r = tr_open(path, &err);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(tr_stats_compute(r, 2, &s, &err), MS_OK);
	/* cv = sqrt(0.5) / 3 = 0.2357; independent repeats 10/36 = 0.2778; loads 4, 2, 3, 3 of
	 * 12; code's two most used experts e0, e1 (3 + 2 of 6), prose's e3, e2 (3 + 2). */
	snprintf(want, sizeof want,
		 "%s: 1 layer x 6 tokens, 4 experts; load over each token's first 2 ranked experts\n"
		 "4 consecutive token pairs within sequences\n"
		 "\n"
		 "layer  max/mean  min/mean     cv   repeat (indep)   purity (blind)   concentr. (blind)\n"
		 "    0     1.333     0.667  0.236    0.500 (0.278)    0.833 (0.500)       0.833 (0.583)\n"
		 "\n"
		 "per expert: load share of the layer's assignments, purity and dominant domain\n"
		 "layer 0:\n"
		 "  e0    0.3333  purity 0.750 (code)\n"
		 "  e1    0.1667  purity 1.000 (code)\n"
		 "  e2    0.2500  purity 0.667 (prose)\n"
		 "  e3    0.2500  purity 1.000 (prose)\n"
		 "\n"
		 "per domain: tokens; per layer the concentration and the 2 most used experts\n"
		 "code (3 tokens):\n"
		 "  layer 0   0.833  experts e0 e1\n"
		 "prose (3 tokens):\n"
		 "  layer 0   0.833  experts e3 e2\n",
		 path);
	f = open_memstream(&got, &len);
	ck_assert_int_eq(tr_stats_print(f, s, tr_get_info(r), TR_STATS_PER_EXPERT | TR_STATS_PER_DOMAIN, &err), MS_OK);
	fclose(f);
	ck_assert_str_eq(got, want);
	free(got);
	/* CSV: the same numbers with six decimals, whatever else is asked for. */
	f = open_memstream(&got, &len);
	ck_assert_int_eq(tr_stats_print(f, s, tr_get_info(r), TR_STATS_CSV | TR_STATS_PER_EXPERT, &err), MS_OK);
	fclose(f);
	ck_assert_str_eq(got, "layer,max_over_mean,min_over_mean,cv,repeat_rate,repeat_independent,purity,purity_baseline,"
			      "concentration,concentration_baseline\n"
			      "0,1.333333,0.666667,0.235702,0.500000,0.277778,0.833333,0.500000,0.833333,0.583333\n");
	free(got);
	/* A stream that cannot be written: an error naming the trace, not a silent loss. */
	f = fopen("/dev/null", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(tr_stats_print(f, s, tr_get_info(r), 0, &err), MS_EIO);
	ck_assert_msg(strstr(err.msg, "writing the statistics of ") && strstr(err.msg, "hand.h5 failed"), "%s", err.msg);
	fclose(f);
	tr_stats_free(s);
	tr_close(r);
}
END_TEST

/* ---- Plackett-Luce ---- */

/* Brute force: sum over every ordered k-prefix of the successive-sampling probability. */
static void pl_brute(const double *w, int n, int k, double *pi)
{
	int seq[16], used[16] = {0};
	double W = 0;
	for (int e = 0; e < n; e++) {
		W += w[e];
		pi[e] = 0;
	}
	/* Iterative DFS over prefixes. */
	{
		double prob[17];
		int depth = 0;
		seq[0] = -1;
		prob[0] = 1;
		while (depth >= 0) {
			int e = ++seq[depth];
			double rest = W;
			if (e >= n) {
				depth--;
				if (depth >= 0)
					used[seq[depth]] = 0;
				continue;
			}
			if (used[e])
				continue;
			for (int d = 0; d < depth; d++)
				rest -= w[seq[d]];
			prob[depth + 1] = prob[depth] * w[e] / rest;
			if (depth + 1 == k) {
				for (int d = 0; d < depth; d++)
					pi[seq[d]] += prob[depth + 1];
				pi[e] += prob[depth + 1];
				continue;
			}
			used[e] = 1;
			depth++;
			seq[depth] = -1;
		}
	}
}

START_TEST(pl_inclusion_vs_brute_force)
{
	const double w1[6] = {0.3, 0.05, 0.2, 0.15, 0.25, 0.05};
	double w2[10], pi[10], want[10];
	ms_error err;
	ms_error_clear(&err);
	for (int k = 1; k <= 6; k++) {
		ck_assert_int_eq(tr_pl_inclusion(w1, 6, k, pi, &err), MS_OK);
		pl_brute(w1, 6, k, want);
		for (int e = 0; e < 6; e++)
			ck_assert_msg(fabs(pi[e] - want[e]) < 1e-9, "k %d expert %d: %.12f vs %.12f", k, e, pi[e], want[e]);
	}
	/* Weights over three orders of magnitude. */
	for (int e = 0; e < 10; e++)
		w2[e] = pow(0.5, e);
	for (int k = 2; k <= 4; k++) {
		ck_assert_int_eq(tr_pl_inclusion(w2, 10, k, pi, &err), MS_OK);
		pl_brute(w2, 10, k, want);
		for (int e = 0; e < 10; e++)
			ck_assert_msg(fabs(pi[e] - want[e]) < 1e-9, "k %d expert %d: %.12f vs %.12f", k, e, pi[e], want[e]);
	}
}
END_TEST

START_TEST(pl_solve_inverts)
{
	const double w0[6] = {0.3, 0.05, 0.2, 0.15, 0.25, 0.05};
	double target[6], w[6], pi[6], maxerr, bad[3] = {1.2, 0.4, 0.4};
	ms_error err;
	ms_error_clear(&err);
	for (int k = 2; k <= 4; k++) {
		ck_assert_int_eq(tr_pl_inclusion(w0, 6, k, target, &err), MS_OK);
		ck_assert_int_ge(tr_pl_solve(target, 6, k, w, 1e-11, 10000, &maxerr, &err), 0);
		ck_assert_double_le(maxerr, 1e-11);
		for (int e = 0; e < 6; e++)
			ck_assert_double_eq_tol(w[e], w0[e], 1e-8);
		ck_assert_int_eq(tr_pl_inclusion(w, 6, k, pi, &err), MS_OK);
		for (int e = 0; e < 6; e++)
			ck_assert_double_eq_tol(pi[e], target[e], 1e-10);
	}
	ck_assert_int_eq(tr_pl_solve(bad, 3, 2, w, 0, 100, NULL, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "expert 0 should be among a token's top-2 with probability 1.2"), "%s", err.msg);
}
END_TEST

/* ---- synthetic traces ---- */

static tr_stats *synth_stats(const tr_synth_opts *o, const char *dir, const char *name)
{
	char path[512];
	ms_error err;
	tr_reader *r;
	tr_stats *s;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	ms_error_clear(&err);
	ck_assert_msg(tr_synth_write(path, 1, o, &err) == MS_OK, "%s", err.msg);
	r = tr_open(path, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	ck_assert_msg(tr_stats_compute(r, o->top_k, &s, &err) == MS_OK, "%s", err.msg);
	tr_close(r);
	return s;
}

static void base_opts(tr_synth_opts *o, int L, int E, int K, int k, int64_t T)
{
	tr_synth_defaults(o);
	o->layers = L;
	o->experts = E;
	o->depth = K;
	o->top_k = k;
	o->tokens = T;
	o->seed = 2385;
}

START_TEST(synth_uniform)
{
	char dir[256];
	tr_synth_opts o;
	tr_stats *s;
	base_opts(&o, 2, 8, 2, 2, 100000);
	s = synth_stats(&o, tmpdir(dir, sizeof dir), "u.h5");
	for (int l = 0; l < 2; l++)
		for (int e = 0; e < 8; e++)
			ck_assert_msg(fabs(s->load[l * 8 + e] / 25000.0 - 1) < 0.03, "layer %d expert %d: %lld", l, e,
				      (long long)s->load[l * 8 + e]);
	tr_stats_free(s);
}
END_TEST

/* First-choice shares equal the normalised weights (Plackett-Luce, k = 1). */
static void check_first_choice(tr_synth_opts *o, const char *dir, const char *name, double tol)
{
	int L = o->layers, E = o->experts;
	double *w = malloc((size_t)L * E * sizeof *w);
	ms_error err;
	tr_stats *s;
	ms_error_clear(&err);
	ck_assert_int_eq(tr_synth_weights(o, w, NULL, &err), MS_OK);
	s = synth_stats(o, dir, name);
	for (int l = 0; l < L; l++)
		for (int e = 0; e < E; e++) {
			double got = (double)s->first[l * E + e] / (double)o->tokens;
			ck_assert_msg(fabs(got - w[l * E + e]) < tol, "%s layer %d expert %d: share %.4f, weight %.4f", name, l, e,
				      got, w[l * E + e]);
		}
	tr_stats_free(s);
	free(w);
}

START_TEST(synth_zipf_and_dirichlet)
{
	char dir[256];
	tr_synth_opts o;
	double *w;
	ms_error err;
	tmpdir(dir, sizeof dir);
	base_opts(&o, 2, 8, 4, 1, 100000);
	o.dist = TR_DIST_ZIPF;
	o.zipf_s = 1.2;
	check_first_choice(&o, dir, "z.h5", 0.006);
	/* The zipf ranking is a permutation: sorted weights are 1/i^s normalised. */
	w = malloc(16 * sizeof *w);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_synth_weights(&o, w, NULL, &err), MS_OK);
	{
		double h = 0, mx = 0;
		for (int i = 1; i <= 8; i++)
			h += pow(i, -1.2);
		for (int e = 0; e < 8; e++)
			mx = w[e] > mx ? w[e] : mx;
		ck_assert_double_eq_tol(mx, 1 / h, 1e-12);
	}
	/* Layers draw different permutations. */
	ck_assert_int_ne(memcmp(w, w + 8, 8 * sizeof *w), 0);
	free(w);
	base_opts(&o, 2, 16, 4, 1, 100000);
	o.dist = TR_DIST_DIRICHLET;
	o.alpha = 0.5;
	check_first_choice(&o, dir, "d.h5", 0.006);
}
END_TEST

START_TEST(synth_match_selection)
{
	/* With --match-selection, top-2 selection shares equal the zipf popularity. */
	char dir[256];
	tr_synth_opts o;
	double pop[8];
	tr_stats *s;
	ms_error err;
	base_opts(&o, 1, 8, 2, 2, 100000);
	o.dist = TR_DIST_ZIPF;
	o.match_selection = 1;
	s = synth_stats(&o, tmpdir(dir, sizeof dir), "ms.h5");
	ms_error_clear(&err);
	o.match_selection = 0;
	ck_assert_int_eq(tr_synth_weights(&o, pop, NULL, &err), MS_OK); /* the plain popularity */
	for (int e = 0; e < 8; e++) {
		double share = s->load[e] / 200000.0;
		ck_assert_msg(fabs(share - pop[e]) < 0.004, "expert %d: selection share %.4f, popularity %.4f", e, share, pop[e]);
	}
	tr_stats_free(s);
}
END_TEST

START_TEST(synth_correlation)
{
	char dir[256];
	tr_synth_opts o;
	tr_stats *s;
	tr_layer_summary sum;
	base_opts(&o, 2, 8, 2, 2, 60000);
	o.correlation = 0.6;
	o.seq_len = 100;
	o.ranks = 3;
	s = synth_stats(&o, tmpdir(dir, sizeof dir), "c.h5");
	ck_assert_int_eq(s->seq_pairs, 60000 - 600);
	for (int l = 0; l < 2; l++) {
		tr_stats_summary(s, l, &sum);
		/* rho + (1 - rho) sum_e f_e^2 = 0.6 + 0.4 / 8 */
		ck_assert_msg(fabs(sum.repeat_rate - 0.65) < 0.01, "layer %d: repeat rate %.4f", l, sum.repeat_rate);
	}
	tr_stats_free(s);
}
END_TEST

START_TEST(synth_domains)
{
	char dir[256];
	tr_synth_opts o;
	tr_stats *s;
	tr_layer_summary sum;
	tmpdir(dir, sizeof dir);
	base_opts(&o, 1, 8, 4, 2, 40000);
	o.domains = 4;
	o.domain_skew = 1.0;
	o.seq_len = 200;
	s = synth_stats(&o, dir, "d1.h5");
	tr_stats_summary(s, 0, &sum);
	ck_assert_double_ge(sum.purity, 0.999);
	ck_assert_double_ge(sum.concentration, 0.999);
	tr_stats_free(s);
	o.domain_skew = 0.0;
	s = synth_stats(&o, dir, "d0.h5");
	tr_stats_summary(s, 0, &sum);
	ck_assert_double_le(sum.purity, sum.purity_baseline + 0.05);
	ck_assert_double_le(sum.concentration, sum.concentration_baseline + 0.05);
	tr_stats_free(s);
}
END_TEST

START_TEST(synth_deterministic_and_valid)
{
	char dir[256], a[512], b[512], c[512];
	tr_synth_opts o;
	ms_error err;
	problems p;
	tmpdir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/a.h5", dir);
	snprintf(b, sizeof b, "%s/b.h5", dir);
	snprintf(c, sizeof c, "%s/c.h5", dir);
	base_opts(&o, 3, 8, 8, 2, 3000);
	o.dist = TR_DIST_ZIPF;
	o.correlation = 0.3;
	o.domains = 2;
	o.logits = 1;
	o.seq_len = 64;
	ms_error_clear(&err);
	ck_assert_int_eq(tr_synth_write(a, 0, &o, &err), MS_OK);
	ck_assert_int_eq(tr_synth_write(b, 0, &o, &err), MS_OK);
	o.seed++;
	ck_assert_int_eq(tr_synth_write(c, 0, &o, &err), MS_OK);
	ck_assert_msg(same_bytes(a, b), "same options gave different bytes");
	ck_assert_msg(!same_bytes(a, c), "a different seed gave the same bytes");
	/* Softmax scores consistent with the logits, non-increasing: the validator agrees. */
	ck_assert_msg(validate(a, &p) == 0, "%s", p.first);
}
END_TEST

START_TEST(synth_rejects_bad_options)
{
	tr_synth_opts o;
	ms_error err;
	base_opts(&o, 2, 8, 9, 2, 100);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_synth_check(&o, &err), MS_EINVAL);
	ck_assert_str_eq(err.msg, "--depth = 9 must be in 1..experts = 8");
	base_opts(&o, 2, 8, 4, 2, 100);
	o.correlation = 1.5;
	ms_error_clear(&err);
	ck_assert_int_eq(tr_synth_check(&o, &err), MS_EINVAL);
	ck_assert_str_eq(err.msg, "--correlation = 1.5 must be in [0, 1]");
}
END_TEST

/* ---- popularity tables ---- */

START_TEST(table_errors)
{
	char path[256];
	int L, E;
	double *m;
	ms_error err;
	const struct {
		const char *text, *want;
	} cases[] = {
		{"layer,expert,count\n0,0,1\n0,1,2\n0,0,3\n", ":4: layer 0, expert 0 was already given on line 2"},
		{"0,0,1\n0,1,2\n1,1,2\n", ": no value for layer 1, expert 0"},
		{"0,0,1\n0,1,-2\n", ":2: value -2 must be finite and >= 0"},
		{"0,0,1\n0;1;2\n", ":2: expected 'layer,expert,value'"},
		{"# only a comment\n", ": no 'layer,expert,value' lines"},
		{"0,0,0\n0,1,0\n", ": every value of layer 0 is 0"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tu_write_temp(path, sizeof path, cases[i].text);
		ms_error_clear(&err);
		ck_assert_int_eq(tr_table_load(path, &L, &E, &m, &err), MS_EINVAL);
		ck_assert_msg(strstr(err.msg, cases[i].want) && strncmp(err.msg, path, strlen(path)) == 0,
			      "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
		remove(path);
	}
	tu_write_temp(path, sizeof path, "# c\nlayer,expert,share\n1,1,3\n0,0,1\n0,1,3\n1,0,1\n");
	ck_assert_int_eq(tr_table_load(path, &L, &E, &m, &err), MS_OK);
	ck_assert_int_eq(L, 2);
	ck_assert_int_eq(E, 2);
	ck_assert_double_eq_tol(m[1], 0.75, 1e-15);
	ck_assert_double_eq_tol(m[2], 0.25, 1e-15);
	free(m);
	remove(path);
}
END_TEST

/* Each layer's max/mean of a table: max share x E. */
static double table_max_mean(const double *t, int l, int E)
{
	double mx = 0;
	for (int e = 0; e < E; e++)
		mx = t[l * E + e] > mx ? t[l * E + e] : mx;
	return mx * E;
}

START_TEST(mixtral_popularity_exact_weights)
{
	/* The solved weights give exactly the table's top-2 selection shares, for both tables. */
	static const char *files[2] = {"tools/data/mixtral-8x7b-mmlu-fiddler.csv", "tools/data/mixtral-8x7b-mmlu-57subjects.csv"};
	for (int f = 0; f < 2; f++) {
		char path[512];
		int L, E;
		double *t, *w, pi[8];
		tr_synth_opts o;
		ms_error err;
		ms_error_clear(&err);
		ck_assert_msg(tr_table_load(src_path(path, sizeof path, files[f]), &L, &E, &t, &err) == MS_OK, "%s", err.msg);
		ck_assert_int_eq(L, 32);
		ck_assert_int_eq(E, 8);
		base_opts(&o, L, E, 2, 2, 0);
		o.dist = TR_DIST_TABLE;
		o.table = t;
		w = malloc((size_t)L * E * sizeof *w);
		ck_assert_int_eq(tr_synth_weights(&o, w, NULL, &err), MS_OK);
		for (int l = 0; l < L; l++) {
			ck_assert_int_eq(tr_pl_inclusion(w + l * E, E, 2, pi, &err), MS_OK);
			for (int e = 0; e < E; e++)
				ck_assert_msg(fabs(pi[e] - 2 * t[l * E + e]) < 1e-8, "%s layer %d expert %d: %.10f vs %.10f", files[f], l,
					      e, pi[e], 2 * t[l * E + e]);
		}
		free(w);
		free(t);
	}
}
END_TEST

START_TEST(mixtral_popularity_within_2_percent)
{
	/* A trace synthesised from Fiddler's Mixtral-8x7B MMLU counts reproduces every layer's
	 * max/mean expert load within 2%. Successive sampling with the table as weights would
	 * not: it flattens the top-2 loads (checked below to show the test has teeth). */
	char dir[256], path[512];
	int L, E;
	double *t, worst = 0, worst_naive = 0;
	tr_synth_opts o;
	tr_stats *s;
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(tr_table_load(src_path(path, sizeof path, "tools/data/mixtral-8x7b-mmlu-fiddler.csv"), &L, &E, &t, &err),
			 MS_OK);
	base_opts(&o, L, E, 2, 2, 200000);
	o.dist = TR_DIST_TABLE;
	o.table = t;
	s = synth_stats(&o, tmpdir(dir, sizeof dir), "mixtral.h5");
	for (int l = 0; l < L; l++) {
		tr_layer_summary sum;
		double want = table_max_mean(t, l, E), rel;
		tr_stats_summary(s, l, &sum);
		rel = fabs(sum.max_mean / want - 1);
		worst = rel > worst ? rel : worst;
		ck_assert_msg(rel < 0.02, "layer %d: max/mean %.4f, table %.4f", l, sum.max_mean, want);
	}
	tr_stats_free(s);
	/* The naive sampler (table as Plackett-Luce weights): max/mean visibly lower. */
	{
		for (int l = 0; l < L; l++) {
			double pi[8], mx = 0;
			ck_assert_int_eq(tr_pl_inclusion(t + l * E, E, 2, pi, &err), MS_OK);
			for (int e = 0; e < E; e++)
				mx = pi[e] > mx ? pi[e] : mx;
			worst_naive = fmax(worst_naive, fabs(mx / 2 * E / table_max_mean(t, l, E) - 1));
		}
	}
	ck_assert_msg(worst_naive > 0.02, "naive sampling is already within 2%% (%.4f)", worst_naive);
	free(t);
}
END_TEST

/* ---- importers ---- */

static tr_reader *import(const char *fmt, const char *const *rel, int n, int experts, const char *dir, tr_import_result *res)
{
	char path[512], in[8][512];
	const char *inputs[8];
	tr_import_opts o;
	ms_error err;
	tr_reader *r;
	memset(&o, 0, sizeof o);
	ck_assert_int_eq(tr_import_format_parse(fmt, &o.format), 0);
	o.experts = experts;
	for (int i = 0; i < n; i++)
		inputs[i] = src_path(in[i], sizeof in[i], rel[i]);
	snprintf(path, sizeof path, "%s/%s.h5", dir, fmt);
	ms_error_clear(&err);
	ck_assert_msg(tr_import(inputs, n, path, 1, &o, res, &err) == MS_OK, "%s", err.msg);
	r = tr_open(path, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	{
		problems p;
		ck_assert_msg(validate(path, &p) == 0, "%s", p.first);
	}
	return r;
}

static void expect_ids(tr_reader *r, int l, const int16_t *want, int64_t n)
{
	const tr_info *in = tr_get_info(r);
	int16_t got[64];
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_routing(r, l, 0, n, got, NULL, &err), MS_OK);
	for (int64_t i = 0; i < n * in->depth; i++)
		ck_assert_msg(got[i] == want[i], "layer %d element %lld: %d, want %d", l, (long long)i, got[i], want[i]);
}

START_TEST(import_jsonl)
{
	char dir[256];
	const char *in[1] = {"tests/data/traces/sample.jsonl"};
	tr_import_result res;
	tr_reader *r = import("jsonl", in, 1, 4, tmpdir(dir, sizeof dir), &res);
	const tr_info *info = tr_get_info(r);
	/* Sorted by (step, rank, sequence, position): token 2 (seq 7), token 1 (9, 0), token 0 (9, 1). */
	static const int16_t l0[6] = {0, 1, 2, 3, 1, 2}, l1[6] = {3, 0, 1, 3, 0, 1};
	float sc[6];
	tr_token tok[3];
	ms_error err;
	ck_assert_int_eq(res.tokens, 3);
	ck_assert_int_eq(info->num_layers, 2);
	ck_assert_int_eq(info->num_experts, 4);
	ck_assert_int_eq(info->score_kind, TR_SCORE_SOFTMAX);
	ck_assert_int_eq(info->num_domains, 2);
	ck_assert_str_eq(info->domain_names[0], "code");
	expect_ids(r, 0, l0, 3);
	expect_ids(r, 1, l1, 3);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_routing(r, 0, 0, 3, NULL, sc, &err), MS_OK);
	ck_assert_float_eq(sc[0], 0.875f);
	ck_assert_float_eq(sc[5], 0.125f);
	ck_assert_int_eq(tr_read_tokens(r, 0, 3, tok, &err), MS_OK);
	ck_assert_int_eq(tok[0].sequence, 7);
	ck_assert_int_eq(tok[0].domain, 0);
	ck_assert_int_eq(tok[2].sequence, 9);
	ck_assert_int_eq(tok[2].position, 1);
	ck_assert_int_eq(tok[2].domain, 1);
	tr_close(r);
}
END_TEST

START_TEST(import_jsonl_errors)
{
	const struct {
		const char *text, *want;
	} cases[] = {
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2]}\n{\"layer\":1,\"token\":1,\"experts\":[1,2]}\n",
		 "token 0 has no routing for layer 1"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2]}\n{\"layer\":0,\"token\":0,\"experts\":[2,3]}\n",
		 ":2: layer 0 of token 0 was already given"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,1]}\n", ":1: expert 1 is listed twice"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,9]}\n", ":1: \"experts\"[1] must be an expert id in 0..7"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2]}\n{\"layer\":0,\"token\":1,\"experts\":[1,2,3]}\n",
		 ":2: 3 experts listed, earlier lines list 2"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2]\n", ":1:37: expected ',' or '}' in an object, but the line ends (truncated JSON?)"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2],\"probs\":[0.25,0.5]}\n", "exceeds \"probs\"[0]"},
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2],\"sequence\":3}\n{\"layer\":0,\"token\":1,\"experts\":[1,2],"
		 "\"sequence\":3,\"position\":0}\n",
		 "tokens 0 and 1 have the same step 0, rank 0, sequence 3, position 0"},
		/* Found by fuzzing: a token id far beyond the input, refused before the table
		 * is allocated for it (256 GiB). */
		{"{\"layer\":0,\"token\":0,\"experts\":[1,2]}\n{\"layer\":0,\"token\":22147483648,\"experts\":[1,2]}\n",
		 ":2: token 22147483648, but the input has only 2 lines: tokens must be numbered 0 .. T-1"},
	};
	char dir[256], out[512];
	tmpdir(dir, sizeof dir);
	snprintf(out, sizeof out, "%s/out.h5", dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char in[256];
		const char *inputs[1] = {in};
		tr_import_opts o;
		ms_error err;
		memset(&o, 0, sizeof o);
		o.experts = 8;
		tu_write_temp(in, sizeof in, cases[i].text);
		ms_error_clear(&err);
		ck_assert_int_lt(tr_import(inputs, 1, out, 1, &o, NULL, &err), 0);
		ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
		ck_assert_int_ne(access(out, F_OK), 0);
		remove(in);
	}
}
END_TEST

START_TEST(import_vllm)
{
	char dir[256];
	const char *in[2] = {"tests/data/traces/vllm-seq0.npy", "tests/data/traces/vllm-response.json"};
	tr_import_result res;
	tr_reader *r = import("vllm", in, 2, 0, tmpdir(dir, sizeof dir), &res);
	const tr_info *info = tr_get_info(r);
	/* seq 0: the .npy (4 tokens); seq 1: the response's 2 prompt tokens, then 1 generated. */
	static const int16_t l0[14] = {0, 1, 1, 0, 6, 7, 7, 6, 5, 4, 4, 5, 7, 1};
	static const int16_t l2[14] = {4, 5, 5, 4, 1, 3, 3, 1, 1, 0, 0, 1, 5, 3};
	tr_token tok[7];
	ms_error err;
	ck_assert_int_eq(info->num_layers, 3);
	ck_assert_int_eq(info->depth, 2);
	ck_assert_int_eq(info->num_experts, 8);
	ck_assert_int_eq(info->score_kind, TR_SCORE_OTHER);
	ck_assert_msg(strstr(res.note, "largest expert id + 1"), "%s", res.note);
	expect_ids(r, 0, l0, 7);
	expect_ids(r, 2, l2, 7);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_tokens(r, 0, 7, tok, &err), MS_OK);
	ck_assert_int_eq(tok[3].sequence, 0);
	ck_assert_int_eq(tok[3].position, 3);
	ck_assert_int_eq(tok[6].sequence, 1);
	ck_assert_int_eq(tok[6].position, 2);
	tr_close(r);
}
END_TEST

START_TEST(import_megatron)
{
	char dir[256];
	const char *in[1] = {"tests/data/traces/megatron"};
	const char *inl[1] = {"tests/data/traces/megatron-logits"};
	tr_import_result res;
	tr_reader *r = import("megatron", in, 1, 8, tmpdir(dir, sizeof dir), &res);
	const tr_info *info = tr_get_info(r);
	/* (step 0, rank 0): micro-batches of 2 and 1 tokens; (0, 1): 2; (1, 0): 1; (1, 1): 1.
	 * Megatron layers 1 and 3 become MoE layers 0 and 1; the MTP record is skipped. */
	static const int16_t l0[14] = {0, 1, 2, 3, 1, 2, 3, 4, 4, 5, 7, 6, 6, 5};
	static const int16_t l1[14] = {4, 5, 6, 7, 5, 6, 1, 0, 2, 1, 0, 2, 3, 7};
	static const int32_t steps[7] = {0, 0, 0, 0, 0, 1, 1}, ranks[7] = {0, 0, 0, 1, 1, 0, 1};
	static const int64_t seqs[7] = {0, 0, 1, 2, 2, 3, 4};
	tr_token tok[7];
	float sc[6];
	ms_error err;
	ck_assert_int_eq(info->num_layers, 2);
	ck_assert_int_eq(res.tokens, 7);
	ck_assert_msg(strstr(res.note, "skipped 1 MTP"), "%s", res.note);
	expect_ids(r, 0, l0, 7);
	expect_ids(r, 1, l1, 7);
	ms_error_clear(&err);
	ck_assert_int_eq(tr_read_tokens(r, 0, 7, tok, &err), MS_OK);
	for (int i = 0; i < 7; i++) {
		ck_assert_int_eq(tok[i].step, steps[i]);
		ck_assert_int_eq(tok[i].rank, ranks[i]);
		ck_assert_int_eq(tok[i].sequence, seqs[i]);
	}
	tr_close(r);

	/* With the bfloat16 logits sidecar: softmax scores, experts re-ranked by score. */
	r = import("megatron", inl, 1, 0, dir, &res);
	info = tr_get_info(r);
	ck_assert_int_eq(info->num_experts, 4);
	ck_assert_int_eq(info->has_logits, 1);
	ck_assert_int_eq(info->score_kind, TR_SCORE_SOFTMAX);
	{
		static const int16_t want[6] = {1, 3, 0, 2, 2, 3};
		double z = exp(0.5) + exp(2.0) + exp(-1.0) + exp(1.0);
		expect_ids(r, 0, want, 3);
		ck_assert_int_eq(tr_read_routing(r, 0, 0, 3, NULL, sc, &err), MS_OK);
		ck_assert_double_eq_tol(sc[0], exp(2.0) / z, 1e-6);
		ck_assert_double_eq_tol(sc[1], exp(1.0) / z, 1e-6);
	}
	tr_close(r);
}
END_TEST

START_TEST(import_vllm_and_megatron_errors)
{
	char dir[256], out[512], in[256];
	const char *inputs[1] = {in};
	tr_import_opts o;
	ms_error err;
	tmpdir(dir, sizeof dir);
	snprintf(out, sizeof out, "%s/out.h5", dir);
	memset(&o, 0, sizeof o);
	o.format = TR_IMPORT_VLLM;
	tu_write_temp(in, sizeof in, "{\"choices\": [{\"text\": \"hi\"}]}\n");
	ms_error_clear(&err);
	ck_assert_int_lt(tr_import(inputs, 1, out, 1, &o, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "was vLLM started with --enable-return-routed-experts?"), "%s", err.msg);
	remove(in);
	tu_write_temp(in, sizeof in, "{\"routed_experts\": \"k05VTVBZ!!\"}\n");
	ms_error_clear(&err);
	ck_assert_int_lt(tr_import(inputs, 1, out, 1, &o, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "not base64"), "%s", err.msg);
	remove(in);
	o.format = TR_IMPORT_MEGATRON;
	tu_write_temp(in, sizeof in,
		      "{\"step\":0,\"block\":\"decoder\",\"layer\":1,\"rank\":0,\"num_tokens\":1,\"topk\":2,\"top_indices\":[[0,1]]}\n"
		      "{\"step\":0,\"block\":\"decoder\",\"layer\":2,\"rank\":0,\"num_tokens\":1,\"topk\":2,\"top_indices\":[[0,1]]}\n"
		      "{\"step\":0,\"block\":\"decoder\",\"layer\":2,\"rank\":0,\"num_tokens\":1,\"topk\":2,\"top_indices\":[[0,1]]}\n");
	ms_error_clear(&err);
	ck_assert_int_lt(tr_import(inputs, 1, out, 1, &o, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "step 0, rank 0: layer 2 has 2 router records but layer 1 has 1"), "%s", err.msg);
	remove(in);
	ck_assert_int_ne(access(out, F_OK), 0);
}
END_TEST

/* ---- command line ---- */

/* Runs cli_main with argv, capturing stdout and stderr; returns the exit code. */
static int run_cli(char *out, size_t outlen, char *errs, size_t errlen, const char *const *argv)
{
	char po[256], pe[256];
	int argc = 0, rc, so = dup(1), se = dup(2);
	FILE *f;
	char *args[32];
	while (argv[argc]) {
		args[argc] = (char *)(uintptr_t)argv[argc];
		argc++;
	}
	args[argc] = NULL;
	tu_write_temp(po, sizeof po, "");
	tu_write_temp(pe, sizeof pe, "");
	fflush(stdout);
	fflush(stderr);
	ck_assert_ptr_nonnull(freopen(po, "w", stdout));
	ck_assert_ptr_nonnull(freopen(pe, "w", stderr));
	rc = cli_main(argc, args);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	f = fopen(po, "r");
	out[fread(out, 1, outlen - 1, f)] = '\0';
	fclose(f);
	f = fopen(pe, "r");
	errs[fread(errs, 1, errlen - 1, f)] = '\0';
	fclose(f);
	remove(po);
	remove(pe);
	return rc;
}

START_TEST(cli_trace_commands)
{
	static char out[16384], errs[8192];
	char dir[256], a[512], table[512];
	tmpdir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/s.h5", dir);
	{
		const char *argv[] = {"moesim", "trace", "synth", "-o", a, "--layers", "3", "--experts", "8", "--tokens", "5000",
				      "--dist", "zipf", "--domains", "2", "--seed", "7", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "3 layers x 5000 tokens, 8 experts, depth 8, top_k 2 (zipf)"), "%s%s", out, errs);
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 1);
		ck_assert_msg(strstr(errs, "exists; pass --force to overwrite it"), "%s", errs);
	}
	{
		const char *argv[] = {"moesim", "trace", "info", a, NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "tokens     5000 (1 step, 1 rank, 5 sequences"), "%s", out);
		ck_assert_msg(strstr(out, "domains    2: domain0"), "%s", out);
	}
	{
		const char *argv[] = {"moesim", "trace", "validate", a, NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "valid moesim trace (3 layers x 5000 tokens, 8 experts, depth 8)"), "%s", out);
	}
	{
		const char *argv[] = {"moesim", "trace", "stats", a, "--per-expert", "--per-domain", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "layer  max/mean  min/mean     cv   repeat (indep)   purity (blind)"), "%s", out);
		ck_assert_msg(strstr(out, "purity") && strstr(out, "domain1 ("), "%s", out);
	}
	{
		const char *argv[] = {"moesim", "trace", "stats", a, "--top-k", "9", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 1);
		ck_assert_msg(strstr(errs, "moesim: --top-k 9 exceeds the trace's ranking depth 8"), "%s", errs);
	}
	{
		const char *argv[] = {"moesim", "trace", "synth", "-o", a, "--dist", "table", "--table",
				      src_path(table, sizeof table, "tools/data/mixtral-8x7b-mmlu-fiddler.csv"), "--tokens", "1000",
				      "--depth", "2", "--force", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "32 layers x 1000 tokens, 8 experts, depth 2, top_k 2 (table)"), "%s%s", out, errs);
	}
	{
		const char *argv[] = {"moesim", "trace", "synth", "-o", a, "--layers", "2", "--experts", "4", "--tokens", "10",
				      "--top-k", "5", "--force", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 1);
		ck_assert_msg(strstr(errs, "moesim: --top-k = 5 must be in 1..depth = 4"), "%s", errs);
	}
	{
		const char *argv[] = {"moesim", "trace", "synth", "-o", a, "--layers", "x", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 2);
		ck_assert_msg(strstr(errs, "moesim: --layers 'x' is not an integer"), "%s", errs);
	}
	{
		char bad[512];
		const char *argv[] = {"moesim", "trace", "validate", bad, NULL};
		snprintf(bad, sizeof bad, "%s/none.h5", dir);
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 1);
		ck_assert_msg(strstr(errs, "none.h5: cannot read the file: No such file or directory"), "%s", errs);
		ck_assert_msg(strstr(errs, "1 problem; not a valid moesim trace"), "%s", errs);
	}
	{
		const char *argv[] = {"moesim", "trace", "frobnicate", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 2);
		ck_assert_msg(strstr(errs, "unknown trace command 'frobnicate'"), "%s", errs);
	}
	{
		char in[512];
		const char *argv[] = {"moesim", "trace", "import", "--format", "jsonl",
				      src_path(in, sizeof in, "tests/data/traces/sample.jsonl"), "-o", a, "--force", NULL};
		ck_assert_int_eq(run_cli(out, sizeof out, errs, sizeof errs, argv), 0);
		ck_assert_msg(strstr(out, "2 layers x 3 tokens, 4 experts, depth 2"), "%s%s", out, errs);
	}
}
END_TEST

Suite *trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("format");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, streams_past_one_chunk);
	tcase_add_test(tc, other_layouts_and_paths);
	tcase_add_test(tc, same_bytes_twice);
	tcase_add_test(tc, writer_refuses_bad_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, validate_accepts_good);
	tcase_add_test(tc, validate_id_range_and_duplicates);
	tcase_add_test(tc, validate_scores);
	tcase_add_test(tc, validate_logits);
	tcase_add_test(tc, validate_structure);
	tcase_add_test(tc, validate_attributes);
	tcase_add_test(tc, validate_tokens);
	tcase_add_test(tc, validate_broken_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_add_test(tc, stats_by_hand);
	tcase_add_test(tc, stats_report_by_hand);
	suite_add_tcase(s, tc);
	tc = tcase_create("synth");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, pl_inclusion_vs_brute_force);
	tcase_add_test(tc, pl_solve_inverts);
	tcase_add_test(tc, synth_uniform);
	tcase_add_test(tc, synth_zipf_and_dirichlet);
	tcase_add_test(tc, synth_match_selection);
	tcase_add_test(tc, synth_correlation);
	tcase_add_test(tc, synth_domains);
	tcase_add_test(tc, synth_deterministic_and_valid);
	tcase_add_test(tc, synth_rejects_bad_options);
	tcase_add_test(tc, table_errors);
	tcase_add_test(tc, mixtral_popularity_exact_weights);
	tcase_add_test(tc, mixtral_popularity_within_2_percent);
	suite_add_tcase(s, tc);
	tc = tcase_create("import");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, import_jsonl);
	tcase_add_test(tc, import_jsonl_errors);
	tcase_add_test(tc, import_vllm);
	tcase_add_test(tc, import_megatron);
	tcase_add_test(tc, import_vllm_and_megatron_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, no_setup, remove_dirs);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cli_trace_commands);
	suite_add_tcase(s, tc);
	return s;
}
