/*
 * topo_graph.c - building the cluster graph for each shape (see topo_graph.h), the
 * custom file parser, bisection by max-flow and DOT output.
 *
 * Building appends vertices and cables to growable arrays, then derives the CSR
 * adjacency once. A failed build frees everything it allocated.
 */
#include "topology/topo_graph.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hardware/hw_gpu.h"
#include "topology/topo_cluster.h"

typedef struct builder {
	topo_graph *g;
	int vcap, lcap, nocap;
	size_t *name_off;  /* per vertex, into names_buf */
	size_t ncap, nlen;
	ms_error *err;
} builder;

const char *topo_link_class_name(int cls)
{
	static const char *const n[TOPO_LC_COUNT] = {"nvlink", "pcie", "nic", "tier1", "tier2", "custom"};
	return cls >= 0 && cls < TOPO_LC_COUNT ? n[cls] : "?";
}

const char *topo_shape_name(topo_shape s)
{
	switch (s) {
	case TOPO_SINGLE_SWITCH: return "single_switch";
	case TOPO_FAT_TREE: return "fat_tree";
	case TOPO_RAIL: return "rail";
	case TOPO_CUSTOM: return "custom";
	}
	return "?";
}

static int grow(void **p, int *cap, int need, size_t elem, ms_error *err)
{
	if (need <= *cap)
		return MS_OK;
	int nc = *cap ? *cap : 64;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, (size_t)nc * elem);
	if (!q)
		return MS_ERROR(err, MS_ENOMEM, "out of memory building the topology (%d elements)", nc);
	*p = q;
	*cap = nc;
	return MS_OK;
}

__attribute__((format(printf, 5, 6))) static int add_vertex(builder *b, int kind, int tier, int index, const char *fmt,
							    ...)
{
	topo_graph *g = b->g;
	char name[160];
	va_list ap;
	size_t len;
	if (grow((void **)&g->v, &b->vcap, g->n_vertices + 1, sizeof *g->v, b->err) < 0 ||
	    grow((void **)&b->name_off, &b->nocap, g->n_vertices + 1, sizeof *b->name_off, b->err) < 0)
		return b->err->code;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	len = strlen(name) + 1;
	if (b->nlen + len > b->ncap) {
		size_t nc = b->ncap ? b->ncap * 2 : 4096;
		char *q;
		while (nc < b->nlen + len)
			nc *= 2;
		q = realloc(g->names_buf, nc);
		if (!q)
			return MS_ERROR(b->err, MS_ENOMEM, "out of memory building the topology (names)");
		g->names_buf = q;
		b->ncap = nc;
	}
	memcpy(g->names_buf + b->nlen, name, len);
	b->name_off[g->n_vertices] = b->nlen;
	b->nlen += len;
	g->v[g->n_vertices].kind = kind;
	g->v[g->n_vertices].tier = tier;
	g->v[g->n_vertices].index = index;
	return g->n_vertices++;
}

/* Adds the two directions of one cable; returns the id of a -> c (c -> a is id + 1). */
static int add_cable(builder *b, int a, int c, int cls, double bw, double lat)
{
	topo_graph *g = b->g;
	int id = g->n_links;
	if (grow((void **)&g->links, &b->lcap, id + 2, sizeof *g->links, b->err) < 0)
		return b->err->code;
	g->links[id] = (topo_link){a, c, cls, bw, lat};
	g->links[id + 1] = (topo_link){c, a, cls, bw, lat};
	g->n_links += 2;
	return id;
}

void topo_graph_destroy(topo_graph *g)
{
	if (!g)
		return;
	free(g->v);
	free(g->links);
	free(g->names);
	free(g->names_buf);
	free(g->out_start);
	free(g->out_link);
	free(g->in_start);
	free(g->in_link);
	free(g->gpu_up);
	free(g->gpu_down);
	free(g->pcie_up);
	free(g->pcie_down);
	free(g);
}

