/*
 * ms_h5.h - HDF5 plumbing more than one module reads with: a string attribute's value
 * whether it was stored fixed-length (moesim's own files, h5py's np.bytes_) or
 * variable-length (h5py's str), ASCII or UTF-8. HDF5 converts neither kind into the
 * other, so the reader looks at the file's type first.
 */
#ifndef MS_H5_H
#define MS_H5_H

#include <hdf5.h>

/* The value of the open string attribute a (ft: its file type) as a malloc'd string, or
 * NULL when it cannot be read or is not a string. */
char *ms_h5_attr_string(hid_t a, hid_t ft);

#endif
