/*
 * ms_progress.h - how far a long piece of work has come, and the terminal bar that
 * shows it.
 *
 * Two halves, so that library code never prints (as with ms_warn):
 *  - ms_progress, the hook: library code (the engine's steps and layers, a sweep's
 *    points) calls ms_progress_report(p, unit, done, total) now and then; a NULL hook,
 *    or one without a function, costs one test.
 *  - ms_progress_bar, the terminal's half, owned by a command: it draws
 *    "  layer  37/64 [#########.......]  58 %  2.31 layer/s  ETA 12 s" on one line of a
 *    stream, redrawn in place at most ten times a second, and only when the stream is
 *    a terminal and the command was not told to be quiet (-q). Nothing at all is
 *    written otherwise, so a pipe or a file never sees a carriage return.
 *
 * The rate is done / elapsed time since the bar's first report, the ETA (total -
 * done) / rate: both are shown once a second has passed and something is done (before
 * that they would only be noise). ms_progress_format is the pure part, tested alone.
 */
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stdio.h>

typedef struct ms_progress {
	/* unit: what is counted, singular ("step", "layer", "point"); done <= total */
	void (*fn)(void *ctx, const char *unit, long long done, long long total);
	void *ctx;
} ms_progress;

/* Hands the position to p's function (if any). */
void ms_progress_report(const ms_progress *p, const char *unit, long long done, long long total);

/* One bar line (no newline, no carriage return) into buf of n bytes: unit, done/total,
 * a bar `width` characters wide, percent, and with elapsed_s >= 1 and done > 0 the rate
 * and the ETA. Returns the length written (truncated to n - 1). */
int ms_progress_format(char *buf, size_t n, const char *unit, long long done, long long total, double elapsed_s,
		       int width);

typedef struct ms_progress_bar {
	FILE *f;
	int on;          /* drawing at all: f is a terminal and not quiet */
	int drawn;       /* a line is on the screen (to be erased before other output) */
	double t0;       /* monotonic seconds of the first report, < 0 before it */
	double last;     /* when the line was last drawn */
	char unit[32];   /* the unit of the last report: a new unit restarts the clock */
} ms_progress_bar;

/* A bar on f: on only when f is a terminal (isatty) and !quiet. */
void ms_progress_bar_init(ms_progress_bar *b, FILE *f, int quiet);

/* The hook that draws on b (b must outlive every report). */
ms_progress ms_progress_bar_hook(ms_progress_bar *b);

/* Draws the position (throttled to ten a second; done == total is always drawn). */
void ms_progress_bar_update(ms_progress_bar *b, const char *unit, long long done, long long total);

/* Erases the line if one is drawn, so a warning or the summary starts on a clean line;
 * the next update draws it again. */
void ms_progress_bar_clear(ms_progress_bar *b);

#endif
