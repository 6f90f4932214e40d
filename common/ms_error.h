/*
 * ms_error.h - error reporting shared by every moesim module.
 *
 * What comes from outside (files, scenario values, traces, command lines) can be
 * wrong: such failures are reported through an ms_error that carries a negative
 * code and a one-line message a person can act on ("default.cfg:14: routing.top_k
 * = 9 but model.experts = 8"). Every message is set through MS_ERROR, which calls
 * ms_error_set(): one function to put a breakpoint on.
 *
 * What can only be wrong through a bug in our own code is checked with MS_ASSERT,
 * which prints the expression and the values and aborts.
 *
 * Invariant: a function that returns a negative code has set the message; the first
 * message set wins (later ones from unwinding callers would only repeat it less
 * precisely), unless the caller clears the error first.
 */
#ifndef MS_ERROR_H
#define MS_ERROR_H

#include <stddef.h>

enum {
	MS_OK = 0,
	MS_EINVAL = -1,  /* invalid input: scenario value, trace content, argument */
	MS_EIO = -2,     /* a file could not be read or written */
	MS_ENOMEM = -3,  /* allocation failed */
	MS_EEXIST = -4,  /* output exists and --force was not given */
	MS_EFORMAT = -5, /* a file is not in the expected format or is corrupt */
	MS_ERANGE = -6   /* a value is out of the supported range */
};

#define MS_ERROR_MSG_MAX 1024

typedef struct ms_error {
	int code;
	char msg[MS_ERROR_MSG_MAX];
} ms_error;

/* Resets err to MS_OK with an empty message. */
void ms_error_clear(ms_error *err);

/*
 * Records code and the formatted message in err (if err is non-NULL and holds no
 * error yet) and returns code, so callers can write `return MS_ERROR(...)`.
 */
int ms_error_set(ms_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Short name of a code, e.g. "invalid input". */
const char *ms_strerror(int code);

#define MS_ERROR(err, code, ...) ms_error_set((err), (code), __VA_ARGS__)

/* Called by MS_ASSERT on failure; prints and aborts. */
void ms_assert_fail(const char *file, int line, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

#define MS_ASSERT(expr, ...) \
	do { \
		if (!(expr)) \
			ms_assert_fail(__FILE__, __LINE__, #expr, __VA_ARGS__); \
	} while (0)

/*
 * The warning channel. Library code that has something to say that does not stop the
 * work (a trace shorter than the run, layers replayed modulo) reports it through an
 * ms_warn the caller chose; the library never prints. A NULL channel, or one without
 * a function, drops warnings.
 */
typedef struct ms_warn {
	void (*fn)(void *ctx, const char *msg); /* msg: one line, no trailing newline */
	void *ctx;
} ms_warn;

/* Formats a warning and hands it to w's function (if any). */
void ms_warn_emit(const ms_warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation helpers that report MS_ENOMEM through err; they return NULL on failure. */
void *ms_calloc(ms_error *err, size_t n, size_t size, const char *what);
void *ms_malloc(ms_error *err, size_t size, const char *what);

#endif
