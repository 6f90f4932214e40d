/*
 * sw_exec.c - a child process per sweep point, and the local scheduler (see sw_exec.h).
 */
#include "sweep/sw_exec.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

int sw_child_start(sw_child *c, const sw_spec *sp, int64_t i, const sw_run_opts *o, ms_error *err)
{
	int p[2];
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->point = i;
	c->buf = malloc(SW_RECORD_TEXT_MAX);
	if (!c->buf)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	if (pipe(p) < 0) {
		free(c->buf);
		c->buf = NULL;
		return MS_ERROR(err, MS_EIO, "cannot create a pipe for sweep point %lld: %s", (long long)i, strerror(errno));
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		close(p[0]);
		close(p[1]);
		free(c->buf);
		c->buf = NULL;
		return MS_ERROR(err, MS_EIO, "cannot start a process for sweep point %lld: %s", (long long)i,
				strerror(errno));
	}
	if (c->pid == 0) {
		sw_record rec;
		int n;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
#ifdef __linux__
		/* A sweep killed with -9 takes its points' processes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
#endif
		close(p[0]);
		sw_point_run(sp, i, o, &rec);
		n = sw_record_write(&rec, sp->id, c->buf, SW_RECORD_TEXT_MAX);
		if (n > 0)
			write_all(p[1], c->buf, (size_t)n);
		close(p[1]);
		_exit(n > 0 ? 0 : 3);
	}
	close(p[1]);
	c->fd = p[0];
	return MS_OK;
}

int sw_child_read(sw_child *c)
{
	for (;;) {
		ssize_t r;
		if (c->n + 1 >= SW_RECORD_TEXT_MAX) {
			char sink[4096];
			r = read(c->fd, sink, sizeof sink); /* longer than any record: keep it short, it will not parse */
		} else {
			r = read(c->fd, c->buf + c->n, SW_RECORD_TEXT_MAX - 1 - c->n);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return 1;
		if (c->n + 1 < SW_RECORD_TEXT_MAX)
			c->n += (size_t)r;
		return 0;
	}
}

void sw_child_finish(sw_child *c, uint64_t id, sw_record *rec)
{
	int status = 0;
	ms_error err;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->buf[c->n] = '\0';
	ms_error_clear(&err);
	if (WIFSIGNALED(status)) {
		sw_record_init(rec, c->point);
		sw_record_reason(rec, SW_FAILED, "the point's process was killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		sw_record_init(rec, c->point);
		sw_record_reason(rec, SW_FAILED, "the point's process exited with status %d",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	} else if (sw_record_read(rec, id, c->buf, &err) < 0 || rec->point != c->point) {
		sw_record_init(rec, c->point);
		sw_record_reason(rec, SW_FAILED, "the point's process wrote no valid record: %s", err.msg);
	}
	free(c->buf);
	c->buf = NULL;
}

void sw_child_kill(sw_child *c)
{
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->pid > 0 && waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(c->buf);
	c->buf = NULL;
}

int sw_exec_local(const sw_spec *sp, const int64_t *todo, int64_t n, int jobs, const sw_run_opts *o, sw_done_fn done,
		  void *ctx, ms_error *err)
{
	sw_child *kids;
	struct pollfd *pfd;
	int running = 0, rc = MS_OK;
	int64_t next = 0;
	if (jobs < 1)
		jobs = 1;
	if (jobs > n)
		jobs = (int)(n > 0 ? n : 1);
	kids = calloc((size_t)jobs, sizeof *kids);
	pfd = calloc((size_t)jobs, sizeof *pfd);
	if (!kids || !pfd) {
		free(kids);
		free(pfd);
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	}
	while (rc == MS_OK && (next < n || running > 0)) {
		while (running < jobs && next < n) {
			if (sw_child_start(&kids[running], sp, todo[next], o, err) < 0) {
				rc = err->code;
				break;
			}
			next++;
			running++;
		}
		if (rc != MS_OK)
			break;
		for (int k = 0; k < running; k++)
			pfd[k] = (struct pollfd){kids[k].fd, POLLIN, 0};
		if (poll(pfd, (nfds_t)running, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = MS_ERROR(err, MS_EIO, "poll: %s", strerror(errno));
			break;
		}
		for (int k = running - 1; k >= 0 && rc == MS_OK; k--) {
			sw_record rec;
			if (!pfd[k].revents || !sw_child_read(&kids[k]))
				continue;
			sw_child_finish(&kids[k], sp->id, &rec);
			kids[k] = kids[--running];
			pfd[k] = pfd[running];
			if (done(ctx, &rec, err) < 0)
				rc = err->code;
		}
	}
	for (int k = 0; k < running; k++)
		sw_child_kill(&kids[k]);
	free(kids);
	free(pfd);
	return rc;
}
