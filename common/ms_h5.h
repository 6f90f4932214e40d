/*
 * ms_h5.h - HDF5 plumbing shared by the writers and readers of results (output/, sweep/,
 * trace/): a string attribute in one call, written fixed-length ASCII or variable-length
 * UTF-8, and read back whichever it is (moesim's older files, h5py's np.bytes_ and str):
 * HDF5 converts neither kind into the other, so the reader looks at the file's type
 * first. Every identifier closed on every path.
 */
#ifndef MS_H5_H
#define MS_H5_H

#include <hdf5.h>

/* Writes the scalar string attribute name = v on loc as a variable-length UTF-8 string,
 * which h5py returns as str (a fixed-length ASCII one comes back as bytes). Returns 0, or
 * -1 when HDF5 refused. */
int ms_h5_attr_utf8(hid_t loc, const char *name, const char *v);

/* The value of the open string attribute a (ft: its file type) as a malloc'd string, or
 * NULL when it cannot be read or is not a string. */
char *ms_h5_attr_string(hid_t a, hid_t ft);

/* The n strings of the open 1-D string dataset ds (ft: its file type, variable- or
 * fixed-length, any character set) into out[0..n), each malloc'd (the caller frees them).
 * Returns 0, or -1 when it is not a string dataset, the read fails or memory runs out,
 * with nothing left allocated. */
int ms_h5_read_strings(hid_t ds, hid_t ft, size_t n, char **out);

#endif
