/*
 * ms_h5.c - HDF5 string attributes, written and read (see ms_h5.h).
 */
#include "common/ms_h5.h"

#include <stdlib.h>
#include <string.h>

/* A scalar attribute of string type st (closed here) from buf. */
static int attr_write(hid_t loc, const char *name, hid_t st, int typed, const void *buf)
{
	hid_t sp = H5Screate(H5S_SCALAR), at = -1;
	int rc = -1;
	if (st >= 0 && sp >= 0 && typed) {
		at = H5Acreate2(loc, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
		if (at >= 0 && H5Awrite(at, st, buf) >= 0)
			rc = 0;
	}
	if (at >= 0)
		H5Aclose(at);
	if (sp >= 0)
		H5Sclose(sp);
	if (st >= 0)
		H5Tclose(st);
	return rc;
}

int ms_h5_attr_utf8(hid_t loc, const char *name, const char *v)
{
	hid_t st = H5Tcopy(H5T_C_S1);
	return attr_write(loc, name, st, st >= 0 && H5Tset_size(st, H5T_VARIABLE) >= 0 && H5Tset_cset(st, H5T_CSET_UTF8) >= 0,
			  &v);
}

char *ms_h5_attr_string(hid_t a, hid_t ft)
{
	char *out = NULL;
	hid_t mt;
	if (H5Tget_class(ft) != H5T_STRING || (mt = H5Tcopy(H5T_C_S1)) < 0)
		return NULL;
	H5Tset_cset(mt, H5Tget_cset(ft));
	if (H5Tis_variable_str(ft) > 0) {
		char *p = NULL;
		H5Tset_size(mt, H5T_VARIABLE);
		if (H5Aread(a, mt, &p) >= 0) {
			out = strdup(p ? p : "");
			H5free_memory(p);
		}
	} else {
		size_t n = H5Tget_size(ft);
		H5Tset_size(mt, n + 1);
		H5Tset_strpad(mt, H5T_STR_NULLTERM);
		out = calloc(n + 2, 1);
		if (out && H5Aread(a, mt, out) < 0) {
			free(out);
			out = NULL;
		}
	}
	H5Tclose(mt);
	return out;
}

int ms_h5_read_strings(hid_t ds, hid_t ft, size_t n, char **out)
{
	hid_t mt;
	int rc = -1;
	size_t got = 0;
	if (H5Tget_class(ft) != H5T_STRING || (mt = H5Tcopy(H5T_C_S1)) < 0)
		return -1;
	H5Tset_cset(mt, H5Tget_cset(ft));
	if (H5Tis_variable_str(ft) > 0) {
		char **p = calloc(n ? n : 1, sizeof *p);
		H5Tset_size(mt, H5T_VARIABLE);
		if (p && (n == 0 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, p) >= 0)) {
			for (got = 0; got < n && (out[got] = strdup(p[got] ? p[got] : "")); got++)
				;
			rc = got == n ? 0 : -1;
			for (size_t i = 0; i < n; i++)
				H5free_memory(p[i]);
		}
		free(p);
	} else {
		size_t w = H5Tget_size(ft) + 1;
		char *buf = calloc(n ? n : 1, w);
		H5Tset_size(mt, w);
		H5Tset_strpad(mt, H5T_STR_NULLTERM);
		if (buf && (n == 0 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)) {
			for (got = 0; got < n && (out[got] = strdup(buf + got * w)); got++)
				;
			rc = got == n ? 0 : -1;
		}
		free(buf);
	}
	if (rc < 0)
		for (size_t i = 0; i < got; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	H5Tclose(mt);
	return rc;
}
