/*
 * tr_h5.h - internal to trace/: opening a trace file and checking its header, shared by
 * the reader (which stops at the first problem) and the validator (which reports them all
 * and is strict about dtypes). Not for other modules: use tr_reader.h.
 */
#ifndef TR_H5_H
#define TR_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "trace/tr_format.h"

enum {
	TR__DS_IDS,
	TR__DS_SCORES,
	TR__DS_LOGITS,
	TR__DS_STEP,
	TR__DS_SEQUENCE,
	TR__DS_POSITION,
	TR__DS_RANK,
	TR__DS_DOMAIN,
	TR__DS_DOMAIN_NAMES,
	TR__NDS
};

/* Dataset paths, indexed by TR__DS_*. */
extern const char *const tr__ds_path[TR__NDS];

/* Receives one formatted problem ("PATH: what is wrong"). */
typedef void (*tr__report_fn)(void *ctx, const char *msg);

typedef struct tr__header {
	hid_t file;
	hid_t ds[TR__NDS];  /* -1 where absent */
	tr_info info;
	char *model, *source, *created;
	char **domain_names; /* [num_domains] */
	int problems;       /* problems reported */
	int strict;         /* dtypes must be exactly the documented ones */
	tr__report_fn report;
	void *ctx;
} tr__header;

/*
 * Opens path and checks attributes and datasets, reporting every problem found through
 * report. Returns 0 when the header is usable (every required dataset open with the right
 * shape), else -1; either way tr__header_close must be called. Datasets are opened with
 * default access properties (the reader reopens the routing ones with its chunk cache).
 */
int tr__header_open(tr__header *h, const char *path, int strict, tr__report_fn report, void *ctx);
void tr__header_close(tr__header *h);

/* Formats "PATH: message" and passes it to h->report; counts it. */
void tr__problem(tr__header *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Turns off HDF5's automatic error printing (moesim reports its own messages). */
void tr__h5_quiet(void);

/*
 * Reads a block of tokens into buf as mem_type: the hyperslab [layer, t0 .. t0+n, 0 .. k)
 * of a 3-D routing dataset (rank 3), or [t0 .. t0+n) of a 1-D token dataset (rank 1;
 * layer and k ignored). Returns HDF5's status (< 0: failed); n = 0 reads nothing.
 */
herr_t tr__read_block(hid_t ds, hid_t mem_type, int rank, int layer, int64_t t0, int64_t n, int k, void *buf);

/* A dataset's shape and storage: rank (1..3), dims, chunk dims (when chunked) and the
 * bytes of one stored element. */
typedef struct tr__layout {
	int rank;
	hsize_t dims[3];
	int chunked;
	hsize_t chunk[3];
	size_t elem;
} tr__layout;

/* Fills *l; -1 when HDF5 cannot say or the rank is not 1..3. */
int tr__layout_get(hid_t ds, tr__layout *l);

/* The default cache budget of a routing dataset (see tr_set_cache). */
size_t tr__cache_default(size_t chunk_bytes, int layers, size_t chunks);

/* Smallest prime >= n (n <= 2^31). */
size_t tr__next_prime(size_t n);

/* "int16", "float32", "string", ... for messages. */
void tr__type_name(hid_t type, char *buf, size_t len);

#endif
