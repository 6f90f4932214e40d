/*
 * sim_progress.c - how far a run has come, in layers, for the caller's progress hook
 * (sim_inputs.progress, common/ms_progress.h).
 *
 * A step's position is the mean over GPUs of how far each has gone through its
 * stage's program (pc / ops), counted in transformer layers (MTP modules included):
 * every GPU walks each of its layers once per micro-batch and pass, so the fraction of
 * its ops done is the fraction of the step's layers it has played. Computing it costs
 * O(GPUs), so the engine calls it every 2^16 events (sim_engine_set_tick), not per
 * event; the run's results do not depend on it.
 */
#include "sim/sim_internal.h"

#define TICK_LOG2 16

static void report(runner *R, double frac)
{
	long long per_step = R->layers + R->mtp, steps = R->s->workload.steps;
	long long done = (long long)R->step * per_step + (long long)(frac * (double)per_step);
	ms_progress_report(R->in->progress, done, steps * per_step);
}

static void tick(void *ctx)
{
	runner *R = ctx;
	double sum = 0;
	for (int r = 0; r < R->world; r++) {
		const sim_prog *p = sim_prog_of(R, r);
		int pc = R->gpus[r].pc < 0 ? 0 : R->gpus[r].pc;
		sum += p->n_ops > 0 ? (double)(pc < p->n_ops ? pc : p->n_ops) / p->n_ops : 1.0;
	}
	report(R, sum / R->world);
}

void sim_progress_start(runner *R)
{
	if (!R->in->progress)
		return;
	sim_engine_set_tick(R->eng, TICK_LOG2, tick, R);
	report(R, 0);
}

void sim_progress_step_done(runner *R)
{
	if (R->in->progress)
		report(R, 1.0);
}
