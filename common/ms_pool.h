/*
 * ms_pool.h - a fixed set of worker threads that lives as long as its owner (a run),
 * not one job: ms_pool_run hands job i of n to thread i and waits for all of them, so a
 * run of many steps creates its threads once.
 *
 * A pool of one thread runs the job on the caller's thread (no thread is created).
 * If the system refuses a thread, the pool keeps the ones it got and runs the jobs of
 * the missing ones on the caller's thread: results never depend on how many threads
 * exist, only on the job index.
 */
#ifndef MS_POOL_H
#define MS_POOL_H

#include "common/ms_error.h"

typedef struct ms_pool ms_pool;

/* A pool for n jobs at a time (n >= 1). */
ms_pool *ms_pool_create(int n, ms_error *err);
void ms_pool_destroy(ms_pool *p);

/* Runs fn(arg, i) for i = 0 .. n - 1 (n = the pool's size), one per thread, and returns
 * when all have returned. */
void ms_pool_run(ms_pool *p, void (*fn)(void *arg, int i), void *arg);

/* Jobs per ms_pool_run. */
int ms_pool_size(const ms_pool *p);

#endif
