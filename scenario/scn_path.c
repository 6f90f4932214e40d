/*
 * scn_path.c - the one rule for a file a scenario key names (routing.trace,
 * cluster.profile, network.file, routing.placement_file): see scn_resolve_path in
 * scn_scenario.h.
 */
#include "scenario/scn_scenario.h"

#include <stdio.h>
#include <string.h>

#include "common/ms_path.h"

int scn_resolve_path(const scn_scenario *s, const char *key, const char *value, char *out, size_t len, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	int rc;
	if (value[0] == '/' || scn_from_set(s, key))
		rc = ms_path_join(out, len, NULL, value); /* absolute, or from --set: as given */
	else if (s->source[0] == '<') {
		/* The built-in default stands for scenarios/default.cfg in the data directory. */
		const char *dir = ms_data_dir(NULL);
		char from[SCN_PATH_MAX + 32];
		snprintf(from, sizeof from, "%s%sscenarios/default.cfg", dir, dir[0] ? "/" : "");
		rc = ms_path_join(out, len, from, value);
	} else
		rc = ms_path_join(out, len, s->source, value);
	if (rc < 0)
		return MS_ERROR(err, MS_EINVAL, "%s: %s: the path is longer than %zu bytes",
				scn_where(s, key, wbuf, sizeof wbuf), key, len - 1);
	return MS_OK;
}
