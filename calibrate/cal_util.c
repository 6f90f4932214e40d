/*
 * cal_util.c - host-side helpers of the calibration programs (see cal_util.h).
 *
 * Plain C11 + POSIX; no CUDA. Everything that parses text returns an error code and
 * a message instead of exiting, so the callers decide the exit status, and the
 * self-test can feed bad input on purpose.
 */
#include "calibrate/cal_util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ms_file.h"
#include "common/ms_rng.h"

static const char *progname = "calibrate";
static void (*die_hook)(int status);

void cal_set_progname(const char *name)
{
	if (name && *name)
		progname = name;
}

const char *cal_progname(void)
{
	return progname;
}

void cal_set_die_hook(void (*hook)(int status))
{
	die_hook = hook;
}

static CAL_NORETURN void die_exit(int status)
{
	void (*hook)(int) = die_hook;

	/* Clear first: a hook that fails and calls cal_die() must not recurse. */
	die_hook = NULL;
	/* No half-written profile survives a fatal error. */
	ms_file_cleanup_all();
	if (hook)
		hook(status);
	exit(status);
}

/* "<program>: <what><message>" on stderr, after what was printed on stdout. */
static void report(const char *what, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", progname, what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cal_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("", fmt, ap);
	va_end(ap);
	die_exit(status);
}

void cal_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("warning: ", fmt, ap);
	va_end(ap);
}

