/*
 * cal_alltoall.c - times NCCL all-to-all and writes the profile's alltoall() and
 * alltoallv() tables (docs/profile-format.md, docs/calibrate.md).
 *
 * The all-to-all is written as grouped ncclSend/ncclRecv pairs (what MoE frameworks
 * issue for token dispatch, and what works in every NCCL 2.7+, whereas
 * ncclAlltoAll only exists in recent NCCL and has no uneven variant). One process
 * drives every visible GPU through ncclCommInitAll; with one GPU the rank sends to
 * itself, which times NCCL's local-copy path (busbw is then 0 by definition).
 *
 *   even    per-rank total S from --bytes-min to --bytes-max (powers of two): each
 *           rank sends S/n bytes to every rank, itself included (nccl-tests' alltoall).
 *   uneven  --matrix FILE: an n x n text matrix, entry [i][j] = bytes rank i sends
 *           to rank j, optionally multiplied by each of --scales.
 *
 * Reported as nccl-tests defines it (nccl-tests doc/PERFORMANCE.md): algbw = S / time,
 * busbw = algbw * (n-1)/n. For the uneven case S is the busiest rank's
 * max(bytes sent, bytes received). Time is, per repetition, the longest of the
 * ranks' CUDA-event intervals, summarised over repetitions (median, p10, p90).
 *
 * Built with -DCAL_WITH_MPI (cal_alltoall_mpi) it runs one rank per MPI process,
 * GPU = local rank, NCCL bootstrapped with ncclCommInitRank, times reduced with
 * MPI_Allreduce(MAX); rank 0 writes the profile; scope is inter_node when the ranks
 * span more than one host.
 */
#include <cuda_runtime_api.h>
#include <nccl.h>
#ifdef CAL_WITH_MPI
#include <mpi.h>
#endif

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate/cal_cuda.h"

#define MAX_POINTS 64
#define MAX_LOCAL 64
#define MAX_SCALES 16

typedef struct options {
	cal_common_opts c;
	int ngpus; /* 0 = all visible */
	const char *matrix_path;
	int nscales;
	double scales[MAX_SCALES];
	int skip_even;
} options;

/* The ranks this process drives and their resources. */
typedef struct comm_set {
	int nlocal;        /* GPUs driven by this process */
	int nranks;        /* ranks in the communicator */
	int rank0;         /* global rank of local index 0 */
	int nodes;         /* distinct hosts */
	int dev[MAX_LOCAL];
	ncclComm_t comm[MAX_LOCAL];
	cudaStream_t stream[MAX_LOCAL];
	char *send[MAX_LOCAL], *recv[MAX_LOCAL];
	size_t buf_bytes;
	cudaEvent_t *ev_start[MAX_LOCAL], *ev_stop[MAX_LOCAL];
	int repeats;
} comm_set;

typedef struct series {
	int n;
	int64_t bytes[MAX_POINTS];       /* S: per-rank bytes the bandwidths divide */
	int64_t total_bytes[MAX_POINTS]; /* all bytes moved by all ranks */
	double scale[MAX_POINTS];
	cal_stats st[MAX_POINTS];
} series;

static int world_rank; /* 0 without MPI */

#ifdef CAL_WITH_MPI
static void mpi_abort_hook(int status)
{
	MPI_Abort(MPI_COMM_WORLD, status);
}
#endif

/* Issues one all-to-all: rank r sends M[r][p] bytes to p and receives M[p][r]. */
static void issue(comm_set *cs, const int64_t *M)
{
	const int N = cs->nranks;

	CAL_NCCL_CHECK(ncclGroupStart());
	for (int l = 0; l < cs->nlocal; l++) {
		int r = cs->rank0 + l;
		size_t soff = 0, roff = 0;

		for (int p = 0; p < N; p++) {
			size_t sb = (size_t)M[(size_t)r * N + p], rb = (size_t)M[(size_t)p * N + r];

			if (sb)
				CAL_NCCL_CHECK(ncclSend(cs->send[l] + soff, sb, ncclInt8, p, cs->comm[l],
							cs->stream[l]));
			if (rb)
				CAL_NCCL_CHECK(ncclRecv(cs->recv[l] + roff, rb, ncclInt8, p, cs->comm[l],
							cs->stream[l]));
			soff += sb;
			roff += rb;
		}
	}
	CAL_NCCL_CHECK(ncclGroupEnd());
}

