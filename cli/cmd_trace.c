/*
 * cmd_trace.c - `moesim trace info|validate|stats|synth|import` (docs/trace-tools.md).
 * Every error is one line on stderr starting with "moesim: " and a non-zero exit (1 bad
 * input, 2 bad usage); `validate` prints one line per problem found.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sim/sim_estimate.h"
#include "trace/tr_import.h"
#include "trace/tr_fit.h"
#include "trace/tr_isolate.h"
#include "trace/tr_reader.h"
#include "routing/rt_quality.h"
#include "trace/tr_stats.h"
#include "trace/tr_synth.h"
#include "trace/tr_validate.h"

static const char usage_trace[] =
	"usage: moesim trace COMMAND [ARGS]\n"
	"\n"
	"Router traces: per MoE layer and token, the ranked experts and their scores (HDF5;\n"
	"schema in docs/trace-format.md, commands in docs/trace-tools.md).\n"
	"\n"
	"  info FILE              shape and provenance\n"
	"  validate FILE          check every value against the format\n"
	"  stats FILE             expert load, repeat rate and domain specialisation per layer\n"
	"  synth -o OUT [...]     write a synthetic trace (uniform, zipf, dirichlet, or a popularity table)\n"
	"  import --format F IN.. -o OUT   convert vLLM, Megatron-Core or JSONL routing records\n"
	"\n"
	"Run `moesim trace COMMAND --help` for a command's options.\n";

static const char usage_info[] = "usage: moesim trace info FILE\n"
				 "\n"
				 "Prints a trace's shape (layers, experts, ranking depth, tokens, steps, ranks,\n"
				 "sequences, domains) and provenance (model, source, creation date).\n";

static const char usage_validate[] =
	"usage: moesim trace validate FILE [--max-problems N]\n"
	"\n"
	"Checks every attribute, dataset, dtype, shape and value of a trace against\n"
	"docs/trace-format.md: ids in range and distinct per token, finite scores (softmax:\n"
	"in [0, 1] and non-increasing), logits consistent with scores, token metadata\n"
	"(ranks, positions, domains, order), readable chunks. Prints one line per problem\n"
	"(the first N, default 20) and exits 1 if there is any.\n";

static const char usage_stats[] =
	"usage: moesim trace stats FILE [--top-k K] [--per-expert] [--per-domain] [--csv]\n"
	"       moesim trace stats FILE --router R [--top-k K] [--capacity-factor C] [--drop D]\n"
	"           [--scope S] [--micro-batch N] [--group-ranks G] [--gamma G] [--per-step] [--csv]\n"
	"\n"
	"Per layer, over each token's first K ranked experts (default: the trace's top_k\n"
	"attribute, else min(2, depth)): expert load max/mean, min/mean and coefficient of\n"
	"variation; the rate at which consecutive tokens of a sequence repeat their first\n"
	"choice (and the rate independent draws would give); with domain labels, expert\n"
	"purity and domain concentration (and their domain-blind baselines).\n"
	"\n"
	"  --top-k K      experts per token to count\n"
	"  --per-expert   also each expert's load share, purity and dominant domain\n"
	"  --per-domain   also each domain's concentration and its K most used experts\n"
	"  --csv          one CSV row per layer instead of the table\n"
	"\n"
	"Routing quality under a router replayed on the recorded scores (docs/routing.md):\n"
	"  --router R             topk | expert_choice | bias_balanced | bpr: per layer the\n"
	"                         load max/mean (whole trace and mean per step), pairs dropped,\n"
	"                         tokens lost every choice, kept pairs per token, and the\n"
	"                         statistics above counted on the kept pairs\n"
	"  --capacity-factor C    capacity per expert ceil(C x tokens x K / experts) over the\n"
	"                         scope (default 0: dropless; expert_choice needs C > 0)\n"
	"  --drop probs|position  what topk and bias_balanced drop at capacity (default probs)\n"
	"  --scope S              micro_batch | rank | group | global: the tokens of a step over\n"
	"                         which capacity, quotas and the bias update count (default rank)\n"
	"  --micro-batch N        sequences per micro-batch (micro_batch scope; default 1)\n"
	"  --group-ranks G        recorded ranks per group (group scope; default 8)\n"
	"  --gamma G              bias_balanced's bias update speed (default 0.001, DeepSeek-V3)\n"
	"  --per-step             also one line per step (with --csv: one row per step and layer),\n"
	"                         with labels the purity and concentration of that step alone\n";

static const char usage_synth[] =
	"usage: moesim trace synth -o OUT.h5 --layers L --experts E --tokens T [options]\n"
	"       moesim trace synth -o OUT.h5 --match TRACE [--tokens T] [--seed S] [--logits] ...\n"
	"\n"
	"Writes a synthetic trace in the trace format. Each token's ranking is drawn by\n"
	"successive sampling without replacement (Plackett-Luce) with per-layer weights;\n"
	"scores are a softmax consistent with the ranking (docs/trace-tools.md).\n"
	"\n"
	"  --depth K            ranked experts stored per token (default min(E, 8))\n"
	"  --top-k k            experts the model uses (attribute top_k; the k a table is\n"
	"                       matched at; default min(2, K))\n"
	"  --seed S             random seed (default 1)\n"
	"  --dist D             uniform (default) | zipf | dirichlet | table\n"
	"  --zipf-s s           zipf: weight of the expert ranked i is 1/i^s (default 1.0)\n"
	"  --alpha a            dirichlet: concentration (default 1.0)\n"
	"  --table FILE.csv     table: lines layer,expert,share (shares of the top-k\n"
	"                       assignments; --layers/--experts default to the table's)\n"
	"  --match-selection    zipf, dirichlet: make the popularity the selection shares\n"
	"  --correlation rho    a token repeats the previous token's ranking with\n"
	"                       probability rho (within a sequence; default 0)\n"
	"  --domains D          D domain labels, one per sequence, each with home experts\n"
	"  --domain-skew b      weight moved to a domain's home experts (default 0.5)\n"
	"  --steps S, --ranks R, --seq-len N   token metadata (default 1, 1, 1024)\n"
	"  --logits             also write /routing/logits\n"
	"  --model NAME, --created ISO-DATE    provenance (default synthetic, 1970-01-01T00:00:00Z)\n"
	"  --match TRACE        fit the synthesis to a recorded trace (docs/routing.md): its\n"
	"                       layers, experts, depth, top_k, tokens (unless --tokens), steps,\n"
	"                       ranks and mean sequence length; per layer its expert shares,\n"
	"                       one topic per domain label with that domain's shares and\n"
	"                       sequence share, and the probabilities of repeating the previous\n"
	"                       ranking (plain, or first two swapped) that reproduce the repeat\n"
	"                       rates of first and first-or-second choices; then measures OUT\n"
	"                       and prints both\n"
	"  --topics M           with --match: up to M topics per domain label (k-means over\n"
	"                       the sequences' expert shares; default 1)\n"
	"  --force              overwrite OUT\n"
	"  --force-large        write even when the file, before compression, would not fit the\n"
	"                       free space of OUT's file system (refused otherwise, with the\n"
	"                       estimate: docs/errors.md, \"Refused large runs\")\n";

static const char usage_import[] =
	"usage: moesim trace import --format vllm|megatron|jsonl IN... -o OUT.h5 [options]\n"
	"\n"
	"Converts recorded routing into a trace (docs/trace-tools.md, \"Importers\"):\n"
	"  jsonl     one JSON object per line and (token, layer): {\"layer\":..,\"token\":..,\n"
	"            \"experts\":[..], \"probs\":[..], optional \"step\",\"sequence\",\"position\",\n"
	"            \"rank\",\"domain\"}\n"
	"  vllm      vLLM --enable-return-routed-experts output: .npy files of expert ids\n"
	"            [tokens, moe_layers, top_k] (one per sequence), or JSON responses with\n"
	"            prompt_routed_experts / choices[].routed_experts (base64 .npy or lists)\n"
	"  megatron  Megatron-Core --moe-routing-trace-path output: router_trace_rank*.jsonl\n"
	"            files or their directory (logits_rank*.bin sidecars are used if present)\n"
	"\n"
	"  --experts E          experts per layer (default: logits width, else largest id + 1)\n"
	"  --score-kind K       softmax | sigmoid | other, for inputs with probabilities or logits\n"
	"  --top-k k            write the attribute top_k\n"
	"  --model NAME, --created ISO-DATE    provenance\n"
	"  --force              overwrite OUT\n";

/* --name VALUE or --name=VALUE at argv[*i]; NULL if argv[*i] is not that option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *s = argv[*i];
	*missing = 0;
	if (strncmp(s, name, n) != 0)
		return NULL;
	if (s[n] == '=')
		return s + n + 1;
	if (s[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

static int parse_ll(const char *opt, const char *s, long long lo, long long hi, long long *v)
{
	char *end;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno) {
		fprintf(stderr, "moesim: %s '%s' is not an integer\n", opt, s);
		return CLI_EXIT_USAGE;
	}
	if (*v < lo || *v > hi) {
		fprintf(stderr, "moesim: %s %s must be in %lld..%lld\n", opt, s, lo, hi);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *v)
{
	long long x;
	int rc = parse_ll(opt, s, lo, hi, &x);
	if (!rc)
		*v = (int)x;
	return rc;
}

static int parse_double(const char *opt, const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end != '\0' || errno || !isfinite(*v)) {
		fprintf(stderr, "moesim: %s '%s' is not a number\n", opt, s);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* "s" unless n is 1. */
