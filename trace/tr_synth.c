/*
 * tr_synth.c - synthetic traces, Plackett-Luce inclusion probabilities and their inverse,
 * popularity tables (see tr_synth.h for the model).
 *
 * Hot loop: per token and layer, E exponential draws (one log each) and E divisions for
 * the keys, a partial selection of the K largest (O(E K); a sort when K > 16), K
 * normalisations. No allocation per token: every buffer is sized per block up front.
 */
#include "trace/tr_synth.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_rng.h"
#include "common/ms_zipf.h"
#include "trace/tr_writer.h"

#define WEIGHT_FLOOR 1e-12 /* relative to the largest weight: keeps log weights finite */

int tr_dist_parse(const char *s, tr_dist *out)
{
	static const char *const names[] = {"uniform", "zipf", "dirichlet", "table"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (tr_dist)i;
			return 0;
		}
	return -1;
}

const char *tr_dist_name(tr_dist d)
{
	switch (d) {
	case TR_DIST_UNIFORM: return "uniform";
	case TR_DIST_ZIPF: return "zipf";
	case TR_DIST_DIRICHLET: return "dirichlet";
	default: return "table";
	}
}

void tr_synth_defaults(tr_synth_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->dist = TR_DIST_UNIFORM;
	o->zipf_s = 1.0;
	o->alpha = 1.0;
	o->domain_skew = 0.5;
	o->steps = 1;
	o->ranks = 1;
	o->seq_len = 1024;
}

int tr_synth_check(const tr_synth_opts *o, ms_error *err)
{
	if (o->layers < 1 || o->layers > 100000)
		return MS_ERROR(err, MS_EINVAL, "--layers = %d must be in 1..100000", o->layers);
	if (o->experts < 1 || o->experts > TR_MAX_EXPERTS)
		return MS_ERROR(err, MS_EINVAL, "--experts = %d must be in 1..%d", o->experts, TR_MAX_EXPERTS);
	if (o->depth < 1 || o->depth > o->experts)
		return MS_ERROR(err, MS_EINVAL, "--depth = %d must be in 1..experts = %d", o->depth, o->experts);
	if (o->top_k < 1 || o->top_k > o->depth)
		return MS_ERROR(err, MS_EINVAL, "--top-k = %d must be in 1..depth = %d", o->top_k, o->depth);
	if (o->tokens < 0 || o->tokens > ((int64_t)1 << 40))
		return MS_ERROR(err, MS_EINVAL, "--tokens = %lld must be in 0..2^40", (long long)o->tokens);
	if (!(o->zipf_s >= 0 && o->zipf_s <= 100))
		return MS_ERROR(err, MS_EINVAL, "--zipf-s = %g must be in 0..100", o->zipf_s);
	if (!(o->alpha > 0 && o->alpha <= 1e6))
		return MS_ERROR(err, MS_EINVAL, "--alpha = %g must be positive", o->alpha);
	if (!(o->correlation >= 0 && o->correlation <= 1))
		return MS_ERROR(err, MS_EINVAL, "--correlation = %g must be in [0, 1]", o->correlation);
	if (o->domain_table && (o->domains < 1 || o->domains > 32767))
		return MS_ERROR(err, MS_EINVAL, "a domain table needs 1..32767 domains, not %d", o->domains);
	if (o->topic_label) {
		if (o->labels < 0 || o->labels > 32767)
			return MS_ERROR(err, MS_EINVAL, "%d topic labels: must be in 0..32767", o->labels);
		for (int d = 0; d < o->domains; d++)
			if (o->topic_label[d] < 0 || (o->labels > 0 && o->topic_label[d] >= o->labels))
				return MS_ERROR(err, MS_EINVAL, "topic %d has label %d of %d", d, o->topic_label[d], o->labels);
	}
	for (int l = 0; l < o->layers && (o->layer_correlation || o->layer_swap); l++) {
		double rho = o->layer_correlation ? o->layer_correlation[l] : o->correlation;
		double swap = o->layer_swap ? o->layer_swap[l] : 0.0;
		if (!(rho >= 0 && rho <= 1) || !(swap >= 0 && swap <= 1) || rho + swap > 1)
			return MS_ERROR(err, MS_EINVAL,
					"layer %d: correlation %g and swapped repeats %g must be in [0, 1] with their sum", l,
					rho, swap);
	}
	if (o->domain_mix) {
		double sum = 0;
		for (int d = 0; d < o->domains; d++) {
			if (!(o->domain_mix[d] >= 0) || !isfinite(o->domain_mix[d]))
				return MS_ERROR(err, MS_EINVAL, "domain %d: mixture weight %g must be >= 0", d, o->domain_mix[d]);
			sum += o->domain_mix[d];
		}
		if (!(sum > 0))
			return MS_ERROR(err, MS_EINVAL, "the domain mixture weights sum to 0");
	}
	if (!o->domain_table && (o->domains < 0 || o->domains > o->experts))
		return MS_ERROR(err, MS_EINVAL, "--domains = %d must be in 0..experts = %d (each domain gets home experts)",
				o->domains, o->experts);
	if (!(o->domain_skew >= 0 && o->domain_skew <= 1))
		return MS_ERROR(err, MS_EINVAL, "--domain-skew = %g must be in [0, 1]", o->domain_skew);
	if (o->steps < 1 || o->steps > 1000000 || o->ranks < 1 || o->ranks > 1000000)
		return MS_ERROR(err, MS_EINVAL, "--steps = %d and --ranks = %d must be in 1..1000000", o->steps, o->ranks);
	if (o->seq_len < 1)
		return MS_ERROR(err, MS_EINVAL, "--seq-len = %d must be at least 1", o->seq_len);
	if (o->dist == TR_DIST_TABLE && !o->table)
		return MS_ERROR(err, MS_EINVAL, "--dist table needs --table FILE.csv");
	if (o->logits && (size_t)o->layers * TR_CHUNK_TOKENS * (size_t)o->experts * 4 > ((size_t)8 << 30))
		return MS_ERROR(err, MS_EINVAL,
				"--logits with %d layers x %d experts would buffer %.1f GiB per chunk of tokens; leave out --logits",
				o->layers, o->experts, (double)o->layers * TR_CHUNK_TOKENS * o->experts * 4 / (1 << 30));
	return MS_OK;
}

