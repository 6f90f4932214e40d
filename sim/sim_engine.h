/*
 * sim_engine.h - the discrete-event engine: a clock, the pending-event queue and an
 * event pool, driving one model through a handler (ROSS's model-as-callbacks shape).
 *
 * Events come from an engine-owned pool that grows in slabs of 4096 and never moves,
 * so an event pointer stays valid until the event is freed; no allocation happens per event
 * once the pool has grown to the run's peak. Time is double seconds throughout moesim.
 *
 * Ownership: after the handler returns, the engine returns the event to the pool
 * unless the handler queued it again (sim_schedule on the same event). A model that
 * keeps a pointer to a queued event (to cancel or move it later) must forget it when
 * the event fires.
 *
 * Determinism: events fire in (time, seq) order; see sim_queue.h.
 */
#ifndef SIM_ENGINE_H
#define SIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "sim/sim_queue.h"

typedef struct sim_engine sim_engine;
typedef struct sim_event sim_event;

/* An event. The engine owns the storage; the payload fields are the model's. */
struct sim_event {
	double time;       /* when it fires (set when queued), seconds of simulated time */
	uint32_t id;       /* the engine's name for it; not for models */
	int32_t type;      /* model-defined kind */
	int32_t a, b;      /* model-defined payload (e.g. rank, layer) */
	int64_t c;         /* model-defined payload */
	double x;          /* model-defined payload */
	void *ptr;         /* model-defined payload */
	sim_event *next_free; /* pool link; not for models */
};

/* Handles one event. Returns MS_OK, or a negative code (with the engine's error set
 * through sim_engine_error) to stop the run. */
typedef int (*sim_handler_fn)(void *model, sim_engine *eng, sim_event *ev);

/* Creates an engine for a model; capacity_hint sizes the queue and the first pool slab. */
sim_engine *sim_engine_create(size_t capacity_hint, sim_handler_fn handler, void *model, ms_error *err);
void sim_engine_destroy(sim_engine *eng);

/* A zeroed event from the pool (NULL and the engine error set when memory runs out). */
sim_event *sim_event_new(sim_engine *eng);

/* Whether ev is queued. */
int sim_event_queued(const sim_engine *eng, const sim_event *ev);

/* Returns an unqueued event to the pool. */
void sim_event_free(sim_engine *eng, sim_event *ev);

/* Queues ev to fire at time (>= now). */
int sim_schedule(sim_engine *eng, sim_event *ev, double time);

/* Convenience: a new event of the given type and payload, queued at time. */
int sim_schedule_new(sim_engine *eng, double time, int32_t type, int32_t a, int32_t b, int64_t c);

/* Removes a queued event and returns it to the pool. */
void sim_cancel(sim_engine *eng, sim_event *ev);

/* Moves a queued event to a new time (>= now). */
void sim_reschedule(sim_engine *eng, sim_event *ev, double time);

/* Runs until the queue is empty or the next event is later than until. */
int sim_engine_run(sim_engine *eng, double until);

/* Calls fn(ctx) after every 2^every_log2 events (fn NULL: never), e.g. to report
 * progress; fn must not touch the queue. One predictable branch per event. */
void sim_engine_set_tick(sim_engine *eng, int every_log2, void (*fn)(void *ctx), void *ctx);

double sim_now(const sim_engine *eng);
uint64_t sim_engine_events(const sim_engine *eng);
size_t sim_engine_pending(const sim_engine *eng);

/* The engine's error record, for handlers to report through. */
ms_error *sim_engine_error(sim_engine *eng);

#endif
