/*
 * fuzz_import.h - the importers' shared harness body (trace/tr_import.h): the input is
 * written under the file name the importer expects, converted into a scratch trace, and
 * a trace that was written is read back through `trace validate` (an importer must only
 * write valid traces: a problem found there aborts, a finding).
 */
#ifndef FUZZ_IMPORT_H
#define FUZZ_IMPORT_H

#include "fuzz_util.h"

#include "trace/tr_import.h"
#include "trace/tr_validate.h"

static inline void import_problem(void *ctx, const char *msg)
{
	fprintf(stderr, "fuzz: the importer wrote an invalid trace (%s): %s\n", (const char *)ctx, msg);
}

/* Imports the file at in (format fmt); checks what it wrote. */
static inline void fuzz_import(const char *in, const char *fmt)
{
	char out[256];
	const char *inputs[1] = {in};
	tr_import_opts o;
	tr_import_result res;
	ms_error err;
	memset(&o, 0, sizeof o);
	if (tr_import_format_parse(fmt, &o.format) < 0)
		abort();
	snprintf(out, sizeof out, "%s/out.h5", fuzz_scratch());
	ms_error_clear(&err);
	if (tr_import(inputs, 1, out, 1, &o, &res, &err) == MS_OK) {
		ms_error_clear(&err);
		if (tr_validate(out, import_problem, (void *)(uintptr_t)fmt, 5, &err) != 0)
			abort();
		unlink(out);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz: imported %lld tokens\n", (long long)res.tokens);
	} else if (!err.msg[0]) {
		abort(); /* every refusal has a message */
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz: refused: %s\n", err.msg);
	}
}

#endif