static int build_csr(topo_graph *g, ms_error *err)
{
	int V = g->n_vertices, E = g->n_links;
	g->out_start = ms_calloc(err, (size_t)V + 1, sizeof(int), "topology adjacency");
	g->in_start = ms_calloc(err, (size_t)V + 1, sizeof(int), "topology adjacency");
	g->out_link = ms_calloc(err, (size_t)E + 1, sizeof(int), "topology adjacency");
	g->in_link = ms_calloc(err, (size_t)E + 1, sizeof(int), "topology adjacency");
	if (!g->out_start || !g->in_start || !g->out_link || !g->in_link)
		return err->code;
	for (int l = 0; l < E; l++) {
		g->out_start[g->links[l].src + 1]++;
		g->in_start[g->links[l].dst + 1]++;
	}
	for (int v = 0; v < V; v++) {
		g->out_start[v + 1] += g->out_start[v];
		g->in_start[v + 1] += g->in_start[v];
	}
	{
		int *fo = ms_calloc(err, (size_t)V + 1, sizeof(int), "topology adjacency");
		int *fi = ms_calloc(err, (size_t)V + 1, sizeof(int), "topology adjacency");
		if (!fo || !fi) {
			free(fo);
			free(fi);
			return err->code;
		}
		/* Links are visited in id order, so each vertex lists its links by id. */
		for (int l = 0; l < E; l++) {
			int s = g->links[l].src, d = g->links[l].dst;
			g->out_link[g->out_start[s] + fo[s]++] = l;
			g->in_link[g->in_start[d] + fi[d]++] = l;
		}
		free(fo);
		free(fi);
	}
	return MS_OK;
}

/* Leaf ports: d down, u up, d + u <= radix, d / u <= oversubscription (closest from below). */
static void leaf_ports(const topo_spec *sp, int *d, int *u)
{
	int k = sp->switch_radix;
	double o = sp->oversubscription;
	int dd = (int)floor(k * o / (1.0 + o) + 1e-9);
	int uu;
	if (dd < 1)
		dd = 1;
	uu = (int)ceil(dd / o - 1e-9);
	if (uu < 1)
		uu = 1;
	while (dd + uu > k && dd > 1) {
		dd--;
		uu = (int)ceil(dd / o - 1e-9);
	}
	*d = dd;
	*u = uu;
}

#define SPEC_ERR(b, s, key, ...) spec_error((b)->err, s, key, __VA_ARGS__)

__attribute__((format(printf, 4, 5))) static int spec_error(ms_error *err, const scn_scenario *s, const char *key,
							    const char *fmt, ...)
{
	char msg[768], where[SCN_PATH_MAX + 160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s)
		return MS_ERROR(err, MS_EINVAL, "%s: %s", scn_where(s, key, where, sizeof where), msg);
	return MS_ERROR(err, MS_EINVAL, "%s", msg);
}

static int build_tree(builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const topo_spec *sp = &g->spec;
	int k = sp->switch_radix, N = g->n_nics, d, u;
	double bw = sp->nic_Bps, lat = sp->link_latency_s;
	int L, leaf0;
	leaf_ports(sp, &d, &u);
	g->leaf_down = d;
	g->leaf_up = u;
	L = (N + d - 1) / d;
	if (sp->shape == TOPO_FAT_TREE && sp->tiers == 2 && L > k)
		return SPEC_ERR(b, s, "network.switch_radix",
				"a 2-tier fat tree of radix %d holds at most %d NICs (%d leaves of %d down ports at "
				"oversubscription %g); the cluster has %d NICs: set network.tiers = 3 or a larger "
				"network.switch_radix",
				k, k * d, k, d, sp->oversubscription, N);
	if (sp->shape == TOPO_FAT_TREE && sp->tiers == 3 && (L + k / 2 - 1) / (k / 2) > k)
		return SPEC_ERR(b, s, "network.switch_radix",
				"a 3-tier fat tree of radix %d holds at most %d NICs; the cluster has %d NICs: use a "
				"larger network.switch_radix",
				k, k * (k / 2) * d, N);
	g->n_leaves = L;
	leaf0 = g->n_vertices;
	for (int l = 0; l < L; l++)
		if (add_vertex(b, TOPO_V_SWITCH, 1, l, "leaf%d", l) < 0)
			return b->err->code;
	for (int n = 0; n < N; n++)
		if (add_cable(b, g->v_nic0 + n, leaf0 + n / d, TOPO_LC_NIC, bw, lat) < 0)
			return b->err->code;
	if (L == 1)
		return MS_OK; /* one leaf holds every NIC: no upper tier */
	if (sp->tiers == 2 || (L + k / 2 - 1) / (k / 2) == 1) {
		int sp0 = g->n_vertices;
		int three = sp->tiers == 3;
		g->n_spines = u;
		g->n_pods = three ? 1 : 0;
		for (int j = 0; j < u; j++)
			if ((three ? add_vertex(b, TOPO_V_SWITCH, 2, j, "agg0.%d", j)
				   : add_vertex(b, TOPO_V_SWITCH, 2, j, "spine%d", j)) < 0)
				return b->err->code;
		for (int l = 0; l < L; l++)
			for (int j = 0; j < u; j++)
				if (add_cable(b, leaf0 + l, sp0 + j, TOPO_LC_TIER1, bw, lat) < 0)
					return b->err->code;
		return MS_OK;
	}
	{
		/* Three tiers: pods of k/2 leaves and u aggregation switches; core c joins
		 * aggregation switch c / (k/2) of every pod. */
		int P = k / 2, pods = (L + P - 1) / P, agg0 = g->n_vertices, core0, C = u * P;
		g->n_pods = pods;
		g->n_spines = pods * u;
		for (int p = 0; p < pods; p++)
			for (int j = 0; j < u; j++)
				if (add_vertex(b, TOPO_V_SWITCH, 2, p * u + j, "agg%d.%d", p, j) < 0)
					return b->err->code;
		core0 = g->n_vertices;
		g->n_cores = C;
		for (int c = 0; c < C; c++)
			if (add_vertex(b, TOPO_V_SWITCH, 3, c, "core%d", c) < 0)
				return b->err->code;
		for (int l = 0; l < L; l++)
			for (int j = 0; j < u; j++)
				if (add_cable(b, leaf0 + l, agg0 + (l / P) * u + j, TOPO_LC_TIER1, bw, lat) < 0)
					return b->err->code;
		for (int p = 0; p < pods; p++)
			for (int c = 0; c < C; c++)
				if (add_cable(b, agg0 + p * u + c / P, core0 + c, TOPO_LC_TIER2, bw, lat) < 0)
					return b->err->code;
	}
	return MS_OK;
}

