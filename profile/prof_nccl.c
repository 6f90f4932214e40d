/*
 * prof_nccl.c - nccl-tests alltoall_perf output (text and -J JSON) to a profile's
 * `alltoall` table (see prof_nccl.h).
 *
 * The text reader is driven by the column header nccl-tests prints
 * ("#  size  count  type  redop  root  time  algbw  busbw  #wrong  time  algbw  busbw
 * #wrong"), so older layouts (no root column, "error" for "#wrong"), the cputime
 * column (-C 1), per-iteration columns (i_min ...) and timestamps (-T) are found by
 * name, not by position. Lines that are neither comments nor results (NCCL INFO
 * lines, MPI warnings) are skipped; a line that starts like a result but does not
 * parse is an error with its number. The JSON reader follows src/util.cu's writer
 * (version 2): config.{nthreads, ngpus, warmup_iters, iterations, devices[]} and
 * results[].{size, out_of_place|in_place: {time|cpu_time, alg_bw, bus_bw, nwrong}}.
 */
#include "profile/prof_nccl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ms_json.h"
#include "profile/prof_internal.h"

#define MAX_FILE_BYTES (256L << 20)
#define MAX_ROWS 65536
#define MAX_TOKENS 64
#define MAX_HOSTS 64

typedef struct row {
	double size, time_us, algbw, busbw;
	int line, col; /* col: JSON only (0 for text) */
} row;

typedef struct reader {
	const char *path;
	ms_error *err;
	prof_nccl *r;
	row *rows;
	int nrows;
	/* device list */
	int max_rank; /* highest rank listed, -1 none */
	int nhosts;
	char hosts[MAX_HOSTS][128];
	int rank_line, rank_col;
	int prog_line, prog_col;
} reader;

static int read_all(const char *path, char **text, size_t *len, ms_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
	for (;;) {
		size_t got;
		if (n + 65536 + 1 > cap) {
			size_t nc = cap ? 2 * cap : 131072;
			char *nb;
			if (nc > (size_t)MAX_FILE_BYTES + 65536 + 1) {
				free(buf);
				fclose(f);
				return MS_ERROR(err, MS_EFORMAT, "'%s' is larger than %ld MiB: not nccl-tests output", path,
						MAX_FILE_BYTES >> 20);
			}
			nb = realloc(buf, nc);
			if (!nb) {
				free(buf);
				fclose(f);
				return MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
			}
			buf = nb;
			cap = nc;
		}
		got = fread(buf + n, 1, 65536, f);
		n += got;
		if (got < 65536)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return MS_ERROR(err, MS_EIO, "error reading '%s'", path);
	}
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return MS_OK;
}

static int add_host(reader *R, const char *h)
{
	for (int i = 0; i < R->nhosts; i++)
		if (strcmp(R->hosts[i], h) == 0)
			return MS_OK;
	if (R->nhosts == MAX_HOSTS)
		return MS_OK; /* counted enough to know it is more than one node */
	snprintf(R->hosts[R->nhosts++], sizeof R->hosts[0], "%s", h);
	return MS_OK;
}

static int add_row(reader *R, double size, double time_us, double algbw, double busbw, int line)
{
	row *nr;
	if (R->nrows == MAX_ROWS)
		return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: more than %d result rows", R->path, line, MAX_ROWS);
	if (R->nrows % 256 == 0) {
		nr = realloc(R->rows, (size_t)(R->nrows + 256) * sizeof *nr);
		if (!nr)
			return MS_ERROR(R->err, MS_ENOMEM, "out of memory reading '%s'", R->path);
		R->rows = nr;
	}
	R->rows[R->nrows].size = size;
	R->rows[R->nrows].time_us = time_us;
	R->rows[R->nrows].algbw = algbw;
	R->rows[R->nrows].busbw = busbw;
	R->rows[R->nrows].line = line;
	R->rows[R->nrows].col = 0;
	R->nrows++;
	return MS_OK;
}

/* Splits line (modified in place) at blanks; returns the count. */
static int tokens(char *line, char **tok)
{
	int n = 0;
	char *s = line;
	while (*s && n < MAX_TOKENS) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (!*s)
			break;
		tok[n++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (*s)
			*s++ = '\0';
	}
	return n;
}

