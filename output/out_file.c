/* out_file.c - temporary-name-then-rename outputs (see out_file.h). */
#include "output/out_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int out_file_begin(out_file *f, const char *path, int force, ms_error *err)
{
	struct stat st;
	if (strlen(path) >= sizeof f->final_path)
		return MS_ERROR(err, MS_EINVAL, "output path too long: %s", path);
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return MS_ERROR(err, MS_EINVAL, "output '%s' is a directory; give a file name", path);
		if (!force)
			return MS_ERROR(err, MS_EEXIST, "output '%s' exists; pass --force to overwrite it", path);
	}
	snprintf(f->final_path, sizeof f->final_path, "%s", path);
	snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%ld", path, (long)getpid());
	return MS_OK;
}

int out_file_commit(out_file *f, ms_error *err)
{
	if (rename(f->tmp_path, f->final_path) != 0) {
		int e = errno;
		remove(f->tmp_path);
		return MS_ERROR(err, MS_EIO, "cannot rename '%s' to '%s': %s", f->tmp_path, f->final_path, strerror(e));
	}
	return MS_OK;
}

void out_file_abort(out_file *f)
{
	remove(f->tmp_path);
}
