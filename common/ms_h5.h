/*
 * ms_h5.h - HDF5 plumbing shared by the writers of results (output/, sweep/): a string
 * attribute in one call, every identifier closed on every path.
 */
#ifndef MS_H5_H
#define MS_H5_H

#include <hdf5.h>

/* Writes the scalar string attribute name = v on loc. Returns 0, or -1 when HDF5 refused. */
int ms_h5_attr_str(hid_t loc, const char *name, const char *v);

/* The same as a variable-length UTF-8 string, which h5py returns as str (a fixed-length
 * ASCII one, as ms_h5_attr_str writes, comes back as bytes). */
int ms_h5_attr_utf8(hid_t loc, const char *name, const char *v);

#endif
