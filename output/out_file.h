/*
 * out_file.h - outputs are complete or absent: write to a temporary name beside the
 * final path, then rename (atomic on POSIX within one file system). An existing file
 * is replaced only when the caller passes force.
 */
#ifndef OUT_FILE_H
#define OUT_FILE_H

#include <stddef.h>

#include "common/ms_error.h"

typedef struct out_file {
	char final_path[1024];
	char tmp_path[1100];
} out_file;

/* Checks the final path (exists without force -> MS_EEXIST) and picks the temporary name. */
int out_file_begin(out_file *f, const char *path, int force, ms_error *err);

/* Renames the temporary file onto the final path. */
int out_file_commit(out_file *f, ms_error *err);

/* Removes the temporary file (after a failure). */
void out_file_abort(out_file *f);

#endif
