/*
 * sw_store.c - a sweep's directory of point files (see sw_store.h).
 */
#include "sweep/sw_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ms_file.h"

void sw_store_default_dir(const char *scenario, char *buf, size_t len)
{
	const char *base = strrchr(scenario, '/');
	size_t n;
	base = base ? base + 1 : scenario;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".cfg") == 0)
		n -= 4;
	snprintf(buf, len, "%.*s.sweep", (int)n, base);
}

const char *sw_store_path(const sw_store *st, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", st->dir, name);
	return buf;
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

static int write_text(const char *path, const char *text, int force, ms_error *err)
{
	ms_file f;
	if (ms_file_open(&f, path, force, err) < 0)
		return err->code;
	fputs(text, ms_file_stream(&f));
	return ms_file_commit(&f, err);
}

/* Removes DIR/points/ *.txt and the results (force on another sweep's directory). */
static int empty_dir(sw_store *st, ms_error *err)
{
	char path[SW_DIR_MAX + 300];
	DIR *d;
	struct dirent *e;
	static const char *const files[] = {"results.csv", "results.h5", "sweep.id"};
	sw_store_path(st, "points", path, sizeof path);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char f[SW_DIR_MAX + 600];
		size_t n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0) {
			snprintf(f, sizeof f, "%s/%s", path, e->d_name);
			if (unlink(f) < 0 && errno != ENOENT) {
				closedir(d);
				return MS_ERROR(err, MS_EIO, "cannot remove '%s': %s", f, strerror(errno));
			}
		}
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		sw_store_path(st, files[i], path, sizeof path);
		if (unlink(path) < 0 && errno != ENOENT)
			return MS_ERROR(err, MS_EIO, "cannot remove '%s': %s", path, strerror(errno));
	}
	return MS_OK;
}

int sw_store_open(sw_store *st, const char *dir, const sw_spec *sp, int force, ms_error *err)
{
	char path[SW_DIR_MAX + 300], text[SCN_PATH_MAX + 256], have[SCN_PATH_MAX + 256];
	struct stat sb;
	memset(st, 0, sizeof *st);
	if (strlen(dir) >= sizeof st->dir)
		return MS_ERROR(err, MS_EINVAL, "sweep directory name too long: %s", dir);
	snprintf(st->dir, sizeof st->dir, "%s", dir);
	st->id = sp->id;
	st->npoints = sp->npoints;
	if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
		return MS_ERROR(err, MS_EINVAL, "sweep output '%s' exists and is not a directory; give -o DIR", dir);
	if (mkdir(dir, 0777) == 0)
		st->created = 1;
	else if (errno != EEXIST)
		return MS_ERROR(err, MS_EIO, "cannot create sweep directory '%s': %s", dir, strerror(errno));
	snprintf(text, sizeof text, "moesim-sweep %016llx\nscenario %s\npoints %lld\n", (unsigned long long)sp->id,
		 sp->path, (long long)sp->npoints);
	sw_store_path(st, "sweep.id", path, sizeof path);
	if (read_text(path, have, sizeof have) >= 0) {
		if (strncmp(have, text, 30) != 0) { /* the id line: the same sweep, wherever run from */
			if (!force)
				return MS_ERROR(err, MS_EEXIST,
						"'%s' holds the results of another sweep (the scenario file or the --set items "
						"changed since): pass --force to start it again, or -o another directory",
						dir);
			if (empty_dir(st, err) < 0)
				return err->code;
		}
	} else {
		DIR *d = opendir(dir);
		struct dirent *e;
		int other = 0;
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strcmp(e->d_name, "points") != 0)
				other = 1;
		if (d)
			closedir(d);
		if (other && !force)
			return MS_ERROR(err, MS_EEXIST,
					"'%s' is not empty and is not a sweep directory (no sweep.id): give -o a new or empty "
					"directory",
					dir);
	}
	sw_store_path(st, "points", path, sizeof path);
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		return MS_ERROR(err, MS_EIO, "cannot create '%s': %s", path, strerror(errno));
	sw_store_path(st, "sweep.id", path, sizeof path);
	if (access(path, F_OK) != 0 && write_text(path, text, 1, err) < 0)
		return err->code;
	return MS_OK;
}

void sw_store_discard(sw_store *st)
{
	char path[SW_DIR_MAX + 300];
	if (!st->created)
		return;
	unlink(sw_store_path(st, "sweep.id", path, sizeof path));
	rmdir(sw_store_path(st, "points", path, sizeof path));
	rmdir(st->dir);
	st->created = 0;
}

static void point_path(const sw_store *st, int64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/points/%lld.txt", st->dir, (long long)i);
}

int sw_store_get(const sw_store *st, int64_t i, sw_record *rec, ms_error *err)
{
	char path[SW_DIR_MAX + 64];
	char *text = malloc(SW_RECORD_TEXT_MAX);
	int n;
	if (!text)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	point_path(st, i, path, sizeof path);
	n = read_text(path, text, SW_RECORD_TEXT_MAX);
	if (n < 0) {
		free(text);
		return 0;
	}
	{
		ms_error e;
		ms_error_clear(&e);
		if (sw_record_read(rec, st->id, text, &e) == MS_OK && rec->point != i)
			MS_ERROR(&e, MS_EFORMAT, "it holds point %lld", (long long)rec->point);
		if (e.code != MS_OK) {
			free(text);
			return MS_ERROR(err, MS_EFORMAT, "%s: %s; remove it to run the point again", path, e.msg);
		}
	}
	free(text);
	return 1;
}

int sw_store_put(const sw_store *st, const sw_record *rec, ms_error *err)
{
	char path[SW_DIR_MAX + 64];
	char *text = malloc(SW_RECORD_TEXT_MAX);
	int rc;
	if (!text)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	point_path(st, rec->point, path, sizeof path);
	if (sw_record_write(rec, st->id, text, SW_RECORD_TEXT_MAX) < 0) {
		free(text);
		return MS_ERROR(err, MS_EINVAL, "point %lld: record too long", (long long)rec->point);
	}
	rc = write_text(path, text, 0, err);
	free(text);
	return rc;
}
