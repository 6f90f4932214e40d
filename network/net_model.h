/*
 * net_model.h - the flow-level network: every transfer is a flow over the directed
 * links of a topology, sharing link capacity by max-min fairness.
 *
 * Two layers, as in SimGrid: this flow layer (net_model.c: latency, the event heap,
 * the batching window, the pools) over the max-min solver (net_maxmin.h), which
 * re-solves after each batch of joins and leaves and hands back the flows it re-solved.
 *
 * A flow added at time `now` first pays its route's latency (it holds no bandwidth
 * meanwhile), then joins the sharing. Rates are the max-min fair allocation (every
 * flow has a saturated link on which no flow gets more), computed by progressive
 * filling: all unfrozen flows grow together until a link saturates, its flows freeze,
 * repeat (Bertsekas and Gallager 1992, "Data Networks", section 6.5.2). With even ECMP
 * a flow crosses link l with a fraction w of its rate, and l's constraint is
 * sum of w x rate <= capacity. Rates are re-solved whenever flows join or leave, and
 * only over the connected component (links and the flows crossing them) that the
 * joining and leaving flows touch: other components keep their rates, exactly; within
 * it, when flows only leave, flows slower than the slowest that left keep theirs too
 * (docs/network.md gives the argument).
 * Events closer than 1e-9 relative (1e-15 s absolute) are handled as one batch
 * with one re-solve.
 *
 * Plugging into an event engine: after adding flows, or after handling a network
 * event, schedule (or move) one engine event at net_model_next_time(); when it fires
 * at T, call net_model_advance(m, T, done, ctx), which reports each flow that finished
 * by T through done(ctx, time, tag). Callbacks may add flows at that time (they are
 * included in the same re-solve when their latency is 0); they must not call advance.
 * Flows are added at now >= the time last advanced to. A batch of events closer than
 * the batching window is re-solved at its last event, so net_model_now() may run
 * ahead of that time by up to the window; a flow added in between joins at
 * net_model_now().
 *
 * Memory: flows, incidences (flow x link) and per-link flow lists live in pools that
 * grow geometrically and are reused; nothing is allocated per flow once they have
 * grown to the run's peak. Cost of one re-solve: O(I log L) for the I flow-link
 * incidences and L links of the component.
 */
#ifndef NET_MODEL_H
#define NET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "network/net_maxmin.h"
#include "topology/topo_graph.h"
#include "topology/topo_route.h"

typedef struct net_model net_model;

/* Called once per finished flow, in (time, add order) order. */
typedef void (*net_done_fn)(void *ctx, double time_s, uint64_t tag);

/* A model over g's links (g must outlive it), routing with ecmp and seed. */
net_model *net_model_create(const topo_graph *g, topo_ecmp ecmp, uint64_t seed, ms_error *err);

/*
 * A model over n_links abstract links of the given capacities (B/s; INFINITY = no
 * constraint), for flows with explicit routes only (tests, cross-checks).
 */
net_model *net_model_create_links(int n_links, const double *bw_Bps, ms_error *err);

void net_model_destroy(net_model *m);

/*
 * Adds a flow of bytes from GPU src to GPU dst at time now, routed over the topology.
 * origin_s <= now_s is when the flow's collective started (the batching window is a
 * fraction of the time since then; a lone transfer passes now_s). Returns the flow's
 * id (>= 0; valid until it finishes, then reused) or a negative code (only
 * MS_ENOMEM). A flow from a GPU to itself, or of 0 bytes, finishes after its route's
 * latency without taking bandwidth.
 */
int net_model_add(net_model *m, double now_s, double origin_s, int src, int dst, double bytes, uint64_t tag,
		  ms_error *err);

/* Same, over an explicit route (link ids of this model, with fractions, and latency). */
int net_model_add_route(net_model *m, double now_s, double origin_s, const topo_route *route, double bytes,
			uint64_t tag, ms_error *err);

/* Time of the next event (a flow joining the sharing or finishing); INFINITY if none. */
double net_model_next_time(const net_model *m);

/*
 * Handles every event up to time t (INFINITY: until no flow is left), reporting each
 * finished flow through done (may be NULL). Returns the number of flows finished, or
 * a negative code (MS_ENOMEM).
 */
long net_model_advance(net_model *m, double t_s, net_done_fn done, void *ctx, ms_error *err);

/* Flows added and not finished yet. */
size_t net_model_flows(const net_model *m);

/* The time of the last advance. */
double net_model_now(const net_model *m);

/* Current rate (B/s) of an active flow; 0 while it pays its latency. */
double net_model_rate(const net_model *m, int flow);

/* Bytes routed over each link since the last reset (counted when a flow is added). */
const double *net_model_link_bytes(const net_model *m);
int net_model_n_links(const net_model *m);
double net_model_link_capacity(const net_model *m, int link);

/* The topology (NULL for net_model_create_links) and the router. */
const topo_graph *net_model_graph(const net_model *m);
topo_router *net_model_router(net_model *m);

/* The solver's work so far (net_maxmin_stats: re-solves, incidences visited, flows
 * re-solved, flows whose rate moved). */
void net_model_counters(const net_model *m, net_maxmin_stats *out);

/*
 * Batching window (network.batch_window), a fraction of the time since the flow's
 * collective started (its origin): with the earliest pending event at T, of a flow
 * of origin o, the events up to T + rel x (T - o) are handled together with one
 * re-solve at the last of them. Flows finishing in the window finish at their own
 * times under the rates in force (exact); freed bandwidth is handed out at the end of
 * the window and flows joining in it wait until then (both by at most rel x (T - o)).
 * Default 0: exact, events closer than 1e-9 of T (or 1e-15 s) still one batch, as
 * rounding cannot tell them apart. A larger window trades accuracy for speed on very
 * large collectives (docs/network.md gives measured errors); flows added behind the
 * model's time then join at the model's time. 0 <= rel < 1.
 */
void net_model_set_tolerance(net_model *m, double rel);

/*
 * Records every link's bytes over time into bins (network/net_bins.h; b outlives the
 * model, NULL stops): each flow's progress between re-solves, at its rate then, over
 * its constrained links. Without bins the model pays one test per re-solved flow.
 */
struct net_bins;
void net_model_set_bins(net_model *m, struct net_bins *b);

/* Back to time 0 with link byte counters cleared; requires no flow in flight. */
void net_model_reset(net_model *m);

#endif