/* Times the all-to-all of M; per repetition the slowest rank counts. */
static void time_alltoall(comm_set *cs, const options *o, const int64_t *M, double *samples,
			  cal_stats *st)
{
	const int R = o->c.repeats;

	for (int w = 0; w < o->c.warmup; w++)
		issue(cs, M);
	for (int r = 0; r < R; r++) {
		for (int l = 0; l < cs->nlocal; l++) {
			CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
			CAL_CUDA_CHECK(cudaEventRecord(cs->ev_start[l][r], cs->stream[l]));
		}
		issue(cs, M);
		for (int l = 0; l < cs->nlocal; l++) {
			CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
			CAL_CUDA_CHECK(cudaEventRecord(cs->ev_stop[l][r], cs->stream[l]));
		}
	}
	for (int r = 0; r < R; r++)
		samples[r] = 0.0;
	for (int l = 0; l < cs->nlocal; l++) {
		CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
		CAL_CUDA_CHECK(cudaEventSynchronize(cs->ev_stop[l][R - 1]));
		for (int r = 0; r < R; r++) {
			float ms = 0.0f;

			CAL_CUDA_CHECK(cudaEventElapsedTime(&ms, cs->ev_start[l][r], cs->ev_stop[l][r]));
			if (1e3 * ms > samples[r])
				samples[r] = 1e3 * ms;
		}
	}
#ifdef CAL_WITH_MPI
	MPI_Allreduce(MPI_IN_PLACE, samples, R, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
#endif
	cal_stats_compute(samples, R, st);
}

static double GBps(double bytes, double us)
{
	return us > 0 ? bytes / (us * 1e-6) / 1e9 : 0.0;
}

static double busbw(double algbw, int n)
{
	return algbw * (n - 1) / n;
}

/* Per-rank max(sent, received) and the total of M. */
static void matrix_loads(const int64_t *M, int n, int64_t *max_rank, int64_t *total)
{
	*max_rank = 0;
	*total = 0;
	for (int i = 0; i < n; i++) {
		int64_t s = 0, r = 0;

		for (int j = 0; j < n; j++) {
			s += M[(size_t)i * n + j];
			r += M[(size_t)j * n + i];
		}
		*total += s;
		if (s > *max_rank)
			*max_rank = s;
		if (r > *max_rank)
			*max_rank = r;
	}
}

/* --- profile ----------------------------------------------------------------------- */

static void write_series(ms_cfgw *w, const series *s, int nranks)
{
	static double alg[MAX_POINTS], bus[MAX_POINTS];

	for (int i = 0; i < s->n; i++) {
		alg[i] = GBps((double)s->bytes[i], s->st[i].median);
		bus[i] = busbw(alg[i], nranks);
	}
	ms_cfgw_int_array(w, "bytes", s->bytes, s->n, 1);
	ms_cfgw_int_array(w, "total_bytes", s->total_bytes, s->n, 1);
	cal_profile_stats(w, s->st, s->n);
	ms_cfgw_float_array(w, "algbw_GBps", alg, s->n);
	ms_cfgw_float_array(w, "busbw_GBps", bus, s->n);
}

static void write_common(ms_cfgw *w, const comm_set *cs, const options *o)
{
	ms_cfgw_str(w, "scope", cs->nodes > 1 ? "inter_node" : "intra_node");
	ms_cfgw_int(w, "ranks", cs->nranks);
	ms_cfgw_int(w, "nodes", cs->nodes);
	ms_cfgw_str(w, "method", "nccl_grouped_send_recv");
	ms_cfgw_int(w, "repeats", o->c.repeats);
	ms_cfgw_int(w, "warmup", o->c.warmup);
}

static void write_profile(const options *o, const comm_set *cs, const cal_device_info *dev,
			  const cal_versions *v, const series *even, const series *uneven,
			  const int64_t *M, int budget_hit, const char *command)
{
	cal_profile *p = cal_profile_start(&o->c, dev, v, command,
#ifdef CAL_WITH_MPI
					   "cal_alltoall_mpi"
#else
					   "cal_alltoall"
#endif
	);
	ms_cfgw *w = cal_profile_writer(p);

	ms_cfgw_list_begin(w, "alltoall");
	if (even->n > 0) {
		ms_cfgw_group_begin(w, NULL);
		write_common(w, cs, o);
		write_series(w, even, cs->nranks);
		ms_cfgw_group_end(w);
	}
	ms_cfgw_list_end(w);
	if (o->matrix_path) {
		ms_cfgw_list_begin(w, "alltoallv");
		if (uneven->n > 0) {
			ms_cfgw_group_begin(w, NULL);
			write_common(w, cs, o);
			ms_cfgw_str(w, "matrix_file", o->matrix_path);
			ms_cfgw_int_array(w, "matrix", M, cs->nranks * cs->nranks, 1);
			ms_cfgw_float_array(w, "scale", uneven->scale, uneven->n);
			write_series(w, uneven, cs->nranks);
			ms_cfgw_group_end(w);
		}
		ms_cfgw_list_end(w);
	}
	cal_profile_finish(p, &o->c, budget_hit);
}

/* --- command line ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cal_alltoall [options]\n"
		"Times NCCL all-to-all (grouped ncclSend/ncclRecv) across the GPUs of this node\n"
		"(or, as cal_alltoall_mpi under mpirun, across the MPI ranks) and writes a moesim\n"
		"calibration profile (docs/calibrate.md).\n\n"
		"  --bytes-min B     smallest per-rank total (default 1K; K, M, G are powers of 1024)\n"
		"  --bytes-max B     largest per-rank total (default 1G)\n"
		"  --ngpus N         use the first N visible GPUs (default all; not with MPI)\n"
		"  --matrix FILE     also time the uneven all-to-all of an n x n byte matrix\n"
		"                    (row i: bytes rank i sends to ranks 0..n-1; '#' comments)\n"
		"  --scales LIST     multiply the matrix by each factor (default 1)\n"
		"  --no-even         skip the even sweep (with --matrix)\n"
		"%s", cal_common_usage);
}

enum { OPT_NGPUS = 1, OPT_MATRIX, OPT_SCALES, OPT_NO_EVEN };

static void own_option(void *data, int code, const char *arg)
{
	options *o = data;
	char err[256];

	switch (code) {
	case OPT_NGPUS:
		o->ngpus = (int)cal_arg_int("ngpus", arg, 1, MAX_LOCAL);
		break;
	case OPT_MATRIX:
		o->matrix_path = arg;
		break;
	case OPT_SCALES: {
		double *v;
		int n = cal_parse_double_list(arg, &v, err, sizeof err);

		if (n < 0 || n > MAX_SCALES)
			cal_die(CAL_EXIT_USAGE, "--scales '%s': %s", arg, n < 0 ? err : "too many values");
		memcpy(o->scales, v, (size_t)n * sizeof *v);
		o->nscales = n;
		free(v);
		break;
	}
	case OPT_NO_EVEN:
		o->skip_even = 1;
		break;
	default:
		cal_die(CAL_EXIT_USAGE, "unhandled option (see --help)");
	}
}

/* Under MPI every rank parses the command line; one prints the help. */
static void usage_once(FILE *f)
{
	if (world_rank == 0)
		usage(f);
}

static void parse_args(options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ngpus", 1, NULL, OPT_NGPUS},         {"matrix", 1, NULL, OPT_MATRIX},
		{"scales", 1, NULL, OPT_SCALES},       {"no-even", 0, NULL, OPT_NO_EVEN},
		{NULL, 0, NULL, 0}};

	memset(o, 0, sizeof *o);
	o->nscales = 1;
	o->scales[0] = 1.0;
	cal_options_parse(argc, argv, longopts, own_option, o, &o->c, "cal_alltoall.cfg", CAL_OPTS_BYTES,
			  usage_once);
	if (o->skip_even && !o->matrix_path)
		cal_die(CAL_EXIT_USAGE, "--no-even leaves nothing to measure without --matrix FILE");
}