static int parse_double(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return end != s && *end == '\0' && errno == 0 && isfinite(*v) ? 0 : -1;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* NCCL_VERSION_CODE: X*10000 + Y*100 + Z since 2.9, X*1000 + Y*100 + Z before. */
static void nccl_code_string(long code, char *buf, size_t len)
{
	if (code >= 20900)
		snprintf(buf, len, "%ld.%ld.%ld", code / 10000, code / 100 % 100, code % 100);
	else
		snprintf(buf, len, "%ld.%ld.%ld", code / 1000, code / 100 % 10, code % 100);
}

static void set_program(reader *R, const char *prog, int line)
{
	const char *base = strrchr(prog, '/');
	snprintf(R->r->program, sizeof R->r->program, "%s", base ? base + 1 : prog);
	R->prog_line = line;
}

/* "#  Rank  3 Group  0 Pid 1234 on host-a device  3 [0000:1b:00] NVIDIA H100 80GB HBM3" */
static void parse_rank_line(reader *R, char **tok, int n, const char *raw, int line)
{
	int rank = -1;
	for (int i = 0; i + 1 < n; i++) {
		if (strcmp(tok[i], "Rank") == 0 && all_digits(tok[i + 1]))
			rank = atoi(tok[i + 1]);
		if (strcmp(tok[i], "on") == 0)
			add_host(R, tok[i + 1]);
	}
	if (rank < 0)
		return;
	if (rank > R->max_rank)
		R->max_rank = rank;
	R->rank_line = line;
	if (!R->r->gpu[0]) {
		const char *b = strchr(raw, ']');
		if (b) {
			b++;
			while (*b == ' ')
				b++;
			snprintf(R->r->gpu, sizeof R->r->gpu, "%s", b);
			for (size_t k = strlen(R->r->gpu); k > 0 && isspace((unsigned char)R->r->gpu[k - 1]); k--)
				R->r->gpu[k - 1] = '\0';
		}
	}
}

static int read_text(reader *R, char *text)
{
	char *line = text, *tok[MAX_TOKENS], raw[2048];
	int lineno = 0, ncols = 0, group[2] = {-1, -1}, ngroups = 0, header_line = 0, has_ts = 0, footer = 0;
	int redop_col = -1;
	static char empty[] = "";
	while (line && *line) {
		char *nl = strchr(line, '\n'), *next = nl ? nl + 1 : NULL;
		int n;
		if (nl)
			*nl = '\0';
		lineno++;
		snprintf(raw, sizeof raw, "%s", line);
		n = tokens(line, tok);
		if (n == 0) {
			line = next;
			continue;
		}
		if (tok[0][0] == '#') {
			/* "#" may stand alone or lead the first word ("#wrong" never starts a line). */
			char **t = tok;
			int m = n;
			if (strcmp(tok[0], "#") == 0)
				t++, m--;
			else
				t[0]++;
			if (m >= 4 && strcmp(t[0], "nccl-tests") == 0 && strcmp(t[1], "version") == 0) {
				snprintf(R->r->version, sizeof R->r->version, "%s", t[2]);
				for (int i = 3; i < m; i++)
					if (strncmp(t[i], "nccl-library=", 13) == 0)
						nccl_code_string(atol(t[i] + 13), R->r->nccl, sizeof R->r->nccl);
			} else if (m >= 4 && strcmp(t[0], "Collective") == 0 && strcmp(t[2], "starting:") == 0) {
				set_program(R, t[3], lineno);
			} else if (m >= 2 && strcmp(t[0], "nThread") == 0) {
				for (int i = 0; i + 1 < m; i++) {
					if (strcmp(t[i], "iters:") == 0 && i > 0 && strcmp(t[i - 1], "warmup") == 0)
						R->r->warmup = atoi(t[i + 1]);
					else if (strcmp(t[i], "iters:") == 0 && i > 0 && strcmp(t[i - 1], "agg") != 0)
						R->r->iters = atoi(t[i + 1]);
				}
			} else if (m >= 2 && strcmp(t[0], "Rank") == 0) {
				parse_rank_line(R, t, m, raw, lineno);
			} else if (m >= 8 && strcmp(t[0], "size") == 0 && strcmp(t[1], "count") == 0) {
				ncols = m;
				header_line = lineno;
				ngroups = 0;
				has_ts = 0;
				redop_col = -1;
				for (int i = 0; i < m; i++) {
					if (strcmp(t[i], "redop") == 0)
						redop_col = i;
					if ((strcmp(t[i], "time") == 0 || strcmp(t[i], "cputime") == 0) && ngroups < 2 &&
					    i + 3 < m && strcmp(t[i + 1], "algbw") == 0 && strcmp(t[i + 2], "busbw") == 0)
						group[ngroups++] = i;
					if (strcmp(t[i], "timestamp") == 0)
						has_ts = 1;
				}
				if (ngroups == 0)
					return MS_ERROR(R->err, MS_EFORMAT,
							"%s:%d: a column header without 'time algbw busbw' columns: not nccl-tests "
							"output",
							R->path, lineno);
			} else if (m >= 4 && strcmp(t[0], "Out") == 0 && strcmp(t[1], "of") == 0 && strcmp(t[2], "bounds") == 0) {
				if (strstr(raw, "FAILED"))
					return MS_ERROR(R->err, MS_EFORMAT,
							"%s:%d: nccl-tests reports out-of-bounds values (FAILED): the run is not a valid "
							"measurement",
							R->path, lineno);
			} else if (m >= 4 && strcmp(t[0], "Avg") == 0 && strcmp(t[1], "bus") == 0) {
				const char *colon = strchr(raw, ':');
				footer = lineno;
				if (!colon || sscanf(colon + 1, "%lf", &R->r->avg_busbw_GBps) != 1)
					return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: '# Avg bus bandwidth' without a number", R->path,
							lineno);
			}
			line = next;
			continue;
		}
		if (strcmp(tok[0], "NCCL") == 0 && n >= 3 && strcmp(tok[1], "version") == 0 && !R->r->nccl[0]) {
			/* "NCCL version 2.26.6+cuda12.8", printed by NCCL itself */
			snprintf(R->r->nccl, sizeof R->r->nccl, "%.*s", (int)strcspn(tok[2], "+"), tok[2]);
			line = next;
			continue;
		}
		if (!all_digits(tok[0])) {
			line = next; /* NCCL INFO lines, MPI warnings, ... */
			continue;
		}
		/* A result row. */
		{
			double size, v[3];
			int want = ncols + (has_ts ? 1 : 0), gi;
			const char *wrong;
			if (!ncols)
				return MS_ERROR(R->err, MS_EFORMAT,
						"%s:%d: a result line before the column header ('#  size  count  type ...'): not "
						"complete nccl-tests output",
						R->path, lineno);
			/* Older nccl-tests (before the root column) print nothing under redop for
			 * collectives without a reduction, such as alltoall: put the blank back. */
			if (n == want - 1 && redop_col >= 0 && n + 1 <= MAX_TOKENS) {
				memmove(tok + redop_col + 1, tok + redop_col, (size_t)(n - redop_col) * sizeof *tok);
				tok[redop_col] = empty;
				n++;
			}
			if (n != want)
				return MS_ERROR(R->err, MS_EFORMAT,
						"%s:%d: %d fields, but the column header on line %d has %d (a truncated or edited "
						"line?)",
						R->path, lineno, n, header_line, want);
			if (R->r->columns[0] == 'i' && ngroups < 2)
				return MS_ERROR(R->err, MS_EINVAL, "%s:%d: --in-place, but the output has one group of columns",
						R->path, header_line);
			gi = R->r->columns[0] == 'i' ? group[1] : group[0];
			if (parse_double(tok[0], &size) < 0)
				return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: size '%s' is not a number", R->path, lineno, tok[0]);
			for (int k = 0; k < 3; k++)
				if (parse_double(tok[gi + k], &v[k]) < 0 || v[k] < 0)
					return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: %s '%s' is not a number >= 0", R->path, lineno,
							k == 0 ? "time" : k == 1 ? "algbw" : "busbw", tok[gi + k]);
			wrong = tok[gi + 3];
			if (strcmp(wrong, "N/A") != 0) {
				double w;
				if (parse_double(wrong, &w) < 0)
					return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: #wrong '%s' is not a number or N/A", R->path,
							lineno, wrong);
				if (w != 0)
					return MS_ERROR(R->err, MS_EFORMAT,
							"%s:%d: #wrong = %s: nccl-tests found wrong results at %s bytes; the run is not "
							"a valid measurement",
							R->path, lineno, wrong, tok[0]);
			}
			if (size > 0) {
				int rc;
				if (!(v[0] > 0))
					return MS_ERROR(R->err, MS_EFORMAT, "%s:%d: time %s us at %s bytes: a time must be > 0",
							R->path, lineno, tok[gi], tok[0]);
				if ((rc = add_row(R, size, v[0], v[1], v[2], lineno)) < 0)
					return rc;
			}
		}
		line = next;
	}
	if (!ncols)
		return MS_ERROR(R->err, MS_EFORMAT,
				"%s: no column header ('#  size  count  type  redop  root  time  algbw  busbw ...'): not "
				"nccl-tests output",
				R->path);
	if (!footer)
		return MS_ERROR(R->err, MS_EFORMAT,
				"%s:%d: no '# Avg bus bandwidth' line after the results: the output is truncated (did the run "
				"finish?)",
				R->path, lineno);
	return MS_OK;
}

