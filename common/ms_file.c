/*
 * ms_file.c - temporary-name-then-rename outputs and the registry of their temporary
 * files (see ms_file.h).
 *
 * The registry is a fixed array of slots, each a state (free, being filled, live) and
 * a copy of the temporary name. Slots are claimed and released with atomic
 * compare-and-swap, never a lock, so ms_file_cleanup_all() may run in a signal handler
 * that interrupted a registration, or beside another thread opening an output. A copy
 * of the name (not a pointer into the caller's ms_file) keeps the handler away from
 * memory whose lifetime it cannot know.
 */
#include "common/ms_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if ATOMIC_INT_LOCK_FREE != 2
#error "ms_file's registry needs lock-free atomic int (async-signal safety)"
#endif

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_LIVE };

static atomic_int slot_state[MS_FILE_MAX_OPEN];
static char slot_tmp[MS_FILE_MAX_OPEN][MS_FILE_PATH_MAX + 32];

static int slot_claim(const char *tmp)
{
	for (int i = 0; i < MS_FILE_MAX_OPEN; i++) {
		int expected = SLOT_FREE;
		if (atomic_compare_exchange_strong(&slot_state[i], &expected, SLOT_FILLING)) {
			snprintf(slot_tmp[i], sizeof slot_tmp[i], "%s", tmp);
			atomic_store(&slot_state[i], SLOT_LIVE);
			return i;
		}
	}
	return -1;
}

static void slot_release(int i)
{
	int expected = SLOT_LIVE;
	if (i >= 0 && i < MS_FILE_MAX_OPEN)
		atomic_compare_exchange_strong(&slot_state[i], &expected, SLOT_FREE);
}

void ms_file_cleanup_all(void)
{
	for (int i = 0; i < MS_FILE_MAX_OPEN; i++) {
		int expected = SLOT_LIVE;
		/* Claim the slot first, so two cleanups never unlink a name being rewritten. */
		if (atomic_compare_exchange_strong(&slot_state[i], &expected, SLOT_FILLING)) {
			unlink(slot_tmp[i]);
			atomic_store(&slot_state[i], SLOT_FREE);
		}
	}
}

int ms_file_check(const char *path, int force, ms_error *err)
{
	struct stat st;
	if (!path || !*path)
		return MS_ERROR(err, MS_EINVAL, "empty output path; give a file name");
	if (strlen(path) >= MS_FILE_PATH_MAX)
		return MS_ERROR(err, MS_EINVAL, "output path too long (%zu bytes, at most %d): %s", strlen(path),
				MS_FILE_PATH_MAX - 1, path);
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return MS_ERROR(err, MS_EINVAL, "output '%s' is a directory; give a file name", path);
		if (!force)
			return MS_ERROR(err, MS_EEXIST, "output '%s' exists; pass --force to overwrite it", path);
	}
	return MS_OK;
}

/* Splits path into its directory ("." when it has none) and its last component. */
static void split_path(const char *path, char *dir, size_t dirlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, dirlen, ".");
		*base = path;
	} else if (slash == path) {
		snprintf(dir, dirlen, "/");
		*base = slash + 1;
	} else {
		snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
		*base = slash + 1;
	}
}