/* --- setup ------------------------------------------------------------------------- */

/* Sets up the ranks: all visible GPUs in this process, or one per MPI process. */
static void comms_init(comm_set *cs, const options *o, int ndev)
{
	memset(cs, 0, sizeof *cs);
	cs->repeats = o->c.repeats;
#ifdef CAL_WITH_MPI
	{
		MPI_Comm local;
		int local_rank, size;
		ncclUniqueId id;
		char host[256], *all;

		MPI_Comm_size(MPI_COMM_WORLD, &size);
		MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL,
				    &local);
		MPI_Comm_rank(local, &local_rank);
		MPI_Comm_free(&local);
		cs->nlocal = 1;
		cs->nranks = size;
		cs->rank0 = world_rank;
		cs->dev[0] = (o->c.device + local_rank) % ndev;
		if (world_rank == 0)
			CAL_NCCL_CHECK(ncclGetUniqueId(&id));
		MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
		CAL_CUDA_CHECK(cudaSetDevice(cs->dev[0]));
		CAL_NCCL_CHECK(ncclCommInitRank(&cs->comm[0], size, id, world_rank));

		/* Count hosts: inter_node iff the ranks span more than one. */
		memset(host, 0, sizeof host);
		cal_hostname(host, sizeof host);
		all = malloc((size_t)size * sizeof host);
		if (!all)
			cal_die(CAL_EXIT_FAIL, "out of host memory");
		MPI_Allgather(host, (int)sizeof host, MPI_CHAR, all, (int)sizeof host, MPI_CHAR,
			      MPI_COMM_WORLD);
		for (int i = 0; i < size; i++) {
			int seen = 0;

			for (int j = 0; j < i && !seen; j++)
				seen = !strcmp(all + (size_t)i * sizeof host, all + (size_t)j * sizeof host);
			cs->nodes += !seen;
		}
		free(all);
	}
