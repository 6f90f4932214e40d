/*
 * net_grow.h - internal to network/: the one growth rule for the flow model's pools
 * and workspaces (net_model.c, net_maxmin.c). An array grows to the next power of two
 * times its first size that holds what is needed, so a run reallocates O(log peak)
 * times per array and never once it has reached its peak.
 *
 * The array is passed by the address of its pointer, read and written with memcpy so
 * that one function serves every element type without type-punned pointer access
 * (object pointers share one representation on every platform moesim builds on).
 */
#ifndef NET_GROW_H
#define NET_GROW_H

#include <stdlib.h>
#include <string.h>

#include "common/ms_error.h"

/*
 * Makes the array at *(T **)arrp (elements of elem bytes, capacity *cap) hold need
 * elements. On failure returns MS_ENOMEM naming what, and leaves array and *cap as
 * they were.
 */
static inline int net__grow(void *arrp, int *cap, int need, size_t elem, int first, const char *what, ms_error *err)
{
	void *p, *q;
	int nc;
	if (need <= *cap)
		return MS_OK;
	nc = *cap ? *cap : first;
	while (nc < need)
		nc *= 2;
	memcpy(&p, arrp, sizeof p);
	if (!(q = realloc(p, (size_t)nc * elem)))
		return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%s of %d)", what, nc);
	memcpy(arrp, &q, sizeof q);
	*cap = nc;
	return MS_OK;
}

#endif
