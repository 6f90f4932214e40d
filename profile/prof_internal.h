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

#endif
