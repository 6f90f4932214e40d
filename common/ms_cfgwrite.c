/*
 * ms_cfgwrite.c - the libconfig text writer (see ms_cfgwrite.h).
 *
 * Every value goes through begin_item(), which knows from the level it is in what
 * comes before it: "key = " in a group, ",\n" and the indentation between the
 * elements of a list, ", " (and a line break every 8) between those of an array.
 * Plain C11, no libconfig: the calibration programs link it without the library.
 */
#include "common/ms_cfgwrite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_error.h"

#define PER_LINE 8

enum { LV_GROUP = 0, LV_LIST = 1, LV_ARRAY = 2, LV_KIND = 3, LV_KEYED = 4 };

void ms_cfgw_init(ms_cfgw *w, FILE *f, int sig)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	w->sig = sig;
}

static void out(ms_cfgw *w, const char *s)
{
	if (fputs(s, w->f) < 0)
		w->failed = 1;
}

static void indent_to(ms_cfgw *w, int depth)
{
	for (int i = 0; i < depth; i++)
		out(w, "  ");
}

/* The kind of the level being written (the top level is a group). */
static int level(const ms_cfgw *w)
{
	return w->depth == 0 ? LV_GROUP : (w->kind[w->depth] & LV_KIND);
}

int ms_cfgw_wants_key(const ms_cfgw *w)
{
	return level(w) == LV_GROUP;
}

/* Starts an item: "key = " in a group, a separator in a list or an array. */
static void begin_item(ms_cfgw *w, const char *key)
{
	int lv = level(w);
	if (key) {
		MS_ASSERT(lv == LV_GROUP, "setting '%s' inside a %s", key, lv == LV_LIST ? "list" : "array");
		indent_to(w, w->depth);
		out(w, key);
		out(w, " = ");
	} else if (lv == LV_LIST) {
		if (w->count[w->depth])
			out(w, ",\n");
		indent_to(w, w->depth);
	} else {
		int i = w->count[w->depth];
		MS_ASSERT(lv == LV_ARRAY, "unnamed element outside a list or array (depth %d)", w->depth);
		if (i && i % PER_LINE == 0) {
			out(w, ",\n");
			indent_to(w, w->depth - 1);
			out(w, "    ");
		} else if (i) {
			out(w, ", ");
		}
	}
	if (w->depth > 0)
		w->count[w->depth]++;
}

static void end_item(ms_cfgw *w, const char *key)
{
	if (key)
		out(w, ";\n");
}

static void push(ms_cfgw *w, int kind, const char *key)
{
	MS_ASSERT(w->depth + 1 < MS_CFGW_DEPTH, "nesting deeper than %d", MS_CFGW_DEPTH);
	w->depth++;
	w->kind[w->depth] = kind | (key ? LV_KEYED : 0);
	w->count[w->depth] = 0;
}

/* Closes the open level, which must be of the given kind; returns whether it had a key. */
static int pop(ms_cfgw *w, int kind, const char *what)
{
	int keyed;
	MS_ASSERT(w->depth > 0 && level(w) == kind, "no %s open (depth %d)", what, w->depth);
	keyed = (w->kind[w->depth] & LV_KEYED) != 0;
	w->depth--;
	return keyed;
}

