/* ms_path.c - file names relative to other files, and the data directory (see ms_path.h). */
#include "common/ms_path.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

int ms_path_join(char *out, size_t len, const char *from, const char *rel)
{
	const char *slash = from ? strrchr(from, '/') : NULL;
	int n;
	if (rel[0] == '/' || !slash)
		n = snprintf(out, len, "%s", rel);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - from), from, rel);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

static char data_dir[PATH_MAX];
static const char *data_env;
static pthread_once_t data_once = PTHREAD_ONCE_INIT;

static int holds_data(const char *dir)
{
	char f[PATH_MAX + 32];
	if (snprintf(f, sizeof f, "%s/scenarios/default.cfg", dir) >= (int)sizeof f)
		return 0;
	return access(f, R_OK) == 0;
}

static int try_dir(const char *dir)
{
	if (!dir || !dir[0] || strlen(dir) >= sizeof data_dir || !holds_data(dir))
		return 0;
	snprintf(data_dir, sizeof data_dir, "%s", dir);
	return 1;
}

static void find_data_dir(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	ssize_t n;
	data_dir[0] = '\0';
	if (try_dir(data_env))
		return;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			snprintf(dir, sizeof dir, "%s/../share/moesim", exe);
			if (try_dir(dir))
				return;
			for (int up = 0; up < 4; up++) {
				if (try_dir(exe[0] ? exe : "/"))
					return;
				if ((slash = strrchr(exe, '/')) == NULL)
					break;
				*slash = '\0';
			}
		}
	}
	if (getcwd(dir, sizeof dir))
		try_dir(dir);
}

const char *ms_data_dir(const char *env_override)
{
	data_env = env_override;
	pthread_once(&data_once, find_data_dir);
	return data_dir;
}
