/*
 * prof_internal.h - what the files of profile/ share and nobody else needs (libuv's
 * uv__ convention: the double underscore marks it internal).
 */
#ifndef PROF_INTERNAL_H
#define PROF_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "profile/prof_profile.h"

/* The files read into p, for the writer: the i-th file's `profile` group (a
 * const config_setting_t *), its path and whether it is a datasheet profile. */
int prof__profile_nfiles(const prof_profile *p);
const void *prof__profile_file(const prof_profile *p, int i, const char **path, int *datasheet);

/*
 * A libconfig text writer with the typing rules of calibrate/cal_profile.c, so the
 * reader can rely on a value's type: floats always carry a decimal point (written with
 * the fewest digits that read back to the same double), int64 values and arrays the L
 * suffix, strings escaped. Groups ({...}) hold settings, lists ((...)) hold groups.
 * Write errors are sticky in `failed`; a non-finite float is written as 0.0 and
 * counted in `nonfinite` (the caller refuses the output). Misnesting is a bug and
 * asserts.
 */
#define PROF__W_DEPTH 16
typedef struct prof__w {
	FILE *f;
	int failed;
	int nonfinite;
	int depth;
	int kind[PROF__W_DEPTH];  /* 0 group, 1 list */
	int count[PROF__W_DEPTH]; /* elements written at that level */
} prof__w;

void prof__w_init(prof__w *w, FILE *f);
void prof__w_comment(prof__w *w, const char *text);
void prof__w_str(prof__w *w, const char *key, const char *value);
void prof__w_int(prof__w *w, const char *key, int64_t value);
void prof__w_bool(prof__w *w, const char *key, int value);
void prof__w_float(prof__w *w, const char *key, double value);
void prof__w_int_array(prof__w *w, const char *key, const int64_t *v, int n, int force64);
void prof__w_float_array(prof__w *w, const char *key, const double *v, int n);
void prof__w_str_array(prof__w *w, const char *key, const char *const *v, int n);
void prof__w_group_begin(prof__w *w, const char *key); /* NULL key: an element of a list */
void prof__w_group_end(prof__w *w);
void prof__w_list_begin(prof__w *w, const char *key);
void prof__w_list_end(prof__w *w);
/* Copies a libconfig setting (const config_setting_t *) and everything under it; inside
 * a group, members named skip (may be NULL) are left out. */
void prof__w_setting(prof__w *w, const void *setting, const char *skip);

/* Formats v as the writer does ("12.0", "2.385", "1.0e+09") with sig significant
 * digits, or with sig = 0 the fewest that read back to the same double. Returns 1
 * (and writes "0.0") when v is not finite, else 0. */
int prof__format_float(double v, int sig, char *buf, size_t len);

/* prof__w_float and prof__w_float_array with sig significant digits (fit results:
 * more digits than the data justify would only be noise). */
void prof__w_float_sig(prof__w *w, const char *key, double value, int sig);
void prof__w_float_array_sig(prof__w *w, const char *key, const double *v, int n, int sig);

#endif
