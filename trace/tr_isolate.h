/*
 * tr_isolate.h - reading an untrusted HDF5 trace in a child process first.
 *
 * HDF5 1.10 is not robust against corrupt metadata: a garbled attribute message makes
 * H5Aexists read past its buffer (a segmentation fault: tests/data/traces/corrupt/),
 * and garbled chunk indexes do the same inside H5Dread. No check before the call can
 * rule these out, since the library itself decodes the headers. So every command that
 * opens a trace someone else wrote does its first read in a forked child: a crash there
 * becomes the one-line message "FILE: HDF5 crashed reading the file (signal 11): its
 * metadata is corrupt", as for any other corrupt file.
 *
 * Two uses: `moesim trace info|validate|stats` run the whole command in the child
 * (tr_isolate_run); the replay (routing/rt_trace.c) probes the file in a child
 * (tr_probe) before the main process opens it. Costs one fork per trace opened.
 *
 * Call both before starting threads: the child of a multi-threaded process may only
 * call async-signal-safe functions, and HDF5 is not one.
 */
#ifndef TR_ISOLATE_H
#define TR_ISOLATE_H

#include "common/ms_error.h"

/*
 * Runs fn(ctx, child_err) in a forked child and waits for it. fn's return value is the
 * child's exit status (0 .. 255); the message fn leaves in child_err comes back in err.
 * Returns that exit status, or a negative MS_* code with err set when the child died of
 * a signal (the message names file) or could not be waited for. When fork fails, fn
 * runs in this process (no isolation, same result). stdout and stderr are flushed first,
 * so what the child prints comes out in order.
 */
int tr_isolate_run(const char *file, int (*fn)(void *ctx, ms_error *child_err), void *ctx, ms_error *err);

/*
 * Opens the trace at path in a child: its header (tr_open), the first block of token
 * metadata and the first ranking of every layer, then closes it. MS_OK when all of that
 * read; otherwise the child's code and message ("t.h5: missing root attribute 'depth'")
 * or the crash message, with MS_EFORMAT.
 */
int tr_probe(const char *path, ms_error *err);

#endif
