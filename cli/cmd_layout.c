/*
 * cmd_layout.c - `moesim layout`: the scenario's Megatron-Core parallel layout
 * (parallel/par_layout.h, docs/parallel.md): which GPUs form each TP, CP, DP, PP, EP,
 * ETP, EDP, ... group and the nodes they occupy. --group KIND prints one kind; --rank R
 * one GPU's node, pipeline stage and, per kind, its group, its position in it and the
 * members. A layout Megatron-Core refuses is refused with the rule's message (exit 1,
 * as `moesim run`); an unknown kind or a rank that is not a number is bad usage (exit 2);
 * a rank outside the cluster is bad input (exit 1, as `moesim collective --ranks`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "parallel/par_layout.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"

static const char usage_layout[] =
	"usage: moesim layout [SCENARIO] [--set section.key=value]... [--group KIND] [--rank R]\n"
	"\n"
	"Prints the Megatron-Core parallel layout of SCENARIO (without one, the built-in default):\n"
	"which GPUs form each group of every kind and the nodes they occupy (docs/parallel.md).\n"
	"A layout Megatron-Core would refuse is refused with the rule it breaks.\n"
	"\n"
	"  --set K=V     override one scenario value, e.g. --set parallel.pp=2 (repeatable)\n"
	"  --group KIND  only the groups of KIND: tp, cp, dp, pp, dp-cp, tp-cp, tp-dp-cp, mp, ep,\n"
	"                etp, edp, tp-ep, tp-ep-pp\n"
	"  --rank R      GPU R only: its node, its pipeline stage and, for every kind (or KIND),\n"
	"                its group, its position in it and the members\n";

/* "tp, cp, ..., tp-ep-pp" into buf. */
static void kind_names(char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int k = 0; k < PAR_NKINDS && n < len; k++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? ", " : "", par_kind_name((par_kind)k));
}

static void print_rank(const par_layout *l, int rank, int kind, int gpn, int nodes)
{
	printf("rank %d: node %d of %d (%d GPUs per node), pipeline stage %d of %d\n", rank, rank / gpn, nodes, gpn,
	       par_stage_of(l, rank), l->shape.pp);
	for (int k = 0; k < PAR_NKINDS; k++) {
		int g;
		if (kind >= 0 && k != kind)
			continue;
		g = par_group_of(l, (par_kind)k, rank);
		printf("  %-9s group %d of %d, position %d of %d: ", par_kind_name((par_kind)k), g,
		       par_ngroups(l, (par_kind)k), par_coord(l, (par_kind)k, rank), par_group_size(l, (par_kind)k));
		par_group_print(stdout, l, (par_kind)k, g, &gpn);
		putchar('\n');
	}
}

int cli_cmd_layout(int argc, char **argv)
{
	cli_args a;
	scn_scenario *s = NULL;
	par_layout lay;
	ms_error err;
	const char *group = NULL, *rank_arg = NULL;
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0, kind = -1, gpn, world, rc = 0;
	long rank = -1;
	char names[256];
	memset(&lay, 0, sizeof lay);
	if (!rest) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	/* Our options out; the scenario and --set to the common parser. */
	for (int i = 0; i < argc; i++) {
		char *o = argv[i];
		if (strcmp(o, "--group") == 0 || strcmp(o, "--rank") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a value\n%s", o, usage_layout);
				rc = CLI_EXIT_USAGE;
				goto done;
			}
			if (strcmp(o, "--group") == 0)
				group = argv[++i];
			else
				rank_arg = argv[++i];
		} else if (strncmp(o, "--group=", 8) == 0) {
			group = o + 8;
		} else if (strncmp(o, "--rank=", 7) == 0) {
			rank_arg = o + 7;
		} else {
			rest[nrest++] = o;
		}
	}
	if ((rc = cli_parse_args(nrest, rest, &a, 0, usage_layout)) != 0)
		goto done;
	if (a.help) {
		fputs(usage_layout, stdout);
		goto done;
	}
	kind_names(names, sizeof names);
	if (group && (kind = par_kind_parse(group)) < 0) {
		fprintf(stderr, "moesim: --group %s: not a group kind; use one of %s\n", group, names);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	if (rank_arg) {
		char *end;
		rank = strtol(rank_arg, &end, 10);
		if (*rank_arg == '\0' || *end != '\0' || rank < 0 || rank > 1L << 30) {
			fprintf(stderr, "moesim: --rank %s: expected a GPU number (0 or more)\n", rank_arg);
			rc = CLI_EXIT_USAGE;
			goto done;
		}
	}
	s = malloc(sizeof *s);
	if (!s) {
		fprintf(stderr, "moesim: out of memory\n");
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	ms_error_clear(&err);
	if (scn_scenario_load(s, a.scenario, &a.ov, &err) < 0 || sim_layout_init(&lay, s, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	world = lay.shape.world;
	gpn = s->cluster.gpus_per_node;
	if (rank >= world) {
		fprintf(stderr, "moesim: --rank %ld: the cluster of %s has %d GPU%s; give 0 .. %d\n", rank, s->source, world,
			world == 1 ? "" : "s", world - 1);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	printf("moesim layout: %s (%d nodes x %d GPUs)\n", s->source, s->cluster.nodes, gpn);
	if (rank >= 0)
		print_rank(&lay, (int)rank, kind, gpn, s->cluster.nodes);
	else if (kind >= 0)
		par_layout_print_kind(stdout, &lay, (par_kind)kind, &gpn);
	else
		par_layout_print(stdout, &lay, &gpn);
done:
	par_layout_fini(&lay);
	free(s);
	free(rest);
	return rc;
}
