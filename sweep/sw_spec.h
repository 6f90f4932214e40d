/*
 * sw_spec.h - a sweep: the scenario file, its `sweep` section read into axes, and the
 * points they cross (docs/sweeps.md).
 *
 * The section names scenario keys in their own sections, each with a list of values;
 * `zip` holds groups of keys that move together (their i-th values form one value of
 * one axis):
 *
 *   sweep = {
 *     routing = { capacity_factor = (1.0, 1.25, 2.0, "dropless"); };
 *     zip = ( { network = { topology = ["rail", "fat_tree"]; oversubscription = [1.0, 2.0]; }; } );
 *   };
 *
 * Axes come in the order they are written; points cross them with the first axis
 * slowest, so point i is a fixed mixed-radix number and the same on every run, rank
 * and -j. A point is the scenario with one --set item per swept key, marked as written
 * on its value's line (scn_scenario_load_text_at): messages name file:line and relative paths
 * follow the file. Every value is checked against its key's type and range when the
 * section is read; rules that span keys are the point's to pass or fail.
 *
 * The sweep's id (FNV-1a 64 of the file's text and the --set items) tells a resumed
 * sweep's results from another sweep's. O(values) to read; O(axes) per point.
 */
#ifndef SW_SPEC_H
#define SW_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

#define SW_MAX_AXES 32
#define SW_MAX_KEYS 48
#define SW_MAX_POINTS 100000
#define SW_VALUE_MAX 1024

typedef struct sw_axis {
	int nkeys;    /* 1, or the keys of a zip group */
	int first;    /* index of its first key in sw_spec.key */
	int nvalues;
	int line;     /* where it is written */
} sw_axis;

typedef struct sw_spec {
	char path[SCN_PATH_MAX];
	char *text;              /* the scenario file's contents, read once */
	scn_overrides base;      /* the command line's --set items (borrowed strings) */
	int naxes;
	sw_axis axis[SW_MAX_AXES];
	int nkeys;               /* swept keys, in axis order */
	int key[SW_MAX_KEYS];    /* their scenario key indices (scn_key_name) */
	char **value;            /* [key j] -> [nvalues of its axis] value texts */
	int **line;              /* the same, their lines */
	int key_axis[SW_MAX_KEYS];
	int64_t npoints;
	uint64_t id;
} sw_spec;

/*
 * Reads path and its sweep section; base are the --set items every point gets (a
 * swept key may not be among them). On error nothing is held and err names file:line
 * and the fix.
 */
int sw_spec_load(sw_spec *sp, const char *path, const scn_overrides *base, ms_error *err);
void sw_spec_fini(sw_spec *sp);

/* The same from text held in memory; name stands for the file (messages, relative paths). */
int sw_spec_load_text(sw_spec *sp, const char *text, const char *name, const scn_overrides *base, ms_error *err);

/* Which value of axis a point i takes. */
int sw_spec_coord(const sw_spec *sp, int64_t i, int a);

/* Key j's value text in point i. */
const char *sw_spec_value(const sw_spec *sp, int64_t i, int j);

/*
 * Point i's overrides: the base items, then "key=value" per swept key (written into
 * buf, which must hold SW_POINT_BUF bytes), and in line[] each item's line in the file
 * (0 for the base items; scn_scenario_load_text_at).
 */
#define SW_POINT_BUF (SW_MAX_KEYS * (SCN_NAME_MAX + SW_VALUE_MAX))
void sw_spec_point(const sw_spec *sp, int64_t i, scn_overrides *ov, int line[SCN_MAX_OVERRIDES], char *buf);

/* Loads point i's scenario (scn_scenario_load_text on the file's text). */
int sw_spec_load_point(const sw_spec *sp, int64_t i, scn_scenario *s, ms_error *err);

/* "routing.capacity_factor=1.25 network.topology=rail", the point's swept values. */
void sw_spec_label(const sw_spec *sp, int64_t i, char *buf, size_t len);

/* The shortest text that reads back as v ("1.25", not "1.25000000000000000"). */
const char *sw_format_double(double v, char *buf, size_t len);

#endif