int ms_file_remove_stale(const char *path)
{
	char dir[MS_FILE_PATH_MAX], victim[MS_FILE_PATH_MAX + 300];
	const char *base;
	size_t blen;
	DIR *d;
	struct dirent *e;
	int removed = 0;
	split_path(path, dir, sizeof dir, &base);
	blen = strlen(base);
	if (blen == 0 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name, *digits;
		char *end;
		long pid;
		if (strncmp(s, base, blen) != 0 || strncmp(s + blen, ".tmp.", 5) != 0)
			continue;
		digits = s + blen + 5;
		if (*digits < '0' || *digits > '9')
			continue;
		errno = 0;
		pid = strtol(digits, &end, 10);
		if (*end != '\0' || errno == ERANGE || pid <= 0 || (pid_t)pid != pid || (pid_t)pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive, or not ours to judge (EPERM: another user's live process) */
		if (strcmp(dir, ".") == 0)
			snprintf(victim, sizeof victim, "%s", s);
		else
			snprintf(victim, sizeof victim, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", s);
		if (unlink(victim) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int ms_file_begin(ms_file *f, const char *path, int force, ms_error *err)
{
	int rc;
	memset(f, 0, sizeof *f);
	f->slot = -1;
	if ((rc = ms_file_check(path, force, err)) < 0)
		return rc;
	ms_file_remove_stale(path);
	snprintf(f->path, sizeof f->path, "%s", path);
	snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
	f->force = force;
	f->slot = slot_claim(f->tmp);
	if (f->slot < 0)
		return MS_ERROR(err, MS_ERANGE, "cannot write '%s': more than %d outputs open at once", path,
				MS_FILE_MAX_OPEN);
	f->live = 1;
	return MS_OK;
}

int ms_file_open(ms_file *f, const char *path, int force, ms_error *err)
{
	int rc = ms_file_begin(f, path, force, err);
	if (rc < 0)
		return rc;
	f->stream = fopen(f->tmp, "w");
	if (!f->stream) {
		int e = errno;
		ms_file_abort(f);
		return MS_ERROR(err, MS_EIO, "cannot create '%s': %s (is the directory there and writable?)", f->tmp,
				strerror(e));
	}
	return MS_OK;
}

FILE *ms_file_stream(const ms_file *f)
{
	return f->stream;
}

const char *ms_file_tmp_path(const ms_file *f)
{
	return f->tmp;
}

static void finish(ms_file *f, int remove_tmp)
{
	if (f->stream)
		fclose(f->stream);
	f->stream = NULL;
	if (remove_tmp)
		unlink(f->tmp);
	slot_release(f->slot);
	f->slot = -1;
	f->live = 0;
}

void ms_file_abort(ms_file *f)
{
	if (f && f->live)
		finish(f, 1);
}

/* Flushes the temporary file to the disk; 0 or an errno value. A file system that
 * cannot sync (EINVAL) is taken as it is. */
static int sync_tmp(ms_file *f)
{
	int e = 0;
	if (f->stream) {
		FILE *s = f->stream;
		f->stream = NULL;
		if (fflush(s) != 0 || ferror(s))
			e = errno ? errno : EIO;
		if (!e && fsync(fileno(s)) != 0 && errno != EINVAL)
			e = errno;
		if (fclose(s) != 0 && !e)
			e = errno ? errno : EIO;
	} else {
		int fd = open(f->tmp, O_RDONLY);
		if (fd < 0)
			return errno;
		if (fsync(fd) != 0 && errno != EINVAL)
			e = errno;
		close(fd);
	}
	return e;
}

/* Makes the new name itself durable; best effort (not every file system allows it). */
static void sync_dir(const char *path)
{
	char dir[MS_FILE_PATH_MAX];
	const char *base;
	int fd;
	split_path(path, dir, sizeof dir, &base);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int appeared(ms_file *f, ms_error *err)
{
	/* Keep both: the other output is someone's, ours is the user's to rename. */
	finish(f, 0);
	return MS_ERROR(err, MS_EEXIST,
			"output '%s' appeared while this one was written; it is kept, and ours is left in '%s' (rename "
			"it, or rerun with --force)",
			f->path, f->tmp);
}

int ms_file_commit(ms_file *f, ms_error *err)
{
	int e;
	MS_ASSERT(f->live, "commit of an output that is not open (%s)", f->path);
	if ((e = sync_tmp(f)) != 0) {
		finish(f, 1);
		return MS_ERROR(err, MS_EIO, "writing '%s' failed: %s (disk full?)", f->tmp, strerror(e));
	}
	if (!f->force) {
		if (link(f->tmp, f->path) == 0) {
			unlink(f->tmp);
			finish(f, 0);
			sync_dir(f->path);
			return MS_OK;
		}
		if (errno == EEXIST)
			return appeared(f, err);
		/* Some file systems have no hard links: check, then rename. */
		if (access(f->path, F_OK) == 0)
			return appeared(f, err);
	}
	if (rename(f->tmp, f->path) != 0) {
		e = errno;
		finish(f, 1);
		return MS_ERROR(err, MS_EIO, "cannot rename '%s' to '%s': %s", f->tmp, f->path, strerror(e));
	}
	finish(f, 0);
	sync_dir(f->path);
	return MS_OK;
}

int ms_file_read(const char *path, char **buf, size_t *len, ms_error *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *b;
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
	b = malloc(cap + 1);
	while (b) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		{
			char *q = realloc(b, cap + 1);
			if (!q) {
				free(b);
				b = NULL;
				break;
			}
			b = q;
		}
	}
	if (!b || ferror(f)) {
		int e = errno;
		fclose(f);
		free(b);
		return b ? MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(e))
			 : MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return MS_OK;
}
