/*
 * ms_error.c - the single place where error messages are recorded (see ms_error.h).
 * Break on ms_error_set in a debugger to stop at the first reported failure.
 */
#include "ms_error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void ms_error_clear(ms_error *err)
{
	if (!err)
		return;
	err->code = MS_OK;
	err->msg[0] = '\0';
}

int ms_error_set(ms_error *err, int code, const char *fmt, ...)
{
	if (err && err->code == MS_OK) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

const char *ms_strerror(int code)
{
	switch (code) {
	case MS_OK: return "success";
	case MS_EINVAL: return "invalid input";
	case MS_EIO: return "input/output error";
	case MS_ENOMEM: return "out of memory";
	case MS_EEXIST: return "output exists";
	case MS_EFORMAT: return "bad file format";
	case MS_ERANGE: return "value out of range";
	default: return "unknown error";
	}
}

void ms_assert_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "moesim: internal error at %s:%d: assertion `%s' failed: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *ms_calloc(ms_error *err, size_t n, size_t size, const char *what)
{
	void *p;
	if (n == 0 || size == 0)
		n = size = 1;
	if (n > SIZE_MAX / size) {
		MS_ERROR(err, MS_ENOMEM, "out of memory: %s needs %zu x %zu bytes", what, n, size);
		return NULL;
	}
	p = calloc(n, size);
	if (!p)
		MS_ERROR(err, MS_ENOMEM, "out of memory allocating %s (%zu bytes)", what, n * size);
	return p;
}

void *ms_malloc(ms_error *err, size_t size, const char *what)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		MS_ERROR(err, MS_ENOMEM, "out of memory allocating %s (%zu bytes)", what, size);
	return p;
}

void ms_warn_emit(const ms_warn *w, const char *fmt, ...)
{
	char msg[MS_ERROR_MSG_MAX];
	va_list ap;
	if (!w || !w->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->fn(w->ctx, msg);
}
