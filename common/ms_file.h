/*
 * ms_file.h - outputs that are complete or absent: the one atomic-file implementation
 * of moesim (run results, traces, profiles, DOT graphs) and of the calibration
 * programs.
 *
 * An output is written under a temporary name beside its final one, PATH.tmp.PID,
 * and ms_file_commit() flushes it to the disk (fsync) and only then gives it its
 * final name, so a crash, a full disk or a failed library call never leaves a
 * half-written file under PATH. ms_file_abort() removes the temporary file instead.
 * An existing PATH is refused unless the caller passes force (the user's --force).
 *
 * Two ways to write: ms_file_open() also opens the temporary file as a stdio stream
 * (ms_file_stream); ms_file_begin() only picks and registers the temporary name, for
 * libraries that create the file themselves (H5Fcreate(ms_file_tmp_path(f), ...)) and
 * must have closed it before the commit.
 *
 * Without force the commit uses link(2), which fails atomically if PATH appeared
 * meanwhile (another run finished first): that output is kept, ours stays in the
 * temporary file and the message names both. With force it is rename(2), which
 * replaces PATH atomically.
 *
 * Every temporary file between begin/open and commit/abort is listed in a small
 * process-wide registry (MS_FILE_MAX_OPEN entries, lock-free), so that
 * ms_file_cleanup_all() - async-signal-safe: it only calls unlink - can remove them
 * from a SIGINT/SIGTERM handler or a fatal-error path. Opening an output also removes
 * PATH.tmp.N files that dead processes (kill(N, 0) fails with ESRCH) left for the same
 * PATH. On a file system shared between machines a process id may belong to another
 * host; such a stale file of a live process elsewhere would be removed too, which
 * only costs that process its commit (it reports the missing temporary file).
 *
 * Cost: opening an output reads its directory once (the stale-file scan); a commit is
 * one fsync of the file and one of its directory.
 */
#ifndef MS_FILE_H
#define MS_FILE_H

#include <stdio.h>

#include "common/ms_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest output path accepted, and how many outputs may be open at once. */
#define MS_FILE_PATH_MAX 1024
#define MS_FILE_MAX_OPEN 16

typedef struct ms_file {
	char path[MS_FILE_PATH_MAX];     /* the final name */
	char tmp[MS_FILE_PATH_MAX + 32]; /* PATH.tmp.PID */
	FILE *stream; /* ms_file_open: the temporary file; NULL after ms_file_begin */
	int force;    /* replace an existing PATH */
	int slot;     /* index in the registry; -1 when not registered */
	int live;     /* between begin/open and commit/abort */
} ms_file;

/*
 * Whether an output may be written at path: MS_EEXIST ("output 'PATH' exists; pass
 * --force to overwrite it") when it exists and !force, MS_EINVAL when it is a
 * directory or the path is too long. For a check before a long computation; begin and
 * open check again.
 */
int ms_file_check(const char *path, int force, ms_error *err);

/*
 * Checks path (ms_file_check), removes stale temporary files of dead processes, picks
 * the temporary name and registers it; creates nothing. The caller writes the file
 * ms_file_tmp_path(f) names, closes it, then calls ms_file_commit or ms_file_abort.
 * f must stay at the same address until then. A failed begin leaves nothing to undo.
 */
int ms_file_begin(ms_file *f, const char *path, int force, ms_error *err);

/* ms_file_begin, then creates the temporary file as a stream for writing. */
int ms_file_open(ms_file *f, const char *path, int force, ms_error *err);

/* The stream of ms_file_open (NULL after ms_file_begin). */
FILE *ms_file_stream(const ms_file *f);

/* The temporary file's name. */
const char *ms_file_tmp_path(const ms_file *f);

/*
 * Closes the stream (if open; a write error on it fails the commit), flushes the file
 * to the disk and gives it its final name. On failure the temporary file is removed,
 * except when PATH appeared meanwhile without force (MS_EEXIST): then it is kept and
 * the message says where. Either way f is finished: ms_file_abort is then a no-op.
 */
int ms_file_commit(ms_file *f, ms_error *err);

/* Closes the stream and removes the temporary file. A no-op on a finished or
 * zero-filled ms_file. */
void ms_file_abort(ms_file *f);

/*
 * Removes every registered temporary file. Async-signal-safe (unlink only), so a
 * signal handler may call it; the outputs are then unusable and the process must
 * exit. Safe to call more than once.
 */
void ms_file_cleanup_all(void);

/*
 * Removes the files PATH.tmp.N beside path whose process N is gone (kill(N, 0) fails
 * with ESRCH); this process's own and live processes' files are kept. Returns how
 * many were removed (0 also when the directory cannot be read).
 */
int ms_file_remove_stale(const char *path);

/* Reads a whole file into *buf (NUL-terminated, malloc'd: the caller frees it) and its
 * length. MS_EIO naming the file, or MS_ENOMEM. */
int ms_file_read(const char *path, char **buf, size_t *len, ms_error *err);

#ifdef __cplusplus
}
#endif

#endif
