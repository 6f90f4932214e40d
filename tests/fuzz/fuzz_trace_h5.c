/*
 * fuzz_trace_h5.c - an HDF5 router trace, as the commands read it: the isolated first
 * read (tr_probe, as `moesim run` does), `trace validate`, `trace stats` (every table),
 * and the replay: a tiny scenario (2 MoE layers, 16 tokens per GPU, 1 step) whose
 * routing.trace is the input, run through the simulator. HDF5 needs a file: the input is
 * written to a scratch file first. Seeds: the small traces of tests/data/traces/.
 *
 * A file that crashes libhdf5 itself (trace/tr_isolate.h) is refused by tr_probe in its
 * child and goes no further, as in the commands: what this harness looks for is moesim's
 * own code going wrong on what HDF5 hands it.
 */
#include "fuzz_util.h"

#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "trace/tr_isolate.h"
#include "trace/tr_reader.h"
#include "trace/tr_stats.h"
#include "trace/tr_validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void ignore(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static void replay(const char *path, const tr_info *in)
{
	char text[1024 + 2 * SCN_PATH_MAX];
	int gpus = in->num_experts % 2 == 0 ? 2 : 1, top_k = in->depth < 2 ? in->depth : 2;
	scn_scenario *s = malloc(sizeof *s);
	sim_result *r = NULL;
	ms_error err;
	if (!s)
		abort();
	snprintf(text, sizeof text,
		 "model = { hidden = 64; ffn_hidden = 128; experts = %d; top_k = %d; moe_layers = 2; heads = 4; };\n"
		 "cluster = { nodes = 1; gpus_per_node = %d; };\nparallel = { ep = %d; };\n"
		 "workload = { tokens_per_rank = 16; seq_len = 16; steps = 1; };\n"
		 "routing = { source = \"trace\"; trace = \"%s\"; drop_policy = \"probs\"; };\n",
		 in->num_experts, top_k, gpus, gpus, path);
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, "fuzz-replay.cfg", NULL, &err) == MS_OK &&
	    sim_run_scenario(s, 1, &r, &err) == MS_OK)
		sim_result_free(r);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	ms_error err;
	tr_reader *r;
	fuzz_write_file("trace.h5", data, size, path, sizeof path);
	ms_error_clear(&err);
	if (tr_probe(path, &err) < 0)
		return 0;
	tr_validate(path, ignore, NULL, 20, &err);
	ms_error_clear(&err);
	if ((r = tr_open(path, &err)) != NULL) {
		const tr_info *in = tr_get_info(r);
		tr_stats *st = NULL;
		if (tr_stats_compute(r, tr_stats_default_top_k(in), &st, &err) == MS_OK) {
			FILE *f = fopen("/dev/null", "w");
			if (f) {
				tr_stats_print(f, st, in, TR_STATS_PER_EXPERT | TR_STATS_PER_DOMAIN, &err);
				tr_stats_print(f, st, in, TR_STATS_CSV, &err);
				fclose(f);
			}
			tr_stats_free(st);
		}
		if (in->num_experts <= 256)
			replay(path, in);
		tr_close(r);
	}
	return 0;
}
