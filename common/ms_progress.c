/*
 * ms_progress.c - the progress hook and the terminal bar (see ms_progress.h).
 *
 * The bar writes "\r<line>\033[K" (carriage return, the line, erase to its end) so a
 * shorter line leaves no tail of the longer one, and erases itself with "\r\033[K".
 * The clock is CLOCK_MONOTONIC: a wall-clock jump must not make the ETA negative.
 */
#include "common/ms_progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

void ms_progress_report(const ms_progress *p, const char *unit, long long done, long long total)
{
	if (p && p->fn)
		p->fn(p->ctx, unit, done, total);
}

/* "12 s", "3 min 05 s", "2 h 07 min": short enough for one line, exact enough to plan by. */
static int fmt_duration(char *buf, size_t n, double s)
{
	long long t = (long long)(s + 0.5);
	if (t < 60)
		return snprintf(buf, n, "%lld s", t);
	if (t < 3600)
		return snprintf(buf, n, "%lld min %02lld s", t / 60, t % 60);
	return snprintf(buf, n, "%lld h %02lld min", t / 3600, t / 60 % 60);
}

int ms_progress_format(char *buf, size_t n, const char *unit, long long done, long long total, double elapsed_s,
		       int width)
{
	double frac = total > 0 ? (double)done / (double)total : 0.0;
	int len, fill;
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * width + 1e-9);
	len = snprintf(buf, n, "  %s %lld/%lld [", unit, done, total);
	for (int i = 0; i < width && len >= 0 && (size_t)len + 1 < n; i++)
		buf[len++] = i < fill ? '#' : '.';
	if (len >= 0 && (size_t)len < n)
		buf[len] = '\0';
	if (len < 0 || (size_t)len >= n)
		return n ? (int)n - 1 : 0;
	len += snprintf(buf + len, n - (size_t)len, "] %3.0f %%", 100.0 * frac);
	if ((size_t)len < n && elapsed_s >= 1.0 && done > 0) {
		double rate = (double)done / elapsed_s;
		char eta[32], r[64];
		/* Below one a second, seconds per unit read better than 0.00685 unit/s. */
		double shown = rate >= 1 ? rate : 1.0 / rate;
		if (shown >= 1000)
			snprintf(r, sizeof r, "%.0f", shown);
		else
			snprintf(r, sizeof r, "%.3g", shown);
		fmt_duration(eta, sizeof eta, (double)(total - done) / rate);
		if (rate >= 1)
			len += snprintf(buf + len, n - (size_t)len, "  %s %s/s  ETA %s", r, unit, eta);
		else
			len += snprintf(buf + len, n - (size_t)len, "  %s s/%s  ETA %s", r, unit, eta);
	}
	return (size_t)len < n ? len : (int)n - 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ms_progress_bar_init(ms_progress_bar *b, FILE *f, int quiet)
{
	memset(b, 0, sizeof *b);
	b->f = f;
	b->on = !quiet && f && isatty(fileno(f));
	b->t0 = -1;
}

static void bar_fn(void *ctx, const char *unit, long long done, long long total)
{
	ms_progress_bar_update(ctx, unit, done, total);
}

ms_progress ms_progress_bar_hook(ms_progress_bar *b)
{
	ms_progress p = {bar_fn, b};
	return p;
}

void ms_progress_bar_update(ms_progress_bar *b, const char *unit, long long done, long long total)
{
	char line[160];
	double t;
	if (!b->on)
		return;
	t = now_s();
	if (b->t0 < 0 || strncmp(b->unit, unit, sizeof b->unit - 1) != 0) {
		b->t0 = t;
		b->last = -1;
		snprintf(b->unit, sizeof b->unit, "%s", unit);
	}
	if (done < total && b->last >= 0 && t - b->last < 0.1)
		return;
	b->last = t;
	ms_progress_format(line, sizeof line, unit, done, total, t - b->t0, 24);
	fprintf(b->f, "\r%s\033[K", line);
	fflush(b->f);
	b->drawn = 1;
}

void ms_progress_bar_clear(ms_progress_bar *b)
{
	if (!b->on || !b->drawn)
		return;
	fputs("\r\033[K", b->f);
	fflush(b->f);
	b->drawn = 0;
	b->last = -1; /* draw again at the next report */
}
