/*
 * ms_progress.c - the progress hook and the line on a terminal (see ms_progress.h).
 *
 * The line is written as "\r\033[K<text>" (carriage return, erase the line, the text),
 * so a shorter line leaves no tail of a longer one. The clock is CLOCK_MONOTONIC: a
 * wall-clock jump must not make the time left negative.
 */
#include "common/ms_progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "12 s", "3 min 05 s", "2 h 07 min": short enough for one line, exact enough to plan by. */
static void duration(char *buf, size_t n, double s)
{
	long long t = (long long)(s + 0.5);
	if (t < 60)
		snprintf(buf, n, "%lld s", t);
	else if (t < 3600)
		snprintf(buf, n, "%lld min %02lld s", t / 60, t % 60);
	else
		snprintf(buf, n, "%lld h %02lld min", t / 3600, t / 60 % 60);
}

int ms_progress_format(char *buf, size_t n, const char *label, int64_t done, int64_t total, int64_t first,
		       double elapsed_s, int width, const char *detail)
{
	double frac = total > 0 ? (double)done / (double)total : 1.0;
	char bar[128], e[32], tail[128] = "";
	int fill, len;
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	if (width > (int)sizeof bar - 1)
		width = (int)sizeof bar - 1;
	fill = (int)(frac * width + 1e-9);
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width > 0 ? width : 0] = '\0';
	if (first < 0)
		first = 0;
	if (elapsed_s >= 1.0 && done > first) {
		double rate = (double)(done - first) / elapsed_s;
		char r[32], left[32];
		/* Below one a second, seconds each read better than 0.00685/s. */
		if (rate >= 1)
			snprintf(r, sizeof r, rate >= 1000 ? "%.0f/s" : "%.3g/s", rate);
		else
			snprintf(r, sizeof r, 1.0 / rate >= 1000 ? "%.0f s each" : "%.3g s each", 1.0 / rate);
		duration(e, sizeof e, elapsed_s);
		duration(left, sizeof left, (double)(total - done) / rate);
		snprintf(tail, sizeof tail, ", %s, %s elapsed, about %s left", r, e, done < total ? left : "0 s");
	} else if (elapsed_s >= 1.0) {
		duration(e, sizeof e, elapsed_s);
		snprintf(tail, sizeof tail, ", %s elapsed", e);
	}
	len = snprintf(buf, n, "%s: [%s] %lld/%lld (%.0f %%)%s%s%s", label, bar, (long long)done, (long long)total,
		       100.0 * frac, tail, detail ? "; " : "", detail ? detail : "");
	return len < 0 ? 0 : (size_t)len < n ? len : (int)n - 1;
}

void ms_progress_init(ms_progress *p, FILE *f, const char *label, int64_t total)
{
	memset(p, 0, sizeof *p);
	p->f = f;
	p->on = f && isatty(fileno(f));
	p->total = total;
	p->start_s = now_s();
	p->last_s = -1;
	p->first = -1;
	snprintf(p->label, sizeof p->label, "%s", label);
}

void ms_progress_update(ms_progress *p, int64_t done, const char *detail)
{
	char line[256];
	double t;
	if (!p->on)
		return;
	if (p->first < 0)
		p->first = done;
	t = now_s();
	if (done < p->total && p->last_s >= 0 && t - p->last_s < 0.1)
		return;
	p->last_s = t;
	ms_progress_format(line, sizeof line, p->label, done, p->total, p->first, t - p->start_s, 24, detail);
	fprintf(p->f, "\r\033[K%s", line);
	fflush(p->f);
	p->drawn = 1;
}

void ms_progress_clear(ms_progress *p)
{
	if (!p->on || !p->drawn)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->drawn = 0;
	p->last_s = -1; /* draw again at the next update */
}

void ms_progress_end(ms_progress *p)
{
	ms_progress_clear(p);
	p->on = 0;
}

void ms_progress_report(const ms_progress_hook *h, int64_t done, int64_t total)
{
	if (h && h->fn)
		h->fn(h->ctx, done, total);
}

static void hook_fn(void *ctx, int64_t done, int64_t total)
{
	ms_progress *p = ctx;
	p->total = total;
	ms_progress_update(p, done, NULL);
}

ms_progress_hook ms_progress_hook_of(ms_progress *p)
{
	ms_progress_hook h = {hook_fn, p};
	return h;
}
