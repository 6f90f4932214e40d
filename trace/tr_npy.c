/*
 * tr_npy.c - .npy header parsing, element access and base64 (see tr_npy.h). The header
 * dict is parsed by looking up its three keys, which is all numpy ever writes; anything
 * else in it is ignored. Every read is bounds-checked against the buffer.
 */
#include "trace/tr_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *msg, size_t n, const char *what)
{
	snprintf(msg, n, "%s", what);
	return -1;
}

/* The text after 'key': in the header, skipping white space and the colon, or NULL. */
static const char *after_key(const char *h, const char *key)
{
	char pat[32];
	const char *p;
	snprintf(pat, sizeof pat, "'%s'", key);
	p = strstr(h, pat);
	if (!p) {
		snprintf(pat, sizeof pat, "\"%s\"", key);
		p = strstr(h, pat);
	}
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

int tr__npy_parse(const unsigned char *buf, size_t len, tr__npy *a, char *msg, size_t msglen)
{
	size_t hlen, hoff;
	char *h;
	const char *p;
	int rc = -1;
	memset(a, 0, sizeof *a);
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
		return bad(msg, msglen, "not a .npy array (no \\x93NUMPY magic)");
	if (buf[6] == 1) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		hoff = 10;
	} else if (buf[6] == 2 || buf[6] == 3) {
		if (len < 12)
			return bad(msg, msglen, "truncated .npy header");
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hoff = 12;
	} else {
		snprintf(msg, msglen, ".npy format version %d.%d is not supported (1.0 to 3.0 are)", buf[6], buf[7]);
		return -1;
	}
	if (hlen > len - hoff || hlen > (1u << 20))
		return bad(msg, msglen, "truncated .npy header");
	h = malloc(hlen + 1);
	if (!h)
		return bad(msg, msglen, "out of memory");
	memcpy(h, buf + hoff, hlen);
	h[hlen] = '\0';
	/* descr: '<i2', '|u1', '>f4', ... */
	p = after_key(h, "descr");
	if (!p || (*p != '\'' && *p != '"')) {
		bad(msg, msglen, ".npy header has no 'descr' string (structured arrays are not supported)");
		goto out;
	}
	p++;
	if (*p != '<' && *p != '>' && *p != '|' && *p != '=') {
		bad(msg, msglen, ".npy 'descr' has no byte-order mark");
		goto out;
	}
	a->big_endian = *p == '>';
	p++;
	if (*p == '\0') { /* the header ends inside the descr: do not step past its end */
		bad(msg, msglen, ".npy 'descr' is truncated");
		goto out;
	}
	a->kind = *p++;
	a->size = (int)strtol(p, NULL, 10);
	if (!strchr("iufb", a->kind) || (a->size != 1 && a->size != 2 && a->size != 4 && a->size != 8) ||
	    (a->kind == 'f' && a->size < 4)) {
		snprintf(msg, msglen, ".npy dtype '%c%d' is not supported (integers, bool, float32, float64 are)", a->kind, a->size);
		goto out;
	}
	p = after_key(h, "fortran_order");
	if (!p || (strncmp(p, "True", 4) != 0 && strncmp(p, "False", 5) != 0)) {
		bad(msg, msglen, ".npy header has no 'fortran_order'");
		goto out;
	}
	a->fortran = p[0] == 'T';
	p = after_key(h, "shape");
	if (!p || *p != '(') {
		bad(msg, msglen, ".npy header has no 'shape' tuple");
		goto out;
	}
	p++;
	a->count = 1;
	for (;;) {
		char *end;
		long long v;
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ')')
			break;
		v = strtoll(p, &end, 10);
		if (end == p || v < 0 || a->ndim == TR__NPY_MAXDIM) {
			bad(msg, msglen, ".npy 'shape' is not a tuple of sizes");
			goto out;
		}
		p = end;
		while (*p == 'L') /* Python 2 longs */
			p++;
		a->shape[a->ndim++] = v;
		if (v > 0 && a->count > ((int64_t)1 << 50) / v) {
			bad(msg, msglen, ".npy array is too large");
			goto out;
		}
		a->count *= v;
	}
	if ((size_t)a->count * (size_t)a->size > len - hoff - hlen) {
		snprintf(msg, msglen, ".npy data is truncated: %lld elements of %d bytes need %llu bytes, %llu present",
			 (long long)a->count, a->size, (unsigned long long)a->count * (unsigned long long)a->size,
			 (unsigned long long)(len - hoff - hlen));
		goto out;
	}
	a->data = buf + hoff + hlen;
	rc = 0;
out:
	free(h);
	return rc;
}

int64_t tr__npy_flat(const tr__npy *a, const int64_t *idx)
{
	int64_t f = 0;
	if (a->fortran)
		for (int i = a->ndim - 1; i >= 0; i--)
			f = f * a->shape[i] + idx[i];
	else
		for (int i = 0; i < a->ndim; i++)
			f = f * a->shape[i] + idx[i];
	return f;
}

static uint64_t raw(const tr__npy *a, int64_t flat)
{
	const unsigned char *p = a->data + (size_t)flat * (size_t)a->size;
	uint64_t v = 0;
	for (int i = 0; i < a->size; i++)
		v |= (uint64_t)p[a->big_endian ? a->size - 1 - i : i] << (8 * i);
	return v;
}

int64_t tr__npy_get_int(const tr__npy *a, int64_t flat)
{
	uint64_t v = raw(a, flat);
	if (a->kind == 'f')
		return (int64_t)tr__npy_get_double(a, flat);
	if (a->kind == 'i' && a->size < 8 && (v >> (8 * a->size - 1)) & 1)
		v |= ~(uint64_t)0 << (8 * a->size); /* sign-extend */
	return (int64_t)v;
}

double tr__npy_get_double(const tr__npy *a, int64_t flat)
{
	uint64_t v = raw(a, flat);
	if (a->kind == 'f' && a->size == 4) {
		uint32_t u = (uint32_t)v;
		float x;
		memcpy(&x, &u, sizeof x);
		return x;
	}
	if (a->kind == 'f') {
		double x;
		memcpy(&x, &v, sizeof x);
		return x;
	}
	return (double)tr__npy_get_int(a, flat);
}

int tr__base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *o = malloc(len / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t n = 0;
	if (!o)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int v;
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto fail; /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6)
		goto fail;
	*out = o;
	*outlen = n;
	return 0;
fail:
	free(o);
	return -1;
}