/* ---- Plackett-Luce inclusion probabilities ---- */

/* 8-point Gauss-Legendre on [-1, 1] (Abramowitz and Stegun 1964, Table 25.4). */
static const double gl_x[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363};
static const double gl_w[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
#define GL_PANELS 48

static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * p normalised (sum 1), 2 < k < n. Workspace ws: 2 (n + 1) k + 2n doubles.
 * Exponential race: X_e ~ Exp(p_e); e is among the first k arrivals iff fewer than k of
 * the others arrive before X_e. With t = tau u / (1 - u), u in [0, 1), the integrand is
 * smooth and decays like exp(-c / (1 - u)); composite Gauss-Legendre on GL_PANELS panels.
 * P(N_-e(t) <= k - 1) comes from prefix and suffix Poisson-binomial tables truncated at
 * k - 1 arrivals (A[i] over experts < i, B[i] over experts >= i), combined per e in O(k^2):
 * only additions of products of probabilities, so no cancellation.
 */
static void pl_quadrature(const double *p, int n, int k, double *pi, double *ws)
{
	double *A = ws, *B = ws + (size_t)(n + 1) * k, *q = B + (size_t)(n + 1) * k, *r = q + n;
	double tau, sum = 0;
	{
		/* Time scale: when the k-th most popular expert typically arrives. */
		double *s = q;
		memcpy(s, p, (size_t)n * sizeof *s);
		qsort(s, (size_t)n, sizeof *s, cmp_desc);
		tau = 1.0 / (s[k - 1] > 1e-300 ? s[k - 1] : 1e-300);
	}
	for (int e = 0; e < n; e++)
		pi[e] = 0;
	for (int panel = 0; panel < GL_PANELS; panel++) {
		double a = (double)panel / GL_PANELS, b = (double)(panel + 1) / GL_PANELS, mid = (a + b) / 2, half = (b - a) / 2;
		for (int g = 0; g < 8; g++) {
			double u = mid + (g < 4 ? -gl_x[g] : gl_x[g - 4]) * half, wq = gl_w[g < 4 ? g : g - 4] * half;
			double t = tau * u / (1 - u), jac = tau / ((1 - u) * (1 - u));
			for (int j = 0; j < n; j++) {
				r[j] = exp(-p[j] * t);
				q[j] = -expm1(-p[j] * t);
			}
			/* Prefix: A[i][m] = P(m arrivals among experts 0..i-1), m < k. */
			memset(A, 0, (size_t)k * sizeof *A);
			A[0] = 1;
			for (int i = 0; i < n; i++) {
				const double *x = A + (size_t)i * k;
				double *y = A + (size_t)(i + 1) * k;
				y[0] = x[0] * r[i];
				for (int m = 1; m < k; m++)
					y[m] = x[m] * r[i] + x[m - 1] * q[i];
			}
			/* Suffix: B[i][m] = P(m arrivals among experts i..n-1). */
			memset(B + (size_t)n * k, 0, (size_t)k * sizeof *B);
			B[(size_t)n * k] = 1;
			for (int i = n - 1; i >= 0; i--) {
				const double *x = B + (size_t)(i + 1) * k;
				double *y = B + (size_t)i * k;
				y[0] = x[0] * r[i];
				for (int m = 1; m < k; m++)
					y[m] = x[m] * r[i] + x[m - 1] * q[i];
			}
			for (int e = 0; e < n; e++) {
				const double *x = A + (size_t)e * k, *y = B + (size_t)(e + 1) * k;
				double few = 0;
				for (int m = 0; m < k; m++) {
					double c = 0;
					for (int m2 = 0; m2 + m < k; m2++)
						c += y[m2];
					few += x[m] * c;
				}
				if (t < 1e300)
					pi[e] += wq * jac * p[e] * r[e] * few;
			}
		}
	}
	for (int e = 0; e < n; e++)
		sum += pi[e];
	/* The quadrature error is tiny; renormalising makes sum pi = k exactly. */
	for (int e = 0; e < n; e++)
		pi[e] = sum > 0 ? pi[e] * k / sum : (double)k / n;
}

/* p normalised; ws as for pl_quadrature. */
static void pl_inclusion_ws(const double *p, int n, int k, double *pi, double *ws)
{
	if (k >= n) {
		for (int e = 0; e < n; e++)
			pi[e] = 1;
	} else if (k == 1) {
		for (int e = 0; e < n; e++)
			pi[e] = p[e];
	} else if (k == 2) {
		/* pi_e = p_e + sum_{j != e} p_j p_e / (1 - p_j) = p_e (1 + S - p_e / (1 - p_e)). */
		double S = 0;
		for (int j = 0; j < n; j++)
			S += p[j] / (1 - (p[j] < 1 - 1e-15 ? p[j] : 1 - 1e-15));
		for (int e = 0; e < n; e++) {
			double pe = p[e] < 1 - 1e-15 ? p[e] : 1 - 1e-15;
			pi[e] = pe * (1 + S - pe / (1 - pe));
			pi[e] = pi[e] < 1 ? pi[e] : 1;
		}
	} else {
		pl_quadrature(p, n, k, pi, ws);
	}
}

static size_t pl_ws_len(int n, int k)
{
	return (size_t)2 * (size_t)(n + 1) * (size_t)k + (size_t)2 * (size_t)n;
}

int tr_pl_inclusion(const double *w, int n, int k, double *pi, ms_error *err)
{
	double *p = ms_malloc(err, (size_t)n * sizeof *p, "weights"), sum = 0;
	double *ws = ms_malloc(err, pl_ws_len(n, k) * sizeof *ws, "quadrature workspace");
	if (!p || !ws) {
		free(p);
		free(ws);
		return MS_ENOMEM;
	}
	for (int e = 0; e < n; e++)
		sum += w[e];
	for (int e = 0; e < n; e++)
		p[e] = w[e] / sum;
	pl_inclusion_ws(p, n, k, pi, ws);
	free(p);
	free(ws);
	return MS_OK;
}

int tr_pl_solve(const double *target, int n, int k, double *w, double tol, int max_iter, double *max_err, ms_error *err)
{
	double *pi, *ws, worst = INFINITY;
	int positive = 0, it;
	if (tol <= 0)
		tol = 1e-9;
	for (int e = 0; e < n; e++) {
		if (!(target[e] >= 0) || target[e] > 1 + 1e-9)
			return MS_ERROR(err, MS_EINVAL,
					"expert %d should be among a token's top-%d with probability %.6g: it must be in [0, 1] "
					"(an expert takes at most one of a token's %d slots)",
					e, k, target[e], k);
		positive += target[e] > 0;
	}
	if (positive < k && k < n)
		return MS_ERROR(err, MS_EINVAL, "only %d experts have a positive share: top-%d needs at least %d", positive, k, k);
	pi = ms_malloc(err, (size_t)n * sizeof *pi, "inclusion probabilities");
	ws = ms_malloc(err, pl_ws_len(n, k) * sizeof *ws, "quadrature workspace");
	if (!pi || !ws) {
		free(pi);
		free(ws);
		return MS_ENOMEM;
	}
	for (int e = 0; e < n; e++)
		w[e] = target[e] / k;
	for (it = 0; it < max_iter; it++) {
		double sum = 0;
		pl_inclusion_ws(w, n, k, pi, ws);
		worst = 0;
		for (int e = 0; e < n; e++) {
			double d = fabs(pi[e] - target[e]);
			worst = d > worst ? d : worst;
		}
		if (worst <= tol || k >= n)
			break;
		for (int e = 0; e < n; e++) {
			/* A target of exactly 1 cannot be reached with finite weights; cap the step. */
			double f = pi[e] > 0 ? target[e] / pi[e] : 0;
			w[e] *= f < 1e3 ? f : 1e3;
			sum += w[e];
		}
		for (int e = 0; e < n; e++)
			w[e] /= sum;
	}
	if (max_err)
		*max_err = worst;
	free(pi);
	free(ws);
	return it;
}

/* ---- popularity tables ---- */

int tr_table_load(const char *path, int *layers, int *experts, double **shares, ms_error *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, data_lines = 0, L = 0, E = 0, rc = MS_OK;
	struct ent {
		int l, e, line;
		double v;
	} *ents = NULL;
	size_t n = 0, ecap = 0;
	int *where = NULL;
	double *m = NULL;
	*shares = NULL;
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read popularity table '%s': %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *end;
		long l, e;
		double v;
		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0')
			continue;
		data_lines++;
		errno = 0;
		l = strtol(s, &end, 10);
		if (end == s) {
			if (data_lines == 1)
				continue; /* a header line */
			rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expected 'layer,expert,value'", path, lineno);
			goto out;
		}
		s = end;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s++ != ',')
			goto syntax;
		e = strtol(s, &end, 10);
		if (end == s)
			goto syntax;
		s = end;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s++ != ',')
			goto syntax;
		v = strtod(s, &end);
		if (end == s)
			goto syntax;
		for (s = end; *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'; s++)
			;
		if (*s != '\0')
			goto syntax;
		if (l < 0 || l >= 100000 || e < 0 || e >= TR_MAX_EXPERTS) {
			rc = MS_ERROR(err, MS_EINVAL, "%s:%d: layer %ld, expert %ld: out of range (layer < 100000, expert < %d)",
				      path, lineno, l, e, TR_MAX_EXPERTS);
			goto out;
		}
		if (!isfinite(v) || v < 0) {
			rc = MS_ERROR(err, MS_EINVAL, "%s:%d: value %g must be finite and >= 0", path, lineno, v);
			goto out;
		}
		if (n == ecap) {
			size_t nc = ecap ? 2 * ecap : 256;
			void *p = realloc(ents, nc * sizeof *ents);
			if (!p) {
				rc = MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
				goto out;
			}
			ents = p;
			ecap = nc;
		}
		ents[n].l = (int)l;
		ents[n].e = (int)e;
		ents[n].line = lineno;
		ents[n].v = v;
		n++;
		L = (int)l + 1 > L ? (int)l + 1 : L;
		E = (int)e + 1 > E ? (int)e + 1 : E;
		continue;
	syntax:
		rc = MS_ERROR(err, MS_EINVAL, "%s:%d: expected 'layer,expert,value' with integers and a number", path, lineno);
		goto out;
	}
	if (n == 0) {
		rc = MS_ERROR(err, MS_EINVAL, "%s: no 'layer,expert,value' lines", path);
		goto out;
	}
	m = calloc((size_t)L * E, sizeof *m);
	where = calloc((size_t)L * E, sizeof *where);
	if (!m || !where) {
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory for a %d x %d table", L, E);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)ents[i].l * E + ents[i].e;
		if (where[c]) {
			rc = MS_ERROR(err, MS_EINVAL, "%s:%d: layer %d, expert %d was already given on line %d", path, ents[i].line,
				      ents[i].l, ents[i].e, where[c]);
			goto out;
		}
		where[c] = ents[i].line;
		m[c] = ents[i].v;
	}
	for (int l = 0; l < L; l++) {
		double sum = 0;
		for (int e = 0; e < E; e++) {
			if (!where[(size_t)l * E + e]) {
				rc = MS_ERROR(err, MS_EINVAL, "%s: no value for layer %d, expert %d (the table has layers 0..%d, experts 0..%d)",
					      path, l, e, L - 1, E - 1);
				goto out;
			}
			sum += m[(size_t)l * E + e];
		}
		if (!(sum > 0)) {
			rc = MS_ERROR(err, MS_EINVAL, "%s: every value of layer %d is 0", path, l);
			goto out;
		}
		for (int e = 0; e < E; e++)
			m[(size_t)l * E + e] /= sum;
	}
	*layers = L;
	*experts = E;
	*shares = m;
	m = NULL;
