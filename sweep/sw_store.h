/*
 * sw_store.h - a sweep's directory: what makes it resumable.
 *
 *   DIR/sweep.id        the sweep's id and scenario (written first, atomically)
 *   DIR/points/N.txt    point N's record (sw_record.h), one file per point
 *   DIR/results.csv     the table, written when every point is done
 *   DIR/results.h5      the same table in HDF5
 *
 * Each point file is written under a temporary name, flushed to the disk and linked to
 * its final name only when whole (common/ms_file.h, without force: link(2) fails if the
 * name exists), so after a crash or a kill -9 a point is on disk whole or not at all,
 * and no point can be written twice. A rerun reads the points present and runs the
 * rest. A directory holding another sweep (another id: the scenario file or the --set
 * items changed) is refused unless the caller passes force, which empties it first.
 */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stdint.h>

#include "common/ms_error.h"
#include "sweep/sw_record.h"
#include "sweep/sw_spec.h"

#define SW_DIR_MAX 900

typedef struct sw_store {
	char dir[SW_DIR_MAX];
	uint64_t id;
	int64_t npoints;
	int created;   /* sw_store_open made the directory */
} sw_store;

/* The default directory for a scenario: its file name without .cfg, plus ".sweep", in the working directory. */
void sw_store_default_dir(const char *scenario, char *buf, size_t len);

/* Opens (creating it and DIR/points if needed) dir for sp. */
int sw_store_open(sw_store *st, const char *dir, const sw_spec *sp, int force, ms_error *err);

/* Removes what sw_store_open created, when it created the directory and nothing was put
 * there since (a sweep refused as a whole leaves nothing behind). */
void sw_store_discard(sw_store *st);

/* Point i's record: 1 and *rec when on disk, 0 when not; < 0 when a file there is not a whole record of this sweep. */
int sw_store_get(const sw_store *st, int64_t i, sw_record *rec, ms_error *err);

/* Writes rec's point file atomically. */
int sw_store_put(const sw_store *st, const sw_record *rec, ms_error *err);

/* DIR/name into buf. */
const char *sw_store_path(const sw_store *st, const char *name, char *buf, size_t len);

#endif
