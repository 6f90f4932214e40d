/*
 * prof_internal.h - what the files of profile/ share and nobody else needs (libuv's
 * uv__ convention: the double underscore marks it internal).
 */
#ifndef PROF_INTERNAL_H
#define PROF_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_cfgwrite.h"
#include "profile/prof_profile.h"

/* The files read into p, for the writer: the i-th file's `profile` group (a
 * const config_setting_t *), its path and whether it is a datasheet profile. */
int prof__profile_nfiles(const prof_profile *p);
const void *prof__profile_file(const prof_profile *p, int i, const char **path, int *datasheet);

/*
 * Copies a libconfig setting (a const config_setting_t *) and everything under it into
 * the profile text; inside a group, members named skip (may be NULL) are left out.
 * Floats get the fewest digits that read back to the same double, int64 values and
 * arrays keep their L.
 */
void prof__w_setting(ms_cfgw *w, const void *setting, const char *skip);

/*
 * A small JSON reader for nccl-tests' -J output (RFC 8259; no streaming, depth at most
 * 64). Values remember their line for messages.
 */
typedef enum { PROF__J_NULL, PROF__J_BOOL, PROF__J_NUM, PROF__J_STR, PROF__J_ARR, PROF__J_OBJ } prof__jtype;

typedef struct prof__json {
	prof__jtype type;
	int line, col;            /* where the value starts (1-based) */
	double num;               /* PROF__J_NUM */
	int boolean;              /* PROF__J_BOOL */
	char *str;                /* PROF__J_STR */
	int n;                    /* PROF__J_ARR, PROF__J_OBJ: items */
	struct prof__json *items; /* [n] */
	char **keys;              /* PROF__J_OBJ: [n] */
} prof__json;

/* Parses text (len bytes) into *out; name is used in messages ("run.json:12: ..."). */
int prof__json_parse(const char *text, size_t len, const char *name, prof__json *out, ms_error *err);

/* Frees what prof__json_parse allocated under v (not v itself). */
void prof__json_free(prof__json *v);

/* The member key of object o, or NULL (also when o is not an object). */
const prof__json *prof__json_get(const prof__json *o, const char *key);

#endif