/* --- JSON -------------------------------------------------------------------------- */

/* JSON positions are line:column: nccl-tests writes the whole document on one line. */
static int jerr(reader *R, const ms_json_node *at, const char *fmt, const char *a, const char *b)
{
	return MS_ERROR(R->err, MS_EFORMAT, "%s:%d:%d: %s%s%s", R->path, at ? at->line : 1, at ? at->col : 1, a, fmt, b);
}

/* The number o.key; *v = 0 and 1 returned when it is absent or null and not required. */
static int jnum(reader *R, const ms_json *j, const ms_json_node *o, const char *where, const char *key, int required,
		double *v)
{
	const ms_json_node *m = ms_json_get(j, o, key);
	char what[640];
	snprintf(what, sizeof what, "%s%s%s", where, where[0] ? "." : "", key);
	if (!m || m->type == MS_JSON_NULL) {
		*v = 0;
		return required ? jerr(R, m ? m : o, " is missing", what, "") : 1;
	}
	if (m->type == MS_JSON_STRING && strcmp(ms_json_str(j, m), "nan") == 0)
		return jerr(R, m, " is \"nan\": nccl-tests could not time it", what, "");
	if (m->type != MS_JSON_NUMBER)
		return jerr(R, m, " must be a number", what, "");
	*v = m->d;
	return MS_OK;
}