out:
	free(line);
	free(ents);
	free(where);
	free(m);
	fclose(f);
	return rc;
}

/* ---- weights ---- */

static void normalise_floor(double *w, int n)
{
	double mx = 0, sum = 0;
	for (int e = 0; e < n; e++)
		mx = w[e] > mx ? w[e] : mx;
	for (int e = 0; e < n; e++) {
		w[e] = w[e] > WEIGHT_FLOOR * mx ? w[e] : WEIGHT_FLOOR * mx;
		sum += w[e];
	}
	for (int e = 0; e < n; e++)
		w[e] /= sum;
}

/* Solves selection shares p[E] at top-k into normalised weights, in place (k = E: normalised
 * as they are, every expert is selected anyway). */
static int solve_shares(double *p, int E, int k, double *target, ms_error *err)
{
	double sum = 0;
	for (int e = 0; e < E; e++)
		sum += p[e];
	for (int e = 0; e < E; e++)
		p[e] = sum > 0 ? p[e] / sum : 1.0 / E;
	if (k < E) {
		double maxerr;
		for (int e = 0; e < E; e++)
			target[e] = p[e] * k;
		if (tr_pl_solve(target, E, k, p, 1e-10, 5000, &maxerr, err) < 0)
			return err->code;
	}
	normalise_floor(p, E);
	return MS_OK;
}

