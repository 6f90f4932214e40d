/*
 * ms_progress.h - a progress line on a terminal: "label: 12/40 (30 %), 1.2 min
 * elapsed, about 2.8 min left; detail", redrawn in place at most ten times a second.
 * It draws only when its stream is a terminal, so logs, pipes and tests see nothing;
 * ms_progress_end clears the line. (A minimal one for moesim sweep; the report branch
 * may bring a fuller one.)
 */
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct ms_progress {
	FILE *f;
	int on;          /* f is a terminal */
	int64_t total;
	int64_t first;   /* done at the first update (work resumed): the rate counts only what followed */
	double start_s, last_s;
	char label[64];
} ms_progress;

void ms_progress_init(ms_progress *p, FILE *f, const char *label, int64_t total);

/* done of total finished; detail (may be NULL) is shown after them. */
void ms_progress_update(ms_progress *p, int64_t done, const char *detail);

void ms_progress_end(ms_progress *p);

#endif
