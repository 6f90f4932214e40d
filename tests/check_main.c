/*
 * check_main.c - the one test runner: runs every suite the tests/check_*.c files
 * define (the list is generated into build/gen/suites.h by the Makefile).
 * Exit status is non-zero when any test fails.
 */
#include <check.h>
#include <stdlib.h>

#include "test_util.h"

#define SUITE(name) Suite *name(void);
#include "gen/suites.h"
#undef SUITE

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;
#define SUITE(name) srunner_add_suite(sr, name());
#include "gen/suites.h"
#undef SUITE
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_inputs_release();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