/* Layer l's weights from the fitted domain table; pop = their mixture by domain_mix. */
static int domain_table_weights(const tr_synth_opts *o, int l, double *w, double *pop, double *target, ms_error *err)
{
	const int E = o->experts, D = o->domains;
	double msum = 0;
	if (pop)
		memset(pop + (size_t)l * E, 0, (size_t)E * sizeof *pop);
	for (int d = 0; d < D; d++)
		msum += o->domain_mix ? o->domain_mix[d] : 1.0;
	for (int d = 0; d < D; d++) {
		double *wd = w + ((size_t)l * D + d) * E;
		ms_error sub;
		ms_error_clear(&sub);
		memcpy(wd, o->domain_table + ((size_t)l * D + d) * E, (size_t)E * sizeof *wd);
		if (solve_shares(wd, E, o->top_k, target, &sub) < 0)
			return MS_ERROR(err, sub.code, "layer %d, domain %d: %s", l, d, sub.msg);
		if (pop)
			for (int e = 0; e < E; e++)
				pop[(size_t)l * E + e] += wd[e] * (o->domain_mix ? o->domain_mix[d] : 1.0) / msum;
	}
	return MS_OK;
}

int tr_synth_weights(const tr_synth_opts *o, double *w, double *pop, ms_error *err)
{
	const int L = o->layers, E = o->experts, D = o->domains > 0 ? o->domains : 1, k = o->top_k;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double *p = malloc((size_t)E * sizeof *p), *target = malloc((size_t)E * sizeof *target);
	size_t *perm = malloc((size_t)E * sizeof *perm);
	int rc = MS_OK;
	if (!rng || !p || !target || !perm) {
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory for the synthetic weights");
		goto out;
	}
	for (int l = 0; l < L && rc == MS_OK; l++) {
		int solve = o->dist == TR_DIST_TABLE || (o->match_selection && o->dist != TR_DIST_UNIFORM);
		switch (o->dist) {
		case TR_DIST_UNIFORM:
			for (int e = 0; e < E; e++)
				p[e] = 1.0 / E;
			break;
		case TR_DIST_ZIPF:
			gsl_rng_set(rng, ms_stream_seed(o->seed, 0x21F, (uint64_t)l, 0, 0));
			ms_zipf_popularity(rng, E, o->zipf_s, perm, p);
			break;
		case TR_DIST_DIRICHLET: {
			double *alpha = target;
			gsl_rng_set(rng, ms_stream_seed(o->seed, 0xD1, (uint64_t)l, 0, 0));
			for (int e = 0; e < E; e++)
				alpha[e] = o->alpha;
			gsl_ran_dirichlet(rng, (size_t)E, alpha, p);
			break;
		}
		case TR_DIST_TABLE:
			memcpy(p, o->table + (size_t)l * E, (size_t)E * sizeof *p);
			break;
		}
		if (o->domain_table) {
			if ((rc = domain_table_weights(o, l, w, pop, target, err)) < 0)
				break;
			continue;
		}
		{
			ms_error sub;
			ms_error_clear(&sub);
			if (solve_shares(p, E, solve ? k : E, target, &sub) < 0) {
				rc = MS_ERROR(err, sub.code, "layer %d: %s", l, sub.msg);
				break;
			}
		}
		if (pop)
			memcpy(pop + (size_t)l * E, p, (size_t)E * sizeof *p);
		if (o->domains > 0) {
			/* Home experts: a random permutation of the experts, dealt round-robin to domains. */
			gsl_rng_set(rng, ms_stream_seed(o->seed, 0xD2, (uint64_t)l, 0, 0));
			for (int e = 0; e < E; e++)
				perm[e] = (size_t)e;
			gsl_ran_shuffle(rng, perm, (size_t)E, sizeof *perm);
			for (int d = 0; d < D; d++) {
				double *wd = w + ((size_t)l * D + d) * E;
				int home = 0;
				for (int i = 0; i < E; i++)
					home += (int)(i % D) == d;
				for (int e = 0; e < E; e++)
					wd[e] = (1 - o->domain_skew) * p[e];
				for (int i = 0; i < E; i++)
					if ((int)(i % D) == d)
						wd[perm[i]] += o->domain_skew / home;
				normalise_floor(wd, E);
			}
		} else {
			memcpy(w + (size_t)l * E, p, (size_t)E * sizeof *p);
		}
	}
out:
	gsl_rng_free(rng);
	free(p);
	free(target);
	free(perm);
	return rc;
}