static int read_json(reader *R, const char *text, size_t len)
{
	ms_json j;
	const ms_json_node *root, *args, *cfg, *devs, *res, *oob, *abw, *v;
	int rc, i;
	double d;
	ms_json_init(&j);
	if ((rc = ms_json_parse(&j, text, len, R->path, MS_JSON_FILE, R->err)) < 0)
		goto done;
	root = ms_json_root(&j);
	if (root->type != MS_JSON_OBJECT) {
		rc = jerr(R, root, "the JSON is not an object: not nccl-tests -J output", "", "");
		goto done;
	}
	if ((args = ms_json_get(&j, root, "args")) && args->type == MS_JSON_ARRAY) {
		size_t used = 0;
		i = 0;
		for (const ms_json_node *a = ms_json_first(&j, args); a; a = ms_json_next(&j, a), i++) {
			if (a->type != MS_JSON_STRING)
				continue;
			if (i == 0) {
				set_program(R, ms_json_str(&j, a), a->line);
				R->prog_col = a->col;
			}
			if (used < sizeof R->r->command)
				used += (size_t)snprintf(R->r->command + used, sizeof R->r->command - used, "%s%s", i ? " " : "",
							 ms_json_str(&j, a));
		}
	}
	if ((v = ms_json_get(&j, root, "nccl_version")) && v->type == MS_JSON_NUMBER)
		nccl_code_string((long)v->d, R->r->nccl, sizeof R->r->nccl);
	if ((v = ms_json_get(&j, root, "start_time")) && v->type == MS_JSON_STRING)
		snprintf(R->r->date, sizeof R->r->date, "%s", ms_json_str(&j, v));
	cfg = ms_json_get(&j, root, "config");
	if (cfg) {
		double nt = 0, ng = 0;
		if ((rc = jnum(R, &j, cfg, "config", "nthreads", 0, &nt)) < 0 ||
		    (rc = jnum(R, &j, cfg, "config", "ngpus", 0, &ng)) < 0 ||
		    (rc = jnum(R, &j, cfg, "config", "iterations", 0, &d)) < 0)
			goto done;
		R->r->iters = (int)d;
		if ((rc = jnum(R, &j, cfg, "config", "warmup_iters", 0, &d)) < 0)
			goto done;
		R->r->warmup = (int)d;
		devs = ms_json_get(&j, cfg, "devices");
		if (devs && devs->type == MS_JSON_ARRAY && devs->count > 0) {
			/* One entry per process (its first GPU): ranks = processes x threads x GPUs. */
			i = 0;
			for (const ms_json_node *e = ms_json_first(&j, devs); e; e = ms_json_next(&j, e), i++) {
				const ms_json_node *h = ms_json_get(&j, e, "hostname");
				const ms_json_node *gi = ms_json_get(&j, e, "device_info");
				if (h && h->type == MS_JSON_STRING)
					add_host(R, ms_json_str(&j, h));
				if (i == 0 && gi && gi->type == MS_JSON_STRING)
					snprintf(R->r->gpu, sizeof R->r->gpu, "%s", ms_json_str(&j, gi));
			}
			if (nt >= 1 && ng >= 1)
				R->max_rank = (int)((double)devs->count * nt * ng) - 1;
			R->rank_line = devs->line;
			R->rank_col = devs->col;
		}
	}
	rc = MS_OK;
	if ((oob = ms_json_get(&j, root, "out_of_bounds")) && (v = ms_json_get(&j, oob, "okay")) &&
	    ((v->type == MS_JSON_STRING && strcmp(ms_json_str(&j, v), "false") == 0) || v->type == MS_JSON_FALSE)) {
		rc = jerr(R, v, "nccl-tests reports out-of-bounds values: the run is not a valid measurement", "", "");
		goto done;
	}
	if ((abw = ms_json_get(&j, root, "average_bus_bandwidth")) && (v = ms_json_get(&j, abw, "bandwidth")) &&
	    v->type == MS_JSON_NUMBER)
		R->r->avg_busbw_GBps = v->d;
	res = ms_json_get(&j, root, "results");
	if (!res || res->type != MS_JSON_ARRAY) {
		rc = jerr(R, res ? res : root, "no \"results\" list: not nccl-tests -J output (or the run was cut short)", "",
			  "");
		goto done;
	}
	i = 0;
	for (const ms_json_node *e = ms_json_first(&j, res); e && rc == MS_OK; e = ms_json_next(&j, e), i++) {
		const ms_json_node *side;
		const char *key = R->r->columns;
		char where[96];
		double size, t, alg, bus, wrong;
		snprintf(where, sizeof where, "results[%d]", i);
		if (e->type != MS_JSON_OBJECT) {
			rc = jerr(R, e, " is not an object", where, "");
			break;
		}
		if ((rc = jnum(R, &j, e, where, "size", 1, &size)) < 0)
			break;
		side = ms_json_get(&j, e, key);
		if (!side || side->type != MS_JSON_OBJECT) {
			char what[640];
			snprintf(what, sizeof what, "%s.%s is %s", where, key, side ? "null" : "missing");
			rc = jerr(R, side ? side : e, what, "",
				  key[0] == 'o' ? " (use --in-place for runs without out-of-place results)" : "");
			break;
		}
		snprintf(where + strlen(where), sizeof where - strlen(where), ".%s", key);
		if ((rc = jnum(R, &j, side, where, ms_json_get(&j, side, "cpu_time") ? "cpu_time" : "time", 1, &t)) < 0 ||
		    (rc = jnum(R, &j, side, where, "alg_bw", 1, &alg)) < 0 ||
		    (rc = jnum(R, &j, side, where, "bus_bw", 1, &bus)) < 0 ||
		    (rc = jnum(R, &j, side, where, "nwrong", 0, &wrong)) < 0)
			break;
		rc = MS_OK;
		if (wrong != 0) {
			char what[640];
			snprintf(what, sizeof what, "%s.nwrong = %g: nccl-tests found wrong results at %.0f bytes", where, wrong,
				 size);
			rc = jerr(R, side, "; the run is not a valid measurement", what, "");
			break;
		}
		if (size < 0 || t < 0 || alg < 0 || bus < 0) {
			rc = jerr(R, side, " has a negative value", where, "");
			break;
		}
		if (size > 0) {
			if (!(t > 0)) {
				rc = jerr(R, side, ": a time must be > 0", where, "");
				break;
			}
			if ((rc = add_row(R, size, t, alg, bus, side->line)) < 0)
				break;
			R->rows[R->nrows - 1].col = side->col;
		}
	}
done:
	ms_json_fini(&j);
	return rc;
}