static int build_rail(builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const topo_spec *sp = &g->spec;
	int k = sp->switch_radix, R = sp->nics_per_node, nodes = sp->nodes, d, u, Lr, leaf0, sp0;
	double bw = sp->nic_Bps, lat = sp->link_latency_s;
	leaf_ports(sp, &d, &u);
	g->leaf_down = d;
	g->leaf_up = u;
	Lr = (nodes + d - 1) / d;
	if (R * Lr > 1 && R * Lr > k)
		return SPEC_ERR(b, s, "network.switch_radix",
				"a rail-optimized network of %d rails x %d leaves per rail needs spines of at least "
				"%d ports, but network.switch_radix = %d",
				R, Lr, R * Lr, k);
	g->n_leaves = R * Lr;
	leaf0 = g->n_vertices;
	for (int r = 0; r < R; r++)
		for (int j = 0; j < Lr; j++)
			if (add_vertex(b, TOPO_V_SWITCH, 1, r * Lr + j, "rail%d.%d", r, j) < 0)
				return b->err->code;
	for (int n = 0; n < g->n_nics; n++) {
		int node = n / R, r = n % R;
		if (add_cable(b, g->v_nic0 + n, leaf0 + r * Lr + node / d, TOPO_LC_NIC, bw, lat) < 0)
			return b->err->code;
	}
	if (R * Lr == 1)
		return MS_OK;
	sp0 = g->n_vertices;
	g->n_spines = u;
	for (int j = 0; j < u; j++)
		if (add_vertex(b, TOPO_V_SWITCH, 2, j, "spine%d", j) < 0)
			return b->err->code;
	for (int l = 0; l < R * Lr; l++)
		for (int j = 0; j < u; j++)
			if (add_cable(b, leaf0 + l, sp0 + j, TOPO_LC_TIER1, bw, lat) < 0)
				return b->err->code;
	return MS_OK;
}

/* ---- custom topology files ---------------------------------------------------- */

static int split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (n < max)
			w[n] = p;
		n++;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

/* NIC index of "nicN", -2 if the word is not of that form. */
static int nic_word(const char *w)
{
	char *end;
	long v;
	if (strncmp(w, "nic", 3) != 0 || !isdigit((unsigned char)w[3]))
		return -2;
	errno = 0;
	v = strtol(w + 3, &end, 10);
	if (*end || errno || v > 1 << 30)
		return -2;
	return (int)v;
}