/* ---- generation ---- */

typedef struct meta_iter {
	int64_t T, t;
	int S, R, seq_len;
	int step, rank;
	int64_t step_end, rank_start, rank_end, seq;
	const double *mix; /* [D] domain mixture, or NULL: uniform */
	double mix_sum;
} meta_iter;

static int64_t step_start(const meta_iter *m, int s)
{
	return m->T * s / m->S;
}

static void rank_bounds(meta_iter *m)
{
	int64_t a = step_start(m, m->step), b = step_start(m, m->step + 1), n = b - a;
	m->rank_start = a + n * m->rank / m->R;
	m->rank_end = a + n * (m->rank + 1) / m->R;
}

/*
 * The domain of the current sequence: a hash of (seed, sequence) mod D, or, by the
 * mixture, the inverse of its cumulative shares at u_s = frac(u_0 + s / phi) (the golden
 * ratio's Weyl sequence from a seeded start): the sequences' domain shares then match the
 * mixture to O(log S / S) instead of independent draws' O(1 / sqrt S), which would make a
 * fitted trace's load wander with the luck of its topic draws.
 */
static int16_t domain_of(const meta_iter *m, uint64_t seed, int D)
{
	uint64_t h = ms_stream_seed(seed, 0xD0, (uint64_t)m->seq, 0, 0);
	double u, acc = 0;
	if (!m->mix)
		return (int16_t)(h % (uint64_t)D);
	u = (double)(ms_stream_seed(seed, 0xD0, 0, 1, 0) >> 11) * 0x1p-53 + (double)m->seq * 0.6180339887498949;
	u = (u - floor(u)) * m->mix_sum;
	for (int d = 0; d < D; d++) {
		acc += m->mix[d];
		if (u < acc)
			return (int16_t)d;
	}
	return (int16_t)(D - 1);
}

