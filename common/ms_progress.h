/*
 * ms_progress.h - how far a long piece of work has come, and the line on a terminal
 * that shows it.
 *
 * Two halves, so that library code never prints (as with ms_warn):
 *  - ms_progress_hook: library code (the run's layers) calls ms_progress_report(h, done,
 *    total) now and then; a NULL hook, or one without a function, costs one test.
 *  - ms_progress, the line, owned by a command (moesim run, moesim sweep):
 *      "moesim run (layers): [#########...............] 37/64 (58 %), 2.31/s, 16 s
 *       elapsed, about 12 s left; detail"
 *    redrawn in place at most ten times a second, and only when its stream is a
 *    terminal (a NULL stream, which a command passes for -q, draws nothing). Logs,
 *    pipes and tests never see a carriage return. ms_progress_end clears the line.
 *
 * The rate counts only what was done after the first update (a resumed sweep starts
 * with points done), over the time since ms_progress_init; rate and time left are shown
 * once a second has passed and something was done, before that they are noise.
 * ms_progress_format is the pure part, tested alone.
 */
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ms_progress {
	FILE *f;
	int on;          /* f is a terminal */
	int drawn;       /* a line is on the screen */
	int64_t total;
	int64_t first;   /* done at the first update (work resumed): the rate counts only what followed */
	double start_s, last_s;
	char label[64];
} ms_progress;

/* A line on f (NULL: none) for total units of work. */
void ms_progress_init(ms_progress *p, FILE *f, const char *label, int64_t total);

/* done of total finished; detail (may be NULL) is shown after them. done == total is
 * always drawn, the rest at most ten times a second. */
void ms_progress_update(ms_progress *p, int64_t done, const char *detail);

/* Erases the line if one is drawn, so that a warning starts on a clean line; the next
 * update draws it again. */
void ms_progress_clear(ms_progress *p);

/* Erases the line and draws no more. */
void ms_progress_end(ms_progress *p);

/* The line's text (no carriage return, no newline) into buf of n bytes: label, a bar
 * `width` characters wide, done/total, percent, and with elapsed_s >= 1 and done > first
 * the rate and the time left; then "; detail". Returns the length (truncated to n - 1). */
int ms_progress_format(char *buf, size_t n, const char *label, int64_t done, int64_t total, int64_t first,
		       double elapsed_s, int width, const char *detail);

/* The library's half: where a long computation reports its position. */
typedef struct ms_progress_hook {
	void (*fn)(void *ctx, int64_t done, int64_t total);
	void *ctx;
} ms_progress_hook;

/* Hands the position to h's function (if any). */
void ms_progress_report(const ms_progress_hook *h, int64_t done, int64_t total);

/* A hook that updates line p (its total set from each report); p outlives the reports. */
ms_progress_hook ms_progress_hook_of(ms_progress *p);

#endif
