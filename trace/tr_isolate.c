/*
 * tr_isolate.c - a trace's first read in a forked child (see tr_isolate.h).
 *
 * The child always sends its ms_error back through a pipe (one write of sizeof(ms_error),
 * under PIPE_BUF, so it arrives whole, empty when fn succeeded) and exits with fn's
 * status; the parent reads the pipe to its end, then reaps the child. A child that ends
 * without writing crashed: a signal, or a sanitizer that reported an error and exited.
 */
#include "trace/tr_isolate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace/tr_reader.h"

int tr_isolate_run(const char *file, int (*fn)(void *ctx, ms_error *child_err), void *ctx, ms_error *err)
{
	int fd[2], status;
	pid_t pid;
	ms_error cerr;
	size_t got = 0;
	memset(&cerr, 0, sizeof cerr); /* all of it is written to the pipe */
	fflush(stdout);
	fflush(stderr);
	if (pipe(fd) < 0 || (pid = fork()) < 0) {
		/* No pipe or no fork: run here. */
		int rc = fn(ctx, &cerr);
		if (cerr.code)
			MS_ERROR(err, cerr.code, "%s", cerr.msg);
		return rc;
	}
	if (pid == 0) {
		int rc;
		ssize_t w;
		close(fd[0]);
		rc = fn(ctx, &cerr);
		fflush(stdout);
		fflush(stderr);
		w = write(fd[1], &cerr, sizeof cerr);
		(void)w; /* if it failed, the parent reports a crash: nothing better to do */
		_exit(rc & 0xff);
	}
	close(fd[1]);
	for (;;) {
		ssize_t n = read(fd[0], (char *)&cerr + got, sizeof cerr - got);
		if (n > 0 && (got += (size_t)n) < sizeof cerr)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return MS_ERROR(err, MS_EIO, "%s: waiting for the trace reader failed: %s", file, strerror(errno));
	if (WIFEXITED(status) && got == sizeof cerr) {
		if (cerr.code) {
			cerr.msg[sizeof cerr.msg - 1] = '\0';
			MS_ERROR(err, cerr.code, "%s", cerr.msg);
		}
		return WEXITSTATUS(status);
	}
	/* A signal, or an exit before fn returned (a sanitizer's report ends the process
	 * with its own exit status): the read crashed. */
	if (WIFSIGNALED(status))
		return MS_ERROR(err, MS_EFORMAT, "%s: HDF5 crashed reading the file (signal %d): its metadata is corrupt",
				file, WTERMSIG(status));
	return MS_ERROR(err, MS_EFORMAT,
			"%s: HDF5 crashed reading the file (exit status %d before the read ended): its metadata is corrupt",
			file, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The child's part of tr_probe: 0 when everything read, 1 with err set. */
typedef struct probe_arg {
	const char *path;
} probe_arg;

static int probe(void *ctx, ms_error *err)
{
	const probe_arg *a = ctx;
	tr_reader *r = tr_open(a->path, err);
	const tr_info *in;
	tr_token tok;
	int16_t *ids = NULL;
	float *scores = NULL;
	int rc = 1;
	if (!r)
		return 1;
	in = tr_get_info(r);
	if (in->num_tokens > 0) {
		ids = ms_malloc(err, (size_t)in->depth * sizeof *ids, "trace probe");
		scores = ms_malloc(err, (size_t)in->depth * sizeof *scores, "trace probe");
		if (!ids || !scores || tr_read_tokens(r, 0, 1, &tok, err) < 0)
			goto out;
		for (int l = 0; l < in->num_layers; l++)
			if (tr_read_routing(r, l, 0, 1, ids, scores, err) < 0)
				goto out;
	}
	rc = 0;
out:
	free(ids);
	free(scores);
	tr_close(r);
	return rc;
}

int tr_probe(const char *path, ms_error *err)
{
	ms_error cerr;
	probe_arg a = {path};
	int rc;
	ms_error_clear(&cerr);
	rc = tr_isolate_run(path, probe, &a, &cerr);
	if (rc == 0)
		return MS_OK;
	if (!cerr.code)
		MS_ERROR(&cerr, MS_EFORMAT, "%s: the trace could not be read (exit status %d)", path, rc);
	return MS_ERROR(err, cerr.code, "%s", cerr.msg);
}