int ms_cfgw_format_float(double v, int sig, char *buf, size_t len)
{
	char tmp[48], *e;
	if (!isfinite(v)) {
		snprintf(buf, len, "0.0");
		return 1;
	}
	if (sig > 0) {
		snprintf(tmp, sizeof tmp, "%.*g", sig, v);
	} else {
		/* The fewest significant digits that read back to the same double. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof tmp, "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	if (strchr(tmp, '.')) {
		snprintf(buf, len, "%s", tmp);
		return 0;
	}
	/* libconfig needs the point to type it as a float: "12" -> "12.0", "1e+09" -> "1.0e+09". */
	e = strpbrk(tmp, "eE");
	if (e)
		snprintf(buf, len, "%.*s.0%s", (int)(e - tmp), tmp, e);
	else
		snprintf(buf, len, "%s.0", tmp);
	return 0;
}

void ms_cfgw_comment(ms_cfgw *w, const char *text)
{
	const char *s = text;
	do {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		indent_to(w, w->depth);
		out(w, "// ");
		if (fwrite(s, 1, n, w->f) != n)
			w->failed = 1;
		out(w, "\n");
		s = nl ? nl + 1 : NULL;
	} while (s && *s);
}

void ms_cfgw_str(ms_cfgw *w, const char *key, const char *value)
{
	char b[8];
	begin_item(w, key);
	out(w, "\"");
	for (const char *s = value ? value : ""; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': out(w, "\\\""); break;
		case '\\': out(w, "\\\\"); break;
		case '\n': out(w, "\\n"); break;
		case '\r': out(w, "\\r"); break;
		case '\t': out(w, "\\t"); break;
		case '\f': out(w, "\\f"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				snprintf(b, sizeof b, "\\x%02x", c);
			else
				b[0] = (char)c, b[1] = '\0';
			out(w, b);
		}
	}
	out(w, "\"");
	end_item(w, key);
}

static void write_int(ms_cfgw *w, const char *key, int64_t value, int wide)
{
	char b[32];
	begin_item(w, key);
	snprintf(b, sizeof b, "%lld%s", (long long)value, wide ? "L" : "");
	out(w, b);
	end_item(w, key);
}

static int needs_int64(int64_t v)
{
	return v > INT32_MAX || v < INT32_MIN;
}

void ms_cfgw_int(ms_cfgw *w, const char *key, int64_t value)
{
	write_int(w, key, value, needs_int64(value));
}

void ms_cfgw_int64(ms_cfgw *w, const char *key, int64_t value)
{
	write_int(w, key, value, 1);
}

void ms_cfgw_bool(ms_cfgw *w, const char *key, int value)
{
	begin_item(w, key);
	out(w, value ? "true" : "false");
	end_item(w, key);
}

void ms_cfgw_float_sig(ms_cfgw *w, const char *key, double value, int sig)
{
	char b[48];
	begin_item(w, key);
	if (ms_cfgw_format_float(value, sig, b, sizeof b) && w->nonfinite++ == 0) {
		if (key)
			snprintf(w->nonfinite_key, sizeof w->nonfinite_key, "%s", key);
		else if (level(w) == LV_ARRAY)
			snprintf(w->nonfinite_key, sizeof w->nonfinite_key, "%s[%d]", w->array_key,
				 w->count[w->depth] - 1);
		else
			snprintf(w->nonfinite_key, sizeof w->nonfinite_key, "(a list element)");
	}
	out(w, b);
	end_item(w, key);
}

void ms_cfgw_float(ms_cfgw *w, const char *key, double value)
{
	ms_cfgw_float_sig(w, key, value, w->sig);
}

void ms_cfgw_int_array(ms_cfgw *w, const char *key, const int64_t *v, int n, int force64)
{
	int wide = force64;
	for (int i = 0; i < n && !wide; i++)
		wide = needs_int64(v[i]);
	ms_cfgw_array_begin(w, key);
	for (int i = 0; i < n; i++)
		write_int(w, NULL, v[i], wide);
	ms_cfgw_array_end(w);
}

void ms_cfgw_float_array_sig(ms_cfgw *w, const char *key, const double *v, int n, int sig)
{
	ms_cfgw_array_begin(w, key);
	for (int i = 0; i < n; i++)
		ms_cfgw_float_sig(w, NULL, v[i], sig);
	ms_cfgw_array_end(w);
}

void ms_cfgw_float_array(ms_cfgw *w, const char *key, const double *v, int n)
{
	ms_cfgw_float_array_sig(w, key, v, n, w->sig);
}

void ms_cfgw_str_array(ms_cfgw *w, const char *key, const char *const *v, int n)
{
	ms_cfgw_array_begin(w, key);
	for (int i = 0; i < n; i++)
		ms_cfgw_str(w, NULL, v[i]);
	ms_cfgw_array_end(w);
}

/* Opens a group, list or array: "key = " or a separator, the opening bracket. */
static void open_level(ms_cfgw *w, const char *key, int kind, const char *opening)
{
	MS_ASSERT(level(w) != LV_ARRAY, "'%s' inside an array: arrays hold scalars only", key ? key : "(element)");
	begin_item(w, key);
	out(w, opening);
	push(w, kind, key);
}

/* Closes the open level, which must be of the given kind; groups and lists put their
 * closing bracket on a line of its own. */
static void close_level(ms_cfgw *w, int kind, const char *what, const char *closing)
{
	int keyed = pop(w, kind, what);
	if (kind != LV_ARRAY)
		indent_to(w, w->depth);
	out(w, closing);
	end_item(w, keyed ? "" : NULL);
}

void ms_cfgw_group_begin(ms_cfgw *w, const char *key)
{
	open_level(w, key, LV_GROUP, "{\n");
}

void ms_cfgw_group_end(ms_cfgw *w)
{
	close_level(w, LV_GROUP, "group", "}");
}

void ms_cfgw_list_begin(ms_cfgw *w, const char *key)
{
	open_level(w, key, LV_LIST, "(\n");
}

void ms_cfgw_list_end(ms_cfgw *w)
{
	/* The last element's line ends here (elements end without one, for the commas). */
	if (w->depth > 0 && level(w) == LV_LIST && w->count[w->depth])
		out(w, "\n");
	close_level(w, LV_LIST, "list", ")");
}

void ms_cfgw_array_begin(ms_cfgw *w, const char *key)
{
	open_level(w, key, LV_ARRAY, "[");
	snprintf(w->array_key, sizeof w->array_key, "%s", key ? key : "(array)");
}

void ms_cfgw_array_end(ms_cfgw *w)
{
	close_level(w, LV_ARRAY, "array", "]");
}
