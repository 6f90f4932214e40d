/*
 * fuzz_sweep_spec.c - the sweep section reader (sweep/sw_spec.c): arbitrary text as a
 * scenario file with a sweep section; when it is accepted, every point's label and
 * overrides, and the first and last points loaded as scenarios (values marked with
 * their lines, scn_scenario_load_text_at). Every refusal must carry a message.
 * Seeds: scenarios/sweep-*.cfg and bench/sweep-1000.cfg; dictionary: sweep_spec.dict (scenario_text.dict and the sweep words).
 */
#include "fuzz_util.h"

#include "sweep/sw_spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size);
	sw_spec sp;
	ms_error err;
	ms_error_clear(&err);
	if (sw_spec_load_text(&sp, text, "fuzz.cfg", NULL, &err) == MS_OK) {
		char label[512], *buf = malloc(SW_POINT_BUF);
		int line[SCN_MAX_OVERRIDES];
		scn_overrides ov;
		scn_scenario *s = malloc(sizeof *s);
		if (!buf || !s)
			abort();
		for (int64_t i = 0; i < sp.npoints && i < 64; i++) {
			sw_spec_label(&sp, i, label, sizeof label);
			sw_spec_point(&sp, i, &ov, line, buf);
		}
		ms_error_clear(&err);
		if (sw_spec_load_point(&sp, 0, s, &err) < 0 && !err.msg[0])
			abort();
		ms_error_clear(&err);
		if (sw_spec_load_point(&sp, sp.npoints - 1, s, &err) < 0 && !err.msg[0])
			abort();
		free(s);
		free(buf);
		sw_spec_fini(&sp);
	} else if (!err.msg[0]) {
		abort();
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz: refused: %s\n", err.msg);
	}
	free(text);
	return 0;
}
