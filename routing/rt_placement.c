/*
 * rt_placement.c - expert placement and replica splitting (see rt_placement.h).
 * Invariants after a successful init: every expert of every layer has >= 1 replica;
 * every replica's member is in [0, members) and its slot in [0, slots); no member holds
 * two replicas of one expert in one layer.
 */
#include "routing/rt_placement.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_placement_fini(rt_placement *pl)
{
	for (int l = 0; l < pl->layers; l++) {
		if (pl->rep_start)
			free(pl->rep_start[l]);
		if (pl->rep_member)
			free(pl->rep_member[l]);
		if (pl->rep_slot)
			free(pl->rep_slot[l]);
	}
	free(pl->rep_start);
	free(pl->rep_member);
	free(pl->rep_slot);
	memset(pl, 0, sizeof *pl);
}

static int alloc_tables(rt_placement *pl, int experts, int members, int layers, ms_error *err)
{
	memset(pl, 0, sizeof *pl);
	pl->experts = experts;
	pl->members = members;
	pl->layers = layers;
	pl->rep_start = ms_calloc(err, (size_t)layers, sizeof *pl->rep_start, "placement");
	pl->rep_member = ms_calloc(err, (size_t)layers, sizeof *pl->rep_member, "placement");
	pl->rep_slot = ms_calloc(err, (size_t)layers, sizeof *pl->rep_slot, "placement");
	if (!pl->rep_start || !pl->rep_member || !pl->rep_slot) {
		rt_placement_fini(pl);
		return MS_ENOMEM;
	}
	return MS_OK;
}

static int alloc_layer(rt_placement *pl, int l, int replicas, ms_error *err)
{
	pl->rep_start[l] = ms_calloc(err, (size_t)pl->experts + 1, sizeof(int32_t), "placement");
	pl->rep_member[l] = ms_calloc(err, (size_t)replicas, sizeof(int32_t), "placement");
	pl->rep_slot[l] = ms_calloc(err, (size_t)replicas, sizeof(int32_t), "placement");
	return pl->rep_start[l] && pl->rep_member[l] && pl->rep_slot[l] ? MS_OK : MS_ENOMEM;
}

int rt_placement_member_slots(const rt_placement *pl, int l, int m)
{
	int n = 0, total = pl->rep_start[l][pl->experts];
	for (int i = 0; i < total; i++)
		n += pl->rep_member[l][i] == m;
	return n;
}

/* Numbers each member's replicas 0, 1, ... in expert order and sets pl->slots. */
static void number_slots(rt_placement *pl, int l)
{
	int total = pl->rep_start[l][pl->experts];
	int *next = calloc((size_t)pl->members, sizeof *next);
	MS_ASSERT(next != NULL, "out of memory numbering %d slots", pl->members);
	for (int i = 0; i < total; i++) {
		int m = pl->rep_member[l][i];
		pl->rep_slot[l][i] = next[m]++;
		if (next[m] > pl->slots)
			pl->slots = next[m];
	}
	free(next);
}

int rt_placement_init_static(rt_placement *pl, int experts, int members, int layers, int round_robin, ms_error *err)
{
	if (alloc_tables(pl, experts, members, layers, err) < 0)
		return MS_ENOMEM;
	MS_ASSERT(experts % members == 0, "%d experts over %d members", experts, members);
	for (int l = 0; l < layers; l++) {
		if (alloc_layer(pl, l, experts, err) < 0) {
			rt_placement_fini(pl);
			return MS_ENOMEM;
		}
		for (int e = 0; e < experts; e++) {
			pl->rep_start[l][e] = e;
			pl->rep_member[l][e] = round_robin ? e % members : e / (experts / members);
		}
		pl->rep_start[l][experts] = experts;
		number_slots(pl, l);
	}
	return MS_OK;
}

