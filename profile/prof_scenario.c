/*
 * prof_scenario.c - loading the calibration profile a scenario names (cluster.profile),
 * for every module that reads one (the compute model, the topology). Messages name the
 * scenario key's origin (file:line or the --set item).
 */
#include "profile/prof_scenario.h"

#include <stdio.h>
#include <string.h>

#define MAX_PROFILE_FILES PROF_MAX_FILES

/*
 * Splits cluster.profile at commas into paths[], each resolved by the scenario's one
 * rule for file names (scn_resolve_path). buf holds the strings.
 */
static int split_paths(const scn_scenario *s, const char *where, char *buf, size_t len, const char **paths,
		       int *n, ms_error *err)
{
	const char *p = s->cluster.profile;
	size_t used = 0;
	*n = 0;
	while (*p) {
		size_t k = strcspn(p, ",");
		const char *q = p;
		char name[SCN_PATH_MAX];
		while (k > 0 && (*q == ' ' || *q == '\t'))
			q++, k--;
		while (k > 0 && (q[k - 1] == ' ' || q[k - 1] == '\t'))
			k--;
		if (k == 0)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile = \"%s\" has an empty file name", where,
					s->cluster.profile);
		if (*n == MAX_PROFILE_FILES)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile names more than %d files", where, MAX_PROFILE_FILES);
		if (k >= sizeof name)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile is too long", where);
		memcpy(name, q, k);
		name[k] = '\0';
		if (scn_resolve_path(s, "cluster.profile", name, buf + used, len - used, err) < 0)
			return err->code;
		paths[(*n)++] = buf + used;
		used += strlen(buf + used) + 1;
		p = q + k;
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	if (*n == 0)
		return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile = \"%s\" names no file", where, s->cluster.profile);
	return MS_OK;
}

int prof_profile_load_scenario(const scn_scenario *s, prof_profile **out, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160], pbuf[2 * SCN_PATH_MAX + 64];
	const char *paths[MAX_PROFILE_FILES];
	const char *where = scn_where(s, "cluster.profile", wbuf, sizeof wbuf);
	ms_error perr;
	int n, rc;
	*out = NULL;
	if ((rc = split_paths(s, where, pbuf, sizeof pbuf, paths, &n, err)) < 0)
		return rc;
	ms_error_clear(&perr);
	if ((rc = prof_profile_load(out, paths, n, &perr)) < 0)
		return MS_ERROR(err, rc, "%s: cluster.profile: %s", where, perr.msg);
	return MS_OK;
}
