/*
 * cal_profile.h - writes a calibration profile in libconfig syntax
 * (docs/profile-format.md), atomically.
 *
 * The profile is written to "<path>.tmp.<pid>" in the same directory and only
 * renamed to <path> by cal_profile_commit() once every byte reached the disk, so a
 * crash, a full disk or a failed CUDA call never leaves a half-written profile under
 * the real name. Without --force the commit uses link(2), which fails atomically if
 * <path> appeared meanwhile, so an existing profile is never overwritten.
 *
 * Typing rules that the moesim reader relies on (libconfig decides a scalar's type
 * from its spelling): floats always carry a decimal point ("12.0"); integers that do
 * not fit in 32 bits carry the L suffix; an integer array written with
 * cal_profile_int_array(..., force64 = 1) carries L on every element, because
 * libconfig rejects an array that mixes int and int64 elements.
 *
 * Nesting: groups ({...}) hold settings; lists ((...)) hold groups. The writer keeps a
 * small stack to place commas and semicolons and to indent; misuse (ending a group
 * that is not open) is a bug in our code and asserts.
 */
#ifndef CAL_PROFILE_H
#define CAL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cal_profile cal_profile;

/*
 * Returns 0 if a profile may be written at path: its directory exists and, unless
 * force, path does not exist yet. Otherwise returns -1 with an actionable message in
 * err. Call it before measuring, so a run of minutes does not end in a refusal.
 */
int cal_profile_check_target(const char *path, int force, char *err, size_t errlen);

/*
 * Opens the temporary file for path. Returns NULL with a message in err on failure.
 * The profile must end with cal_profile_commit() or cal_profile_abort(), either of
 * which frees it.
 */
cal_profile *cal_profile_open(const char *path, int force, char *err, size_t errlen);

/* Settings. key must be a libconfig name: [A-Za-z*][-A-Za-z0-9_*]*. */
void cal_profile_str(cal_profile *p, const char *key, const char *value);
void cal_profile_int(cal_profile *p, const char *key, int64_t value);
void cal_profile_bool(cal_profile *p, const char *key, int value);
void cal_profile_float(cal_profile *p, const char *key, double value);
void cal_profile_int_array(cal_profile *p, const char *key, const int64_t *v, int n, int force64);
void cal_profile_float_array(cal_profile *p, const char *key, const double *v, int n);

/* A comment line ("// text") at the current indentation; newlines in text are
 * turned into separate comment lines. */
void cal_profile_comment(cal_profile *p, const char *text);

/* key = { ... };  A NULL key opens an element group inside a list: { ... } */
void cal_profile_group_begin(cal_profile *p, const char *key);
void cal_profile_group_end(cal_profile *p);

/* key = ( ... ); */
void cal_profile_list_begin(cal_profile *p, const char *key);
void cal_profile_list_end(cal_profile *p);

/*
 * Closes the file, makes sure it reached the disk and gives it its real name.
 * Returns 0, or -1 with a message in err (the temporary file is removed then).
 * Frees p in both cases.
 */
int cal_profile_commit(cal_profile *p, char *err, size_t errlen);

/* Closes and removes the temporary file; frees p. Safe from a cal_die() hook. */
void cal_profile_abort(cal_profile *p);

/* The temporary file's name (for messages). */
const char *cal_profile_tmp_path(const cal_profile *p);

/*
 * Formats a double so that libconfig reads it back as a float: always a decimal
 * point, never "inf"/"nan" (those become 0.0; the return value is then 1, and the
 * setting writers warn with the key's name). buf must hold at least 32 bytes.
 * Exposed for the self-test.
 */
int cal_profile_format_float(double v, char *buf, size_t len);

/* Writes s as a libconfig string literal body (escapes \" \\ and control bytes). */
void cal_profile_escape(const char *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
