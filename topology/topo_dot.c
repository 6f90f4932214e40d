/*
 * topo_dot.c - the graph as Graphviz DOT for `moesim topo --dot`: one undirected edge
 * per cable (links 2i and 2i + 1 together), labelled with its class and capacity per
 * direction; links that are not a constraint are dashed. Vertex shapes tell the
 * kinds apart (box GPU, diamond NVSwitch, ellipse NIC, hexagon switch).
 *
 * Writes to the caller's FILE *, which it neither opens nor closes (the caller checks
 * ferror and handles atomic replacement); the output depends only on the graph, in
 * vertex and link order. O(V + E).
 */
#include <math.h>
#include <stdio.h>

#include "topology/topo_graph.h"

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
				hw_link_class_name(k->cls), k->bw_Bps / 1e9);
		else
			fprintf(f, "  \"%s\" -- \"%s\" [label=\"%s\" style=dashed];\n", g->names[k->src], g->names[k->dst],
				hw_link_class_name(k->cls));
	}
	fputs("}\n", f);
}
