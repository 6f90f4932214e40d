/*
 * sw_mpi.h - a sweep over MPI ranks (`mpirun -n N moesim sweep ...`), built where Open
 * MPI is (the Makefile defines MS_HAVE_MPI); without it a sweep under mpirun is
 * refused (sw_mpi_init) and one without runs locally.
 *
 * Rank 0 is the master: it reads and writes the sweep's directory (sw_store.h), as a
 * local sweep does, and hands out points one at a time; every other rank is a worker
 * that asks for a point, runs it in a child process (sw_exec.h), sends its record back
 * and with it asks for the next. Points go to whichever worker asks first, so a slow
 * point holds up only its worker. The master writes every record and the table, so the
 * outputs are the same bytes as a local sweep's; workers need no shared file system,
 * only the scenario and the files it names. The master polls (MPI_Iprobe and a 1 ms
 * sleep) rather than blocking in MPI_Recv, which spins a core in Open MPI.
 */
#ifndef SW_MPI_H
#define SW_MPI_H

#include <stdint.h>

#include "sweep/sw_exec.h"

/* The ranks mpirun started (from its environment, before any MPI call); 0 when not under
 * mpirun. A build without MPI reads it too, and its sw_mpi_init refuses. */
int sw_mpi_world(void);

int sw_mpi_init(int *rank, int *size, ms_error *err);
void sw_mpi_finalize(void);

/* Whether every rank passes ok = 1 (an MPI_Allreduce), and in *root_ok whether rank 0
 * did: a rank that cannot read the sweep stops them all, instead of leaving the master
 * waiting for it. */
int sw_mpi_all_ok(int ok, int *root_ok);

/* Rank 0: hands out todo[0 .. n) to the size - 1 workers and passes each record to done;
 * always ends by telling every worker to stop (also with n = 0, after an error). */
int sw_mpi_master(const int64_t *todo, int64_t n, int size, uint64_t id, sw_done_fn done, void *ctx, ms_error *err);

/* Ranks 1 ..: runs the points the master hands out until it says stop. */
int sw_mpi_worker(const sw_spec *sp, const sw_run_opts *o, ms_error *err);

#endif