static void meta_next(meta_iter *m, uint64_t seed, int D, tr_token *tok)
{
	int64_t off;
	while (m->t >= m->rank_end) {
		if (++m->rank == m->R) {
			m->rank = 0;
			m->step++;
		}
		rank_bounds(m);
	}
	off = m->t - m->rank_start;
	if (off % m->seq_len == 0)
		m->seq++;
	tok->step = m->step;
	tok->rank = m->rank;
	tok->sequence = m->seq;
	tok->position = (int32_t)(off % m->seq_len);
	tok->domain = D > 0 ? domain_of(m, seed, D) : -1;
	m->t++;
}

typedef struct draw_ws {
	double *key;   /* [E] */
	int *order;    /* [E] */
	struct kv {
		double k;
		int i;
	} *kv;         /* [E], for sorting when K is large */
} draw_ws;

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	if (x->k != y->k)
		return x->k < y->k ? 1 : -1;
	return x->i - y->i;
}

/* One Plackett-Luce ranking by the exponential race; scores = key / sum key. */
static void draw(gsl_rng *rng, const double *w, int E, int K, draw_ws *ws, int16_t *ids, float *scores, float *logits)
{
	double sum = 0, *key = ws->key;
	for (int e = 0; e < E; e++) {
		key[e] = w[e] / -log(gsl_rng_uniform_pos(rng));
		sum += key[e];
	}
	if (K <= 16) {
		for (int e = 0; e < E; e++)
			ws->order[e] = e;
		for (int j = 0; j < K; j++) {
			int best = j;
			for (int i = j + 1; i < E; i++)
				if (key[ws->order[i]] > key[ws->order[best]])
					best = i;
			int tmp = ws->order[j];
			ws->order[j] = ws->order[best];
			ws->order[best] = tmp;
		}
		for (int j = 0; j < K; j++) {
			ids[j] = (int16_t)ws->order[j];
			scores[j] = (float)(key[ws->order[j]] / sum);
		}
	} else {
		for (int e = 0; e < E; e++) {
			ws->kv[e].k = key[e];
			ws->kv[e].i = e;
		}
		qsort(ws->kv, (size_t)E, sizeof *ws->kv, cmp_kv);
		for (int j = 0; j < K; j++) {
			ids[j] = (int16_t)ws->kv[j].i;
			scores[j] = (float)(ws->kv[j].k / sum);
		}
	}
	if (logits)
		for (int e = 0; e < E; e++)
			logits[e] = (float)log(key[e]);
}

