/*
 * sim_estimate.h - what a run will cost before it starts: the memory it allocates, the
 * events it plays, the routing draws it makes, a rough time, and the size of its HDF5
 * results file; and the check that refuses a run beyond the machine or the limits below
 * with a message that names the cost and the scenario keys that lower it.
 *
 * The memory estimate mirrors the allocations of sim_run.c, sim_plan.c, sim_flow.c and
 * the router's workspaces (routing/rt_router.c alloc_workspace) term by term; a change
 * to one of those sizes belongs here too (tests/check_sim.c compares the estimate with
 * the measured peak of real runs, within a factor of 2). What it leaves out is small
 * beside the terms it keeps: the topology graph, the trace's index (opened before the
 * run), the event pool (peak live events, a few per GPU).
 *
 * The library reads no environment: the caller passes the memory available and the free
 * space of the output's file system (the command line reads them, cli/cli.c).
 */
#ifndef SIM_ESTIMATE_H
#define SIM_ESTIMATE_H

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

/*
 * Limits independent of the scenario and of the machine. A run needing more is refused
 * (the command line's --force-large runs it anyway).
 *   SIM_LIMIT_EVENTS   engine events: 1e10 is hours at the engine's measured rates
 *                      (about 1e7 events/s analytic, 4e5 with the flow network).
 *   SIM_LIMIT_TIME_S   the rough time below, on one thread: 2 hours.
 */
#define SIM_LIMIT_EVENTS 1e10
#define SIM_LIMIT_TIME_S (2.0 * 3600.0)

/*
 * Rates behind the rough time, measured on the default scenario (one thread of a 2.4 GHz
 * x86-64 core, 2025): token-expert pairs routed per second (synthetic routing; replaying
 * a trace is about 3x faster), engine events per second without and with flows.
 */
#define SIM_RATE_PAIRS_PER_S 2e7
#define SIM_RATE_EVENTS_PER_S 1e7
#define SIM_RATE_FLOW_EVENTS_PER_S 4e5

typedef struct sim_estimate {
	double mem_bytes;       /* the sum of the parts below */
	double router_bytes;    /* routing workspaces, one per worker thread, and the shared tables */
	double plan_bytes;      /* the step plan: per (layer, GPU) times, per (layer, group) statistics */
	double flow_bytes;      /* flow model: the [L][G][P][P] pair counts, collectives, live flows */
	double result_bytes;    /* the results: per (pass, layer, GPU, phase) times, per step counters */
	int workers;            /* threads that route (each holds a workspace) */
	double events;          /* engine events of the whole run */
	double flow_events;     /* of which the network's (flow model) */
	double pairs;           /* token-expert pairs routed over the whole run */
	double time_s;          /* rough, on one thread, from the rates above */
	double h5_bytes;        /* the HDF5 results file (-o), uncompressed */
	double timeline_events; /* records of the timeline, when one is recorded (sim_estimate_record) */
} sim_estimate;

/*
 * Estimates a run of the validated scenario s with `threads` routing threads (0: the
 * online CPUs, as sim_run resolves it) replaying a trace of ranking depth trace_depth (0
 * when the routing is synthetic). O(1).
 */
void sim_estimate_run(const scn_scenario *s, int trace_depth, int threads, sim_estimate *e);

/*
 * Adds what recording rec costs (sim/sim_timeline.h: per-step layer phases, traffic
 * matrices, links over time, the timeline of timeline_gpus GPUs, 0: all) to an estimate
 * of sim_estimate_run, and sets timeline_events. rec NULL: nothing. O(1).
 */
struct sim_record;
void sim_estimate_record(const scn_scenario *s, const struct sim_record *rec, int timeline_gpus, sim_estimate *e);

/*
 * A timeline of more records than these is refused before the run (--force-large runs it
 * anyway): the JSON (about 190 bytes a record) beyond what ui.perfetto.dev loads in a
 * browser tab comfortably (its JSON importer holds the whole file; a few hundred MB),
 * and the HDF5 /timeline (48 bytes a record in memory during the run) beyond 2 GB.
 */
#define SIM_LIMIT_TIMELINE_JSON_EVENTS 2e6
#define SIM_LIMIT_TIMELINE_H5_EVENTS 4e7

/* The routing threads sim_run uses for `threads` (0: the online CPUs) and `groups` EP groups. */
int sim_estimate_workers(int threads, int groups);

/*
 * Refuses what the run cannot finish: memory above mem_avail_bytes (< 0: not checked),
 * events above SIM_LIMIT_EVENTS or a rough time above SIM_LIMIT_TIME_S, and, when
 * disk_free_bytes >= 0, an HDF5 results file (out_path, for the message) larger than that. Returns MS_OK, or
 * MS_ERANGE with a message that gives the estimate, what is available, and the scenario
 * keys that lower it, e.g. "the run needs about 41.2 GB (routing workspaces 38.4 GB on 1
 * thread, ...) but 22.1 GB are available: lower workload.tokens_per_rank". The message
 * names no command-line option (the caller adds how to run anyway).
 */
int sim_estimate_check(const scn_scenario *s, const sim_estimate *e, double mem_avail_bytes, double disk_free_bytes,
		       const char *out_path, ms_error *err);

/*
 * Whether s fits before anything runs: its Megatron-Core layout obeys the rules
 * (sim_layout_init) and its memory per GPU fits (models/moe_memory.h). Returns 1 when
 * it fits; 0 when the memory does not, with moe_memory_advice's breakdown and what would
 * make it fit in advice; < 0 (err set) when the layout or the estimate refuses. An
 * unknown GPU returns 1 with *peak_bytes = *capacity_bytes = -1: the run reports it
 * with the key's place. peak_bytes and capacity_bytes may be NULL.
 */
int sim_estimate_fits(const scn_scenario *s, double *peak_bytes, double *capacity_bytes, char *advice, size_t len,
		      ms_error *err);

/* Bytes as "41.2 GB" (decimal units: B, kB, MB, GB, TB, PB) into buf. */
const char *sim_estimate_bytes(double bytes, char *buf, size_t len);

/* A duration as "14 s", "3.2 min", "5.1 h" or "12 days" into buf. */
const char *sim_estimate_duration(double s, char *buf, size_t len);

#endif