/* --- collectives ------------------------------------------------------------------- */

static const char *const coll_names[] = {"alltoall", "allreduce", "allgather", "reducescatter"};
/* The test programs, and the substring that names each in a path (".../all_reduce_perf"). */
static const char *const coll_programs[] = {"alltoall_perf", "all_reduce_perf", "all_gather_perf",
					    "reduce_scatter_perf"};
static const char *const coll_stems[] = {"alltoall", "all_reduce", "all_gather", "reduce_scatter"};

const char *prof_nccl_coll_name(prof_nccl_coll c)
{
	return c < PROF_NCCL_COLLECTIVES ? coll_names[c] : "?";
}

const char *prof_nccl_coll_program(prof_nccl_coll c)
{
	return c < PROF_NCCL_COLLECTIVES ? coll_programs[c] : "?";
}

double prof_nccl_busbw_factor(prof_nccl_coll c, int ranks)
{
	double f = (ranks - 1.0) / ranks;
	return c == PROF_NCCL_ALLREDUCE ? 2 * f : f;
}

/* The collective a program name is the test of, or -1 (alltoallv_perf is not alltoall). */
static int coll_of_program(const char *prog)
{
	for (int c = 0; c < PROF_NCCL_COLLECTIVES; c++) {
		const char *hit = strstr(prog, coll_stems[c]);
		if (hit && (hit[strlen(coll_stems[c])] == '\0' || hit[strlen(coll_stems[c])] == '_' ||
			    hit[strlen(coll_stems[c])] == '.'))
			return c;
	}
	return -1;
}

