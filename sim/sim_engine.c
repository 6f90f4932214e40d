/*
 * sim_engine.c - clock, queue and pooled events (see sim_engine.h).
 *
 * Invariants: now never decreases; every event is either in the queue, in the free
 * list, or held by the handler that is running; slabs are freed only at destroy;
 * event id = slab index * SLAB + index in slab.
 */
#include "sim/sim_engine.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_BITS 12
#define SLAB (1u << SLAB_BITS)


struct sim_engine {
	sim_queue queue;
	double now;
	uint64_t processed;
	sim_handler_fn handler;
	void *model;
	sim_event **slabs;
	size_t n_slabs, slabs_cap;
	sim_event *free_list;
	ms_error err;
};

static inline sim_event *event_at(const sim_engine *eng, uint32_t id)
{
	return &eng->slabs[id >> SLAB_BITS][id & (SLAB - 1)];
}

static int grow_pool(sim_engine *eng)
{
	sim_event *s;
	if ((eng->n_slabs + 1) * SLAB > (size_t)SIM_MAX_ID + 1)
		return MS_ERROR(&eng->err, MS_ENOMEM, "more than %u events allocated at once", SIM_MAX_ID);
	if (eng->n_slabs == eng->slabs_cap) {
		size_t cap = eng->slabs_cap ? eng->slabs_cap * 2 : 16;
		sim_event **t = realloc(eng->slabs, cap * sizeof *t);
		if (!t)
			return MS_ERROR(&eng->err, MS_ENOMEM, "out of memory growing the event pool");
		eng->slabs = t;
		eng->slabs_cap = cap;
	}
	s = calloc(SLAB, sizeof *s);
	if (!s)
		return MS_ERROR(&eng->err, MS_ENOMEM, "out of memory growing the event pool by %u events", SLAB);
	for (uint32_t i = SLAB; i-- > 0;) {
		s[i].id = (uint32_t)(eng->n_slabs * SLAB + i);
		s[i].next_free = eng->free_list;
		eng->free_list = &s[i];
	}
	eng->slabs[eng->n_slabs++] = s;
	return MS_OK;
}

/* The queue is about to move these entries into its bottom: their events fire within
 * the next few dozen pops, so their storage is fetched now, well before the handler
 * needs it (one event's fetch per pop is too late: it waits on memory). */
static void prefetch_events(void *ctx, const sim_queue_entry *e, uint32_t n)
{
	const sim_engine *eng = ctx;
	for (uint32_t j = 0; j < n; j++)
		__builtin_prefetch(event_at(eng, (uint32_t)((uint64_t)e[j] & SIM_MAX_ID)), 1);
}

sim_engine *sim_engine_create(size_t capacity_hint, sim_handler_fn handler, void *model, ms_error *err)
{
	sim_engine *eng = ms_calloc(err, 1, sizeof *eng, "event engine");
	if (!eng)
		return NULL;
	ms_error_clear(&eng->err);
	eng->handler = handler;
	eng->model = model;
	if (sim_queue_init(&eng->queue, capacity_hint, err) < 0) {
		free(eng);
		return NULL;
	}
	eng->queue.ahead = prefetch_events;
	eng->queue.ahead_ctx = eng;
	while (eng->n_slabs * SLAB < capacity_hint || eng->n_slabs == 0) {
		if (grow_pool(eng) < 0) {
			MS_ERROR(err, eng->err.code, "%s", eng->err.msg);
			sim_engine_destroy(eng);
			return NULL;
		}
	}
	return eng;
}

void sim_engine_destroy(sim_engine *eng)
{
	if (!eng)
		return;
	for (size_t i = 0; i < eng->n_slabs; i++)
		free(eng->slabs[i]);
	free(eng->slabs);
	sim_queue_fini(&eng->queue);
	free(eng);
}

sim_event *sim_event_new(sim_engine *eng)
{
	sim_event *ev;
	uint32_t id;
	if (!eng->free_list && grow_pool(eng) < 0)
		return NULL;
	ev = eng->free_list;
	eng->free_list = ev->next_free;
	id = ev->id;
	memset(ev, 0, sizeof *ev);
	ev->id = id;
	return ev;
}

int sim_event_queued(const sim_engine *eng, const sim_event *ev)
{
	return sim_queue_contains(&eng->queue, ev->id);
}

void sim_event_free(sim_engine *eng, sim_event *ev)
{
	MS_ASSERT(!sim_queue_contains(&eng->queue, ev->id), "freeing queued event %u (type %d)", ev->id, (int)ev->type);
	ev->next_free = eng->free_list;
	eng->free_list = ev;
}

int sim_schedule(sim_engine *eng, sim_event *ev, double time)
{
	MS_ASSERT(time >= eng->now, "scheduling into the past: %.17g < now %.17g (type %d)", time, eng->now,
		  (int)ev->type);
	ev->time = time;
	return sim_queue_push(&eng->queue, ev->id, time, &eng->err);
}

int sim_schedule_new(sim_engine *eng, double time, int32_t type, int32_t a, int32_t b, int64_t c)
{
	sim_event *ev = sim_event_new(eng);
	if (!ev)
		return eng->err.code;
	ev->type = type;
	ev->a = a;
	ev->b = b;
	ev->c = c;
	if (sim_schedule(eng, ev, time) < 0) {
		sim_event_free(eng, ev);
		return eng->err.code;
	}
	return MS_OK;
}

void sim_cancel(sim_engine *eng, sim_event *ev)
{
	sim_queue_remove(&eng->queue, ev->id);
	sim_event_free(eng, ev);
}

void sim_reschedule(sim_engine *eng, sim_event *ev, double time)
{
	MS_ASSERT(time >= eng->now, "rescheduling into the past: %.17g < now %.17g", time, eng->now);
	ev->time = time;
	sim_queue_update(&eng->queue, ev->id, time);
}

int sim_engine_run(sim_engine *eng, double until)
{
	double t;
	uint32_t id;
	while ((id = sim_queue_peek(&eng->queue, &t)) != SIM_NOT_QUEUED && t <= until) {
		sim_event *ev = event_at(eng, id);
		uint32_t next;
		double tn;
		int rc;
		sim_queue_pop(&eng->queue, &t);
		/* Fetch the next event's storage while this one is handled. */
		next = sim_queue_peek(&eng->queue, &tn);
		if (next != SIM_NOT_QUEUED)
			__builtin_prefetch(event_at(eng, next));
		eng->now = t;
		eng->processed++;
		rc = eng->handler(eng->model, eng, ev);
		if (!sim_queue_contains(&eng->queue, id))
			sim_event_free(eng, ev);
		if (rc < 0) {
			if (eng->err.code == MS_OK)
				MS_ERROR(&eng->err, rc, "event handler failed (%s)", ms_strerror(rc));
			return rc;
		}
	}
	return MS_OK;
}

double sim_now(const sim_engine *eng)
{
	return eng->now;
}

uint64_t sim_engine_events(const sim_engine *eng)
{
	return eng->processed;
}

size_t sim_engine_pending(const sim_engine *eng)
{
	return sim_queue_size(&eng->queue);
}

ms_error *sim_engine_error(sim_engine *eng)
{
	return &eng->err;
}