int rt_placement_init_eplb(rt_placement *pl, int experts, int members, int layers, int redundant,
			   const double *load, ms_error *err)
{
	int total = experts + redundant, per = total / members;
	int *count = NULL, *order = NULL, *filled = NULL, *rep_expert = NULL;
	double *weight = NULL, *mload = NULL;
	int rc = MS_OK;
	if (total % members != 0)
		return MS_ERROR(err, MS_EINVAL,
				"load-aware placement: experts + redundant replicas = %d is not a multiple of the %d GPUs "
				"of an EP group",
				total, members);
	if (alloc_tables(pl, experts, members, layers, err) < 0)
		return MS_ENOMEM;
	count = ms_calloc(err, (size_t)experts, sizeof *count, "placement");
	order = ms_calloc(err, (size_t)total, sizeof *order, "placement");
	filled = ms_calloc(err, (size_t)members, sizeof *filled, "placement");
	rep_expert = ms_calloc(err, (size_t)total, sizeof *rep_expert, "placement");
	weight = ms_calloc(err, (size_t)total, sizeof *weight, "placement");
	mload = ms_calloc(err, (size_t)members, sizeof *mload, "placement");
	if (!count || !order || !filled || !rep_expert || !weight || !mload) {
		rc = MS_ENOMEM;
		goto done;
	}
	for (int l = 0; l < layers; l++) {
		const double *ld = load + (size_t)l * experts;
		int n = 0;
		if (alloc_layer(pl, l, total, err) < 0) {
			rc = MS_ENOMEM;
			goto done;
		}
		/* 1. replicate: each redundant replica goes to the max load-per-replica expert
		 *    (ties: the lower expert id). */
		for (int e = 0; e < experts; e++)
			count[e] = 1;
		for (int r = 0; r < redundant; r++) {
			int best = 0;
			for (int e = 1; e < experts; e++)
				if (ld[e] / count[e] > ld[best] / count[best])
					best = e;
			count[best]++;
		}
		/* 2. the replicas, heaviest first (ties: expert id, then replica index) */
		for (int e = 0; e < experts; e++)
			for (int c = 0; c < count[e]; c++) {
				rep_expert[n] = e;
				weight[n] = ld[e] / count[e];
				order[n] = n;
				n++;
			}
		for (int i = 1; i < n; i++) { /* insertion sort: stable, n is small */
			int v = order[i], j = i;
			while (j > 0 && weight[order[j - 1]] < weight[v]) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = v;
		}
		/* 3. pack: each onto the least-loaded member with room (ties: lower index), and
		 *    never two replicas of one expert on one member when another member has room. */
		memset(filled, 0, (size_t)members * sizeof *filled);
		memset(mload, 0, (size_t)members * sizeof *mload);
		{
			int *member_of = order; /* reuse: member chosen per replica, indexed by replica */
			int *tmp_member = calloc((size_t)n, sizeof *tmp_member);
			if (!tmp_member) {
				rc = MS_ERROR(err, MS_ENOMEM, "out of memory in load-aware placement");
				goto done;
			}
			for (int i = 0; i < n; i++) {
				int rep = member_of[i], best = -1;
				for (int pass = 0; pass < 2 && best < 0; pass++)
					for (int m = 0; m < members; m++) {
						int clash = 0;
						if (filled[m] >= per)
							continue;
						if (pass == 0)
							for (int j = 0; j < i; j++)
								clash |= rep_expert[member_of[j]] == rep_expert[rep] &&
									 tmp_member[member_of[j]] == m;
						if (clash)
							continue;
						if (best < 0 || mload[m] < mload[best])
							best = m;
					}
				tmp_member[rep] = best;
				filled[best]++;
				mload[best] += weight[rep];
			}
			/* Write replicas grouped by expert, in replica order. */
			for (int e = 0, k = 0; e < experts; e++) {
				pl->rep_start[l][e] = k;
				for (int i = 0; i < n; i++)
					if (rep_expert[i] == e)
						pl->rep_member[l][k++] = tmp_member[i];
			}
			pl->rep_start[l][experts] = n;
			free(tmp_member);
		}
		number_slots(pl, l);
	}
done:
	free(count);
	free(order);
	free(filled);
	free(rep_expert);
	free(weight);
	free(mload);
	if (rc < 0)
		rt_placement_fini(pl);
	return rc;
}