/* --- after reading: ranks, scope, checks, merging ------------------------------------ */

static int cmp_row(const void *a, const void *b)
{
	const row *x = a, *y = b;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	if (x->time_us != y->time_us)
		return x->time_us < y->time_us ? -1 : 1;
	return x->line - y->line;
}

/* "path:line" or, for JSON, "path:line:col". */
static const char *at(const reader *R, int line, int col, char *buf, size_t len)
{
	if (col > 0)
		snprintf(buf, len, "%s:%d:%d", R->path, line, col);
	else
		snprintf(buf, len, "%s:%d", R->path, line);
	return buf;
}

static int finish(reader *R, const prof_nccl_opts *o)
{
	char pos[1100];
	prof_nccl *r = R->r;
	int listed = R->max_rank + 1;
	size_t used = 0;
	int coll = r->program[0] ? coll_of_program(r->program) : -1;
	if (r->program[0] && !o->any && coll != PROF_NCCL_ALLTOALL)
		return MS_ERROR(R->err, MS_EINVAL, "%s: this is the output of %s; import-nccl-tests reads alltoall_perf output",
				at(R, R->prog_line, R->prog_col, pos, sizeof pos), r->program);
	if (r->program[0] && coll < 0)
		return MS_ERROR(R->err, MS_EINVAL,
				"%s: this is the output of %s; moesim reads alltoall_perf, all_reduce_perf, all_gather_perf "
				"and reduce_scatter_perf output",
				at(R, R->prog_line, R->prog_col, pos, sizeof pos), r->program);
	if (R->nrows == 0)
		return MS_ERROR(R->err, MS_EFORMAT, "%s: no result rows with a size above 0", R->path);
	/* ranks */
	if (o->ranks > 0 && listed > 0 && o->ranks != listed)
		return MS_ERROR(R->err, MS_EINVAL, "--ranks %d, but %s lists %d ranks", o->ranks,
				at(R, R->rank_line, R->rank_col, pos, sizeof pos), listed);
	r->ranks = o->ranks > 0 ? o->ranks : listed;
	if (r->ranks < 1)
		return MS_ERROR(R->err, MS_EINVAL, "%s lists no devices ('#  Rank ...' lines): give --ranks N", R->path);
	/* A profile stores sizes and their totals over the ranks as 64-bit integers (found
	 * by fuzzing: a size of 5.4e18 bytes overflowed size x ranks in prof_nccl_write). No
	 * buffer comes near 2^62 bytes; refuse rather than wrap. */
	for (int i = 0; i < R->nrows; i++)
		if (R->rows[i].size > 0x1p62 / r->ranks)
			return MS_ERROR(R->err, MS_EFORMAT,
					"%s:%d: size %.17g bytes is out of range: size x %d ranks must stay below 2^62 bytes",
					R->path, R->rows[i].line, R->rows[i].size, r->ranks);
	/* scope */
	for (int i = 0; i < R->nhosts && used < sizeof r->hosts; i++)
		used += (size_t)snprintf(r->hosts + used, sizeof r->hosts - used, "%s%s", i ? ", " : "", R->hosts[i]);
	r->nodes = R->nhosts > 0 ? R->nhosts : 0;
	if (o->scope >= 0) {
		if (R->nhosts > 1 && o->scope == PROF_INTRA_NODE)
			return MS_ERROR(R->err, MS_EINVAL, "--scope intra_node, but %s lists %d hosts (%s)", R->path, R->nhosts,
					r->hosts);
		if (R->nhosts == 1 && o->scope == PROF_INTER_NODE)
			return MS_ERROR(R->err, MS_EINVAL, "--scope inter_node, but %s lists one host (%s)", R->path, r->hosts);
		r->scope = (prof_scope)o->scope;
	} else if (R->nhosts > 0) {
		r->scope = R->nhosts > 1 ? PROF_INTER_NODE : PROF_INTRA_NODE;
	} else {
		return MS_ERROR(R->err, MS_EINVAL,
				"%s lists no hosts, so the scope is unknown: give --scope intra_node or --scope inter_node",
				R->path);
	}
	if (!r->nodes)
		r->nodes = r->scope == PROF_INTER_NODE ? 2 : 1;
	/* Without a program name (any): all-reduce if busbw / algbw is 2(n-1)/n, else the
	 * all-to-all (an all-gather or reduce-scatter log has the same ratio: it must name
	 * its program). */
	if (coll < 0) {
		coll = PROF_NCCL_ALLTOALL;
		for (int i = 0; o->any && i < R->nrows; i++)
			if (R->rows[i].algbw >= 1.0) {
				double f2 = prof_nccl_busbw_factor(PROF_NCCL_ALLREDUCE, r->ranks);
				if (fabs(R->rows[i].busbw - R->rows[i].algbw * f2) <= 0.02 + 0.01 * R->rows[i].busbw)
					coll = PROF_NCCL_ALLREDUCE;
				break;
			}
	}
	r->collective = (prof_nccl_coll)coll;
	/* busbw = algbw (n - 1) / n for an all-to-all (2(n-1)/n for an all-reduce); nccl-tests
	 * prints two decimals. */
	for (int i = 0; i < R->nrows; i++) {
		const row *w = &R->rows[i];
		double f = prof_nccl_busbw_factor(r->collective, r->ranks);
		if (w->algbw >= 1.0 && fabs(w->busbw - w->algbw * f) > 0.02 + 0.01 * w->busbw) {
			if (r->collective == PROF_NCCL_ALLTOALL)
				return MS_ERROR(R->err, MS_EINVAL,
						"%s: busbw %.2f = %.3f x algbw %.2f, but an all-to-all of %d ranks has busbw = "
						"algbw x (n-1)/n = %.3f: not alltoall_perf output, or not %d ranks (see --ranks)",
						at(R, w->line, w->col, pos, sizeof pos), w->busbw, w->busbw / w->algbw, w->algbw,
						r->ranks, f, r->ranks);
			return MS_ERROR(R->err, MS_EINVAL,
					"%s: busbw %.2f = %.3f x algbw %.2f, but %s of %d ranks has busbw = algbw x %.3f: not %d "
					"ranks (see --ranks)",
					at(R, w->line, w->col, pos, sizeof pos), w->busbw, w->busbw / w->algbw, w->algbw,
					prof_nccl_coll_program(r->collective), r->ranks, f, r->ranks);
		}
	}
	/* Sort by size and merge rows of one size (several -d types, -N cycles): the median. */
	qsort(R->rows, (size_t)R->nrows, sizeof *R->rows, cmp_row);
	r->n = 0;
	for (int i = 0; i < R->nrows;) {
		int j = i;
		while (j < R->nrows && R->rows[j].size == R->rows[i].size)
			j++;
		if (r->n == PROF_MAX_POINTS)
			return MS_ERROR(R->err, MS_ERANGE,
					"%s has more than %d sizes; a profile table holds at most %d (run alltoall_perf with -f 2)",
					R->path, PROF_MAX_POINTS, PROF_MAX_POINTS);
		r->bytes[r->n] = R->rows[i].size;
		r->rows[r->n] = j - i;
		r->time_us[r->n] = (j - i) % 2 ? R->rows[i + (j - i) / 2].time_us
					       : 0.5 * (R->rows[i + (j - i) / 2 - 1].time_us + R->rows[i + (j - i) / 2].time_us);
		r->n++;
		i = j;
	}
	if (r->n < 2)
		return MS_ERROR(R->err, MS_EFORMAT, "%s has %d size above 0; a profile table needs at least 2", R->path, r->n);
	return MS_OK;
}

