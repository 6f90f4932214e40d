/*
 * topo_graph.c - the graph object (see topo_graph.h): the spec from a scenario, the
 * build, the CSR adjacency, destruction. The shapes' switch sides are in topo_build.c
 * and topo_file.c, bisection in topo_maxflow.c, DOT in topo_dot.c.
 *
 * Building appends vertices and cables to growable arrays (the builder of
 * topo_build.h), then derives the CSR adjacency once. Arrays of one size and lifetime
 * share one allocation (the CSR offsets and lists; the four per-GPU link ids), so a
 * failed build and topo_graph_destroy have few things to free. A failed build frees
 * everything it allocated. Building is O(V + E).
 */
#include "topology/topo_graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "topology/topo_build.h"
#include "topology/topo_cluster.h"

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

int topo__grow(void **p, int *cap, int need, size_t elem, ms_error *err)
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

int topo__add_vertex(topo__builder *b, int kind, int tier, int index, const char *fmt, ...)
{
	topo_graph *g = b->g;
	char name[160];
	va_list ap;
	size_t len;
	if (topo__grow((void **)&g->v, &b->vcap, g->n_vertices + 1, sizeof *g->v, b->err) < 0 ||
	    topo__grow((void **)&b->name_off, &b->nocap, g->n_vertices + 1, sizeof *b->name_off, b->err) < 0)
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

int topo__add_cable(topo__builder *b, int a, int c, int cls, double bw, double lat)
{
	topo_graph *g = b->g;
	int id = g->n_links;
	if (topo__grow((void **)&g->links, &b->lcap, id + 2, sizeof *g->links, b->err) < 0)
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
	free(g->out_start); /* also holds in_start, out_link, in_link */
	free(g->gpu_up);    /* also holds gpu_down, pcie_up, pcie_down */
	free(g);
}

/*
 * CSR adjacency in one block: out_start and in_start (V + 1 each), then out_link and
 * in_link (E + 1 each; the + 1 keeps a graph without links from allocating 0 bytes).
 */
static int build_csr(topo_graph *g, ms_error *err)
{
	int V = g->n_vertices, E = g->n_links;
	int *fo, *fi;
	g->out_start = ms_calloc(err, 2 * ((size_t)V + 1) + 2 * ((size_t)E + 1), sizeof(int), "topology adjacency");
	if (!g->out_start)
		return err->code;
	g->in_start = g->out_start + V + 1;
	g->out_link = g->in_start + V + 1;
	g->in_link = g->out_link + E + 1;
	for (int l = 0; l < E; l++) {
		g->out_start[g->links[l].src + 1]++;
		g->in_start[g->links[l].dst + 1]++;
	}
	for (int v = 0; v < V; v++) {
		g->out_start[v + 1] += g->out_start[v];
		g->in_start[v + 1] += g->in_start[v];
	}
	/* Fill counters, out and in side by side. */
	if (!(fo = ms_calloc(err, 2 * ((size_t)V + 1), sizeof(int), "topology adjacency")))
		return err->code;
	fi = fo + V + 1;
	/* Links are visited in id order, so each vertex lists its links by id. */
	for (int l = 0; l < E; l++) {
		int s = g->links[l].src, d = g->links[l].dst;
		g->out_link[g->out_start[s] + fo[s]++] = l;
		g->in_link[g->in_start[d] + fi[d]++] = l;
	}
	free(fo);
	return MS_OK;
}

int topo__spec_error(ms_error *err, const scn_scenario *s, const char *key, const char *fmt, ...)
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

static int check_spec(const topo_spec *sp, const scn_scenario *s, ms_error *err)
{
	int W = sp->nodes * sp->gpus_per_node, dom = sp->nvlink_domain;
	if (sp->nodes < 1 || sp->gpus_per_node < 1)
		return MS_ERROR(err, MS_EINVAL, "topology: %d nodes x %d GPUs: both must be at least 1", sp->nodes,
				sp->gpus_per_node);
	if (sp->nics_per_node < 1 || sp->gpus_per_node % sp->nics_per_node != 0)
		return topo__spec_error(err, s, "cluster.nics_per_node", "nics_per_node = %d must divide gpus_per_node = %d",
				  sp->nics_per_node, sp->gpus_per_node);
	if (dom < 1 || W % dom != 0 || (dom % sp->gpus_per_node != 0 && sp->gpus_per_node % dom != 0))
		return topo__spec_error(err, s, "network.nvlink_domain",
				  "network.nvlink_domain = %d must divide the %d GPUs and be a multiple or a divisor of "
				  "gpus_per_node = %d",
				  dom, W, sp->gpus_per_node);
	if (!(sp->nvlink_Bps > 0) || !(sp->nic_Bps > 0) || sp->pcie_Bps < 0)
		return MS_ERROR(err, MS_EINVAL, "topology: bandwidths must be positive (NVLink %g, NIC %g, PCIe %g B/s)",
				sp->nvlink_Bps, sp->nic_Bps, sp->pcie_Bps);
	if (sp->shape == TOPO_FAT_TREE && sp->tiers != 2 && sp->tiers != 3)
		return topo__spec_error(err, s, "network.tiers", "network.tiers = %d: a fat tree has 2 or 3 tiers", sp->tiers);
	if ((sp->shape == TOPO_FAT_TREE || sp->shape == TOPO_RAIL) && (sp->switch_radix < 4 || sp->oversubscription < 1))
		return topo__spec_error(err, s, "network.switch_radix",
				  "switch radix %d and oversubscription %g: need radix >= 4 and oversubscription >= 1",
				  sp->switch_radix, sp->oversubscription);
	return MS_OK;
}

topo_graph *topo_graph_create(const topo_spec *spec, const scn_scenario *s, ms_error *err)
{
	topo__builder b;
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
		if (topo__add_vertex(&b, TOPO_V_GPU, 0, r, "gpu%d", r) < 0)
			goto fail;
	g->v_nvswitch0 = g->n_vertices;
	if (g->domain_size > 1)
		for (int d = 0; d < g->n_domains; d++)
			if (topo__add_vertex(&b, TOPO_V_NVSWITCH, 0, d, "nvs%d", d) < 0)
				goto fail;
	g->v_nic0 = g->n_vertices;
	for (int n = 0; n < g->n_nics; n++)
		if (topo__add_vertex(&b, TOPO_V_NIC, 0, n, "nic%d", n) < 0)
			goto fail;
	g->v_switch0 = g->n_vertices;
	/* The four per-GPU link ids in one block. */
	if (!(g->gpu_up = ms_calloc(err, 4 * (size_t)g->world, sizeof(int), "topology")))
		goto fail;
	g->gpu_down = g->gpu_up + g->world;
	g->pcie_up = g->gpu_down + g->world;
	g->pcie_down = g->pcie_up + g->world;
	for (int r = 0; r < g->world; r++) {
		int l;
		g->gpu_up[r] = g->gpu_down[r] = -1;
		if (g->domain_size > 1) {
			if ((l = topo__add_cable(&b, r, g->v_nvswitch0 + r / g->domain_size, HW_LINK_NVLINK, spec->nvlink_Bps,
					   spec->nvlink_latency_s / 2)) < 0)
				goto fail;
			g->gpu_up[r] = l;
			g->gpu_down[r] = l + 1;
		}
		if ((l = topo__add_cable(&b, r, g->v_nic0 + topo_graph_nic_of(g, r), HW_LINK_PCIE,
				   spec->pcie_Bps > 0 ? spec->pcie_Bps : INFINITY, spec->nic_latency_s / 2)) < 0)
			goto fail;
		g->pcie_up[r] = l;
		g->pcie_down[r] = l + 1;
	}
	switch (spec->shape) {
	case TOPO_SINGLE_SWITCH: rc = topo__build_single_switch(&b); break;
	case TOPO_FAT_TREE: rc = topo__build_tree(&b, s); break;
	case TOPO_RAIL: rc = topo__build_rail(&b, s); break;
	case TOPO_CUSTOM: rc = topo__build_custom(&b, s); break;
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
	if (spec->shape == TOPO_CUSTOM && topo__check_custom_reach(g, err) < 0)
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
	sp->nvlink_domain = c.domain_size;
	sp->nics_per_node = c.nics_per_node;
	sp->nvlink_Bps = c.links.nvlink_Bps;
	sp->nvlink_latency_s = c.links.nvlink_latency_s;
	sp->pcie_Bps = s->network.pcie_GBps * 1e9;
	sp->nic_Bps = c.links.nic_Bps;
	sp->nic_latency_s = c.links.nic_latency_s;
	sp->link_latency_s = s->network.link_latency_us * 1e-6;
	sp->tiers = s->network.tiers;
	sp->oversubscription = s->network.oversubscription;
	sp->switch_radix = s->network.switch_radix;
	path_buf[0] = '\0';
	if (s->network.file[0] &&
	    scn_resolve_path(s, "network.file", s->network.file, path_buf, SCN_PATH_MAX, err) < 0)
		return err->code;
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