void cal_die_call(const char *file, int line, const char *call, const char *errname,
		  const char *errstr)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s:%d: %s failed: %s: %s\n", progname, file, line, call,
		errname ? errname : "?", errstr ? errstr : "?");
	die_exit(CAL_EXIT_FAIL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double cal_quantile_sorted(const double *sorted, int n, double q)
{
	double h, frac;
	int lo;

	if (n <= 0)
		return 0.0;
	if (q <= 0.0)
		return sorted[0];
	if (q >= 1.0)
		return sorted[n - 1];
	h = (n - 1) * q;
	lo = (int)floor(h);
	frac = h - lo;
	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

void cal_stats_compute(double *samples, int n, cal_stats *out)
{
	double sum = 0.0;

	memset(out, 0, sizeof *out);
	if (n <= 0)
		return;
	qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
	for (int i = 0; i < n; i++)
		sum += samples[i];
	out->n = n;
	out->min = samples[0];
	out->max = samples[n - 1];
	out->median = cal_quantile_sorted(samples, n, 0.5);
	out->p10 = cal_quantile_sorted(samples, n, 0.1);
	out->p90 = cal_quantile_sorted(samples, n, 0.9);
	out->mean = sum / n;
}

int cal_parse_size(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && toupper((unsigned char)end[0]) == 'I' && toupper((unsigned char)end[1]) == 'B')
		end += 2;
	else if (shift && toupper((unsigned char)*end) == 'B')
		end++;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -1;
	if (v > ((unsigned long long)INT64_MAX >> shift))
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

/* Splits s at commas into a malloc'd copy; returns the number of fields. */
static int split_commas(const char *s, char **copy, char ***fields)
{
	int n = 1, i = 0;
	char *p;

	*copy = NULL;
	*fields = NULL;
	for (const char *q = s; *q; q++)
		n += (*q == ',');
	*copy = malloc(strlen(s) + 1);
	*fields = malloc((size_t)n * sizeof **fields);
	if (!*copy || !*fields) {
		free(*copy);
		free(*fields);
		*copy = NULL;
		*fields = NULL;
		return -1;
	}
	strcpy(*copy, s);
	p = *copy;
	(*fields)[i++] = p;
	for (; *p; p++) {
		if (*p == ',') {
			*p = '\0';
			(*fields)[i++] = p + 1;
		}
	}
	return n;
}

/* Parses one field of a list into *out; 0 or -1. */
typedef int (*parse_field_fn)(const char *field, void *out);

static int size_field(const char *field, void *out)
{
	return cal_parse_size(field, (int64_t *)out);
}

static int positive_field(const char *field, void *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(field, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (end == field || *end != '\0' || errno == ERANGE || !isfinite(v) || v <= 0.0)
		return -1;
	*(double *)out = v;
	return 0;
}

/*
 * Parses the comma-separated list s into a malloc'd array of elements of the given
 * size, each by parse; expected says what a field must be, for the message.
 */
static int parse_list(const char *s, size_t size, parse_field_fn parse, const char *expected, void **out,
		      char *err, size_t errlen)
{
	char *copy, **fields;
	char *v;
	int n;

	*out = NULL;
	if (!s || !*s) {
		snprintf(err, errlen, "empty list");
		return -1;
	}
	n = split_commas(s, &copy, &fields);
	v = n < 0 ? NULL : malloc((size_t)n * size);
	if (!v) {
		if (n >= 0) {
			free(copy);
			free(fields);
		}
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (parse(fields[i], v + (size_t)i * size) != 0) {
			snprintf(err, errlen, "'%s' is not %s", fields[i], expected);
			free(copy);
			free(fields);
			free(v);
			return -1;
		}
	}
	free(copy);
	free(fields);
	*out = v;
	return n;
}

int cal_parse_size_list(const char *s, int64_t **out, char *err, size_t errlen)
{
	return parse_list(s, sizeof **out, size_field,
			  "a non-negative integer (suffixes K, M, G, T are powers of 1024)", (void **)out, err, errlen);
}

int cal_parse_double_list(const char *s, double **out, char *err, size_t errlen)
{
	return parse_list(s, sizeof **out, positive_field, "a positive number", (void **)out, err, errlen);
}

int cal_ladder_pow2_mid(int64_t lo, int64_t hi, int64_t *out, int cap)
{
	int n = 0;

	/* 2^k and 3*2^(k-1) interleave: 1, 2, 3, 4, 6, 8, 12, ... */
	for (int64_t p = 1; p > 0 && p <= hi; p *= 2) {
		int64_t cand[2] = {p, (p >= 2) ? p + p / 2 : 0};

		for (int c = 0; c < 2; c++) {
			if (cand[c] >= lo && cand[c] <= hi && cand[c] > 0) {
				if (n < cap)
					out[n] = cand[c];
				n++;
			}
		}
		if (p > INT64_MAX / 2)
			break;
	}
	return n;
}

int cal_ladder_pow2(int64_t lo, int64_t hi, int64_t *out, int cap)
{
	int n = 0;

	for (int64_t p = 1; p > 0 && p <= hi; p *= 2) {
		if (p >= lo) {
			if (n < cap)
				out[n] = p;
			n++;
		}
		if (p > INT64_MAX / 2)
			break;
	}
	return n;
}

void cal_utc_now_iso8601(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
}

void cal_hostname(char *buf, size_t len)
{
	if (len == 0)
		return;
	if (gethostname(buf, len) != 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	buf[len - 1] = '\0';
}

/* True when the shell would take arg as one word with no quoting. */
static int shell_safe(const char *arg)
{
	if (!*arg)
		return 0;
	for (const char *p = arg; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_./=:,+@%", *p))
			return 0;
	return 1;
}

char *cal_join_argv(int argc, char **argv)
{
	size_t len = 1;
	char *s, *p;

	for (int i = 0; i < argc; i++)
		len += 4 * strlen(argv[i]) + 3; /* worst case: every char is a quote */
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	for (int i = 0; i < argc; i++) {
		if (i)
			*p++ = ' ';
		if (shell_safe(argv[i])) {
			strcpy(p, argv[i]);
			p += strlen(argv[i]);
			continue;
		}
		*p++ = '\'';
		for (const char *q = argv[i]; *q; q++) {
			if (*q == '\'') {
				memcpy(p, "'\\''", 4);
				p += 4;
			} else {
				*p++ = *q;
			}
		}
		*p++ = '\'';
	}
	*p = '\0';
	return s;
}

double cal_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cal_nvidia_driver_version(char *buf, size_t len)
{
	/* The file's first line reads "NVRM version: NVIDIA UNIX x86_64 Kernel Module
	 * 580.95.05  <date>" (open kernel modules say "Open Kernel Module"); the version
	 * is the first word after "Module". */
	FILE *f = fopen("/proc/driver/nvidia/version", "r");
	char line[512], *p;

	if (len)
		buf[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof line, f) && (p = strstr(line, "Module")) != NULL) {
		size_t n = 0;

		p += strlen("Module");
		while (*p == ' ')
			p++;
		while (p[n] && !isspace((unsigned char)p[n]))
			n++;
		if (n + 1 <= len) {
			memcpy(buf, p, n);
			buf[n] = '\0';
		}
	}
	fclose(f);
}

void cal_random_permutation(int32_t *perm, int64_t n, uint64_t seed)
{
	uint64_t st = seed;

	for (int64_t i = 0; i < n; i++)
		perm[i] = (int32_t)i;
	for (int64_t i = n - 1; i > 0; i--) {
		/* Modulo bias is below 2^-32 for n < 2^32: irrelevant for an access pattern. */
		int64_t j = (int64_t)(ms_splitmix64(&st) % (uint64_t)(i + 1));
		int32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
}

const char cal_common_usage[] =
	"  --out FILE        profile to write (libconfig); refused if it exists, unless --force\n"
	"  --force           overwrite an existing profile\n"
	"  --device N        CUDA device to use (default 0)\n"
	"  --repeats R       timed repetitions per point (default 20)\n"
	"  --warmup W        untimed repetitions before them (default 3)\n"
	"  --budget-s S      stop adding larger points once the run would exceed S seconds\n"
	"                    (0 = no limit, the default); skipped points are noted in the profile\n"
	"  --name TEXT       profile name (default: '<GPU name> measured <date>')\n"
	"  --no-l2-flush     do not overwrite the L2 cache before each timed repetition\n"
	"  --seed N          seed of the random data and permutations (default 1)\n"
	"  --help            this text\n";

int64_t cal_arg_int(const char *opt, const char *arg, int64_t min, int64_t max)
{
	int64_t v;
	int neg = 0;
	const char *s = arg;

	while (s && isspace((unsigned char)*s))
		s++;
	if (s && *s == '-') {
		neg = 1;
		s++;
	}
	if (cal_parse_size(s, &v) != 0 || (neg ? -v : v) < min || (neg ? -v : v) > max)
		cal_die(CAL_EXIT_USAGE, "--%s '%s': expected an integer from %lld to %lld", opt,
			arg ? arg : "", (long long)min, (long long)max);
	return neg ? -v : v;
}

int cal_arg_size_list(const char *opt, const char *arg, int64_t *out, int cap)
{
	char err[256];
	int64_t *v;
	int n = cal_parse_size_list(arg, &v, err, sizeof err);

	if (n < 0 || n > cap)
		cal_die(CAL_EXIT_USAGE, "--%s '%s': %s", opt, arg ? arg : "", n < 0 ? err : "too many values");
	memcpy(out, v, (size_t)n * sizeof *v);
	free(v);
	return n;
}

double cal_arg_double(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg ? arg : "", &end);
	if (!arg || end == arg || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min ||
	    v > max)
		cal_die(CAL_EXIT_USAGE, "--%s '%s': expected a number from %g to %g", opt,
			arg ? arg : "", min, max);
	return v;
}

/* Option codes of the shared options; a program's own codes stay below 1000. */
enum {
	OPT_OUT = 1000, OPT_FORCE, OPT_DEVICE, OPT_REPEATS, OPT_WARMUP, OPT_BUDGET, OPT_NAME,
	OPT_NO_L2_FLUSH, OPT_SEED, OPT_HELP, OPT_BYTES_MIN, OPT_BYTES_MAX
};

static const struct option common_longopts[] = {
	{"out", 1, NULL, OPT_OUT},         {"force", 0, NULL, OPT_FORCE},
	{"device", 1, NULL, OPT_DEVICE},   {"repeats", 1, NULL, OPT_REPEATS},
	{"warmup", 1, NULL, OPT_WARMUP},   {"budget-s", 1, NULL, OPT_BUDGET},
	{"name", 1, NULL, OPT_NAME},       {"no-l2-flush", 0, NULL, OPT_NO_L2_FLUSH},
	{"seed", 1, NULL, OPT_SEED},       {"help", 0, NULL, OPT_HELP}};

static const struct option bytes_longopts[] = {
	{"bytes-min", 1, NULL, OPT_BYTES_MIN}, {"bytes-max", 1, NULL, OPT_BYTES_MAX}};

#define N_COMMON (sizeof common_longopts / sizeof common_longopts[0])
#define N_BYTES (sizeof bytes_longopts / sizeof bytes_longopts[0])

/* Applies one shared option; returns 0 when code is not one. */
static int common_option(cal_common_opts *o, int code, const char *arg, int *help)
{
	switch (code) {
	case OPT_OUT: o->out = arg; break;
	case OPT_FORCE: o->force = 1; break;
	case OPT_DEVICE: o->device = (int)cal_arg_int("device", arg, 0, 1023); break;
	case OPT_REPEATS: o->repeats = (int)cal_arg_int("repeats", arg, 1, 10000); break;
	case OPT_WARMUP: o->warmup = (int)cal_arg_int("warmup", arg, 0, 10000); break;
	case OPT_BUDGET: o->budget_s = cal_arg_double("budget-s", arg, 0.0, 1e7); break;
	case OPT_NAME: o->name = arg; break;
	case OPT_NO_L2_FLUSH: o->l2_flush = 0; break;
	case OPT_SEED: o->seed = (uint64_t)cal_arg_int("seed", arg, 0, INT64_MAX); break;
	case OPT_HELP: *help = 1; break;
	case OPT_BYTES_MIN: o->bytes_min = cal_arg_int("bytes-min", arg, 1, (int64_t)1 << 40); break;
	case OPT_BYTES_MAX: o->bytes_max = cal_arg_int("bytes-max", arg, 1, (int64_t)1 << 40); break;
	default: return 0;
	}
	return 1;
}

void cal_options_parse(int argc, char **argv, const struct option *own, cal_option_fn handle, void *ctx,
		       cal_common_opts *c, const char *default_out, unsigned flags, void (*usage)(FILE *f))
{
	size_t n_own = 0, n_bytes = flags & CAL_OPTS_BYTES ? N_BYTES : 0;
	struct option *all;
	int code, help = 0;

	memset(c, 0, sizeof *c);
	c->out = default_out;
	c->repeats = 20;
	c->warmup = 3;
	c->l2_flush = 1;
	c->seed = 1;
	c->bytes_min = 1 << 10;
	c->bytes_max = 1 << 30;
	while (own[n_own].name)
		n_own++;
	/* One getopt_long table: the program's options, the shared ones, the end mark. */
	all = calloc(n_own + N_COMMON + n_bytes + 1, sizeof *all);
	if (!all)
		cal_die(CAL_EXIT_FAIL, "out of host memory");
	memcpy(all, own, n_own * sizeof *all);
	memcpy(all + n_own, common_longopts, sizeof common_longopts);
	memcpy(all + n_own + N_COMMON, bytes_longopts, n_bytes * sizeof *all);
	opterr = 0;
	while ((code = getopt_long(argc, argv, "", all, NULL)) != -1) {
		if (code == '?')
			cal_die(CAL_EXIT_USAGE, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
		if (!common_option(c, code, optarg, &help))
			handle(ctx, code, optarg);
	}
	free(all);
	if (help) {
		usage(stdout);
		exit(CAL_EXIT_OK);
	}
	if (optind < argc)
		cal_die(CAL_EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);
	if (c->bytes_min > c->bytes_max)
		cal_die(CAL_EXIT_USAGE, "--bytes-min %lld is larger than --bytes-max %lld", (long long)c->bytes_min,
			(long long)c->bytes_max);
}

#define MATRIX_MAX_N 4096

int cal_matrix_read(const char *path, int64_t **out, int *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[65536];
	int64_t *m = NULL;
	int rows = 0, cols = -1, lineno = 0;

	*out = NULL;
	*n = 0;
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *save = NULL, *tok, *hash;
		int k = 0;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu characters", path, lineno,
				 sizeof line - 1);
			goto fail;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		for (tok = strtok_r(line, " \t\r\n,", &save); tok;
		     tok = strtok_r(NULL, " \t\r\n,", &save)) {
			int64_t v;

			if (cal_parse_size(tok, &v) != 0) {
				snprintf(err, errlen,
					 "%s:%d: '%s' is not a byte count (a non-negative integer, optional K/M/G suffix)",
					 path, lineno, tok);
				goto fail;
			}
			if (cols < 0) {
				/* The first row fixes n; allocate the whole matrix then. */
				if (k >= MATRIX_MAX_N) {
					snprintf(err, errlen, "%s:%d: more than %d values in a row", path,
						 lineno, MATRIX_MAX_N);
					goto fail;
				}
				if (!m) {
					m = malloc((size_t)MATRIX_MAX_N * sizeof *m);
					if (!m) {
						snprintf(err, errlen, "out of memory");
						goto fail;
					}
				}
				m[k] = v;
			} else {
				if (rows >= cols) {
					snprintf(err, errlen,
						 "%s:%d: more than %d rows; the matrix must be square (%d ranks)",
						 path, lineno, cols, cols);
					goto fail;
				}
				if (k >= cols) {
					snprintf(err, errlen, "%s:%d: more than %d values, expected %d (one per rank)",
						 path, lineno, cols, cols);
					goto fail;
				}
				m[(size_t)rows * cols + k] = v;
			}
			k++;
		}
		if (k == 0)
			continue;
		if (cols < 0) {
			int64_t *full;

			cols = k;
			full = malloc((size_t)cols * cols * sizeof *full);
			if (!full) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			memcpy(full, m, (size_t)cols * sizeof *full);
			free(m);
			m = full;
		} else if (k != cols) {
			snprintf(err, errlen, "%s:%d: %d values, expected %d (one per rank)", path, lineno,
				 k, cols);
			goto fail;
		}
		rows++;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "reading '%s' failed", path);
		goto fail;
	}
	fclose(f);
	if (rows == 0) {
		snprintf(err, errlen, "%s: no values; expected an n x n matrix of byte counts", path);
		free(m);
		return -1;
	}
	if (rows != cols) {
		snprintf(err, errlen, "%s: %d rows of %d values; the matrix must be square (n x n for n ranks)",
			 path, rows, cols);
		free(m);
		return -1;
	}
	*out = m;
	*n = rows;
	return 0;
fail:
	fclose(f);
	free(m);
	return -1;
}
