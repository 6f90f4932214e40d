/*
 * sim_timeline.h - what a run records beyond its summary, on request (sim_record), and
 * the event timeline: every interval of every GPU's streams (compute, the
 * communication stream of schedule.overlap, the data-parallel stream, pipeline sends)
 * as a flat array of records, for the HDF5 file's /timeline and the Perfetto JSON
 * (output/out_timeline.h; docs/output-format.md).
 *
 * The run fills the timeline from the points where it accounts time (sim_run.c's
 * account(), the streams' starts and ends, a send's start and landing), so the compute
 * stream's records are exactly the accounting: contiguous from the run's start, one per
 * accounted interval, their lengths per phase adding up to the phases. A run without a
 * record (sim_inputs.record NULL) pays one pointer test per accounted interval.
 *
 * Memory: one 48-byte record per interval of the GPUs recorded (grown geometrically),
 * plus a cursor per GPU and a pending-send slot per pipeline mailbox.
 */
#ifndef SIM_TIMELINE_H
#define SIM_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"

/* Streams of a GPU, the tracks of the timeline. */
enum { SIM_TL_COMPUTE, SIM_TL_COMM, SIM_TL_DP, SIM_TL_PIPE, SIM_TL_NSTREAMS };

/* Kinds: the phases (sim_phase, 0 .. SIM_NPHASES - 1), then a pipeline send. */
enum { SIM_TL_KIND_SEND = 11, SIM_TL_NKINDS = 12 };

/* One interval of one GPU's stream. */
typedef struct sim_tl_event {
	double start_s, end_s; /* from the run's start */
	double bytes;          /* sent by this GPU in it (all-to-all row, bucket, send); 0 for compute */
	int32_t gpu;
	int32_t layer;         /* transformer layer (as /phases), -1 for none */
	int32_t mb;            /* micro-batch, -1 for none */
	int32_t peer;          /* a send's receiver, -1 otherwise */
	int8_t stream;         /* SIM_TL_* */
	int8_t kind;           /* phase, or SIM_TL_KIND_SEND */
	int8_t op;             /* index into sim_tl_op_name */
	int8_t pass;           /* 0 forward, 1 backward, -1 none */
	uint32_t seq;          /* order recorded: the sort's last key (not written out) */
} sim_tl_event;

typedef struct sim_timeline sim_timeline;

/* What a run records on request. Zeroed: nothing beyond the summary. */
typedef struct sim_record {
	int layer_steps;        /* per-step layer phases (/steps/layer_phase_time_s) */
	int links;              /* flow model: every link's bytes over time (/links) */
	int traffic;            /* per MoE layer, the GPU-to-GPU byte matrices (/traffic) */
	sim_timeline *timeline; /* the event timeline, or NULL */
} sim_record;

/* A timeline of GPUs gpu_lo .. gpu_hi (gpu_hi < 0: every GPU). */
sim_timeline *sim_timeline_create(int gpu_lo, int gpu_hi, ms_error *err);
void sim_timeline_destroy(sim_timeline *t);

/* After the run: the records, ordered by (gpu, stream, start, end). */
size_t sim_timeline_count(const sim_timeline *t);
const sim_tl_event *sim_timeline_events(const sim_timeline *t);
/* The GPUs recorded: lo .. hi inclusive (hi clamped to the run's GPUs after the run). */
void sim_timeline_gpus(const sim_timeline *t, int *lo, int *hi);

const char *sim_tl_stream_name(int stream);
const char *sim_tl_kind_name(int kind);
const char *sim_tl_op_name(int op);
int sim_tl_nops(void);

/* For the run (sim_run.c): sized for world GPUs and `mailboxes` pipeline mailboxes per
 * GPU; the records so far are dropped. */
int sim_timeline_begin(sim_timeline *t, int world, int mailboxes, ms_error *err);
/* Every GPU's compute stream starts a step at t0_s. */
void sim_timeline_step(sim_timeline *t, double t0_s);
/* A compute-stream interval of d seconds from the GPU's cursor. */
void sim_timeline_compute(sim_timeline *t, int gpu, int pass, int layer, int mb, int kind, int op, double d,
			  double bytes);
/* An interval of another stream. */
void sim_timeline_add(sim_timeline *t, const sim_tl_event *e);
/* A pipeline send from src starts now; it lands in dst's mailbox key (sim_timeline_landed). */
void sim_timeline_send(sim_timeline *t, int src, int dst, int key, int pass, int mb, double now_s, double bytes);
void sim_timeline_landed(sim_timeline *t, int dst, int key, double now_s);
/* Sorts the records; MS_OK, or the first allocation failure while recording. */
int sim_timeline_end(sim_timeline *t, ms_error *err);

#endif
