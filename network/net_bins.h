/*
 * net_bins.h - bytes per link over time, in bins: what each link of a flow-level
 * network carried in each interval of bin_s seconds from time 0. A flow's progress at a
 * constant rate from t0 to t1 is spread over the bins it overlaps, in proportion.
 *
 * The end of the run is not known in advance, so the bins start 1 us wide and double
 * (neighbours merged) whenever a segment ends beyond the last: at most max_bins of them,
 * and at the end more than max_bins / 2 cover the time seen, unless it is shorter than
 * max_bins / 2 us. Deterministic: widths are 1 us x 2^k, sums in a fixed order.
 *
 * Memory: links x max_bins doubles. Time: O(bins overlapped) per segment and link, plus
 * O(links x max_bins) per doubling (about 20 doublings from 1 us to a second).
 */
#ifndef NET_BINS_H
#define NET_BINS_H

#include "common/ms_error.h"

typedef struct net_bins net_bins;

net_bins *net_bins_create(int n_links, int max_bins, ms_error *err);
void net_bins_destroy(net_bins *b);

/* bytes carried by link from t0_s to t1_s, evenly. */
void net_bins_add(net_bins *b, int link, double t0_s, double t1_s, double bytes);

/* For callers that gather a segment's bytes before adding them: whether t0 and t1
 * (t0 <= t1) fall in one bin (widening the bins first if t1 lies beyond the last), and
 * bytes into the bin holding t. */
int net_bins_same(net_bins *b, double t0_s, double t1_s);
void net_bins_add_at(net_bins *b, int link, double t_s, double bytes);

/* The width of a bin, and the bins that cover [0, end_s) (at least 1). */
double net_bins_width(const net_bins *b);
int net_bins_used(const net_bins *b, double end_s);
/* Link's bins: max_bins entries, those past the used ones 0. */
const double *net_bins_row(const net_bins *b, int link);

#endif
