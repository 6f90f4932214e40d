/*
 * net_bins.c - bytes per link over time (see net_bins.h).
 */
#include "network/net_bins.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct net_bins {
	int n_links, max;
	double width;
	double inv;   /* 1 / width */
	double end;   /* width x max: a segment ending later widens the bins */
	double *b;    /* [n_links][max] */
};

net_bins *net_bins_create(int n_links, int max_bins, ms_error *err)
{
	net_bins *b = ms_calloc(err, 1, sizeof *b, "link bins");
	MS_ASSERT(max_bins >= 2 && max_bins % 2 == 0, "max_bins %d", max_bins);
	if (!b)
		return NULL;
	b->n_links = n_links;
	b->max = max_bins;
	b->width = 1e-6;
	b->inv = 1 / b->width;
	b->end = b->width * max_bins;
	b->b = ms_calloc(err, (size_t)n_links * max_bins + 1, sizeof *b->b, "link bins");
	if (!b->b) {
		free(b);
		return NULL;
	}
	return b;
}

void net_bins_destroy(net_bins *b)
{
	if (!b)
		return;
	free(b->b);
	free(b);
}

/* Doubles the width: bin i takes bins 2i and 2i + 1. */
static void widen(net_bins *b)
{
	int h = b->max / 2;
	for (int l = 0; l < b->n_links; l++) {
		double *r = b->b + (size_t)l * b->max;
		for (int i = 0; i < h; i++)
			r[i] = r[2 * i] + r[2 * i + 1];
		memset(r + h, 0, (size_t)h * sizeof *r);
	}
	b->width *= 2;
	b->inv = 1 / b->width;
	b->end = b->width * b->max;
}

void net_bins_add(net_bins *b, int link, double t0, double t1, double bytes)
{
	double *r, rate;
	int i0, i1;
	if (!(t1 > t0) || !(bytes > 0) || !isfinite(t1))
		return;
	while (t1 > b->end)
		widen(b);
	r = b->b + (size_t)link * b->max;
	i0 = (int)(t0 * b->inv);
	i1 = (int)(t1 * b->inv);
	if (i1 >= b->max)
		i1 = b->max - 1;
	if (i0 >= i1) { /* the common case: a segment inside one bin */
		r[i1] += bytes;
		return;
	}
	rate = bytes / (t1 - t0);
	r[i0] += rate * ((i0 + 1) * b->width - t0);
	for (int i = i0 + 1; i < i1; i++)
		r[i] += rate * b->width;
	r[i1] += rate * (t1 - i1 * b->width);
}

int net_bins_same(net_bins *b, double t0, double t1)
{
	int i0, i1;
	while (t1 > b->end && isfinite(t1))
		widen(b);
	i0 = (int)(t0 * b->inv);
	i1 = (int)(t1 * b->inv);
	return i0 == i1 || (i0 >= b->max - 1 && i1 >= b->max - 1);
}

void net_bins_add_at(net_bins *b, int link, double t, double bytes)
{
	int i = (int)(t * b->inv);
	b->b[(size_t)link * b->max + (i < b->max ? i : b->max - 1)] += bytes;
}

double net_bins_width(const net_bins *b)
{
	return b->width;
}

int net_bins_used(const net_bins *b, double end_s)
{
	int n = (int)ceil(end_s / b->width);
	return n < 1 ? 1 : n > b->max ? b->max : n;
}

const double *net_bins_row(const net_bins *b, int link)
{
	return b->b + (size_t)link * b->max;
}
