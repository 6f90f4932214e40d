/*
 * tr_npy.h - internal to trace/: NumPy .npy arrays (format versions 1.0, 2.0, 3.0, as
 * numpy.lib.format writes them) and base64, for the vLLM importer: vLLM returns routed
 * experts as numpy arrays (offline, saved with numpy.save) or as base64-encoded .npy
 * bytes (the OpenAI-compatible server, vllm.utils.serial_utils.numpy2base64).
 *
 * Layout of a .npy: the 6 bytes "\x93NUMPY", major and minor version bytes, the header
 * length (little-endian uint16 in 1.0, uint32 in 2.0 and 3.0), then a Python dict literal
 * {'descr': '<i2', 'fortran_order': False, 'shape': (T, L, K), } padded with spaces and a
 * newline, then the raw elements. Integer and floating kinds of any width and either byte
 * order are read; object arrays (pickles) are refused.
 */
#ifndef TR_NPY_H
#define TR_NPY_H

#include <stddef.h>
#include <stdint.h>

#define TR__NPY_MAXDIM 8

typedef struct tr__npy {
	char kind;         /* 'i' signed, 'u' unsigned, 'f' float, 'b' bool */
	int size;          /* bytes per element: 1, 2, 4, 8 */
	int big_endian;
	int fortran;       /* column-major */
	int ndim;
	int64_t shape[TR__NPY_MAXDIM];
	int64_t count;     /* elements */
	const unsigned char *data;
} tr__npy;

/* Parses buf[0..len) as a .npy; checks the data fits. 0, or -1 with a reason in msg. */
int tr__npy_parse(const unsigned char *buf, size_t len, tr__npy *a, char *msg, size_t msglen);

/* Element at C-order index idx[0..ndim) (fortran arrays are translated). */
int64_t tr__npy_flat(const tr__npy *a, const int64_t *idx);
int64_t tr__npy_get_int(const tr__npy *a, int64_t flat);
double tr__npy_get_double(const tr__npy *a, int64_t flat);

/* Decodes standard base64 (padding optional, white space ignored). *out is malloc'd. 0 or -1. */
int tr__base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);

#endif