static const char *plural(long long n)
{
	return n == 1 ? "" : "s";
}

static int is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static int unknown(const char *s, const char *usage)
{
	fprintf(stderr, "moesim: unknown option '%s'\n%s", s, usage);
	return CLI_EXIT_USAGE;
}

/* Parses the common "FILE" argument of info/validate/stats. */
static int one_file(const char *cmd, const char *file, const char *s, const char **out)
{
	if (file) {
		fprintf(stderr, "moesim: trace %s takes one file ('%s' and '%s' given)\n", cmd, file, s);
		return CLI_EXIT_USAGE;
	}
	*out = s;
	return 0;
}

/* Opens the FILE argument of info and stats; NULL with the exit status in *rc (usage when
 * no file was given, bad input when it cannot be opened) after printing why. */
static tr_reader *open_trace(const char *file, const char *usage, ms_error *err, int *rc)
{
	tr_reader *r;
	if (!file) {
		fputs(usage, stderr);
		*rc = CLI_EXIT_USAGE;
		return NULL;
	}
	ms_error_clear(err);
	if (!(r = tr_open(file, err))) {
		fprintf(stderr, "moesim: %s\n", err->msg);
		*rc = CLI_EXIT_BAD_INPUT;
	}
	return r;
}

static void print_count(const char *what, long long n)
{
	printf("%lld %s%s", n, what, n == 1 ? "" : "s");
}

