/*
 * sw_mpi.c - the MPI master and workers of a sweep (see sw_mpi.h).
 *
 * Messages: a worker sends TAG_RESULT with a record's text (empty for its first
 * request); the master answers TAG_POINT with the next point's index, or -1 to stop.
 */
#include "sweep/sw_mpi.h"

#include <stdlib.h>
#include <string.h>

/* Read in both builds, so that one without MPI refuses to run under mpirun instead of
 * running N independent sweeps on one directory. */
int sw_mpi_world(void)
{
	const char *env = getenv("OMPI_COMM_WORLD_SIZE");
	if (!env)
		env = getenv("PMI_SIZE");
	return env ? atoi(env) : 0;
}

#ifdef MS_HAVE_MPI
#include <mpi.h>
#include <time.h>

enum { TAG_RESULT = 1, TAG_POINT = 2 };

int sw_mpi_init(int *rank, int *size, ms_error *err)
{
	if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
		return MS_ERROR(err, MS_EIO, "MPI_Init failed");
	MPI_Comm_rank(MPI_COMM_WORLD, rank);
	MPI_Comm_size(MPI_COMM_WORLD, size);
	return MS_OK;
}

void sw_mpi_finalize(void)
{
	MPI_Finalize();
}

int sw_mpi_all_ok(int ok, int *root_ok)
{
	int all = 0;
	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	*root_ok = ok;
	MPI_Bcast(root_ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
	return all;
}

int sw_mpi_master(const int64_t *todo, int64_t n, int size, uint64_t id, sw_done_fn done, void *ctx, ms_error *err)
{
	int active = size - 1, rc = MS_OK;
	int64_t next = 0;
	char *buf = malloc(SW_RECORD_TEXT_MAX);
	int64_t *assigned = calloc((size_t)size, sizeof *assigned);
	if (!buf || !assigned) {
		free(buf);
		free(assigned);
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory");
		/* The workers still wait for an answer: without memory for the protocol, abort. */
		MPI_Abort(MPI_COMM_WORLD, 1);
		return rc;
	}
	while (active > 0) {
		MPI_Status st;
		int flag = 0, count = 0;
		long long reply;
		MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st);
		if (!flag) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		MPI_Get_count(&st, MPI_CHAR, &count);
		if (count >= SW_RECORD_TEXT_MAX)
			count = SW_RECORD_TEXT_MAX - 1;
		MPI_Recv(buf, count, MPI_CHAR, st.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		buf[count] = '\0';
		if (count > 0 && rc == MS_OK) {
			sw_record rec;
			ms_error e;
			ms_error_clear(&e);
			if (sw_record_read(&rec, id, buf, &e) < 0 || rec.point != assigned[st.MPI_SOURCE]) {
				sw_record_init(&rec, assigned[st.MPI_SOURCE]);
				sw_record_reason(&rec, SW_FAILED, "rank %d sent no valid record: %s", st.MPI_SOURCE, e.msg);
			}
			if (done(ctx, &rec, err) < 0)
				rc = err->code;
		}
		reply = rc == MS_OK && next < n ? (long long)todo[next++] : -1;
		assigned[st.MPI_SOURCE] = reply;
		MPI_Send(&reply, 1, MPI_LONG_LONG, st.MPI_SOURCE, TAG_POINT, MPI_COMM_WORLD);
		if (reply < 0)
			active--;
	}
	free(buf);
	free(assigned);
	return rc;
}

int sw_mpi_worker(const sw_spec *sp, const sw_run_opts *o, ms_error *err)
{
	char *text = malloc(SW_RECORD_TEXT_MAX);
	int len = 0;
	if (!text)
		MPI_Abort(MPI_COMM_WORLD, 1);
	for (;;) {
		long long point;
		sw_child c;
		sw_record rec;
		MPI_Send(text, len, MPI_CHAR, 0, TAG_RESULT, MPI_COMM_WORLD);
		MPI_Recv(&point, 1, MPI_LONG_LONG, 0, TAG_POINT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		if (point < 0)
			break;
		if (sw_child_start(&c, sp, point, o, err) < 0) {
			sw_record_init(&rec, point);
			sw_record_reason(&rec, SW_FAILED, "%s", err->msg);
			ms_error_clear(err);
		} else {
			while (!sw_child_read(&c))
				;
			sw_child_finish(&c, sp->id, &rec);
		}
		len = sw_record_write(&rec, sp->id, text, SW_RECORD_TEXT_MAX);
		if (len < 0)
			len = 0;
	}
	free(text);
	return MS_OK;
}

#else

int sw_mpi_init(int *rank, int *size, ms_error *err)
{
	*rank = 0;
	*size = 1;
	return MS_ERROR(err, MS_EINVAL,
			"this moesim was built without MPI, so it cannot share a sweep among mpirun's ranks: install "
			"libopenmpi-dev and rebuild (make), or run the sweep without mpirun (-j N)");
}

void sw_mpi_finalize(void)
{
}

int sw_mpi_all_ok(int ok, int *root_ok)
{
	*root_ok = ok;
	return ok;
}

int sw_mpi_master(const int64_t *todo, int64_t n, int size, uint64_t id, sw_done_fn done, void *ctx, ms_error *err)
{
	(void)todo, (void)n, (void)size, (void)id, (void)done, (void)ctx;
	return MS_ERROR(err, MS_EINVAL, "this moesim was built without MPI");
}

int sw_mpi_worker(const sw_spec *sp, const sw_run_opts *o, ms_error *err)
{
	(void)sp, (void)o;
	return MS_ERROR(err, MS_EINVAL, "this moesim was built without MPI");
}

#endif
