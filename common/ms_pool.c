/*
 * ms_pool.c - the run's worker threads (see ms_pool.h). One mutex and two condition
 * variables: `go` wakes the workers for a new generation, `done` tells the caller the
 * last of them finished. Worker i runs job i of every generation.
 */
#include "common/ms_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct ms_pool {
	int n;              /* jobs per run; job 0 runs on the caller's thread */
	int started;        /* worker threads created (jobs 1 .. started) */
	pthread_t *threads;
	struct seat *seats;  /* [n]: what worker i needs to find its job */
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	unsigned long generation;
	int pending;        /* workers still running the current generation */
	int quit;
	void (*fn)(void *arg, int i);
	void *arg;
};

typedef struct seat {
	ms_pool *p;
	int i;
} seat;

static void *worker(void *v)
{
	seat *st = v;
	ms_pool *p = st->p;
	unsigned long seen = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->generation == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->lock);
		if (p->quit)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->lock);
		p->fn(p->arg, st->i);
		pthread_mutex_lock(&p->lock);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

ms_pool *ms_pool_create(int n, ms_error *err)
{
	ms_pool *p;
	MS_ASSERT(n >= 1, "a pool of %d threads", n);
	p = ms_calloc(err, 1, sizeof *p, "thread pool");
	if (!p)
		return NULL;
	p->n = n;
	p->threads = ms_calloc(err, (size_t)n, sizeof *p->threads, "thread pool");
	p->seats = ms_calloc(err, (size_t)n, sizeof *p->seats, "thread pool");
	if (!p->threads || !p->seats || pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p->threads);
		free(p->seats);
		free(p);
		if (err && !err->code)
			MS_ERROR(err, MS_ENOMEM, "cannot create the thread pool's lock");
		return NULL;
	}
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 1; i < n; i++) {
		seat *st = &p->seats[i];
		st->p = p;
		st->i = i;
		if (pthread_create(&p->threads[i], NULL, worker, st) != 0)
			break;
		p->started = i;
	}
	return p;
}

void ms_pool_destroy(ms_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
	for (int i = 1; i <= p->started; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p->seats);
	free(p);
}

void ms_pool_run(ms_pool *p, void (*fn)(void *arg, int i), void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->fn = fn;
	p->arg = arg;
	p->pending = p->started;
	p->generation++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
	fn(arg, 0);
	/* Jobs whose thread could not be created run here. */
	for (int i = p->started + 1; i < p->n; i++)
		fn(arg, i);
	pthread_mutex_lock(&p->lock);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

int ms_pool_size(const ms_pool *p)
{
	return p->n;
}
