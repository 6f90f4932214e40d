/*
 * cmd_plot.c - `moesim plot`: the plots are drawn by tools/moesim_plot.py (matplotlib,
 * reading the HDF5 files with h5py), found in the data directory (common/ms_path.h), so
 * a checkout and an installed moesim find it alike. This command only locates Python
 * and the script and hands over the arguments; the script checks them and says what is
 * missing. Python is $MOESIM_PYTHON, else Debian's /usr/bin/python3 (where `make deps`
 * puts python3-h5py and python3-matplotlib).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/ms_path.h"

int cli_cmd_plot(int argc, char **argv)
{
	const char *py = getenv("MOESIM_PYTHON");
	const char *dir = ms_data_dir(NULL);
	char script[4096];
	char **args;
	if (!py || !py[0])
		py = "/usr/bin/python3";
	if (!dir[0] || snprintf(script, sizeof script, "%s/tools/moesim_plot.py", dir) >= (int)sizeof script ||
	    access(script, R_OK) != 0) {
		fprintf(stderr, "moesim: plot: cannot find tools/moesim_plot.py in the data directory ('%s'); set "
			"MOESIM_DATADIR to a moesim checkout or install with make install\n", dir);
		return CLI_EXIT_BAD_INPUT;
	}
	args = calloc((size_t)argc + 3, sizeof *args);
	if (!args) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	args[0] = (char *)(uintptr_t)py;
	args[1] = script;
	for (int i = 0; i < argc; i++)
		args[i + 2] = argv[i];
	fflush(stdout);
	fflush(stderr);
	execv(py, args);
	fprintf(stderr, "moesim: plot: cannot run %s (%s): moesim plot needs Python 3 with h5py and matplotlib "
		"(apt-get install python3-h5py python3-matplotlib), or MOESIM_PYTHON set to a Python that has them\n",
		py, strerror(errno));
	free(args);
	return CLI_EXIT_BAD_INPUT;
}
