/* ms_h5.c - HDF5 string attributes (see ms_h5.h). */
#include "common/ms_h5.h"

#include <stdlib.h>
#include <string.h>

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
