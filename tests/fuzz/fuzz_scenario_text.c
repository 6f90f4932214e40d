/*
 * fuzz_scenario_text.c - the scenario loader, syntactically: arbitrary text through
 * libconfig and scn_scenario_load_text (unknown sections and keys, types, ranges, the
 * cross-key checks), then the resolved scenario printed as `moesim show` prints it.
 * Seeds: the .cfg files of scenarios/; dictionary: scenario.dict (sections, keys, enum values).
 */
#include "fuzz_util.h"

#include "scenario/scn_scenario.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size);
	scn_scenario *s = malloc(sizeof *s);
	ms_error err;
	if (!s)
		abort();
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, "fuzz.cfg", NULL, &err) == MS_OK) {
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
	free(s);
	free(text);
	return 0;
}