static int lookup_endpoint(builder *b, const char *path, int line, const char *w, int first_switch)
{
	topo_graph *g = b->g;
	int n = nic_word(w);
	if (n >= 0) {
		if (n >= g->n_nics)
			return MS_ERROR(b->err, MS_EINVAL,
					"%s:%d: %s is out of range: the cluster has %d NICs (nodes x nics_per_node), "
					"nic0 .. nic%d",
					path, line, w, g->n_nics, g->n_nics - 1);
		return g->v_nic0 + n;
	}
	for (int v = first_switch; v < g->n_vertices; v++)
		if (strcmp(g->names_buf + b->name_off[v], w) == 0)
			return v;
	return MS_ERROR(b->err, MS_EINVAL, "%s:%d: '%s' is neither a NIC (nic0 .. nic%d) nor a declared switch (declare it "
			"first with 'switch %s')",
			path, line, w, g->n_nics - 1, w);
}

static int parse_number(const char *w, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(w, &end);
	return !(*end || errno || end == w || !isfinite(*out));
}

static int build_custom(builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const char *path = g->file_path;
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, first_switch = g->n_vertices, rc = MS_OK;
	int *switch_line = NULL, sl_cap = 0;
	if (!path[0])
		return SPEC_ERR(b, s, "network.topology", "network.topology = \"custom\" needs network.file (docs/network.md "
				"describes the format)");
	f = fopen(path, "r");
	if (!f)
		return MS_ERROR(b->err, MS_EIO, "cannot read topology file '%s': %s", path, strerror(errno));
	while (rc == MS_OK && getline(&line, &cap, f) >= 0) {
		char *w[8];
		int nw;
		lineno++;
		nw = split_words(line, w, 8);
		if (nw == 0)
			continue;
		if (strcmp(w[0], "switch") == 0) {
			if (nw < 2) {
				rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: 'switch' needs at least one name", path, lineno);
				break;
			}
			for (int i = 1; i < nw && i < 8 && rc == MS_OK; i++) {
				int v;
				if (nic_word(w[i]) != -2) {
					rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: switch name '%s' is reserved for NICs",
						      path, lineno, w[i]);
					break;
				}
				for (v = first_switch; v < g->n_vertices; v++)
					if (strcmp(g->names_buf + b->name_off[v], w[i]) == 0)
						break;
				if (v < g->n_vertices) {
					rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: switch '%s' declared twice (first at line %d)",
						      path, lineno, w[i], switch_line[v - first_switch]);
					break;
				}
				if ((v = add_vertex(b, TOPO_V_SWITCH, 0, g->n_switches, "%s", w[i])) < 0 ||
				    grow((void **)&switch_line, &sl_cap, v - first_switch + 1, sizeof(int), b->err) < 0) {
					rc = b->err->code;
					break;
				}
				switch_line[v - first_switch] = lineno;
				g->n_switches++;
			}
			if (rc == MS_OK && nw > 8)
				rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: at most 7 names per 'switch' line", path, lineno);
		} else if (strcmp(w[0], "link") == 0) {
			int a, c;
			double gbps, lat_us;
			if (nw != 5) {
				rc = MS_ERROR(b->err, MS_EINVAL,
					      "%s:%d: 'link' takes 4 values: link A B GBPS LATENCY_US (got %d)", path,
					      lineno, nw - 1);
				break;
			}
			if ((a = lookup_endpoint(b, path, lineno, w[1], first_switch)) < 0 ||
			    (c = lookup_endpoint(b, path, lineno, w[2], first_switch)) < 0) {
				rc = b->err->code;
				break;
			}
			if (a == c) {
				rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: a link from '%s' to itself", path, lineno, w[1]);
				break;
			}
			if (!parse_number(w[3], &gbps) || gbps <= 0) {
				rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: capacity '%s' is not a positive number of Gb/s",
					      path, lineno, w[3]);
				break;
			}
			if (!parse_number(w[4], &lat_us) || lat_us < 0) {
				rc = MS_ERROR(b->err, MS_EINVAL,
					      "%s:%d: latency '%s' is not a number of microseconds >= 0", path, lineno,
					      w[4]);
				break;
			}
			if (add_cable(b, a, c,
				      g->v[a].kind == TOPO_V_NIC || g->v[c].kind == TOPO_V_NIC ? TOPO_LC_NIC
												: TOPO_LC_CUSTOM,
				      gbps * 1e9 / 8.0, lat_us * 1e-6) < 0)
				rc = b->err->code;
		} else {
			rc = MS_ERROR(b->err, MS_EINVAL,
				      "%s:%d: unknown keyword '%s': lines are 'switch NAME...' or 'link A B GBPS "
				      "LATENCY_US'",
				      path, lineno, w[0]);
		}
	}
	free(line);
	free(switch_line);
	if (rc == MS_OK && ferror(f))
		rc = MS_ERROR(b->err, MS_EIO, "cannot read topology file '%s': %s", path, strerror(errno));
	fclose(f);
	return rc;
}

