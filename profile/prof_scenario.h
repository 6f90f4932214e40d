/*
 * prof_scenario.h - the calibration profile named by a scenario's cluster.profile: one
 * file or a comma-separated list read as one profile; relative paths are taken from the
 * scenario file's directory, or from the working directory when the value came from
 * --set (or the scenario has no file).
 */
#ifndef PROF_SCENARIO_H
#define PROF_SCENARIO_H

#include "common/ms_error.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"

/* Loads it (s->cluster.profile must be set); *out is the caller's to destroy. */
int prof_profile_load_scenario(const scn_scenario *s, prof_profile **out, ms_error *err);

#endif
