/*
 * cal_profile.c - the atomic libconfig profile writer (see cal_profile.h).
 *
 * Write errors are sticky: the first failed fprintf is remembered and reported by
 * cal_profile_commit(), which then removes the temporary file instead of renaming a
 * truncated profile into place. Plain C11 + POSIX (fsync, link), no CUDA.
 */
#include "calibrate/cal_profile.h"
#include "calibrate/cal_util.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 16

enum { LEVEL_GROUP, LEVEL_LIST };

struct cal_profile {
	FILE *f;
	char *path;
	char *tmp;
	int force;
	int failed;          /* a write failed; errno_saved says why */
	int errno_saved;
	int depth;           /* 0: top level (settings) */
	int kind[MAX_DEPTH]; /* kind[d] for d in 1..depth */
	int count[MAX_DEPTH];/* elements written so far at that level */
};

static char *dup_str(const char *s)
{
	char *d = malloc(strlen(s) + 1);

	if (d)
		strcpy(d, s);
	return d;
}

/* The directory part of path ("." when there is none), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return dup_str(".");
	if (slash == path)
		return dup_str("/");
	d = malloc((size_t)(slash - path) + 1);
	if (d) {
		memcpy(d, path, (size_t)(slash - path));
		d[slash - path] = '\0';
	}
	return d;
}

int cal_profile_check_target(const char *path, int force, char *err, size_t errlen)
{
	struct stat st;
	char *dir;

	if (!path || !*path) {
		snprintf(err, errlen, "empty output path (give --out FILE)");
		return -1;
	}
	dir = dir_of(path);
	if (!dir) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot write '%s': directory '%s' does not exist (create it first)",
			 path, dir);
		free(dir);
		return -1;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(err, errlen, "cannot write '%s': directory '%s' is not writable", path, dir);
		free(dir);
		return -1;
	}
	free(dir);
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "'%s' is a directory; give a file name to --out", path);
			return -1;
		}
		if (!force) {
			snprintf(err, errlen,
				 "'%s' exists; pass --force to overwrite it or choose another --out", path);
			return -1;
		}
	}
	return 0;
}

cal_profile *cal_profile_open(const char *path, int force, char *err, size_t errlen)
{
	cal_profile *p;
	size_t n;

	if (cal_profile_check_target(path, force, err, errlen) != 0)
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->force = force;
	p->path = dup_str(path);
	n = strlen(path) + 32;
	p->tmp = malloc(n);
	if (!p->path || !p->tmp) {
		free(p->path);
		free(p->tmp);
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(p->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	p->f = fopen(p->tmp, "w");
	if (!p->f) {
		snprintf(err, errlen, "cannot create '%s': %s", p->tmp, strerror(errno));
		free(p->path);
		free(p->tmp);
		free(p);
		return NULL;
	}
	return p;
}

const char *cal_profile_tmp_path(const cal_profile *p)
{
	return p->tmp;
}

static void note_result(cal_profile *p, int r)
{
	if (r < 0 && !p->failed) {
		p->failed = 1;
		p->errno_saved = errno ? errno : EIO;
	}
}

static void out(cal_profile *p, const char *fmt, ...) CAL_PRINTF(2, 3);

static void out(cal_profile *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfprintf(p->f, fmt, ap);
	va_end(ap);
	note_result(p, r);
}

static void indent(cal_profile *p)
{
	for (int i = 0; i < p->depth; i++)
		note_result(p, fputs("  ", p->f));
}

/* Settings may only appear where a group's members go: at the top or in a group. */
static void begin_setting(cal_profile *p)
{
	assert(p->depth == 0 || p->kind[p->depth] == LEVEL_GROUP);
	if (p->depth > 0)
		p->count[p->depth]++;
	indent(p);
}

