/*
 * sim_engine.c - clock, queue and pooled events (see sim_engine.h).
 *
 * Invariants: now never decreases; every event is either in the queue, in the free
 * list, or held by the handler that is running; slabs are freed only at destroy.
 */
#include "sim/sim_engine.h"

#include <stdlib.h>
#include <string.h>

typedef struct slab {
	struct slab *next;
	size_t n;
	sim_event events[];
} slab;

struct sim_engine {
	sim_queue queue;
	double now;
	uint64_t processed;
	sim_handler_fn handler;
	void *model;
	slab *slabs;
	sim_event *free_list;
	size_t slab_size;
	ms_error err;
};

static int grow_pool(sim_engine *eng)
{
	size_t n = eng->slab_size;
	slab *s = malloc(sizeof *s + n * sizeof(sim_event));
	if (!s)
		return MS_ERROR(&eng->err, MS_ENOMEM, "out of memory growing the event pool by %zu events", n);
	s->next = eng->slabs;
	s->n = n;
	eng->slabs = s;
	for (size_t i = n; i-- > 0;) {
		s->events[i].next_free = eng->free_list;
		eng->free_list = &s->events[i];
	}
	/* Later slabs double, so the number of slabs stays logarithmic in the peak. */
	eng->slab_size *= 2;
	return MS_OK;
}

sim_engine *sim_engine_create(size_t capacity_hint, sim_handler_fn handler, void *model, ms_error *err)
{
	sim_engine *eng = ms_calloc(err, 1, sizeof *eng, "event engine");
	if (!eng)
		return NULL;
	if (capacity_hint < 64)
		capacity_hint = 64;
	ms_error_clear(&eng->err);
	eng->handler = handler;
	eng->model = model;
	eng->slab_size = capacity_hint;
	if (sim_queue_init(&eng->queue, capacity_hint, err) < 0) {
		free(eng);
		return NULL;
	}
	if (grow_pool(eng) < 0) {
		MS_ERROR(err, eng->err.code, "%s", eng->err.msg);
		sim_queue_fini(&eng->queue);
		free(eng);
		return NULL;
	}
	return eng;
}

void sim_engine_destroy(sim_engine *eng)
{
	if (!eng)
		return;
	while (eng->slabs) {
		slab *next = eng->slabs->next;
		free(eng->slabs);
		eng->slabs = next;
	}
	sim_queue_fini(&eng->queue);
	free(eng);
}

sim_event *sim_event_new(sim_engine *eng)
{
	sim_event *ev;
	if (!eng->free_list && grow_pool(eng) < 0)
		return NULL;
	ev = eng->free_list;
	eng->free_list = ev->next_free;
	memset(ev, 0, sizeof *ev);
	ev->heap_pos = SIM_NOT_QUEUED;
	return ev;
}

void sim_event_free(sim_engine *eng, sim_event *ev)
{
	MS_ASSERT(ev->heap_pos == SIM_NOT_QUEUED, "freeing a queued event (type %d)", (int)ev->type);
	ev->next_free = eng->free_list;
	eng->free_list = ev;
}

int sim_schedule(sim_engine *eng, sim_event *ev, double time)
{
	MS_ASSERT(time >= eng->now, "scheduling into the past: %.17g < now %.17g (type %d)", time, eng->now,
		  (int)ev->type);
	return sim_queue_push(&eng->queue, ev, time, &eng->err);
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
	sim_queue_remove(&eng->queue, ev);
	sim_event_free(eng, ev);
}

void sim_reschedule(sim_engine *eng, sim_event *ev, double time)
{
	MS_ASSERT(time >= eng->now, "rescheduling into the past: %.17g < now %.17g", time, eng->now);
	sim_queue_update(&eng->queue, ev, time);
}

int sim_engine_run(sim_engine *eng, double until)
{
	sim_event *ev;
	while ((ev = sim_queue_peek(&eng->queue)) != NULL && ev->time <= until) {
		int rc;
		sim_queue_pop(&eng->queue);
		eng->now = ev->time;
		eng->processed++;
		rc = eng->handler(eng->model, eng, ev);
		if (ev->heap_pos == SIM_NOT_QUEUED)
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
