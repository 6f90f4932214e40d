/*
 * cmd_collective.c - `moesim collective alltoall|allreduce|allgather|reducescatter
 * [SCENARIO] --sizes MIN:MAX[:FACTOR]`: the plain collective on the scenario's cluster,
 * timed on the flow model (or, with --model analytic, by the analytic model:
 * net_alltoall_time, net_red_analytic_time), printed as nccl-tests prints its
 * measurements (docs/calibrate.md), so a prediction and a real run can be laid side by
 * side, diffed, or read back by `moesim calibrate import-nccl-tests` and `calibrate
 * compare`.
 *
 * Sizes follow nccl-tests (NVIDIA/nccl-tests src/common.cu, *GetCollByteCount): floats;
 * a size S is S / 4 elements; alltoall, allgather and reducescatter round the elements
 * per rank down to a multiple of 4 (16 bytes), and the size printed is what a rank
 * sends (alltoall), gathers (allgather) or reduces (reducescatter): elements per rank x
 * ranks x 4. algbw = size / time, busbw = algbw x (n-1)/n (alltoall, allgather,
 * reducescatter) or 2(n-1)/n (allreduce) as nccl-tests' doc/PERFORMANCE.md defines
 * them. The text layout is src/util.cu's (writeDeviceReport, writeResultHeader,
 * writeBenchmarkLine*, writeResultFooter, getFloatStr), the JSON that of its -J writer
 * (version 2) without the wall-clock start and end times, so equal inputs give equal
 * bytes. The prediction is the same for the out-of-place and in-place columns, and
 * nothing is validated (#wrong N/A, "validation: 0").
 *
 * The predictor (cli_coll_pred) is shared with `calibrate compare` (cmd_calibrate.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/ms_file.h"
#include "hardware/hw_gpu.h"
#include "network/net_alltoall.h"
#include "network/net_coll.h"
#include "network/net_model.h"
#include "network/net_reduce.h"
#include "profile/prof_nccl.h"
#include "profile/prof_scenario.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

#define MAX_SIZES 256

static const char usage_collective[] =
	"usage: moesim collective alltoall|allreduce|allgather|reducescatter [SCENARIO] [--set K=V]...\n"
	"                         --sizes MIN:MAX[:FACTOR] [--ranks N] [--algo NAME] [--model M] [--json FILE]\n"
	"                         [--force]\n"
	"\n"
	"Predicts the plain collective on SCENARIO's cluster (all its GPUs, or the first N) with the\n"
	"flow-level network model (or the analytic one), size by size as nccl-tests' *_perf programs\n"
	"run it, and prints the result in nccl-tests' own layout (docs/calibrate.md).\n"
	"\n"
	"  --sizes MIN:MAX[:FACTOR]  sizes in bytes from MIN to MAX, each FACTOR times the last (default 2),\n"
	"                            as nccl-tests' -b -e -f; K, M, G suffixes are powers of 1024 (64K, 1G)\n"
	"  --ranks N                 the first N GPUs (default all; N = parallel.ep is the first EP group)\n"
	"  --algo NAME               alltoall: nccl (default), flat, pairwise, hierarchical;\n"
	"                            allreduce: ring (default), tree; allgather, reducescatter: ring\n"
	"  --model M                 flow (default): flows on the topology, max-min shared; analytic: the\n"
	"                            closed-form bottleneck time on the cluster (docs/network.md; the\n"
	"                            all-to-all's does not depend on --algo); network.model is not read\n"
	"  --json FILE               also write nccl-tests' -J JSON to FILE (\"-\": standard output instead of text)\n"
	"  --force                   overwrite FILE if it exists\n";

/* ---- the predictor ---------------------------------------------------------------------- */

struct cli_coll_pred {
	prof_nccl_coll kind;
	int algo; /* net_a2a_algo for alltoall, net_red_algo otherwise */
	int n;
	topo_graph *g;
	net_model *m;
	int *ranks;
	double *bytes; /* n x n (alltoall) */
	double pre_s;  /* costs beyond bandwidth before the first byte (docs/network.md) */
	/* --model analytic: the cluster view, its workspaces and costs */
	int analytic;
	topo_cluster t;
	net_alltoall *a2a;
	net_red_analytic *red;
	net_costs costs;
};

const char *cli_coll_algo_name(prof_nccl_coll kind, int algo)
{
	return kind == PROF_NCCL_ALLTOALL ? net_a2a_algo_name((net_a2a_algo)algo) : net_red_algo_name((net_red_algo)algo);
}