int cal_profile_format_float(double v, char *buf, size_t len)
{
	char tmp[48];
	char *e;
	int replaced = !isfinite(v);

	if (replaced)
		v = 0.0;
	/* 7 significant digits: timings carry ~3-4, more would only be noise. */
	snprintf(tmp, sizeof tmp, "%.7g", v);
	if (strchr(tmp, '.') == NULL) {
		/* "12" -> "12.0", "1e+09" -> "1.0e+09": libconfig needs the point to type it
		 * as a float. */
		e = strpbrk(tmp, "eE");
		if (e) {
			char mant[48];
			size_t m = (size_t)(e - tmp);

			memcpy(mant, tmp, m);
			mant[m] = '\0';
			snprintf(buf, len, "%s.0%s", mant, e);
			return replaced;
		}
		snprintf(buf, len, "%s.0", tmp);
		return replaced;
	}
	snprintf(buf, len, "%s", tmp);
	return replaced;
}

/* Writes the escape sequence of one byte into o (at least 5 bytes); returns its
 * length. libconfig strings understand \" \\ \n \r \t \f and \xNN. */
static int escape_byte(unsigned char c, char *o)
{
	switch (c) {
	case '"': return snprintf(o, 5, "\\\"");
	case '\\': return snprintf(o, 5, "\\\\");
	case '\n': return snprintf(o, 5, "\\n");
	case '\r': return snprintf(o, 5, "\\r");
	case '\t': return snprintf(o, 5, "\\t");
	case '\f': return snprintf(o, 5, "\\f");
	default:
		if (c < 0x20 || c == 0x7f)
			return snprintf(o, 5, "\\x%02x", c);
		o[0] = (char)c;
		o[1] = '\0';
		return 1;
	}
}

void cal_profile_escape(const char *s, char *buf, size_t len)
{
	size_t used = 0;
	char o[8];

	if (len == 0)
		return;
	buf[0] = '\0';
	for (; *s; s++) {
		int n = escape_byte((unsigned char)*s, o);

		if (used + (size_t)n + 1 > len)
			break;
		memcpy(buf + used, o, (size_t)n + 1);
		used += (size_t)n;
	}
}

void cal_profile_str(cal_profile *p, const char *key, const char *value)
{
	char o[8];

	begin_setting(p);
	out(p, "%s = \"", key);
	for (const char *s = value ? value : ""; *s; s++) {
		escape_byte((unsigned char)*s, o);
		note_result(p, fputs(o, p->f));
	}
	out(p, "\";\n");
}

static int needs_int64(int64_t v)
{
	return v > INT32_MAX || v < INT32_MIN;
}

void cal_profile_int(cal_profile *p, const char *key, int64_t value)
{
	begin_setting(p);
	out(p, "%s = %lld%s;\n", key, (long long)value, needs_int64(value) ? "L" : "");
}

void cal_profile_bool(cal_profile *p, const char *key, int value)
{
	begin_setting(p);
	out(p, "%s = %s;\n", key, value ? "true" : "false");
}

void cal_profile_float(cal_profile *p, const char *key, double value)
{
	char b[48];

	if (cal_profile_format_float(value, b, sizeof b))
		cal_warn("profile key '%s': non-finite value written as 0.0", key);
	begin_setting(p);
	out(p, "%s = %s;\n", key, b);
}

/* Arrays are wrapped every 8 values so diffs of two profiles stay readable. */
#define PER_LINE 8

void cal_profile_int_array(cal_profile *p, const char *key, const int64_t *v, int n, int force64)
{
	int wide = force64;

	for (int i = 0; i < n && !wide; i++)
		wide = needs_int64(v[i]);
	begin_setting(p);
	out(p, "%s = [", key);
	for (int i = 0; i < n; i++) {
		if (i && i % PER_LINE == 0) {
			out(p, ",\n");
			indent(p);
			out(p, "    ");
		} else if (i) {
			out(p, ", ");
		}
		out(p, "%lld%s", (long long)v[i], wide ? "L" : "");
	}
	out(p, "];\n");
}

void cal_profile_float_array(cal_profile *p, const char *key, const double *v, int n)
{
	char b[48];

	begin_setting(p);
	out(p, "%s = [", key);
	for (int i = 0; i < n; i++) {
		if (i && i % PER_LINE == 0) {
			out(p, ",\n");
			indent(p);
			out(p, "    ");
		} else if (i) {
			out(p, ", ");
		}
		if (cal_profile_format_float(v[i], b, sizeof b))
			cal_warn("profile key '%s'[%d]: non-finite value written as 0.0", key, i);
		out(p, "%s", b);
	}
	out(p, "];\n");
}

