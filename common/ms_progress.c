/*
 * ms_progress.c - a progress line on a terminal (see ms_progress.h).
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

static void duration(double s, char *buf, size_t len)
{
	if (s < 100)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 6000)
		snprintf(buf, len, "%.1f min", s / 60);
	else
		snprintf(buf, len, "%.1f h", s / 3600);
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
	double t, el;
	char e[32], left[48] = "";
	if (!p->on)
		return;
	if (p->first < 0)
		p->first = done;
	t = now_s();
	if (done < p->total && p->last_s >= 0 && t - p->last_s < 0.1)
		return;
	p->last_s = t;
	el = t - p->start_s;
	duration(el, e, sizeof e);
	if (done > p->first && done < p->total) {
		char l[32];
		duration(el / (double)(done - p->first) * (double)(p->total - done), l, sizeof l);
		snprintf(left, sizeof left, ", about %s left", l);
	}
	fprintf(p->f, "\r\033[K%s: %lld/%lld (%.0f %%), %s elapsed%s%s%s", p->label, (long long)done, (long long)p->total,
		p->total ? 100.0 * (double)done / (double)p->total : 100.0, e, left, detail ? "; " : "", detail ? detail : "");
	fflush(p->f);
}

void ms_progress_end(ms_progress *p)
{
	if (p->on) {
		fprintf(p->f, "\r\033[K");
		fflush(p->f);
	}
	p->on = 0;
}
