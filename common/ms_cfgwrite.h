/*
 * ms_cfgwrite.h - the one writer of libconfig text (profiles, docs/profile-format.md),
 * used by `moesim calibrate` (profile/) and by the CUDA calibration programs
 * (calibrate/). It only formats into a FILE *, needs no libconfig, and leaves where
 * the text goes (an atomic output, common/ms_file.h, or standard output) to the caller.
 *
 * Typing rules the readers rely on (libconfig decides a scalar's type from its
 * spelling): floats always carry a decimal point ("12.0", "1.0e+09"), written with the
 * writer's significant digits or, with 0, the fewest that read back to the same double;
 * integers outside 32 bits carry the L suffix, and an int array written with force64
 * carries L on every element, because libconfig rejects an array that mixes int and
 * int64; strings are escaped (\" \\ \n \r \t \f, other control bytes as \xNN).
 *
 * Nesting: groups ({...}) hold settings, lists ((...)) hold groups and values, arrays
 * ([...]) hold scalars. A value with a NULL key is an element of the list or array
 * being written. Arrays wrap every 8 values, so diffs of two profiles stay readable.
 * The writer keeps a small stack to place commas and semicolons and to indent;
 * misnesting (a setting inside a list, ending a group that is not open) is a bug in
 * our code and asserts.
 *
 * Write errors are sticky in `failed`; a non-finite float is written as 0.0, counted in
 * `nonfinite` and the first one's key kept in `nonfinite_key`, so the caller decides
 * whether to refuse the output or to warn.
 */
#ifndef MS_CFGWRITE_H
#define MS_CFGWRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MS_CFGW_DEPTH 16

typedef struct ms_cfgw {
	FILE *f;
	int sig;                    /* significant digits of ms_cfgw_float; 0: round-trip */
	int failed;                 /* a write to f failed */
	int nonfinite;              /* non-finite floats written as 0.0 */
	char nonfinite_key[80];     /* the first of them: "key" or "key[i]" */
	int depth;                  /* 0: the top level (settings) */
	int kind[MS_CFGW_DEPTH];    /* level kind and whether it was opened with a key */
	int count[MS_CFGW_DEPTH];   /* elements written at that level */
	char array_key[64];         /* the open array's key, for nonfinite_key */
} ms_cfgw;

/* Starts writing to f; floats get sig significant digits (0: the fewest that read back
 * to the same double). */
void ms_cfgw_init(ms_cfgw *w, FILE *f, int sig);

/* "// text" at the current indentation; each line of text becomes a comment line.
 * Allowed anywhere, also between the elements of a list. */
void ms_cfgw_comment(ms_cfgw *w, const char *text);

/* Scalars: key = value; (a NULL key: an element of the open list or array). */
void ms_cfgw_str(ms_cfgw *w, const char *key, const char *value); /* NULL value: "" */
void ms_cfgw_int(ms_cfgw *w, const char *key, int64_t value);     /* L only outside 32 bits */
void ms_cfgw_int64(ms_cfgw *w, const char *key, int64_t value);   /* always L (libconfig int64) */
void ms_cfgw_bool(ms_cfgw *w, const char *key, int value);
void ms_cfgw_float(ms_cfgw *w, const char *key, double value);
void ms_cfgw_float_sig(ms_cfgw *w, const char *key, double value, int sig);

/* Whole arrays: key = [v0, v1, ...]; */
void ms_cfgw_int_array(ms_cfgw *w, const char *key, const int64_t *v, int n, int force64);
void ms_cfgw_float_array(ms_cfgw *w, const char *key, const double *v, int n);
void ms_cfgw_float_array_sig(ms_cfgw *w, const char *key, const double *v, int n, int sig);
void ms_cfgw_str_array(ms_cfgw *w, const char *key, const char *const *v, int n);

/* key = { ... };  A NULL key opens a group that is an element of a list: { ... } */
void ms_cfgw_group_begin(ms_cfgw *w, const char *key);
void ms_cfgw_group_end(ms_cfgw *w);

/* key = ( ... ); */
void ms_cfgw_list_begin(ms_cfgw *w, const char *key);
void ms_cfgw_list_end(ms_cfgw *w);

/* key = [ ... ]; its elements are scalars written with a NULL key. */
void ms_cfgw_array_begin(ms_cfgw *w, const char *key);
void ms_cfgw_array_end(ms_cfgw *w);

/* Whether a value written now is a setting (needs a key: the top level or a group)
 * rather than an element of a list or array (NULL key). */
int ms_cfgw_wants_key(const ms_cfgw *w);

/*
 * Formats v as the writer does ("12.0", "2.385", "1.0e+09") with sig significant
 * digits, or with sig = 0 the fewest that read back to the same double. Returns 1
 * (and writes "0.0") when v is not finite, else 0. buf should hold 32 bytes.
 */
int ms_cfgw_format_float(double v, int sig, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