int cli_coll_parse_kind(const char *s, prof_nccl_coll *kind)
{
	for (int c = 0; c < PROF_NCCL_COLLECTIVES; c++)
		if (strcmp(s, prof_nccl_coll_name((prof_nccl_coll)c)) == 0) {
			*kind = (prof_nccl_coll)c;
			return 0;
		}
	return -1;
}

int cli_coll_parse_algo(prof_nccl_coll kind, const char *s, int *algo)
{
	static const net_a2a_algo a2a[] = {NET_A2A_NCCL, NET_A2A_FLAT, NET_A2A_PAIRWISE, NET_A2A_HIERARCHICAL};
	if (kind == PROF_NCCL_ALLTOALL) {
		for (size_t i = 0; i < sizeof a2a / sizeof a2a[0]; i++)
			if (strcmp(s, net_a2a_algo_name(a2a[i])) == 0) {
				*algo = (int)a2a[i];
				return 0;
			}
		return -1;
	}
	if (strcmp(s, "ring") == 0) {
		*algo = NET_RED_RING;
		return 0;
	}
	if (strcmp(s, "tree") == 0 && kind == PROF_NCCL_ALLREDUCE) {
		*algo = NET_RED_TREE;
		return 0;
	}
	return -1;
}

int cli_coll_default_algo(prof_nccl_coll kind)
{
	return kind == PROF_NCCL_ALLTOALL ? (int)NET_A2A_NCCL : (int)NET_RED_RING;
}

void cli_coll_pred_close(cli_coll_pred *p)
{
	if (!p)
		return;
	net_model_destroy(p->m);
	net_alltoall_destroy(p->a2a);
	net_red_analytic_destroy(p->red);
	topo_graph_destroy(p->g);
	free(p->ranks);
	free(p->bytes);
	free(p);
}

int cli_coll_pred_open(cli_coll_pred **out, const scn_scenario *s, prof_nccl_coll kind, int algo, int ranks,
		       ms_error *err)
{
	cli_coll_pred *p = ms_calloc(err, 1, sizeof *p, "collective");
	prof_profile *profile = NULL;
	*out = NULL;
	if (!p)
		return err->code;
	p->kind = kind;
	p->algo = algo;
	if ((s->cluster.profile[0] && prof_profile_load_scenario(s, &profile, err) < 0) ||
	    !(p->g = topo_graph_from_scenario(s, profile, err)) || topo_cluster_init(&p->t, s, profile, err) < 0) {
		prof_profile_destroy(profile);
		cli_coll_pred_close(p);
		return err->code;
	}
	prof_profile_destroy(profile); /* the graph keeps what it needs */
	p->n = ranks > 0 ? ranks : p->g->world;
	if (p->n > p->g->world || p->n < 2) {
		int world = p->g->world;
		cli_coll_pred_close(p);
		if (world < 2)
			return MS_ERROR(err, MS_EINVAL,
					"%s: the cluster has 1 GPU; a collective needs 2 or more (set cluster.nodes or "
					"cluster.gpus_per_node)",
					s->source);
		return MS_ERROR(err, MS_EINVAL, "--ranks %d: the cluster of %s has %d GPUs; give 2 .. %d", ranks,
				s->source, world, world);
	}
	p->m = net_model_create(p->g, s->network.ecmp == SCN_ECMP_EVEN ? TOPO_ECMP_EVEN : TOPO_ECMP_HASH, s->workload.seed,
				err);
	if (p->m)
		net_model_set_tolerance(p->m, s->network.batch_window);
	p->ranks = ms_calloc(err, (size_t)p->n, sizeof(int), "collective");
	p->bytes = kind == PROF_NCCL_ALLTOALL ? ms_calloc(err, (size_t)p->n * p->n, sizeof(double), "collective") : NULL;
	if (!p->m || !p->ranks || (kind == PROF_NCCL_ALLTOALL && !p->bytes)) {
		cli_coll_pred_close(p);
		return err->code ? err->code : MS_ENOMEM;
	}
	for (int i = 0; i < p->n; i++)
		p->ranks[i] = i;
	/* One launch per collective (nccl-tests runs one group call per iteration); an
	 * all-to-all also issues to its n - 1 peers (network.peer_message_us each), as the MoE
	 * all-to-alls do (net_alltoall_costs). */
	p->pre_s = s->network.launch_us * 1e-6 +
		   (kind == PROF_NCCL_ALLTOALL ? (p->n - 1) * s->network.peer_message_us * 1e-6 : 0.0);
	/* The same costs for the analytic model: net_alltoall_time pays the launch and the
	 * n - 1 peers itself (and the NIC message rate, as a run's analytic model does);
	 * a reduction pays the launch (net_reduce.h). */
	p->costs.launch_s = s->network.launch_us * 1e-6;
	p->costs.launches = 1;
	p->costs.peer_message_s = kind == PROF_NCCL_ALLTOALL ? s->network.peer_message_us * 1e-6 : 0.0;
	p->costs.nic_message_rate = kind == PROF_NCCL_ALLTOALL ? s->network.nic_message_rate_Mps * 1e6 : 0.0;
	*out = p;
	return MS_OK;
}

