/*
 * net_maxmin.h - the max-min fair bandwidth solver under the flow model (the shape of
 * SimGrid's lmm system): each link is a constraint of a capacity, each variable a
 * transfer crossing some links with fractions, and its rate is the max-min fair
 * allocation, computed by progressive filling: all unfrozen variables grow together
 * until a link saturates, its variables freeze, repeat (Bertsekas and Gallager 1992,
 * "Data Networks", section 6.5.2). A variable crosses link l with fraction w of its
 * rate (even ECMP), and l's constraint is sum of w x rate <= capacity.
 *
 * Incremental: variables join and leave the sharing between solves, and
 * net_maxmin_solve re-solves only the connected component (links and the variables
 * crossing them) that the joining and leaving variables touch, and within it, when
 * variables only leave, only those not slower than the slowest that left (the
 * argument is at solve() in net_maxmin.c). It hands back the variables it re-solved:
 * every variable whose rate changed is among them, and every variable not among them
 * keeps its rate bit for bit. The set can hold variables whose new rate equals the
 * old; the caller (net_model.c) re-keys them all, which keeps its event times exactly
 * as they were before the solver had its own file.
 *
 * Variables are named by the caller's ids (>= 0, dense: the flow layer's pool
 * indices), so no map is needed between the two layers. A variable's life:
 * net_maxmin_var_init (its links; not in the sharing), net_maxmin_var_join,
 * net_maxmin_var_leave, net_maxmin_var_fini (the id may then be reused).
 *
 * Memory: incidences (variable x constrained link) in blocks of power-of-two sizes
 * reused through free lists, per-link lists of the variables in the sharing, and
 * solver workspaces, all grown geometrically: nothing is allocated per variable once
 * they have grown to the run's peak. Joining and leaving are O(links of the
 * variable); a solve is O(visited links' variables + re-solved incidences x log L)
 * for the L links of the component.
 */
#ifndef NET_MAXMIN_H
#define NET_MAXMIN_H

#include <stdint.h>

#include "common/ms_error.h"

typedef struct net_maxmin net_maxmin;

/* A solver over n_links links, every capacity INFINITY (not a constraint) until set. */
net_maxmin *net_maxmin_create(int n_links, ms_error *err);
void net_maxmin_destroy(net_maxmin *s);

/* Sets a link's capacity (B/s; INFINITY = not a constraint), before any variable uses it. */
void net_maxmin_set_capacity(net_maxmin *s, int link, double bw_Bps);
double net_maxmin_capacity(const net_maxmin *s, int link);
int net_maxmin_n_links(const net_maxmin *s);

/*
 * Variable id crosses link[i] with fraction w[i], i < n. Only links with a finite
 * capacity and w > 0 constrain it; returns how many do (0: the variable never takes
 * part in the sharing) or MS_ENOMEM, in which case nothing was kept. id must not be
 * in use.
 */
int net_maxmin_var_init(net_maxmin *s, int id, const int *link, const double *w, int n, ms_error *err);

/* The variable joins the sharing with rate 0 until the next solve; it must constrain
 * at least one link. Fails only with MS_ENOMEM. */
int net_maxmin_var_join(net_maxmin *s, int id, ms_error *err);

/* The variable leaves the sharing; the links it freed are re-solved next time. */
int net_maxmin_var_leave(net_maxmin *s, int id, ms_error *err);

/* Gives the variable's incidences back (after leaving, if it joined); id is free. */
void net_maxmin_var_fini(net_maxmin *s, int id);

/* The variable's constrained links: how many, and the i-th (with its fraction in *w). */
int net_maxmin_var_nlinks(const net_maxmin *s, int id);
int net_maxmin_var_link(const net_maxmin *s, int id, int i, double *w);

/* The variable's rate (B/s) from the last solve that re-solved it; 0 before that. */
double net_maxmin_var_rate(const net_maxmin *s, int id);

/*
 * Re-solves what joins and leaves since the last solve touched. On return *ids holds
 * the re-solved variables (valid until the next call on s), in the order they were
 * reached; returns their number, or MS_ENOMEM.
 */
int net_maxmin_solve(net_maxmin *s, const int **ids, ms_error *err);

/* The solver's work since it was created (docs/benchmarks.md): solves that re-solved
 * something, the variable-link incidences they visited, the variables they re-solved,
 * and of those the ones whose rate moved (by more than 1e-12 of it): what any exact
 * solver that keeps every variable's rate must write, the floor under a solve's cost. */
typedef struct net_maxmin_stats {
	uint64_t solves, incidences, resolved, changed;
} net_maxmin_stats;

void net_maxmin_counters(const net_maxmin *s, net_maxmin_stats *out);

#endif