static int cmd_info(int argc, char **argv)
{
	const char *file = NULL;
	tr_reader *r;
	const tr_info *in;
	ms_error err;
	int rc;
	tr_token *tok = NULL;
	long long steps = 0, ranks = 0, seqs = 0;
	int64_t *dcount = NULL, block = TR_CHUNK_TOKENS;
	int32_t max_pos = 0;
	struct stat st;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_info, stdout);
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return unknown(argv[i], usage_info);
		if ((rc = one_file("info", file, argv[i], &file)) != 0)
			return rc;
	}
	if (!(r = open_trace(file, usage_info, &err, &rc)))
		return rc;
	in = tr_get_info(r);
	tok = malloc((size_t)block * sizeof *tok);
	dcount = calloc((size_t)(in->num_domains > 0 ? in->num_domains : 1), sizeof *dcount);
	if (!tok || !dcount) {
		fprintf(stderr, "moesim: out of memory\n");
		rc = CLI_EXIT_BAD_INPUT;
		goto out;
	}
	{
		/* Tokens are sorted by (step, rank, sequence, position): count the changes. */
		tr_token prev;
		int have = 0;
		int32_t max_rank = -1;
		memset(&prev, 0, sizeof prev);
		for (int64_t t0 = 0; t0 < in->num_tokens; t0 += block) {
			int64_t n = in->num_tokens - t0 < block ? in->num_tokens - t0 : block;
			if (tr_read_tokens(r, t0, n, tok, &err) < 0) {
				fprintf(stderr, "moesim: %s\n", err.msg);
				rc = CLI_EXIT_BAD_INPUT;
				goto out;
			}
			for (int64_t i = 0; i < n; i++) {
				const tr_token *t = &tok[i];
				steps += !have || t->step != prev.step;
				seqs += !have || t->step != prev.step || t->rank != prev.rank || t->sequence != prev.sequence;
				max_rank = t->rank > max_rank ? t->rank : max_rank;
				max_pos = t->position > max_pos ? t->position : max_pos;
				if (t->domain >= 0 && t->domain < in->num_domains)
					dcount[t->domain]++;
				prev = *t;
				have = 1;
			}
		}
		ranks = max_rank + 1;
	}
	printf("%s\n", file);
	printf("  format     %s version %d\n", TR_FORMAT_NAME, TR_FORMAT_VERSION);
	printf("  model      %s\n", in->model);
	printf("  source     %s\n", in->source);
	printf("  created    %s\n", in->created);
	printf("  layers     %d MoE layer%s\n", in->num_layers, in->num_layers == 1 ? "" : "s");
	printf("  experts    %d routed experts; ranking depth %d", in->num_experts, in->depth);
	if (in->top_k > 0)
		printf("; top_k %d", in->top_k);
	printf("\n  tokens     %lld (", (long long)in->num_tokens);
	print_count("step", steps);
	printf(", ");
	print_count("rank", ranks);
	printf(", ");
	print_count("sequence", seqs);
	printf("; positions up to %d)\n", max_pos);
	printf("  scores     %s; logits %s\n", tr_score_kind_name(in->score_kind), in->has_logits ? "yes" : "no");
	if (in->has_domain) {
		printf("  domains    %d:", in->num_domains);
		for (int d = 0; d < in->num_domains; d++)
			printf("%s %s (%lld tokens)", d ? "," : "", in->domain_names[d], (long long)dcount[d]);
		printf("\n");
	} else {
		printf("  domains    none\n");
	}
	if (stat(file, &st) == 0)
		printf("  storage    %.2f MB; chunks of %lld tokens\n", (double)st.st_size / 1e6, (long long)in->chunk_tokens);
	rc = 0;