/* Times with the analytic model instead of the flow model (--model analytic). */
static int coll_pred_use_analytic(cli_coll_pred *p, ms_error *err)
{
	if (p->kind == PROF_NCCL_ALLTOALL)
		p->a2a = net_alltoall_create(&p->t, p->n, err);
	else
		p->red = net_red_analytic_create(&p->t, p->n, err);
	if (!p->a2a && !p->red)
		return err->code ? err->code : MS_ENOMEM;
	p->analytic = 1;
	return MS_OK;
}

int cli_coll_pred_ranks(const cli_coll_pred *p)
{
	return p->n;
}

const topo_graph *cli_coll_pred_graph(const cli_coll_pred *p)
{
	return p->g;
}

/* The time of one collective of nccl-tests' printed size (bytes, as the row says). */
int cli_coll_predict(cli_coll_pred *p, double size, double *time_s, ms_error *err)
{
	int n = p->n;
	if (size <= 0) {
		*time_s = 0;
		return MS_OK;
	}
	if (p->kind == PROF_NCCL_ALLTOALL) {
		net_a2a_result r;
		int rc;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				p->bytes[(size_t)i * n + j] = i == j ? 0 : size / n;
		if (p->analytic) {
			net_alltoall_stats st;
			net_alltoall_time(p->a2a, p->ranks, n, p->bytes, NULL, &p->costs, &st);
			*time_s = st.time_s;
			return MS_OK;
		}
		rc = net_a2a_time(p->m, (net_a2a_algo)p->algo, p->ranks, n, p->bytes, NULL, &r, err);
		*time_s = r.time_s + p->pre_s;
		return rc;
	}
	{
		net_red_op op = p->kind == PROF_NCCL_ALLREDUCE ? NET_RED_ALLREDUCE
				: p->kind == PROF_NCCL_ALLGATHER ? NET_RED_ALLGATHER
								   : NET_RED_REDUCESCATTER;
		int rc;
		if (p->analytic) {
			*time_s = net_red_analytic_time(p->red, op, (net_red_algo)p->algo, p->ranks, n, size, &p->costs, NULL);
			return MS_OK;
		}
		rc = net_red_time(p->m, op, (net_red_algo)p->algo, p->ranks, n, size, time_s, NULL, err);
		*time_s += p->pre_s;
		return rc;
	}
}

/* ---- nccl-tests' layout ----------------------------------------------------------------- */

/* nccl-tests' src/util.cu getFloatStr: the widest of %.2f, %.1f, %.0f, %.1e that fits. */
void cli_nccl_float(double v, int width, char *str)
{
	if (snprintf(str, (size_t)width + 1, "%*.2f", width, v) <= width)
		return;
	if (snprintf(str, (size_t)width + 1, "%*.1f", width, v) <= width)
		return;
	if (snprintf(str, (size_t)width + 1, "%*.0f", width, v) <= width)
		return;
	snprintf(str, (size_t)width + 1, width >= 7 ? "%*.1e" : "%*.0e", width, v);
}

/* "64K", "1G", "3000": bytes (powers of 1024, as nccl-tests' parsesize). */
static int parse_size(const char *s, double *v)
{
	char *end;
	double x;
	errno = 0;
	x = strtod(s, &end);
	if (end == s || errno || !(x >= 0))
		return -1;
	if (*end == 'K' || *end == 'k')
		x *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		x *= 1024.0 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		x *= 1024.0 * 1024 * 1024, end++;
	if (*end != '\0' || x != floor(x) || x > 1e15)
		return -1;
	*v = x;
	return 0;
}