/* Every NIC must reach every other over switches (NICs do not forward). */
static int check_custom_reach(topo_graph *g, ms_error *err)
{
	int V = g->n_vertices;
	int *seen = ms_calloc(err, (size_t)V, sizeof(int), "topology check");
	int *queue = ms_calloc(err, (size_t)V, sizeof(int), "topology check");
	int rc = MS_OK;
	if (!seen || !queue) {
		free(seen);
		free(queue);
		return err->code;
	}
	for (int n = 0; n < g->n_nics && rc == MS_OK; n++) {
		int v0 = g->v_nic0 + n, net = 0;
		for (int i = g->out_start[v0]; i < g->out_start[v0 + 1]; i++)
			net += g->links[g->out_link[i]].cls != TOPO_LC_PCIE;
		if (!net)
			rc = MS_ERROR(err, MS_EINVAL, "%s: nic%d has no link (every NIC needs one)", g->file_path, n);
	}
	for (int n = 0; n < g->n_nics && rc == MS_OK; n++) {
		int v0 = g->v_nic0 + n, qh = 0, qt = 0;
		seen[v0] = n + 1;
		queue[qt++] = v0;
		while (qh < qt) {
			int u = queue[qh++];
			if (u != v0 && g->v[u].kind != TOPO_V_SWITCH)
				continue;
			for (int i = g->out_start[u]; i < g->out_start[u + 1]; i++) {
				int w = g->links[g->out_link[i]].dst;
				if (seen[w] == n + 1 || (g->v[w].kind != TOPO_V_SWITCH && g->v[w].kind != TOPO_V_NIC))
					continue;
				seen[w] = n + 1;
				queue[qt++] = w;
			}
		}
		for (int m = 0; m < g->n_nics; m++)
			if (seen[g->v_nic0 + m] != n + 1) {
				rc = MS_ERROR(err, MS_EINVAL, "%s: nic%d cannot reach nic%d over the links of the file",
					      g->file_path, n, m);
				break;
			}
	}
	free(seen);
	free(queue);
	return rc;
}

static int check_spec(const topo_spec *sp, const scn_scenario *s, ms_error *err)
{
	int W = sp->nodes * sp->gpus_per_node, dom = sp->nvlink_domain;
	if (sp->nodes < 1 || sp->gpus_per_node < 1)
		return MS_ERROR(err, MS_EINVAL, "topology: %d nodes x %d GPUs: both must be at least 1", sp->nodes,
				sp->gpus_per_node);
	if (sp->nics_per_node < 1 || sp->gpus_per_node % sp->nics_per_node != 0)
		return spec_error(err, s, "cluster.nics_per_node", "nics_per_node = %d must divide gpus_per_node = %d",
				  sp->nics_per_node, sp->gpus_per_node);
	if (dom < 1 || W % dom != 0 || (dom % sp->gpus_per_node != 0 && sp->gpus_per_node % dom != 0))
		return spec_error(err, s, "network.nvlink_domain",
				  "network.nvlink_domain = %d must divide the %d GPUs and be a multiple or a divisor of "
				  "gpus_per_node = %d",
				  dom, W, sp->gpus_per_node);
	if (!(sp->nvlink_Bps > 0) || !(sp->nic_Bps > 0) || sp->pcie_Bps < 0)
		return MS_ERROR(err, MS_EINVAL, "topology: bandwidths must be positive (NVLink %g, NIC %g, PCIe %g B/s)",
				sp->nvlink_Bps, sp->nic_Bps, sp->pcie_Bps);
	if (sp->shape == TOPO_FAT_TREE && sp->tiers != 2 && sp->tiers != 3)
		return spec_error(err, s, "network.tiers", "network.tiers = %d: a fat tree has 2 or 3 tiers", sp->tiers);
	if ((sp->shape == TOPO_FAT_TREE || sp->shape == TOPO_RAIL) && (sp->switch_radix < 4 || sp->oversubscription < 1))
		return spec_error(err, s, "network.switch_radix",
				  "switch radix %d and oversubscription %g: need radix >= 4 and oversubscription >= 1",
				  sp->switch_radix, sp->oversubscription);
	return MS_OK;
}

