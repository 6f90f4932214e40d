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
 * Splits cluster.profile at commas into paths[], each resolved: absolute as given;
 * relative from the scenario file's directory, or from the working directory when the
 * value came from --set (or the scenario has no file). buf holds the strings.
 */
static int split_paths(const scn_scenario *s, const char *where, char *buf, size_t len, const char **paths,
		       int *n, ms_error *err)
{
	char dir[SCN_PATH_MAX] = "";
	const char *p = s->cluster.profile, *slash = strrchr(s->source, '/');
	size_t used = 0;
	if (strncmp(where, "--set", 5) != 0 && slash && s->source[0] != '<')
		snprintf(dir, sizeof dir, "%.*s/", (int)(slash - s->source), s->source);
	*n = 0;
	while (*p) {
		size_t k = strcspn(p, ","), need;
		const char *q = p;
		while (k > 0 && (*q == ' ' || *q == '\t'))
			q++, k--;
		while (k > 0 && (q[k - 1] == ' ' || q[k - 1] == '\t'))
			k--;
		if (k == 0)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile = \"%s\" has an empty file name", where,
					s->cluster.profile);
		if (*n == MAX_PROFILE_FILES)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile names more than %d files", where, MAX_PROFILE_FILES);
		need = (q[0] == '/' ? 0 : strlen(dir)) + k + 1;
		if (used + need > len)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.profile is too long", where);
		paths[(*n)++] = buf + used;
		used += (size_t)snprintf(buf + used, len - used, "%s%.*s", q[0] == '/' ? "" : dir, (int)k, q) + 1;
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