static int parse_sizes(const char *spec, double *min, double *max, double *factor)
{
	char buf[128], *a, *b, *c;
	if (strlen(spec) >= sizeof buf)
		return -1;
	strcpy(buf, spec);
	a = buf;
	b = strchr(a, ':');
	if (!b)
		return -1;
	*b++ = '\0';
	c = strchr(b, ':');
	if (c)
		*c++ = '\0';
	*factor = 2;
	if (parse_size(a, min) < 0 || parse_size(b, max) < 0)
		return -1;
	if (c) {
		char *end;
		long f = strtol(c, &end, 10);
		if (*c == '\0' || *end != '\0' || f < 2 || f > 1024)
			return -1;
		*factor = (double)f;
	}
	return *min >= 1 && *max >= *min ? 0 : -1;
}

typedef struct coll_row {
	double size, count, time_us, algbw, busbw;
} coll_row;

/* nccl-tests' sizes for a requested byte count (floats). */
static void nccl_sizes(prof_nccl_coll kind, int n, double bytes, double *size, double *count)
{
	double elems = floor(bytes / 4);
	if (kind == PROF_NCCL_ALLREDUCE) {
		*count = elems;
		*size = elems * 4;
		return;
	}
	*count = floor(floor(elems / n) / 4) * 4; /* (count / nranks) & ~(16 / 4 - 1) */
	*size = *count * n * 4;
}