topo_graph *topo_graph_create(const topo_spec *spec, const scn_scenario *s, ms_error *err)
{
	builder b;
	topo_graph *g = ms_calloc(err, 1, sizeof *g, "topology");
	int rc = MS_OK;
	if (!g)
		return NULL;
	memset(&b, 0, sizeof b);
	b.g = g;
	b.err = err;
	g->spec = *spec;
	if (spec->file)
		snprintf(g->file_path, sizeof g->file_path, "%s", spec->file);
	g->spec.file = g->file_path;
	if ((rc = check_spec(spec, s, err)) < 0)
		goto fail;
	g->world = spec->nodes * spec->gpus_per_node;
	g->domain_size = spec->nvlink_domain;
	g->n_domains = g->world / g->domain_size;
	g->n_nics = spec->nodes * spec->nics_per_node;
	for (int r = 0; r < g->world; r++)
		if (add_vertex(&b, TOPO_V_GPU, 0, r, "gpu%d", r) < 0)
			goto fail;
	g->v_nvswitch0 = g->n_vertices;
	if (g->domain_size > 1)
		for (int d = 0; d < g->n_domains; d++)
			if (add_vertex(&b, TOPO_V_NVSWITCH, 0, d, "nvs%d", d) < 0)
				goto fail;
	g->v_nic0 = g->n_vertices;
	for (int n = 0; n < g->n_nics; n++)
		if (add_vertex(&b, TOPO_V_NIC, 0, n, "nic%d", n) < 0)
			goto fail;
	g->v_switch0 = g->n_vertices;
	g->gpu_up = ms_calloc(err, (size_t)g->world, sizeof(int), "topology");
	g->gpu_down = ms_calloc(err, (size_t)g->world, sizeof(int), "topology");
	g->pcie_up = ms_calloc(err, (size_t)g->world, sizeof(int), "topology");
	g->pcie_down = ms_calloc(err, (size_t)g->world, sizeof(int), "topology");
	if (!g->gpu_up || !g->gpu_down || !g->pcie_up || !g->pcie_down)
		goto fail;
	for (int r = 0; r < g->world; r++) {
		int l;
		g->gpu_up[r] = g->gpu_down[r] = -1;
		if (g->domain_size > 1) {
			if ((l = add_cable(&b, r, g->v_nvswitch0 + r / g->domain_size, TOPO_LC_NVLINK, spec->nvlink_Bps,
					   spec->nvlink_latency_s / 2)) < 0)
				goto fail;
			g->gpu_up[r] = l;
			g->gpu_down[r] = l + 1;
		}
		if ((l = add_cable(&b, r, g->v_nic0 + topo_graph_nic_of(g, r), TOPO_LC_PCIE,
				   spec->pcie_Bps > 0 ? spec->pcie_Bps : INFINITY, spec->nic_latency_s / 2)) < 0)
			goto fail;
		g->pcie_up[r] = l;
		g->pcie_down[r] = l + 1;
	}
	switch (spec->shape) {
	case TOPO_SINGLE_SWITCH:
		if (add_vertex(&b, TOPO_V_SWITCH, 1, 0, "switch0") < 0)
			goto fail;
		g->n_leaves = 1;
		for (int n = 0; n < g->n_nics; n++)
			if (add_cable(&b, g->v_nic0 + n, g->v_switch0, TOPO_LC_NIC, spec->nic_Bps, spec->link_latency_s) < 0)
				goto fail;
		break;
	case TOPO_FAT_TREE: rc = build_tree(&b, s); break;
	case TOPO_RAIL: rc = build_rail(&b, s); break;
	case TOPO_CUSTOM: rc = build_custom(&b, s); break;
	}
	if (rc < 0)
		goto fail;
	g->n_switches = g->n_vertices - g->v_switch0;
	if (build_csr(g, err) < 0)
		goto fail;
	g->names = ms_calloc(err, (size_t)g->n_vertices, sizeof(char *), "topology names");
	if (!g->names)
		goto fail;
	for (int v = 0; v < g->n_vertices; v++)
		g->names[v] = g->names_buf + b.name_off[v];
	if (spec->shape == TOPO_CUSTOM && check_custom_reach(g, err) < 0)
		goto fail;
	free(b.name_off);
	return g;
fail:
	MS_ASSERT(err->code < 0, "topology build failed without a message");
	free(b.name_off);
	topo_graph_destroy(g);
	return NULL;
}