out:
	free(tok);
	free(dcount);
	tr_close(r);
	return rc;
}

static void print_problem(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "moesim: %s\n", msg);
}

static int cmd_validate(int argc, char **argv)
{
	const char *file = NULL, *v;
	long long max = 20;
	int64_t n;
	ms_error err;
	int rc, missing;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_validate, stdout);
			return 0;
		}
		if ((v = opt_value(argc, argv, &i, "--max-problems", &missing)) != NULL) {
			if ((rc = parse_ll("--max-problems", v, 0, 1LL << 40, &max)) != 0)
				return rc;
		} else if (missing) {
			fprintf(stderr, "moesim: %s needs a value\n", argv[i]);
			return CLI_EXIT_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return unknown(argv[i], usage_validate);
		} else if ((rc = one_file("validate", file, argv[i], &file)) != 0) {
			return rc;
		}
	}
	if (!file) {
		fputs(usage_validate, stderr);
		return CLI_EXIT_USAGE;
	}
	ms_error_clear(&err);
	n = tr_validate(file, print_problem, NULL, max, &err);
	if (n < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	if (n > 0) {
		fprintf(stderr, "moesim: %s: %lld problem%s%s; not a valid moesim trace\n", file, (long long)n, n == 1 ? "" : "s",
			n > max ? " (the first shown)" : "");
		return CLI_EXIT_BAD_INPUT;
	}
	{
		tr_reader *r = tr_open(file, &err);
		if (r) {
			const tr_info *in = tr_get_info(r);
			printf("%s: valid moesim trace (%d layer%s x %lld tokens, %d experts, depth %d)\n", file, in->num_layers,
			       plural(in->num_layers), (long long)in->num_tokens, in->num_experts, in->depth);
			tr_close(r);
		}
	}
	return 0;
}

