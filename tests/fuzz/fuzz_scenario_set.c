/*
 * fuzz_scenario_set.c - the scenario loader, semantically: the built-in default scenario
 * with up to 8 --set overrides, each a key of the reference table (scn_write_reference)
 * set to a value chosen for it: the bounds of its range and one step past them, 0, -1,
 * the smallest and largest doubles and one past them, NaN, infinities, every enum
 * choice and a wrong one, booleans, and paths (missing, relative, absolute, a directory,
 * over-long, a real trace). The input's bytes pick (key, value) pairs; an input that is
 * printable text with '=' is instead taken line by line as raw override items.
 */
#include "fuzz_util.h"

#include <ctype.h>

#include "scenario/scn_scenario.h"

enum { MAX_KEYS = 128, MAX_VALUES = 24, VALUE_LEN = 320 };

static int nkeys;
static char keys[MAX_KEYS][64];
static int nvalues[MAX_KEYS];
static char values[MAX_KEYS][MAX_VALUES][VALUE_LEN];

static void add(int k, const char *v)
{
	if (nvalues[k] < MAX_VALUES)
		snprintf(values[k][nvalues[k]++], VALUE_LEN, "%s", v);
}

/* One reference table row: | `key` | type | default | allowed | unit | meaning | */
static void add_row(char *line)
{
	char *col[7];
	int n = 0, k;
	for (char *p = strstr(line, " | "); p && n < 7; p = strstr(p + 3, " | "))
		col[n++] = p + 3;
	if (n < 4 || nkeys == MAX_KEYS || line[2] != '`')
		return;
	for (int i = 0; i < n; i++)
		*strstr(col[i] - 3, " | ") = '\0';
	k = nkeys++;
	snprintf(keys[k], sizeof keys[k], "%.*s", (int)strcspn(line + 3, "`"), line + 3);
	/* col[0] type, col[1] default, col[2] allowed */
	if (strcmp(col[1], "required") != 0)
		add(k, col[1]);
	if (strstr(col[2], " .. ")) {
		double lo = atof(col[2]), hi = atof(strstr(col[2], " .. ") + 4);
		char b[64];
		snprintf(b, sizeof b, "%.17g", lo);
		add(k, b);
		snprintf(b, sizeof b, "%.17g", hi);
		add(k, b);
		snprintf(b, sizeof b, "%.17g", lo - 1);
		add(k, b);
		snprintf(b, sizeof b, "%.17g", hi + 1);
		add(k, b);
		snprintf(b, sizeof b, "%.17g", hi * 2);
		add(k, b);
	} else if (strchr(col[2], '|')) {
		char *c = col[2];
		for (char *bar; (bar = strchr(c, '|')) != NULL; c = bar + 1) {
			*bar = '\0';
			add(k, c);
		}
		add(k, c);
	}
	if (strcmp(col[0], "boolean") == 0 || strcmp(col[0], "bool") == 0) {
		add(k, "true");
		add(k, "false");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *common[] = {"0", "-1", "1", "2.385", "1e-308", "4.9e-324", "1.7976931348623157e308",
				       "1e400", "-1e400", "nan", "inf", "-inf", "9223372036854775807",
				       "9223372036854775808", "-9223372036854775808", "2147483648", "\"\"",
				       "x", "\"dropless\"", "dropless", "bogus", "/nonexistent/x.h5",
				       "tests/data/traces/good/base.h5", "/tmp", "../../../../etc/passwd"};
	char *buf = NULL, *line, *save;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	(void)argc;
	(void)argv;
	if (!f)
		abort();
	scn_write_reference(f);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		add_row(line);
	free(buf);
	for (int k = 0; k < nkeys; k++) {
		char big[VALUE_LEN];
		for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
			add(k, common[i]);
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		add(k, big);
	}
	if (nkeys == 0)
		abort();
	return 0;
}

static int is_text(const uint8_t *d, size_t n)
{
	int eq = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isprint(d[i]) && d[i] != '\n')
			return 0;
		eq |= d[i] == '=';
	}
	return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char item[8][VALUE_LEN + 80], *text = NULL;
	scn_overrides ov;
	scn_scenario *s = malloc(sizeof *s);
	ms_error err;
	if (!s)
		abort();
	memset(&ov, 0, sizeof ov);
	if (is_text(data, size)) {
		char *save, *line;
		text = fuzz_strdup(data, size);
		for (line = strtok_r(text, "\n", &save); line && ov.n < 8 && ov.n < SCN_MAX_OVERRIDES;
		     line = strtok_r(NULL, "\n", &save))
			ov.items[ov.n++] = line;
	} else {
		for (size_t i = 0; i + 1 < size && ov.n < 8 && ov.n < SCN_MAX_OVERRIDES; i += 2) {
			int k = data[i] % nkeys;
			snprintf(item[ov.n], sizeof item[ov.n], "%s=%s", keys[k], values[k][data[i + 1] % nvalues[k]]);
			ov.items[ov.n] = item[ov.n];
			ov.n++;
		}
	}
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, scn_default_text, "<built-in default>", &ov, &err) == MS_OK) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			scn_write_resolved(f, s);
			fclose(f);
		}
	} else if (!err.msg[0]) {
		abort(); /* every refusal has a message */
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz: refused: %s\n", err.msg);
	}
	free(text);
	free(s);
	return 0;
}