void tr_synth_estimate(const tr_synth_opts *o, double *bytes, double *time_s)
{
	const double T = (double)o->tokens, L = o->layers, E = o->experts, K = o->depth;
	*bytes = L * T * K * (2 + 4) + (o->logits ? L * T * E * 4 : 0) + T * (3 * 4 + (o->domains > 0 ? 2 : 0)) +
		 L * (o->domains > 0 ? o->domains : 1) * E * 8 + 65536;
	*time_s = T * L * (E + K) / 2e7;
}

int tr_synth_write(const char *path, int force, const tr_synth_opts *o, ms_error *err)
{
	const int L = o->layers, E = o->experts, K = o->depth, D = o->domains, DD = D > 0 ? D : 1;
	const int64_t B = TR_CHUNK_TOKENS;
	char **names = NULL, source[512];
	tr_meta m;
	tr_writer *w = NULL;
	double *weights = NULL;
	int16_t *ids = NULL, *last_ids = NULL;
	float *scores = NULL, *logits = NULL, *last_scores = NULL, *last_logits = NULL;
	tr_token *tok = NULL;
	gsl_rng *rng = NULL;
	draw_ws ws = {NULL, NULL, NULL};
	meta_iter mi;
	int rc;
	if ((rc = tr_synth_check(o, err)) < 0)
		return rc;
	weights = ms_malloc(err, (size_t)L * DD * E * sizeof *weights, "synthetic weights");
	if (!weights)
		return MS_ENOMEM;
	if ((rc = tr_synth_weights(o, weights, NULL, err)) < 0)
		goto out;
	rc = MS_ENOMEM;
	if (D > 0 && !o->domain_names) {
		names = calloc((size_t)D, sizeof *names);
		if (!names)
			goto nomem;
		for (int d = 0; d < D; d++) {
			names[d] = malloc(24);
			if (!names[d])
				goto nomem;
			snprintf(names[d], 24, "domain%d", d);
		}
	}
	ids = malloc((size_t)L * B * K * sizeof *ids);
	scores = malloc((size_t)L * B * K * sizeof *scores);
	logits = o->logits ? malloc((size_t)L * B * E * sizeof *logits) : NULL;
	last_ids = malloc((size_t)L * K * sizeof *last_ids);
	last_scores = malloc((size_t)L * K * sizeof *last_scores);
	last_logits = o->logits ? malloc((size_t)L * E * sizeof *last_logits) : NULL;
	tok = malloc((size_t)B * sizeof *tok);
	ws.key = malloc((size_t)E * sizeof *ws.key);
	ws.order = malloc((size_t)E * sizeof *ws.order);
	ws.kv = malloc((size_t)E * sizeof *ws.kv);
	rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!ids || !scores || (o->logits && (!logits || !last_logits)) || !last_ids || !last_scores || !tok || !ws.key ||
	    !ws.order || !ws.kv || !rng)
		goto nomem;
	snprintf(source, sizeof source,
		 "moesim trace synth: dist %s%s, seed %llu, zipf_s %g, alpha %g, correlation %g, domains %d, domain_skew %g, "
		 "steps %d, ranks %d, seq_len %d",
		 tr_dist_name(o->dist), o->match_selection ? " (selection shares matched)" : "", (unsigned long long)o->seed,
		 o->zipf_s, o->alpha, o->correlation, o->domains, o->domain_skew, o->steps, o->ranks, o->seq_len);
	if (o->domain_table || o->layer_correlation || o->layer_swap)
		snprintf(source + strlen(source), sizeof source - strlen(source), "; fitted%s%s%s%s (moesim trace synth --match)",
			 o->layer_correlation ? ": correlation per layer" : "", o->layer_swap ? ", swapped repeats per layer" : "", o->domain_table ? ", shares per domain" : "",
			 o->topic_label ? " (the domains are topics, written as their labels)" : "");
	memset(&m, 0, sizeof m);
	m.num_layers = L;
	m.num_experts = E;
	m.depth = K;
	m.top_k = o->top_k;
	m.score_kind = TR_SCORE_SOFTMAX;
	m.model = o->model ? o->model : "synthetic";
	m.source = source;
	m.created = o->created;
	m.description = "synthetic trace: Plackett-Luce rankings by the exponential race; scores are softmax over all "
			"experts of log(w / Exp(1)) (docs/trace-tools.md)";
	m.has_logits = o->logits;
	m.num_domains = o->topic_label ? o->labels : D;
	m.domain_names = o->domain_names ? o->domain_names : (const char *const *)names;
	w = tr_writer_create(path, force, &m, err);
	if (!w) {
		rc = err ? err->code : MS_EIO;
		goto out;
	}
	memset(&mi, 0, sizeof mi);
	mi.T = o->tokens;
	mi.S = o->steps;
	mi.R = o->ranks;
	mi.seq_len = o->seq_len;
	mi.seq = -1;
	mi.mix = o->domain_mix;
	for (int d = 0; o->domain_mix && d < D; d++)
		mi.mix_sum += o->domain_mix[d];
	rank_bounds(&mi);
	for (int64_t t0 = 0, b = 0; t0 < o->tokens; t0 += B, b++) {
		int64_t n = o->tokens - t0 < B ? o->tokens - t0 : B;
		for (int64_t i = 0; i < n; i++)
			meta_next(&mi, o->seed, D, &tok[i]);
		for (int l = 0; l < L; l++) {
			int16_t *li = last_ids + (size_t)l * K;
			float *ls = last_scores + (size_t)l * K, *ll = last_logits ? last_logits + (size_t)l * E : NULL;
			const double rho = o->layer_correlation ? o->layer_correlation[l] : o->correlation;
			const double swap = o->layer_swap ? o->layer_swap[l] : 0.0;
			gsl_rng_set(rng, ms_stream_seed(o->seed, 0x5E7, (uint64_t)l, (uint64_t)b, 0));
			for (int64_t i = 0; i < n; i++) {
				int16_t *id = ids + ((size_t)l * n + i) * K;
				float *sc = scores + ((size_t)l * n + i) * K;
				float *lg = logits ? logits + ((size_t)l * n + i) * E : NULL;
				int d = D > 0 ? tok[i].domain : 0;
				/* One uniform decides: copy (u < rho), copy with the first two swapped (u < rho + swap),
				 * or a fresh draw; drawn only where a copy is possible, so rho alone gives the bytes it
				 * always gave. */
				double u = (rho > 0 || swap > 0) && tok[i].position > 0 ? gsl_rng_uniform(rng) : 2.0;
				if (u < rho + swap) {
					memcpy(id, li, (size_t)K * sizeof *id);
					memcpy(sc, ls, (size_t)K * sizeof *sc);
					if (lg)
						memcpy(lg, ll, (size_t)E * sizeof *lg);
					if (u >= rho && K >= 2) {
						/* The previous second choice becomes the first: ids swap, the scores stay in
						 * rank order, and the two logits swap so the scores remain their softmax. */
						int16_t a = id[0];
						id[0] = id[1];
						id[1] = a;
						if (lg) {
							float x = lg[id[0]];
							lg[id[0]] = lg[id[1]];
							lg[id[1]] = x;
						}
					}
				} else {
					draw(rng, weights + ((size_t)l * DD + d) * E, E, K, &ws, id, sc, lg);
				}
				memcpy(li, id, (size_t)K * sizeof *id);
				memcpy(ls, sc, (size_t)K * sizeof *sc);
				if (lg)
					memcpy(ll, lg, (size_t)E * sizeof *lg);
			}
		}
		if (o->topic_label)
			for (int64_t i = 0; i < n; i++)
				tok[i].domain = o->labels > 0 ? (int16_t)o->topic_label[tok[i].domain] : -1;
		if ((rc = tr_writer_append(w, n, ids, scores, logits, tok, err)) < 0)
			goto out;
	}
	rc = tr_writer_finish(w, err);
	w = NULL;
	goto out;
nomem:
	rc = MS_ERROR(err, MS_ENOMEM, "out of memory for a synthetic trace of %d layers x %d experts", L, E);
out:
	tr_writer_abort(w);
	if (names)
		for (int d = 0; d < D; d++)
			free(names[d]);
	free(names);
	free(weights);
	free(ids);
	free(scores);
	free(logits);
	free(last_ids);
	free(last_scores);
	free(last_logits);
	free(tok);
	free(ws.key);
	free(ws.order);
	free(ws.kv);
	if (rng)
		gsl_rng_free(rng);
	return rc;
}
