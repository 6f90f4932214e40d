/* test_util.c - see test_util.h. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tu_write_temp(char *buf, size_t len, const char *text)
{
	int fd;
	FILE *f;
	snprintf(buf, len, "/tmp/moesim-test-XXXXXX");
	fd = mkstemp(buf);
	if (fd < 0)
		abort();
	f = fdopen(fd, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return buf;
}

const char *tu_temp_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/moesim-test-dir-XXXXXX");
	if (!mkdtemp(buf))
		abort();
	return buf;
}

double tu_rel(double a, double b)
{
	double m = fmax(fabs(a), fabs(b));
	return fabs(a - b) / (m > 1e-300 ? m : 1e-300);
}