#else
	{
		int n = o->ngpus ? o->ngpus : ndev - o->c.device;

		if (o->c.device + n > ndev)
			cal_die(CAL_EXIT_USAGE,
				"--ngpus %d from --device %d needs %d GPUs, but %d are visible",
				n, o->c.device, o->c.device + n, ndev);
		if (n > MAX_LOCAL)
			n = MAX_LOCAL;
		cs->nlocal = n;
		cs->nranks = n;
		cs->rank0 = 0;
		cs->nodes = 1;
		for (int l = 0; l < n; l++)
			cs->dev[l] = o->c.device + l;
		CAL_NCCL_CHECK(ncclCommInitAll(cs->comm, n, cs->dev));
	}
#endif
	for (int l = 0; l < cs->nlocal; l++) {
		CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
		CAL_CUDA_CHECK(cudaStreamCreateWithFlags(&cs->stream[l], cudaStreamNonBlocking));
		cs->ev_start[l] = calloc((size_t)o->c.repeats, sizeof(cudaEvent_t));
		cs->ev_stop[l] = calloc((size_t)o->c.repeats, sizeof(cudaEvent_t));
		if (!cs->ev_start[l] || !cs->ev_stop[l])
			cal_die(CAL_EXIT_FAIL, "out of host memory");
		for (int r = 0; r < o->c.repeats; r++) {
			CAL_CUDA_CHECK(cudaEventCreate(&cs->ev_start[l][r]));
			CAL_CUDA_CHECK(cudaEventCreate(&cs->ev_stop[l][r]));
		}
	}
}

static void comms_alloc(comm_set *cs, size_t bytes)
{
	cs->buf_bytes = bytes;
	for (int l = 0; l < cs->nlocal; l++) {
		CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
		CAL_CUDA_CHECK(cudaMalloc((void **)&cs->send[l], bytes));
		CAL_CUDA_CHECK(cudaMalloc((void **)&cs->recv[l], bytes));
		CAL_CUDA_CHECK(cudaMemset(cs->send[l], 0x5a, bytes));
		CAL_CUDA_CHECK(cudaMemset(cs->recv[l], 0, bytes));
		/* cudaMemset runs on the legacy stream, which our non-blocking streams do
		 * not wait for. */
		CAL_CUDA_CHECK(cudaDeviceSynchronize());
	}
}