int rt_placement_init_file(rt_placement *pl, const char *path, int experts, int members, int layers, ms_error *err)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int lineno = 0, rc = MS_OK;
	/* member lists per (layer, expert) as a bit table: placed[l][e * members + m] */
	uint8_t *placed = NULL;
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read placement file '%s': %s", path, strerror(errno));
	placed = ms_calloc(err, (size_t)layers * experts * members, 1, "placement");
	if (!placed || alloc_tables(pl, experts, members, layers, err) < 0) {
		fclose(f);
		free(placed);
		return MS_ENOMEM;
	}
	while (fgets(line, sizeof line, f)) {
		long v[3];
		int n = 0;
		char *p = line, *end;
		lineno++;
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		for (;;) {
			while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
				p++;
			if (!*p)
				break;
			if (n == 3) {
				rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expected \"EXPERT GPU\" or \"LAYER EXPERT GPU\"", path, lineno);
				goto done;
			}
			errno = 0;
			v[n] = strtol(p, &end, 10);
			if (end == p || errno) {
				rc = MS_ERROR(err, MS_EINVAL, "%s:%d: '%.*s' is not an integer", path, lineno,
					      (int)strcspn(p, " \t\r\n"), p);
				goto done;
			}
			n++;
			p = end;
		}
		if (n == 0)
			continue;
		if (n == 1) {
			rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expected \"EXPERT GPU\" or \"LAYER EXPERT GPU\"", path, lineno);
			goto done;
		}
		{
			long layer = n == 3 ? v[0] : -1, e = v[n - 2], m = v[n - 1];
			if (n == 3 && (layer < 0 || layer >= layers)) {
				rc = MS_ERROR(err, MS_EINVAL, "%s:%d: layer %ld is out of range: the model has %d MoE layers",
					      path, lineno, layer, layers);
				goto done;
			}
			if (e < 0 || e >= experts) {
				rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expert %ld is out of range: model.experts = %d", path,
					      lineno, e, experts);
				goto done;
			}
			if (m < 0 || m >= members) {
				rc = MS_ERROR(err, MS_EINVAL,
					      "%s:%d: GPU %ld is out of range: an EP group has %d GPUs (0 .. %d)", path,
					      lineno, m, members, members - 1);
				goto done;
			}
			for (int l = 0; l < layers; l++) {
				uint8_t *b;
				if (layer >= 0 && l != layer)
					continue;
				b = &placed[((size_t)l * experts + (size_t)e) * members + (size_t)m];
				if (*b) {
					rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expert %ld is placed on GPU %ld twice (layer %d)",
						      path, lineno, e, m, l);
					goto done;
				}
				*b = 1;
			}
		}
	}
	for (int l = 0; l < layers; l++) {
		int total = 0, k = 0;
		for (int e = 0; e < experts; e++) {
			int c = 0;
			for (int m = 0; m < members; m++)
				c += placed[((size_t)l * experts + (size_t)e) * members + (size_t)m];
			if (c == 0) {
				rc = MS_ERROR(err, MS_EINVAL, "%s: expert %d of layer %d is not placed on any GPU", path, e, l);
				goto done;
			}
			total += c;
		}
		if (alloc_layer(pl, l, total, err) < 0) {
			rc = MS_ENOMEM;
			goto done;
		}
		for (int e = 0; e < experts; e++) {
			pl->rep_start[l][e] = k;
			for (int m = 0; m < members; m++)
				if (placed[((size_t)l * experts + (size_t)e) * members + (size_t)m])
					pl->rep_member[l][k++] = m;
		}
		pl->rep_start[l][experts] = k;
		number_slots(pl, l);
	}
done:
	fclose(f);
	free(placed);
	if (rc < 0)
		rt_placement_fini(pl);
	return rc;
}

void rt_placement_split(const rt_placement *pl, int l, int e, int src, int64_t count, int64_t *pairs,
			int64_t *slot_load)
{
	int first = pl->rep_start[l][e], r = pl->rep_start[l][e + 1] - first;
	int64_t base = count / r, extra = count % r;
	for (int i = 0; i < r; i++) {
		int rep = first + (src + i) % r;
		int64_t c = base + (i < extra ? 1 : 0);
		int m = pl->rep_member[l][rep];
		if (c == 0)
			continue;
		if (pairs)
			pairs[(size_t)src * pl->members + m] += c;
		slot_load[(size_t)m * pl->slots + pl->rep_slot[l][rep]] += c;
	}
}