static void print_devices(FILE *f, const topo_graph *g, int n, const char *gpu)
{
	for (int r = 0; r < n; r++) {
		char host[32];
		snprintf(host, sizeof host, "node%d", r / g->spec.gpus_per_node);
		fprintf(f, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [%04x:%02x:%02x] %s\n", r, 0, 0, host,
			r % g->spec.gpus_per_node, 0, 0, 0, gpu);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

typedef struct coll_out {
	prof_nccl_coll kind;
	const char *gpu;
	const topo_graph *g;
	int n;
	double min, max, factor;
	int argc;
	char **argv;
	const coll_row *rows;
	int nrows;
	double avg_busbw;
	const char *label;
} coll_out;

static void write_text(FILE *f, const coll_out *o)
{
	const char *prog = prof_nccl_coll_program(o->kind), *redop = o->kind == PROF_NCCL_ALLREDUCE ||
									      o->kind == PROF_NCCL_REDUCESCATTER
								      ? "sum"
								      : "none";
	fprintf(f, "# moesim %s collective: %s (a prediction, in nccl-tests' output layout)\n", MOESIM_VERSION, o->label);
	fprintf(f, "# Collective test starting: %s\n", prog);
	fprintf(f,
		"# nThread %d nGpus %d minBytes %.0f maxBytes %.0f step: %.0f(%s) warmup iters: %d iters: %d agg iters: %d "
		"validation: %d graph: %d unalign: %d\n",
		1, 1, o->min, o->max, o->factor, "factor", 0, 1, 1, 0, 0, 0);
	fprintf(f, "#\n# Using devices\n");
	print_devices(f, o->g, o->n, o->gpu);
	fprintf(f, "#\n");
	fprintf(f, "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          \n", "", "",
		"", "", "");
	fprintf(f, "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s\n", "size", "count", "type",
		"redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong", 0, "");
	fprintf(f, "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s\n", "(B)", "(elements)", "", "",
		"", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", 0, "");
	for (int i = 0; i < o->nrows; i++) {
		const coll_row *r = &o->rows[i];
		char t[16], a[16], b[16];
		cli_nccl_float(r->time_us, 7, t);
		cli_nccl_float(r->algbw, 6, a);
		cli_nccl_float(r->busbw, 6, b);
		fprintf(f, "%12.0f  %12.0f  %8s  %6s  %6i", r->size, r->count, "float", redop, -1);
		for (int k = 0; k < 2; k++)
			fprintf(f, "  %7s  %6s  %6s    N/A", t, a, b);
		fprintf(f, "\n");
	}
	fprintf(f, "# %-20s : %d %s\n", "Out of bounds values", 0, "OK");
	fprintf(f, "# %-20s : %g %s\n", "Avg bus bandwidth", o->avg_busbw, "");
	fprintf(f, "#\n# Collective test concluded: %s\n", prog);
}

static int write_json(FILE *f, const void *what, ms_error *err)
{
	const coll_out *o = what;
	const char *redop = o->kind == PROF_NCCL_ALLREDUCE || o->kind == PROF_NCCL_REDUCESCATTER ? "sum" : "none";
	/* args[0] names the test program, as nccl-tests' own; the moesim command is beside. */
	fprintf(f, "{\"version\":2,\"args\":[");
	json_str(f, prof_nccl_coll_program(o->kind));
	fprintf(f, "],\"env\":[],\"predicted_by\":[\"moesim\",\"collective\"");
	for (int i = 0; i < o->argc; i++) {
		fputc(',', f);
		json_str(f, o->argv[i]);
	}
	fputc(']', f);
	fprintf(f, ",\"config\":{\"nthreads\":1,\"ngpus\":1,\"minimum_bytes\":%.0f,\"maximum_bytes\":%.0f,"
		   "\"step_factor\":%.0f,\"warmup_iters\":0,\"iterations\":1,\"aggregated_iterations\":1,\"validation\":0,"
		   "\"graph\":0,\"blocking_collectives\":\"false\",\"per_iter_timing\":\"false\",\"per_iter_skip\":0,"
		   "\"parallel_init\":\"false\",\"devices\":[",
		o->min, o->max, o->factor);
	for (int r = 0; r < o->n; r++) {
		char host[32];
		snprintf(host, sizeof host, "node%d", r / o->g->spec.gpus_per_node);
		fprintf(f, "%s{\"rank\":%d,\"group\":0,\"pid\":0,\"hostname\":", r ? "," : "", r);
		json_str(f, host);
		fprintf(f, ",\"device\":%d,\"device_hex\":\"0000:00:00\",\"device_info\":", r % o->g->spec.gpus_per_node);
		json_str(f, o->gpu);
		fputc('}', f);
	}
	fprintf(f, "]},\"results\":[");
	for (int i = 0; i < o->nrows; i++) {
		const coll_row *r = &o->rows[i];
		fprintf(f, "%s{\"size\":%.0f,\"count\":%.0f,\"type\":\"float\",\"redop\":\"%s\",\"root\":\"%6i\"", i ? "," : "",
			r->size, r->count, redop, -1);
		for (int k = 0; k < 2; k++)
			fprintf(f, ",\"%s\":{\"time\":%lf,\"alg_bw\":%lf,\"bus_bw\":%lf,\"nwrong\":null}",
				k ? "in_place" : "out_of_place", r->time_us, r->algbw, r->busbw);
		fprintf(f, ",\"actual_iterations\":1,\"experiment_name\":\"\"}");
	}
	fprintf(f, "],\"out_of_bounds\":{\"count\":0,\"okay\":true},\"average_bus_bandwidth\":{\"bandwidth\":%lf,"
		   "\"okay\":\"unchecked\"},\"errors\":[]}\n",
		o->avg_busbw);
	if (ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the JSON failed");
	return MS_OK;
}

const char *cli_coll_gpu_label(const scn_scenario *s)
{
	const hw_gpu *h = hw_gpu_find(s->cluster.gpu);
	return h ? h->label : s->cluster.gpu;
}

int cli_cmd_collective(int argc, char **argv)
{
	const char *sizes = NULL, *json = NULL, *algo_name = NULL, *model = "flow";
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0, ranks = 0, force = 0, rc = 0, algo, nrows = 0;
	prof_nccl_coll kind;
	cli_args a;
	scn_scenario *s = NULL;
	cli_coll_pred *p = NULL;
	coll_row *rows = NULL;
	double min, max, factor, sum_bus = 0;
	char label[1400];
	ms_error err;
	if (!rest) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(usage_collective, argc < 1 ? stderr : stdout);
		free(rest);
		return argc < 1 ? CLI_EXIT_USAGE : 0;
	}
	if (cli_coll_parse_kind(argv[0], &kind) < 0) {
		fprintf(stderr, "moesim: unknown collective '%s'; use alltoall, allreduce, allgather or reducescatter\n%s",
			argv[0], usage_collective);
		free(rest);
		return CLI_EXIT_USAGE;
	}
	/* Our options out; the scenario and --set to the common parser. */
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--sizes") == 0 || strcmp(o, "--ranks") == 0 || strcmp(o, "--algo") == 0 ||
		    strcmp(o, "--json") == 0 || strcmp(o, "--model") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a value\n%s", o, usage_collective);
				rc = CLI_EXIT_USAGE;
				goto done;
			}
			if (strcmp(o, "--sizes") == 0)
				sizes = argv[++i];
			else if (strcmp(o, "--algo") == 0)
				algo_name = argv[++i];
			else if (strcmp(o, "--json") == 0)
				json = argv[++i];
			else if (strcmp(o, "--model") == 0)
				model = argv[++i];
			else {
				char *end;
				long v = strtol(argv[++i], &end, 10);
				if (*argv[i] == '\0' || *end != '\0' || v < 2 || v > 1 << 20) {
					fprintf(stderr, "moesim: --ranks %s: expected a number of GPUs >= 2\n", argv[i]);
					rc = CLI_EXIT_USAGE;
					goto done;
				}
				ranks = (int)v;
			}
		} else if (strcmp(o, "--force") == 0) {
			force = 1;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if ((rc = cli_parse_args(nrest, rest, &a, 0, usage_collective)) != 0)
		goto done;
	if (a.help) {
		fputs(usage_collective, stdout);
		goto done;
	}
	if (!sizes) {
		fprintf(stderr, "moesim: collective needs --sizes MIN:MAX[:FACTOR], e.g. --sizes 1K:1G:2\n%s",
			usage_collective);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	if (parse_sizes(sizes, &min, &max, &factor) < 0) {
		fprintf(stderr,
			"moesim: --sizes %s: expected MIN:MAX[:FACTOR], bytes with an optional K, M or G suffix, 1 <= MIN <= "
			"MAX, FACTOR an integer >= 2 (e.g. 8:128M:2)\n",
			sizes);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	algo = cli_coll_default_algo(kind);
	if (algo_name && cli_coll_parse_algo(kind, algo_name, &algo) < 0) {
		fprintf(stderr, "moesim: --algo %s: not an algorithm for %s (%s)\n", algo_name, prof_nccl_coll_name(kind),
			kind == PROF_NCCL_ALLTOALL ? "nccl, flat, pairwise, hierarchical"
			: kind == PROF_NCCL_ALLREDUCE ? "ring, tree"
						      : "ring");
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	if (strcmp(model, "flow") != 0 && strcmp(model, "analytic") != 0) {
		fprintf(stderr, "moesim: --model %s: expected flow or analytic\n%s", model, usage_collective);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	ms_error_clear(&err);
	if (json && strcmp(json, "-") != 0 && ms_file_check(json, force, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	s = malloc(sizeof *s);
	rows = calloc(MAX_SIZES, sizeof *rows);
	if (!s || !rows) {
		fprintf(stderr, "moesim: out of memory\n");
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	if (scn_scenario_load(s, a.scenario, &a.ov, &err) < 0 || cli_coll_pred_open(&p, s, kind, algo, ranks, &err) < 0 ||
	    (strcmp(model, "analytic") == 0 && coll_pred_use_analytic(p, &err) < 0)) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	for (double b = min; b <= max; b *= factor) {
		coll_row *r = &rows[nrows];
		double t;
		if (nrows == MAX_SIZES) {
			fprintf(stderr, "moesim: --sizes %s gives more than %d sizes; use a larger FACTOR\n", sizes, MAX_SIZES);
			rc = CLI_EXIT_USAGE;
			goto done;
		}
		nccl_sizes(kind, cli_coll_pred_ranks(p), b, &r->size, &r->count);
		if (cli_coll_predict(p, r->size, &t, &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			goto done;
		}
		r->time_us = t * 1e6;
		r->algbw = t > 0 ? r->size / t / 1e9 : 0;
		r->busbw = r->algbw * prof_nccl_busbw_factor(kind, cli_coll_pred_ranks(p));
		sum_bus += r->busbw;
		nrows++;
	}
	snprintf(label, sizeof label, "%s on %d GPUs of %s, %s algorithm, %s network model", prof_nccl_coll_name(kind),
		 cli_coll_pred_ranks(p), s->source, cli_coll_algo_name(kind, algo),
		 p->analytic ? "analytic" : "flow-level");
	{
		coll_out o = {kind,	 cli_coll_gpu_label(s), cli_coll_pred_graph(p), cli_coll_pred_ranks(p), min, max, factor,
			      argc,	 argv,			rows,			 nrows,		       sum_bus / nrows, label};
		if (json && strcmp(json, "-") == 0) {
			rc = write_json(stdout, &o, &err) < 0 ? CLI_EXIT_BAD_INPUT : 0;
		} else {
			write_text(stdout, &o);
			if (json) {
				ms_file of;
				if (ms_file_open(&of, json, force, &err) < 0 ||
				    (write_json(ms_file_stream(&of), &o, &err) < 0 ? (ms_file_abort(&of), -1)
										     : ms_file_commit(&of, &err)) < 0) {
					fprintf(stderr, "moesim: %s\n", err.msg);
					rc = CLI_EXIT_BAD_INPUT;
				}
			}
		}
	}
done:
	cli_coll_pred_close(p);
	free(rows);
	free(s);
	free(rest);
	return rc;
}