static void comms_fini(comm_set *cs)
{
	for (int l = 0; l < cs->nlocal; l++) {
		CAL_CUDA_CHECK(cudaSetDevice(cs->dev[l]));
		CAL_CUDA_CHECK(cudaStreamSynchronize(cs->stream[l]));
		for (int r = 0; r < cs->repeats; r++) {
			CAL_CUDA_CHECK(cudaEventDestroy(cs->ev_start[l][r]));
			CAL_CUDA_CHECK(cudaEventDestroy(cs->ev_stop[l][r]));
		}
		free(cs->ev_start[l]);
		free(cs->ev_stop[l]);
		if (cs->send[l])
			CAL_CUDA_CHECK(cudaFree(cs->send[l]));
		if (cs->recv[l])
			CAL_CUDA_CHECK(cudaFree(cs->recv[l]));
		CAL_NCCL_CHECK(ncclCommDestroy(cs->comm[l]));
		CAL_CUDA_CHECK(cudaStreamDestroy(cs->stream[l]));
	}
}

int main(int argc, char **argv)
{
	static options o;
	static series even, uneven;
	static comm_set cs;
	cal_device_info dev;
	char nccl_v[32], err[512], *command;
	cal_versions v = {NULL, NULL, nccl_v};
	int64_t *file_M = NULL, *M, sizes[MAX_POINTS];
	int file_n = 0, nsizes, ndev, ver = 0, budget_hit = 0;
	double *samples, t0 = cal_now_s();
	size_t need;

#ifdef CAL_WITH_MPI
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
	cal_set_die_hook(mpi_abort_hook);
	cal_set_progname("cal_alltoall_mpi");
#else
	cal_set_progname("cal_alltoall");
#endif
	parse_args(&o, argc, argv);
	command = cal_program_begin(&o.c, world_rank == 0, argc, argv, &ndev);
	if (o.matrix_path && cal_matrix_read(o.matrix_path, &file_M, &file_n, err, sizeof err) != 0)
		cal_die(CAL_EXIT_USAGE, "--matrix: %s", err);
	samples = calloc((size_t)o.c.repeats, sizeof *samples);
	if (!samples)
		cal_die(CAL_EXIT_FAIL, "out of host memory");

	comms_init(&cs, &o, ndev);
	if (file_M && file_n != cs.nranks)
		cal_die(CAL_EXIT_USAGE,
			"--matrix %s: %dx%d matrix but this run has %d rank(s); give an %dx%d matrix%s",
			o.matrix_path, file_n, file_n, cs.nranks, cs.nranks, cs.nranks,
#ifdef CAL_WITH_MPI
			" or start as many MPI ranks as the matrix has rows"
#else
			" or make that many GPUs visible (--ngpus, CUDA_VISIBLE_DEVICES)"
#endif
		);
	cal_device_query(cs.dev[0], &dev);
	CAL_NCCL_CHECK(ncclGetVersion(&ver));
	cal_version_string_mmp(ver, nccl_v, sizeof nccl_v);
	if (world_rank == 0)
		cal_device_print(&dev, &v);

	/* Buffers for the largest even point and the largest scaled matrix. */
	nsizes = o.skip_even ? 0 : cal_ladder_pow2(o.c.bytes_min, o.c.bytes_max, sizes, MAX_POINTS);
	if (nsizes > MAX_POINTS)
		nsizes = MAX_POINTS;
	need = nsizes ? (size_t)sizes[nsizes - 1] : 0;
	if (file_M) {
		double smax = 0.0;

		for (int i = 0; i < o.nscales; i++)
			smax = o.scales[i] > smax ? o.scales[i] : smax;
		for (int i = 0; i < file_n; i++) {
			int64_t s = 0, r = 0;

			for (int j = 0; j < file_n; j++) {
				s += (int64_t)((double)file_M[(size_t)i * file_n + j] * smax);
				r += (int64_t)((double)file_M[(size_t)j * file_n + i] * smax);
			}
			need = (size_t)s > need ? (size_t)s : need;
			need = (size_t)r > need ? (size_t)r : need;
		}
	}
	comms_alloc(&cs, need > 0 ? need : 1);
	M = malloc((size_t)cs.nranks * cs.nranks * sizeof *M);
	if (!M)
		cal_die(CAL_EXIT_FAIL, "out of host memory");

	if (nsizes && world_rank == 0)
		printf("\n# all-to-all, %d rank(s) on %d node(s), grouped ncclSend/ncclRecv\n%14s | %12s %-24s %10s %10s\n",
		       cs.nranks, cs.nodes, "bytes/rank", "time us", "(p10..p90)", "algbw GB/s",
		       "busbw GB/s");
	for (int i = 0; i < nsizes; i++) {
		int64_t chunk = sizes[i] / cs.nranks, max_rank, total;
		cal_stats *st = &even.st[even.n];
		double alg;
		int stop;

		if (chunk < 1)
			continue; /* fewer bytes than ranks */
		/* Every rank must agree to stop, or the others would wait in NCCL. */
		stop = o.c.budget_s > 0 && cal_now_s() - t0 > o.c.budget_s;
#ifdef CAL_WITH_MPI
		MPI_Bcast(&stop, 1, MPI_INT, 0, MPI_COMM_WORLD);
#endif
		if (stop) {
			budget_hit = 1;
			break;
		}
		for (int k = 0; k < cs.nranks * cs.nranks; k++)
			M[k] = chunk;
		matrix_loads(M, cs.nranks, &max_rank, &total);
		time_alltoall(&cs, &o, M, samples, st);
		even.bytes[even.n] = max_rank;
		even.total_bytes[even.n] = total;
		even.scale[even.n] = 1.0;
		even.n++;
		alg = GBps((double)max_rank, st->median);
		if (world_rank == 0) {
			printf("%14lld | %12.2f (%10.2f..%10.2f) %10.2f %10.2f\n", (long long)max_rank,
			       st->median, st->p10, st->p90, alg, busbw(alg, cs.nranks));
			fflush(stdout);
		}
	}

	if (file_M && world_rank == 0)
		printf("\n# uneven all-to-all from %s\n%8s %14s %14s | %12s %-24s %10s %10s\n",
		       o.matrix_path, "scale", "max rank B", "total B", "time us", "(p10..p90)",
		       "algbw GB/s", "busbw GB/s");
	for (int i = 0; file_M && i < o.nscales; i++) {
		int64_t max_rank, total;
		cal_stats *st = &uneven.st[uneven.n];
		double alg;

		for (int k = 0; k < cs.nranks * cs.nranks; k++)
			M[k] = (int64_t)((double)file_M[k] * o.scales[i]);
		matrix_loads(M, cs.nranks, &max_rank, &total);
		time_alltoall(&cs, &o, M, samples, st);
		uneven.bytes[uneven.n] = max_rank;
		uneven.total_bytes[uneven.n] = total;
		uneven.scale[uneven.n] = o.scales[i];
		uneven.n++;
		alg = GBps((double)max_rank, st->median);
		if (world_rank == 0)
			printf("%8.3f %14lld %14lld | %12.2f (%10.2f..%10.2f) %10.2f %10.2f\n",
			       o.scales[i], (long long)max_rank, (long long)total, st->median, st->p10,
			       st->p90, alg, busbw(alg, cs.nranks));
	}
	if (budget_hit && world_rank == 0)
		printf("# time budget of %.0f s reached; larger sizes skipped\n", o.c.budget_s);

	if (world_rank == 0)
		write_profile(&o, &cs, &dev, &v, &even, &uneven, file_M, budget_hit, command);
	comms_fini(&cs);
	free(M);
	free(file_M);
	free(samples);
	free(command);
	if (world_rank == 0)
		printf("# done in %.1f s\n", cal_now_s() - t0);
#ifdef CAL_WITH_MPI
	MPI_Finalize();
#endif
	return CAL_EXIT_OK;
}