int topo_spec_from_scenario(topo_spec *sp, char *path_buf, const scn_scenario *s, const prof_profile *p,
			    ms_error *err)
{
	topo_cluster c;
	int rc;
	memset(sp, 0, sizeof *sp);
	if ((rc = topo_cluster_init(&c, s, p, err)) < 0)
		return rc;
	switch (s->network.topology) {
	case SCN_TOPO_SINGLE_SWITCH: sp->shape = TOPO_SINGLE_SWITCH; break;
	case SCN_TOPO_FAT_TREE: sp->shape = TOPO_FAT_TREE; break;
	case SCN_TOPO_RAIL: sp->shape = TOPO_RAIL; break;
	case SCN_TOPO_CUSTOM: sp->shape = TOPO_CUSTOM; break;
	}
	sp->nodes = c.nodes;
	sp->gpus_per_node = c.gpus_per_node;
	sp->nvlink_domain = s->network.nvlink_domain ? s->network.nvlink_domain : c.gpus_per_node;
	sp->nics_per_node = c.nics_per_node;
	sp->nvlink_Bps = c.nvlink_Bps;
	sp->nvlink_latency_s = c.nvlink_latency_s;
	sp->pcie_Bps = s->network.pcie_GBps * 1e9;
	sp->nic_Bps = c.nic_Bps;
	sp->nic_latency_s = c.nic_latency_s;
	sp->link_latency_s = s->network.link_latency_us * 1e-6;
	sp->tiers = s->network.tiers;
	sp->oversubscription = s->network.oversubscription;
	sp->switch_radix = s->network.switch_radix;
	path_buf[0] = '\0';
	if (s->network.file[0]) {
		const char *slash = strrchr(s->source, '/');
		const char *file = s->network.file;
		size_t dl = file[0] != '/' && slash && s->source[0] != '<' ? (size_t)(slash - s->source) + 1 : 0;
		size_t fl = strlen(file);
		if (dl + fl + 1 > SCN_PATH_MAX) {
			char where[SCN_PATH_MAX + 160];
			return MS_ERROR(err, MS_EINVAL, "%s: network.file: the path is longer than %d bytes",
					scn_where(s, "network.file", where, sizeof where), SCN_PATH_MAX - 1);
		}
		memcpy(path_buf, s->source, dl); /* the scenario's directory and its '/' */
		memcpy(path_buf + dl, file, fl + 1);
	}
	sp->file = path_buf;
	return MS_OK;
}

topo_graph *topo_graph_from_scenario(const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	topo_spec sp;
	char path[SCN_PATH_MAX];
	if (topo_spec_from_scenario(&sp, path, s, p, err) < 0)
		return NULL;
	return topo_graph_create(&sp, s, err);
}

/* ---- bisection: Dinic's max-flow ---------------------------------------------- */

typedef struct maxflow {
	int V, E;        /* arcs: 2 per graph link (forward, residual) + terminals */
	int *head, *next, *to;
	double *cap;
	int *level, *iter, *queue;
} maxflow;

static int mf_arc(maxflow *m, int u, int v, double c)
{
	int e = m->E;
	m->to[e] = v;
	m->cap[e] = c;
	m->next[e] = m->head[u];
	m->head[u] = e;
	m->to[e + 1] = u;
	m->cap[e + 1] = 0;
	m->next[e + 1] = m->head[v];
	m->head[v] = e + 1;
	m->E += 2;
	return e;
}

static int mf_bfs(maxflow *m, int s, int t)
{
	int qh = 0, qt = 0;
	for (int v = 0; v < m->V; v++)
		m->level[v] = -1;
	m->level[s] = 0;
	m->queue[qt++] = s;
	while (qh < qt) {
		int u = m->queue[qh++];
		for (int e = m->head[u]; e >= 0; e = m->next[e])
			if (m->cap[e] > 1e-9 && m->level[m->to[e]] < 0) {
				m->level[m->to[e]] = m->level[u] + 1;
				m->queue[qt++] = m->to[e];
			}
	}
	return m->level[t] >= 0;
}

