/* test_util.h - helpers shared by the Check suites: temporary files and text checks. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <check.h>
#include <stddef.h>

#include "sim/sim_inputs.h"

/* Prototypes of every suite (the list the Makefile generates). */
#define SUITE(name) Suite *name(void);
#include "gen/suites.h"
#undef SUITE

/* Writes text to a fresh temporary file; returns its path in buf (caller removes it). */
const char *tu_write_temp(char *buf, size_t len, const char *text);

/* A fresh temporary directory in buf. */
const char *tu_temp_dir(char *buf, size_t len);

/* Relative difference |a - b| / max(|a|, |b|, tiny). */
double tu_rel(double a, double b);

/*
 * Writes a minimal moesim trace (docs/trace-format.md) by hand through the HDF5 API:
 * ids and scores are [L][T][K]; ranks[T] (NULL: all 0). For tests of the replay.
 */
void tu_write_trace(const char *path, int L, int E, int K, long long T, const short *ids, const float *scores,
		    const int *ranks);

/*
 * The inputs (profile, trace) of scenario s, opened for a test as a run's setup opens
 * them; the previous call's are closed. Fails the test if they cannot be opened.
 * tu_inputs_release closes the last ones (check_main calls it).
 */
const sim_inputs *tu_inputs(const scn_scenario *s);
void tu_inputs_release(void);

/* moe_model_init with s's profile opened as a run's setup opens it (errors of either
 * returned, not failed on). */
struct moe_model;
int tu_model_init(struct moe_model *m, const scn_scenario *s, ms_error *err);

/* Loads the scenario text printf formats from fmt into *s (named `name` in messages);
 * fails the test on an error. */
void tu_load_textf(scn_scenario *s, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Loads scenario text (named "test" in messages) into *s and runs it on the machine's
 * threads; fails the test on any error. The result is the caller's to free. */
struct sim_result;
struct sim_result *tu_run_text(const char *text, scn_scenario *s);

#endif