void cal_profile_comment(cal_profile *p, const char *text)
{
	const char *s = text;

	/* Comments may sit between a list's elements too, where a setting may not. */
	do {
		const char *nl = strchr(s, '\n');
		int n = nl ? (int)(nl - s) : (int)strlen(s);

		indent(p);
		out(p, "// %.*s\n", n, s);
		s = nl ? nl + 1 : NULL;
	} while (s && *s);
}

void cal_profile_group_begin(cal_profile *p, const char *key)
{
	assert(p->depth + 1 < MAX_DEPTH);
	if (key) {
		begin_setting(p);
		out(p, "%s = {\n", key);
	} else {
		assert(p->depth > 0 && p->kind[p->depth] == LEVEL_LIST);
		if (p->count[p->depth]++)
			out(p, ",\n");
		indent(p);
		out(p, "{\n");
	}
	p->depth++;
	p->kind[p->depth] = LEVEL_GROUP;
	p->count[p->depth] = 0;
}

void cal_profile_group_end(cal_profile *p)
{
	int in_list;

	assert(p->depth > 0 && p->kind[p->depth] == LEVEL_GROUP);
	p->depth--;
	in_list = p->depth > 0 && p->kind[p->depth] == LEVEL_LIST;
	indent(p);
	out(p, in_list ? "}" : "};\n");
}

void cal_profile_list_begin(cal_profile *p, const char *key)
{
	assert(p->depth + 1 < MAX_DEPTH);
	begin_setting(p);
	out(p, "%s = (\n", key);
	p->depth++;
	p->kind[p->depth] = LEVEL_LIST;
	p->count[p->depth] = 0;
}

void cal_profile_list_end(cal_profile *p)
{
	assert(p->depth > 0 && p->kind[p->depth] == LEVEL_LIST);
	if (p->count[p->depth])
		out(p, "\n");
	p->depth--;
	indent(p);
	out(p, ");\n");
}

static void free_profile(cal_profile *p)
{
	free(p->path);
	free(p->tmp);
	free(p);
}

void cal_profile_abort(cal_profile *p)
{
	if (!p)
		return;
	if (p->f)
		fclose(p->f);
	unlink(p->tmp);
	free_profile(p);
}

int cal_profile_commit(cal_profile *p, char *err, size_t errlen)
{
	int r = 0;

	assert(p->depth == 0);
	if (fflush(p->f) != 0)
		note_result(p, -1);
	if (!p->failed && fsync(fileno(p->f)) != 0)
		note_result(p, -1);
	if (fclose(p->f) != 0)
		note_result(p, -1);
	p->f = NULL;
	if (p->failed) {
		snprintf(err, errlen, "writing '%s' failed: %s", p->tmp, strerror(p->errno_saved));
		unlink(p->tmp);
		free_profile(p);
		return -1;
	}
	if (p->force) {
		if (rename(p->tmp, p->path) != 0) {
			snprintf(err, errlen, "cannot rename '%s' to '%s': %s", p->tmp, p->path,
				 strerror(errno));
			r = -1;
		}
	} else if (link(p->tmp, p->path) != 0) {
		if (errno == EEXIST) {
			snprintf(err, errlen,
				 "'%s' appeared while measuring; the profile is left in '%s' (rename it, or rerun with --force)",
				 p->path, p->tmp);
			free_profile(p);
			return -1;
		}
		/* Some file systems have no hard links: fall back to check-then-rename. */
		if (access(p->path, F_OK) == 0) {
			snprintf(err, errlen,
				 "'%s' appeared while measuring; the profile is left in '%s' (rename it, or rerun with --force)",
				 p->path, p->tmp);
			free_profile(p);
			return -1;
		}
		if (rename(p->tmp, p->path) != 0) {
			snprintf(err, errlen, "cannot rename '%s' to '%s': %s", p->tmp, p->path,
				 strerror(errno));
			r = -1;
		}
	} else {
		unlink(p->tmp);
	}
	if (r != 0)
		unlink(p->tmp);
	free_profile(p);
	return r;
}