/* One blocking-flow augmentation by iterative DFS; returns the flow pushed. */
static double mf_dfs(maxflow *m, int s, int t)
{
	/* The DFS stack reuses queue (vertices) and the arc each vertex came through. */
	int *stack = m->queue, depth = 0;
	double total = 0;
	int *via = m->iter + m->V; /* second half of iter holds the arc into each stack slot */
	stack[0] = s;
	while (depth >= 0) {
		int u = stack[depth];
		if (u == t) {
			double f = INFINITY;
			for (int i = 1; i <= depth; i++)
				if (m->cap[via[i]] < f)
					f = m->cap[via[i]];
			for (int i = 1; i <= depth; i++) {
				m->cap[via[i]] -= f;
				m->cap[via[i] ^ 1] += f;
			}
			total += f;
			depth = 0;
			continue;
		}
		int e;
		for (e = m->iter[u]; e >= 0; e = m->next[e])
			if (m->cap[e] > 1e-9 && m->level[m->to[e]] == m->level[u] + 1)
				break;
		m->iter[u] = e;
		if (e < 0) {
			m->level[u] = -1; /* dead end */
			depth--;
			if (depth >= 0)
				m->iter[stack[depth]] = m->next[m->iter[stack[depth]]];
			continue;
		}
		stack[++depth] = m->to[e];
		via[depth] = e;
	}
	return total;
}

double topo_graph_bisection_Bps(const topo_graph *g, ms_error *err)
{
	int half = g->spec.nodes / 2, gpn = g->spec.gpus_per_node;
	int V = g->n_vertices + 2, S = g->n_vertices, T = g->n_vertices + 1;
	int Emax = 2 * (g->n_links + g->world);
	double flow = 0, big = 0;
	maxflow m;
	if (half == 0)
		return 0;
	memset(&m, 0, sizeof m);
	m.V = V;
	m.head = ms_malloc(err, (size_t)V * sizeof(int), "bisection");
	m.level = ms_malloc(err, (size_t)V * sizeof(int), "bisection");
	m.iter = ms_malloc(err, (size_t)2 * V * sizeof(int) + sizeof(int), "bisection");
	m.queue = ms_malloc(err, (size_t)V * sizeof(int) + sizeof(int), "bisection");
	m.next = ms_malloc(err, (size_t)Emax * sizeof(int), "bisection");
	m.to = ms_malloc(err, (size_t)Emax * sizeof(int), "bisection");
	m.cap = ms_malloc(err, (size_t)Emax * sizeof(double), "bisection");
	if (m.head && m.level && m.iter && m.queue && m.next && m.to && m.cap) {
		for (int v = 0; v < V; v++)
			m.head[v] = -1;
		for (int l = 0; l < g->n_links; l++)
			if (isfinite(g->links[l].bw_Bps))
				big += g->links[l].bw_Bps;
		big = big * 2 + 1;
		for (int l = 0; l < g->n_links; l++)
			mf_arc(&m, g->links[l].src, g->links[l].dst, isfinite(g->links[l].bw_Bps) ? g->links[l].bw_Bps : big);
		for (int r = 0; r < g->world; r++) {
			if (r / gpn < half)
				mf_arc(&m, S, r, big);
			else
				mf_arc(&m, r, T, big);
		}
		while (mf_bfs(&m, S, T)) {
			for (int v = 0; v < V; v++)
				m.iter[v] = m.head[v];
			flow += mf_dfs(&m, S, T);
		}
	} else {
		flow = -1;
	}
	free(m.head);
	free(m.level);
	free(m.iter);
	free(m.queue);
	free(m.next);
	free(m.to);
	free(m.cap);
	return flow;
}

void topo_graph_write_dot(const topo_graph *g, FILE *f)
{
	static const char *const shape[] = {"box", "diamond", "ellipse", "hexagon"};
	fprintf(f, "graph moesim {\n  // %s: %d GPUs, %d NICs, %d switches; edges are cables, labels per direction\n",
		topo_shape_name(g->spec.shape), g->world, g->n_nics, g->n_switches);
	for (int v = 0; v < g->n_vertices; v++)
		fprintf(f, "  \"%s\" [shape=%s];\n", g->names[v], shape[g->v[v].kind]);
	for (int l = 0; l < g->n_links; l += 2) {
		const topo_link *k = &g->links[l];
		if (isfinite(k->bw_Bps))
			fprintf(f, "  \"%s\" -- \"%s\" [label=\"%s %.4g GB/s\"];\n", g->names[k->src], g->names[k->dst],
				topo_link_class_name(k->cls), k->bw_Bps / 1e9);
		else
			fprintf(f, "  \"%s\" -- \"%s\" [label=\"%s\" style=dashed];\n", g->names[k->src], g->names[k->dst],
				topo_link_class_name(k->cls));
	}
	fputs("}\n", f);
}