int prof_nccl_read(const char *path, const prof_nccl_opts *o, prof_nccl *r, ms_error *err)
{
	reader R;
	char *text = NULL;
	size_t len = 0;
	const char *s;
	int rc;
	memset(r, 0, sizeof *r);
	memset(&R, 0, sizeof R);
	R.path = path;
	R.err = err;
	R.r = r;
	R.max_rank = -1;
	r->avg_busbw_GBps = -1;
	r->columns = o->in_place ? "in_place" : "out_of_place";
	if ((rc = read_all(path, &text, &len, err)) < 0 || !text)
		return rc < 0 ? rc : MS_ERROR(err, MS_EIO, "cannot read '%s'", path);
	for (s = text; *s && isspace((unsigned char)*s); s++)
		;
	if (!*s) {
		free(text);
		return MS_ERROR(err, MS_EFORMAT, "%s is empty", path);
	}
	r->json = *s == '{' || *s == '[';
	rc = r->json ? read_json(&R, text, len) : read_text(&R, text);
	if (rc == MS_OK)
		rc = finish(&R, o);
	free(R.rows);
	free(text);
	return rc;
}

int prof_nccl_write(const prof_nccl *r, FILE *f, const char *source_path, const char *command, ms_error *err)
{
	ms_cfgw w;
	char name[512], date[32], note[160];
	int64_t bytes[PROF_MAX_POINTS], total[PROF_MAX_POINTS], rows[PROF_MAX_POINTS];
	double alg[PROF_MAX_POINTS], bus[PROF_MAX_POINTS];
	int merged = 0;
	time_t now = time(NULL);
	struct tm tmv;
	gmtime_r(&now, &tmv);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
	for (int i = 0; i < r->n; i++) {
		bytes[i] = (int64_t)r->bytes[i];
		total[i] = bytes[i] * r->ranks;
		alg[i] = r->bytes[i] / (r->time_us[i] * 1e-6) / 1e9;
		bus[i] = alg[i] * (r->ranks - 1.0) / r->ranks;
		rows[i] = r->rows[i];
		merged |= r->rows[i] > 1;
	}
	snprintf(name, sizeof name, "%s%snccl-tests %s, %d ranks on %d node%s", r->gpu, r->gpu[0] ? " " : "",
		 r->program[0] ? r->program : "alltoall_perf", r->ranks, r->nodes, r->nodes == 1 ? "" : "s");
	ms_cfgw_init(&w, f, 0);
	ms_cfgw_comment(&w, "moesim calibration profile imported by `moesim calibrate import-nccl-tests` from\n"
			    "nccl-tests alltoall_perf output (docs/calibrate.md, docs/profile-format.md).");
	ms_cfgw_group_begin(&w, "profile");
	ms_cfgw_str(&w, "name", name);
	ms_cfgw_str(&w, "source", "measured");
	ms_cfgw_str(&w, "program", "nccl-tests alltoall_perf");
	ms_cfgw_group_begin(&w, "provenance");
	if (r->gpu[0])
		ms_cfgw_str(&w, "gpu", r->gpu);
	ms_cfgw_str(&w, "tool", "nccl-tests");
	if (r->version[0])
		ms_cfgw_str(&w, "nccl_tests", r->version);
	if (r->nccl[0])
		ms_cfgw_str(&w, "nccl", r->nccl);
	if (r->hosts[0])
		ms_cfgw_str(&w, "hosts", r->hosts);
	if (r->date[0])
		ms_cfgw_str(&w, "date", r->date);
	if (r->command[0])
		ms_cfgw_str(&w, "command", r->command);
	if (r->avg_busbw_GBps >= 0)
		ms_cfgw_float(&w, "avg_busbw_GBps", r->avg_busbw_GBps);
	ms_cfgw_str(&w, "imported_from", source_path);
	ms_cfgw_str(&w, "import_format", r->json ? "json" : "text");
	ms_cfgw_str(&w, "import_date", date);
	ms_cfgw_str(&w, "import_command", command ? command : "");
	ms_cfgw_group_end(&w);
	if (r->gpu[0]) {
		ms_cfgw_group_begin(&w, "gpu");
		ms_cfgw_str(&w, "name", r->gpu);
		ms_cfgw_group_end(&w);
	}
	ms_cfgw_list_begin(&w, "alltoall");
	ms_cfgw_group_begin(&w, NULL);
	ms_cfgw_str(&w, "scope", prof_scope_name(r->scope));
	ms_cfgw_int(&w, "ranks", r->ranks);
	ms_cfgw_int(&w, "nodes", r->nodes);
	ms_cfgw_str(&w, "method", "nccl-tests alltoall_perf");
	ms_cfgw_str(&w, "columns", r->columns);
	if (r->iters > 0)
		ms_cfgw_int(&w, "repeats", r->iters);
	if (r->warmup > 0)
		ms_cfgw_int(&w, "warmup", r->warmup);
	snprintf(note, sizeof note, "time_us: nccl-tests' mean over its iterations (%s)%s", r->columns,
		 merged ? "; rows of one size merged by their median (rows_merged)" : "");
	ms_cfgw_str(&w, "note", note);
	ms_cfgw_int_array(&w, "bytes", bytes, r->n, 1);
	ms_cfgw_int_array(&w, "total_bytes", total, r->n, 1);
	ms_cfgw_float_array(&w, "time_us", r->time_us, r->n);
	ms_cfgw_float_array_sig(&w, "algbw_GBps", alg, r->n, 7);
	ms_cfgw_float_array_sig(&w, "busbw_GBps", bus, r->n, 7);
	if (merged)
		ms_cfgw_int_array(&w, "rows_merged", rows, r->n, 0);
	ms_cfgw_group_end(&w);
	ms_cfgw_list_end(&w);
	ms_cfgw_group_end(&w);
	if (w.failed || ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the profile failed");
	if (w.nonfinite)
		return MS_ERROR(err, MS_EINVAL, "a value of the imported profile is not finite");
	return MS_OK;
}
