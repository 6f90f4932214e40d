/*
 * cal_profile.c - the calibration programs' output profile (see cal_profile.h): the
 * checks of the target made before measuring, and the atomic file with its writer.
 * Plain C11 + POSIX, no CUDA.
 */
#include "calibrate/cal_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calibrate/cal_util.h"
#include "common/ms_file.h"

/* Significant digits of the measured values (see cal_profile.h). */
#define PROFILE_DIGITS 7

struct cal_profile {
	ms_file file;
	ms_cfgw w;
};

/* Copies the message of e into err. */
static int fail(const ms_error *e, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", e->msg);
	return -1;
}

int cal_profile_check_target(const char *path, int force, char *err, size_t errlen)
{
	struct stat st;
	char dir[MS_FILE_PATH_MAX];
	const char *slash;
	ms_error e;

	ms_error_clear(&e);
	if (ms_file_check(path, force, &e) < 0)
		return fail(&e, err, errlen);
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot write '%s': directory '%s' does not exist (create it first)", path, dir);
		return -1;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(err, errlen, "cannot write '%s': directory '%s' is not writable", path, dir);
		return -1;
	}
	return 0;
}

cal_profile *cal_profile_open(const char *path, int force, char *err, size_t errlen)
{
	cal_profile *p;
	ms_error e;

	if (cal_profile_check_target(path, force, err, errlen) != 0)
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ms_error_clear(&e);
	if (ms_file_open(&p->file, path, force, &e) < 0) {
		fail(&e, err, errlen);
		free(p);
		return NULL;
	}
	ms_cfgw_init(&p->w, ms_file_stream(&p->file), PROFILE_DIGITS);
	return p;
}

ms_cfgw *cal_profile_writer(cal_profile *p)
{
	return &p->w;
}

void cal_profile_stats(ms_cfgw *w, const cal_stats *st, int n)
{
	static const char *const key[] = {"time_us", "p10_us", "p90_us", "min_us", "max_us"};

	for (int k = 0; k < 5; k++) {
		ms_cfgw_array_begin(w, key[k]);
		for (int i = 0; i < n; i++) {
			const cal_stats *s = &st[i];

			ms_cfgw_float(w, NULL, k == 0 ? s->median : k == 1 ? s->p10 : k == 2 ? s->p90 : k == 3 ? s->min : s->max);
		}
		ms_cfgw_array_end(w);
	}
}

const char *cal_profile_tmp_path(const cal_profile *p)
{
	return ms_file_tmp_path(&p->file);
}

void cal_profile_abort(cal_profile *p)
{
	if (!p)
		return;
	ms_file_abort(&p->file);
	free(p);
}

int cal_profile_commit(cal_profile *p, char *err, size_t errlen)
{
	ms_error e;
	int rc;

	MS_ASSERT(p->w.depth == 0, "profile committed with %d levels open", p->w.depth);
	if (p->w.nonfinite)
		cal_warn("profile key '%s': non-finite value written as 0.0 (%d such value%s in the profile)",
			 p->w.nonfinite_key, p->w.nonfinite, p->w.nonfinite == 1 ? "" : "s");
	if (p->w.failed) {
		snprintf(err, errlen, "writing '%s' failed (disk full?)", ms_file_tmp_path(&p->file));
		cal_profile_abort(p);
		return -1;
	}
	ms_error_clear(&e);
	rc = ms_file_commit(&p->file, &e);
	free(p);
	return rc < 0 ? fail(&e, err, errlen) : 0;
}
