/*
 * ms_path.h - file names: joining a relative name to the directory of the file that
 * named it, and finding moesim's data directory (the shipped scenarios and traces) at
 * run time, so no build path is compiled into the binary.
 *
 * The data directory is the first of these that holds scenarios/default.cfg:
 *   1. $MOESIM_DATADIR, when the caller passes it (the CLI does; the library reads no
 *      environment);
 *   2. <dir of the executable>/../share/moesim (an installed binary: make install);
 *   3. the executable's directory or one of its three parents (a checkout, where
 *      ./moesim sits at the root and test or sanitizer binaries below build/);
 *   4. the working directory.
 */
#ifndef MS_PATH_H
#define MS_PATH_H

#include <stddef.h>

/*
 * Writes into out[len] the name rel as seen from the file named `from`: rel itself when
 * it is absolute or `from` has no directory part, else from's directory + "/" + rel.
 * Returns 0, or -1 when the result does not fit (out is then "").
 */
int ms_path_join(char *out, size_t len, const char *from, const char *rel);

/*
 * The data directory ("" when none holds scenarios/default.cfg). env_override is the
 * value of $MOESIM_DATADIR or NULL. Computed on the first call (thread-safe); later
 * calls return the same string whatever they pass.
 */
const char *ms_data_dir(const char *env_override);

#endif