/* `trace stats --router ...`: the routing quality of a router on the trace's scores. */
static int stats_router(tr_reader *r, const rt_quality_opts *o, int per_step, int csv)
{
	const tr_info *in = tr_get_info(r);
	rt_quality *q;
	ms_error err;
	int rc;
	ms_error_clear(&err);
	if (rt_quality_compute(r, o, &q, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	rc = rt_quality_print(stdout, q, o, in, per_step, csv, &err) < 0 ? CLI_EXIT_BAD_INPUT : 0;
	if (rc)
		fprintf(stderr, "moesim: %s\n", err.msg);
	rt_quality_free(q);
	return rc;
}

static int cmd_stats(int argc, char **argv)
{
	const char *file = NULL, *v, *router = NULL, *scope = NULL, *drop = NULL;
	int top_k = 0, per_expert = 0, per_domain = 0, csv = 0, per_step = 0, rc, missing;
	int micro_batch = 1, group_ranks = 8, quality_opt = 0;
	double cf = 0, gamma = RT_BIAS_GAMMA_DEEPSEEK_V3;
	unsigned flags;
	tr_reader *r;
	tr_stats *s;
	const tr_info *in;
	ms_error err;
	rt_quality_opts qo;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_stats, stdout);
			return 0;
		}
		if ((v = opt_value(argc, argv, &i, "--top-k", &missing)) != NULL) {
			if ((rc = parse_int("--top-k", v, 1, TR_MAX_EXPERTS, &top_k)) != 0)
				return rc;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--router", &missing)) != NULL) {
			router = v;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--scope", &missing)) != NULL) {
			scope = v;
			quality_opt = 1;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--drop", &missing)) != NULL) {
			drop = v;
			quality_opt = 1;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--capacity-factor", &missing)) != NULL) {
			if ((rc = parse_double("--capacity-factor", v, &cf)) != 0)
				return rc;
			quality_opt = 1;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--gamma", &missing)) != NULL) {
			if ((rc = parse_double("--gamma", v, &gamma)) != 0)
				return rc;
			quality_opt = 1;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--micro-batch", &missing)) != NULL) {
			if ((rc = parse_int("--micro-batch", v, 1, INT32_MAX, &micro_batch)) != 0)
				return rc;
			quality_opt = 1;
		} else if (!missing && (v = opt_value(argc, argv, &i, "--group-ranks", &missing)) != NULL) {
			if ((rc = parse_int("--group-ranks", v, 1, INT32_MAX, &group_ranks)) != 0)
				return rc;
			quality_opt = 1;
		} else if (missing) {
			fprintf(stderr, "moesim: %s needs a value\n", argv[i]);
			return CLI_EXIT_USAGE;
		} else if (strcmp(argv[i], "--per-expert") == 0) {
			per_expert = 1;
		} else if (strcmp(argv[i], "--per-domain") == 0) {
			per_domain = 1;
		} else if (strcmp(argv[i], "--per-step") == 0) {
			per_step = 1;
			quality_opt = 1;
		} else if (strcmp(argv[i], "--csv") == 0) {
			csv = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return unknown(argv[i], usage_stats);
		} else if ((rc = one_file("stats", file, argv[i], &file)) != 0) {
			return rc;
		}
	}
	if (router) {
		if (rt_policy_parse(router, &qo.router) < 0) {
			fprintf(stderr, "moesim: --router '%s' is not a router; routers: topk, expert_choice, bias_balanced, bpr\n",
				router);
			return CLI_EXIT_USAGE;
		}
		if (scope && rt_scope_parse(scope, &qo.scope) < 0) {
			fprintf(stderr, "moesim: --scope '%s' is not a scope; scopes: micro_batch, rank, group, global\n", scope);
			return CLI_EXIT_USAGE;
		}
		if (drop && strcmp(drop, "probs") != 0 && strcmp(drop, "position") != 0) {
			fprintf(stderr, "moesim: --drop '%s' is not a drop policy; policies: probs, position\n", drop);
			return CLI_EXIT_USAGE;
		}
		if (per_expert || per_domain) {
			fprintf(stderr, "moesim: --per-expert and --per-domain describe the recorded routing; with --router use "
					"--per-step\n");
			return CLI_EXIT_USAGE;
		}
	} else if (quality_opt) {
		fprintf(stderr, "moesim: --capacity-factor, --drop, --scope, --micro-batch, --group-ranks, --gamma and "
				"--per-step need --router\n");
		return CLI_EXIT_USAGE;
	}
	if (!(r = open_trace(file, usage_stats, &err, &rc)))
		return rc;
	in = tr_get_info(r);
	if (router) {
		rt_policy_kind kind = qo.router;
		rt_scope sc = qo.scope;
		rt_quality_opts_default(&qo, in);
		qo.router = kind;
		if (scope)
			qo.scope = sc;
		if (top_k)
			qo.top_k = top_k;
		qo.capacity_factor = cf;
		qo.drop = drop && strcmp(drop, "position") == 0 ? SCN_DROP_POSITION : SCN_DROP_PROBS;
		qo.micro_batch = micro_batch;
		qo.group_ranks = group_ranks;
		qo.gamma = gamma;
		rc = stats_router(r, &qo, per_step, csv);
		tr_close(r);
		return rc;
	}
	if (top_k == 0)
		top_k = tr_stats_default_top_k(in);
	if (top_k > in->depth) {
		fprintf(stderr, "moesim: --top-k %d exceeds the trace's ranking depth %d\n", top_k, in->depth);
		tr_close(r);
		return CLI_EXIT_BAD_INPUT;
	}
	if (tr_stats_compute(r, top_k, &s, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		tr_close(r);
		return CLI_EXIT_BAD_INPUT;
	}
	flags = (per_expert ? TR_STATS_PER_EXPERT : 0) | (per_domain ? TR_STATS_PER_DOMAIN : 0) | (csv ? TR_STATS_CSV : 0);
	rc = tr_stats_print(stdout, s, in, flags, &err) < 0 ? CLI_EXIT_BAD_INPUT : 0;
	if (rc)
		fprintf(stderr, "moesim: %s\n", err.msg);
	tr_stats_free(s);
	tr_close(r);
	return rc;
}

/* `synth --match`: measures and fits the trace at path (probed in a child first, as every
 * trace someone else wrote: trace/tr_isolate.h). */
