/*
 * tr_format.c - the small functions of the format's vocabulary (see tr_format.h): score
 * kind names and the token order. No state, no HDF5.
 */
#include "trace/tr_format.h"

#include <string.h>

const char *tr_score_kind_name(tr_score_kind k)
{
	switch (k) {
	case TR_SCORE_SOFTMAX: return "softmax";
	case TR_SCORE_SIGMOID: return "sigmoid";
	default: return "other";
	}
}

int tr_score_kind_parse(const char *s, tr_score_kind *out)
{
	if (strcmp(s, "softmax") == 0)
		*out = TR_SCORE_SOFTMAX;
	else if (strcmp(s, "sigmoid") == 0)
		*out = TR_SCORE_SIGMOID;
	else if (strcmp(s, "other") == 0)
		*out = TR_SCORE_OTHER;
	else
		return -1;
	return 0;
}

int tr_token_cmp(const tr_token *a, const tr_token *b)
{
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->sequence != b->sequence)
		return a->sequence < b->sequence ? -1 : 1;
	if (a->position != b->position)
		return a->position < b->position ? -1 : 1;
	return 0;
}
