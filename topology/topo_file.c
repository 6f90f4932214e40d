/*
 * topo_file.c - the custom topology shape: switches and links from a text file
 * (docs/network.md gives the format):
 *
 *     # comment
 *     switch NAME...                    (up to 7 names a line)
 *     link A B GBPS LATENCY_US          (A, B: nicN or a declared switch)
 *
 * Every error names the file and line and what to write instead. A link touching a
 * NIC is of class HW_LINK_NIC, one between switches HW_LINK_CUSTOM; each line adds
 * one cable (both directions). After the CSR exists, topo__check_custom_reach refuses
 * a file in which some NIC cannot reach another over switches (NICs do not forward).
 *
 * Parsing is O(lines x switches) (names are looked up linearly); the reach check is
 * one BFS per NIC, O(NICs x (V + E)).
 */
#include "topology/topo_build.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The switch declared as w (vertices from first_switch on), -1 if none. Linear: files
 * declare few switches, and a hash table would not pay for itself. */
static int find_switch(const topo__builder *b, int first_switch, const char *w)
{
	for (int v = first_switch; v < b->g->n_vertices; v++)
		if (strcmp(topo__name(b, v), w) == 0)
			return v;
	return -1;
}

static int lookup_endpoint(topo__builder *b, const char *path, int line, const char *w, int first_switch)
{
	topo_graph *g = b->g;
	int n = nic_word(w), v;
	if (n >= 0) {
		if (n >= g->n_nics)
			return MS_ERROR(b->err, MS_EINVAL,
					"%s:%d: %s is out of range: the cluster has %d NICs (nodes x nics_per_node), "
					"nic0 .. nic%d",
					path, line, w, g->n_nics, g->n_nics - 1);
		return g->v_nic0 + n;
	}
	if ((v = find_switch(b, first_switch, w)) >= 0)
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

int topo__build_custom(topo__builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const char *path = g->file_path;
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, first_switch = g->n_vertices, rc = MS_OK;
	int *switch_line = NULL, sl_cap = 0;
	if (!path[0])
		return topo__spec_error(b->err, s, "network.topology", "network.topology = \"custom\" needs network.file (docs/network.md "
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
				if ((v = find_switch(b, first_switch, w[i])) >= 0) {
					rc = MS_ERROR(b->err, MS_EINVAL, "%s:%d: switch '%s' declared twice (first at line %d)",
						      path, lineno, w[i], switch_line[v - first_switch]);
					break;
				}
				if ((v = topo__add_vertex(b, TOPO_V_SWITCH, 0, g->n_switches, "%s", w[i])) < 0 ||
				    topo__grow((void **)&switch_line, &sl_cap, v - first_switch + 1, sizeof(int), b->err) < 0) {
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
			if (topo__add_cable(b, a, c,
				      g->v[a].kind == TOPO_V_NIC || g->v[c].kind == TOPO_V_NIC ? HW_LINK_NIC
												: HW_LINK_CUSTOM,
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
int topo__check_custom_reach(const topo_graph *g, ms_error *err)
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
			net += g->links[g->out_link[i]].cls != HW_LINK_PCIE;
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
