/*
 * cal_profile.h - the output profile of a calibration program: an atomic output
 * (common/ms_file.h) holding libconfig text (common/ms_cfgwrite.h, the writer
 * `moesim calibrate` uses too, so both spell values alike; docs/profile-format.md).
 *
 * The profile is written to "<path>.tmp.<pid>" in the same directory and only renamed
 * to <path> by cal_profile_commit() once every byte reached the disk, so a crash, a
 * full disk or a failed CUDA call never leaves a half-written profile under the real
 * name (cal_die() removes the temporary file). Without --force an existing profile is
 * never overwritten, not even one that appeared while measuring.
 *
 * Floats are written with 7 significant digits: timings carry 3 or 4, more would only
 * be noise. A non-finite value is written as 0.0 and reported with its key at the
 * commit, as a warning.
 */
#ifndef CAL_PROFILE_H
#define CAL_PROFILE_H

#include <stddef.h>

#include "calibrate/cal_util.h"
#include "common/ms_cfgwrite.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cal_profile cal_profile;

/*
 * Returns 0 if a profile may be written at path: its directory exists and is
 * writable and, unless force, path does not exist yet. Otherwise returns -1 with an
 * actionable message in err. Call it before measuring, so a run of minutes does not
 * end in a refusal.
 */
int cal_profile_check_target(const char *path, int force, char *err, size_t errlen);

/*
 * Opens the temporary file for path. Returns NULL with a message in err on failure.
 * The profile must end with cal_profile_commit() or cal_profile_abort(), either of
 * which frees it.
 */
cal_profile *cal_profile_open(const char *path, int force, char *err, size_t errlen);

/* The writer of the profile's text; valid until the commit or abort. */
ms_cfgw *cal_profile_writer(cal_profile *p);

/*
 * Closes the file, makes sure it reached the disk and gives it its real name.
 * Returns 0, or -1 with a message in err (the temporary file is removed then, unless
 * the real name appeared meanwhile: the message says where the profile was left).
 * Frees p in both cases.
 */
int cal_profile_commit(cal_profile *p, char *err, size_t errlen);

/* Closes and removes the temporary file; frees p. */
void cal_profile_abort(cal_profile *p);

/*
 * The statistics of n points as the five arrays every measured table has: time_us
 * (the median), p10_us, p90_us, min_us, max_us (docs/profile-format.md).
 */
void cal_profile_stats(ms_cfgw *w, const cal_stats *st, int n);

/* The temporary file's name (for messages). */
const char *cal_profile_tmp_path(const cal_profile *p);

#ifdef __cplusplus
}
#endif

#endif