static int fit_trace(const char *path, int per_domain, tr_fit **fit)
{
	tr_reader *r;
	ms_error err;
	ms_error_clear(&err);
	if (tr_probe(path, &err) < 0 || !(r = tr_open(path, &err))) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	if (tr_fit_measure(r, 0, per_domain, fit, &err) < 0 || tr_fit_solve(*fit, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		tr_fit_free(*fit);
		*fit = NULL;
		tr_close(r);
		return CLI_EXIT_BAD_INPUT;
	}
	tr_close(r);
	return 0;
}

/* Measures the synthetic trace just written and prints it beside the fitted one. */
static int fit_report(const tr_fit *fit, const char *src, const char *out)
{
	tr_reader *r;
	tr_fit *syn = NULL;
	ms_error err;
	int rc = 0;
	ms_error_clear(&err);
	if (!(r = tr_open(out, &err)) || tr_fit_measure(r, fit->top_k, 1, &syn, &err) < 0 ||
	    tr_fit_print(stdout, fit, syn, src, out, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
	}
	tr_fit_free(syn);
	tr_close(r);
	return rc;
}

static int cmd_synth(int argc, char **argv)
{
	tr_synth_opts o;
	const char *out = NULL, *table = NULL, *v;
	double *shares = NULL;
	int force = 0, force_large = 0, rc, missing, depth = 0, top_k = 0, tl = 0, te = 0, shape = 0;
	const char *match = NULL;
	int tokens_given = 0, topics = 1;
	tr_fit *fit = NULL;
	ms_error err;
	tr_synth_defaults(&o);
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		long long x;
		if (is_help(s)) {
			fputs(usage_synth, stdout);
			return 0;
		}
#define OPT(name) ((v = opt_value(argc, argv, &i, name, &missing)) != NULL)
		if (OPT("-o") || OPT("--output"))
			out = v;
		else if (OPT("--match"))
			match = v;
		else if (OPT("--topics")) {
			if ((rc = parse_int("--topics", v, 1, 4096, &topics)) != 0)
				return rc;
		}
		else if (OPT("--layers")) {
			shape = 1;
			if ((rc = parse_int("--layers", v, 1, 100000, &o.layers)) != 0)
				return rc;
		} else if (OPT("--experts")) {
			shape = 1;
			if ((rc = parse_int("--experts", v, 1, TR_MAX_EXPERTS, &o.experts)) != 0)
				return rc;
		} else if (OPT("--depth")) {
			shape = 1;
			if ((rc = parse_int("--depth", v, 1, TR_MAX_EXPERTS, &depth)) != 0)
				return rc;
		} else if (OPT("--top-k")) {
			shape = 1;
			if ((rc = parse_int("--top-k", v, 1, TR_MAX_EXPERTS, &top_k)) != 0)
				return rc;
		} else if (OPT("--tokens")) {
			if ((rc = parse_ll("--tokens", v, 0, 1LL << 40, &x)) != 0)
				return rc;
			o.tokens = x;
			tokens_given = 1;
		} else if (OPT("--seed")) {
			if ((rc = parse_ll("--seed", v, 0, 1LL << 62, &x)) != 0)
				return rc;
			o.seed = (uint64_t)x;
		} else if (OPT("--dist")) {
			shape = 1;
			if (tr_dist_parse(v, &o.dist) < 0) {
				fprintf(stderr, "moesim: --dist '%s': expected uniform, zipf, dirichlet or table\n", v);
				return CLI_EXIT_USAGE;
			}
		} else if (OPT("--zipf-s")) {
			shape = 1;
			if ((rc = parse_double("--zipf-s", v, &o.zipf_s)) != 0)
				return rc;
		} else if (OPT("--alpha")) {
			shape = 1;
			if ((rc = parse_double("--alpha", v, &o.alpha)) != 0)
				return rc;
		} else if (OPT("--correlation")) {
			shape = 1;
			if ((rc = parse_double("--correlation", v, &o.correlation)) != 0)
				return rc;
		} else if (OPT("--table")) {
			shape = 1;
			table = v;
		} else if (OPT("--domains")) {
			shape = 1;
			if ((rc = parse_int("--domains", v, 0, TR_MAX_EXPERTS, &o.domains)) != 0)
				return rc;
		} else if (OPT("--domain-skew")) {
			shape = 1;
			if ((rc = parse_double("--domain-skew", v, &o.domain_skew)) != 0)
				return rc;
		} else if (OPT("--steps")) {
			shape = 1;
			if ((rc = parse_int("--steps", v, 1, 1000000, &o.steps)) != 0)
				return rc;
		} else if (OPT("--ranks")) {
			shape = 1;
			if ((rc = parse_int("--ranks", v, 1, 1000000, &o.ranks)) != 0)
				return rc;
		} else if (OPT("--seq-len")) {
			shape = 1;
			if ((rc = parse_int("--seq-len", v, 1, 1 << 30, &o.seq_len)) != 0)
				return rc;
		} else if (OPT("--model")) {
			o.model = v;
		} else if (OPT("--created")) {
			o.created = v;
		} else if (missing) {
			fprintf(stderr, "moesim: %s needs a value\n", s);
			return CLI_EXIT_USAGE;
		} else if (strcmp(s, "--logits") == 0) {
			o.logits = 1;
		} else if (strcmp(s, "--match-selection") == 0) {
			o.match_selection = 1;
		} else if (strcmp(s, "--force") == 0) {
			force = 1;
		} else if (strcmp(s, "--force-large") == 0) {
			force_large = 1;
		} else if (s[0] == '-') {
			return unknown(s, usage_synth);
		} else {
			fprintf(stderr, "moesim: trace synth takes no file arguments ('%s'); the output is -o OUT.h5\n", s);
			return CLI_EXIT_USAGE;
		}
#undef OPT
	}
	if (!out) {
		fprintf(stderr, "moesim: trace synth needs -o OUT.h5\n");
		return CLI_EXIT_USAGE;
	}
	ms_error_clear(&err);
	if (match) {
		tr_synth_opts given = o;
		if (shape || o.match_selection) {
			fprintf(stderr, "moesim: --match takes the trace's shape and fits the rest; with it give only --tokens, "
					"--seed, --logits, --model, --created, --force and --force-large\n");
			return CLI_EXIT_USAGE;
		}
		if ((rc = fit_trace(match, topics, &fit)) != 0)
			return rc;
		tr_fit_synth_opts(fit, &o);
		o.seed = given.seed;
		o.logits = given.logits;
		o.model = given.model;
		o.created = given.created;
		if (tokens_given)
			o.tokens = given.tokens;
	} else {
		if (table && o.dist != TR_DIST_TABLE) {
			fprintf(stderr, "moesim: --table needs --dist table\n");
			return CLI_EXIT_USAGE;
		}
		if (o.dist == TR_DIST_TABLE) {
			if (!table) {
				fprintf(stderr, "moesim: --dist table needs --table FILE.csv\n");
				return CLI_EXIT_USAGE;
			}
			if (tr_table_load(table, &tl, &te, &shares, &err) < 0) {
				fprintf(stderr, "moesim: %s\n", err.msg);
				return CLI_EXIT_BAD_INPUT;
			}
			if ((o.layers && o.layers != tl) || (o.experts && o.experts != te)) {
				fprintf(stderr, "moesim: %s has %d layers x %d experts but --layers %d --experts %d were given\n", table, tl,
					te, o.layers, o.experts);
				free(shares);
				return CLI_EXIT_BAD_INPUT;
			}
			o.layers = tl;
			o.experts = te;
			o.table = shares;
		}
		if (!o.layers || !o.experts) {
			fprintf(stderr, "moesim: trace synth needs --layers and --experts (or --dist table --table FILE)\n");
			free(shares);
			return CLI_EXIT_USAGE;
		}
		o.depth = depth ? depth : (o.experts < 8 ? o.experts : 8);
		o.top_k = top_k ? top_k : (o.depth < 2 ? o.depth : 2);
	}
	if (!force_large && tr_synth_check(&o, &err) == MS_OK) {
		/* Refuse what cannot fit before writing a byte (the options are checked first, so
		 * a bad option is reported as such). */
		double bytes, time_s, avail = cli_disk_free(out);
		tr_synth_estimate(&o, &bytes, &time_s);
		if (avail >= 0 && bytes > avail) {
			char b[32], a[32], t[32];
			fprintf(stderr,
				"moesim: %s: the trace needs up to %s before compression (%d layers x %lld tokens x depth %d, "
				"roughly %s to write) but its file system has %s free: lower --tokens or --layers, or "
				"write it elsewhere; or write anyway with --force-large\n",
				out, sim_estimate_bytes(bytes, b, sizeof b), o.layers, (long long)o.tokens, o.depth,
				sim_estimate_duration(time_s, t, sizeof t), sim_estimate_bytes(avail, a, sizeof a));
			free(shares);
			tr_fit_free(fit);
			return CLI_EXIT_BAD_INPUT;
		}
	}
	ms_error_clear(&err);
	if (tr_synth_write(out, force, &o, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		free(shares);
		tr_fit_free(fit);
		return CLI_EXIT_BAD_INPUT;
	}
	printf("written %s: %d layer%s x %lld tokens, %d experts, depth %d, top_k %d (%s)\n", out, o.layers, plural(o.layers),
	       (long long)o.tokens, o.experts, o.depth, o.top_k, tr_dist_name(o.dist));
	free(shares);
	rc = fit ? fit_report(fit, match, out) : 0;
	tr_fit_free(fit);
	return rc;
}

static int cmd_import(int argc, char **argv)
{
	tr_import_opts o;
	tr_import_result res;
	const char *out = NULL, *v, **inputs;
	int n = 0, force = 0, have_format = 0, rc, missing;
	ms_error err;
	memset(&o, 0, sizeof o);
	inputs = calloc((size_t)(argc > 0 ? argc : 1), sizeof *inputs);
	if (!inputs) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (is_help(s)) {
			fputs(usage_import, stdout);
			free(inputs);
			return 0;
		}
#define OPT(name) ((v = opt_value(argc, argv, &i, name, &missing)) != NULL)
		rc = 0;
		if (OPT("-o") || OPT("--output")) {
			out = v;
		} else if (OPT("--format")) {
			if (tr_import_format_parse(v, &o.format) < 0) {
				fprintf(stderr, "moesim: --format '%s': expected vllm, megatron or jsonl\n", v);
				rc = CLI_EXIT_USAGE;
			}
			have_format = 1;
		} else if (OPT("--experts")) {
			rc = parse_int("--experts", v, 1, TR_MAX_EXPERTS, &o.experts);
		} else if (OPT("--top-k")) {
			rc = parse_int("--top-k", v, 1, TR_MAX_EXPERTS, &o.top_k);
		} else if (OPT("--score-kind")) {
			if (tr_score_kind_parse(v, &o.score_kind) < 0) {
				fprintf(stderr, "moesim: --score-kind '%s': expected softmax, sigmoid or other\n", v);
				rc = CLI_EXIT_USAGE;
			}
			o.score_kind_set = 1;
		} else if (OPT("--model")) {
			o.model = v;
		} else if (OPT("--created")) {
			o.created = v;
		} else if (missing) {
			fprintf(stderr, "moesim: %s needs a value\n", s);
			rc = CLI_EXIT_USAGE;
		} else if (strcmp(s, "--force") == 0) {
			force = 1;
		} else if (s[0] == '-' && s[1]) {
			free(inputs);
			return unknown(s, usage_import);
		} else {
			inputs[n++] = s;
		}
#undef OPT
		if (rc) {
			free(inputs);
			return rc;
		}
	}
	if (!have_format || !out || n == 0) {
		fprintf(stderr, "moesim: trace import needs --format vllm|megatron|jsonl, input files and -o OUT.h5\n");
		free(inputs);
		return CLI_EXIT_USAGE;
	}
	ms_error_clear(&err);
	if (tr_import(inputs, n, out, force, &o, &res, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		free(inputs);
		return CLI_EXIT_BAD_INPUT;
	}
	printf("written %s: %d layer%s x %lld tokens, %d experts, depth %d\n", out, res.layers, plural(res.layers),
	       (long long)res.tokens,
	       res.experts, res.depth);
	if (res.note[0])
		printf("note: %s\n", res.note);
	free(inputs);
	return 0;
}

/* A trace command and its arguments, run in a child by isolated(). */
typedef struct sub_call {
	int (*fn)(int, char **);
	int argc;
	char **argv;
} sub_call;

static int call_sub(void *ctx, ms_error *err)
{
	const sub_call *c = ctx;
	(void)err; /* the command prints its own messages */
	return c->fn(c->argc, c->argv);
}

/*
 * Runs a command that reads a trace in a child process (trace/tr_isolate.h: HDF5 1.10
 * crashes on some corrupt metadata), so that a crash is a one-line message and exit 1
 * as for any other corrupt file. The file named in the message is the last argument
 * that is neither an option nor a number.
 */
static int isolated(int (*fn)(int, char **), int argc, char **argv)
{
	const char *file = NULL;
	sub_call c = {fn, argc, argv};
	ms_error err;
	int rc;
	for (int i = 0; i < argc; i++)
		if (argv[i][0] != '-' && strspn(argv[i], "0123456789") != strlen(argv[i]))
			file = argv[i];
	ms_error_clear(&err);
	rc = tr_isolate_run(file ? file : "the trace", call_sub, &c, &err);
	if (rc < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	return rc;
}

int cli_cmd_trace(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
		int isolate; /* reads an HDF5 trace someone else wrote */
	} sub[] = {{"info", cmd_info, 1},
		   {"validate", cmd_validate, 1},
		   {"stats", cmd_stats, 1},
		   {"synth", cmd_synth, 0},
		   {"import", cmd_import, 0}};
	if (argc < 1) {
		fputs(usage_trace, stderr);
		return CLI_EXIT_USAGE;
	}
	if (is_help(argv[0]) || strcmp(argv[0], "help") == 0) {
		fputs(usage_trace, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
		if (strcmp(argv[0], sub[i].name) == 0)
			return sub[i].isolate ? isolated(sub[i].fn, argc - 1, argv + 1) : sub[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "moesim: unknown trace command '%s'; commands: info, validate, stats, synth, import\n", argv[0]);
	return CLI_EXIT_USAGE;
}
