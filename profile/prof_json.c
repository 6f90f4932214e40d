/*
 * prof_json.c - a small recursive-descent JSON reader (RFC 8259) for nccl-tests' -J
 * output (see prof_internal.h). nccl-tests writes JSON by hand (src/util.cu), so this
 * takes exactly the standard: objects, arrays, strings with escapes, numbers, true,
 * false, null. Nesting is limited to 64 levels so a hostile file cannot exhaust the
 * stack; every error names the line. O(n) in the text; arrays grow by doubling.
 */
#include "profile/prof_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
	const char *s, *end;
	const char *name;
	int line;
	const char *line_start; /* for the column: nccl-tests writes its JSON on one line */
	ms_error *err;
} parser;

static int col(const parser *P)
{
	return (int)(P->s - P->line_start) + 1;
}

static int fail(parser *P, const char *what)
{
	if (P->s >= P->end)
		return MS_ERROR(P->err, MS_EFORMAT, "%s:%d:%d: %s, but the file ends (truncated JSON?)", P->name, P->line,
				col(P), what);
	return MS_ERROR(P->err, MS_EFORMAT, "%s:%d:%d: %s, found '%c'", P->name, P->line, col(P), what,
			(unsigned char)*P->s >= 0x20 && (unsigned char)*P->s < 0x7f ? *P->s : '?');
}

static void skip_ws(parser *P)
{
	while (P->s < P->end && (*P->s == ' ' || *P->s == '\t' || *P->s == '\n' || *P->s == '\r')) {
		if (*P->s == '\n') {
			P->line++;
			P->line_start = P->s + 1;
		}
		P->s++;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends the UTF-8 encoding of code point cp. */
static size_t utf8(unsigned long cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int read_hex4(parser *P, unsigned long *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++) {
		int h = P->s < P->end ? hexval(*P->s) : -1;
		if (h < 0)
			return fail(P, "expected 4 hex digits after \\u");
		*cp = *cp * 16 + (unsigned long)h;
		P->s++;
	}
	return MS_OK;
}

/* A string at P->s (which is '"'); the decoded bytes in *out (malloc'd). */
static int parse_string(parser *P, char **out)
{
	const char *q;
	char *buf, *o;
	size_t cap;
	P->s++;
	/* The decoded text is never longer than the source. */
	for (q = P->s; q < P->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < P->end)
			q++;
	cap = (size_t)(q - P->s) + 1;
	buf = malloc(cap);
	if (!buf)
		return MS_ERROR(P->err, MS_ENOMEM, "out of memory reading %s", P->name);
	o = buf;
	for (;;) {
		unsigned char c;
		if (P->s >= P->end) {
			free(buf);
			return fail(P, "a string is not closed");
		}
		c = (unsigned char)*P->s++;
		if (c == '"')
			break;
		if (c < 0x20) {
			free(buf);
			P->s--;
			return fail(P, "a control character inside a string");
		}
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		if (P->s >= P->end) {
			free(buf);
			return fail(P, "an escape is not finished");
		}
		c = (unsigned char)*P->s++;
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned long cp, lo;
			int rc = read_hex4(P, &cp);
			if (rc < 0) {
				free(buf);
				return rc;
			}
			if (cp >= 0xD800 && cp < 0xDC00 && P->end - P->s >= 6 && P->s[0] == '\\' && P->s[1] == 'u') {
				P->s += 2;
				if ((rc = read_hex4(P, &lo)) < 0) {
					free(buf);
					return rc;
				}
				cp = lo >= 0xDC00 && lo < 0xE000 ? 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) : 0xFFFD;
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD;
			}
			/* 6 source bytes (\uXXXX) give at most 3 UTF-8 bytes; a pair (12) at most 4. */
			o += utf8(cp, o);
			break;
		}
		default:
			free(buf);
			P->s -= 2;
			return fail(P, "an unknown escape in a string");
		}
	}
	*o = '\0';
	*out = buf;
	return MS_OK;
}

static int parse_number(parser *P, double *v)
{
	const char *q = P->s;
	char tmp[64];
	size_t n;
	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (q < P->end && *q == '-')
		q++;
	if (q >= P->end || *q < '0' || *q > '9')
		return fail(P, "expected a value");
	if (*q == '0')
		q++;
	else
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	if (q < P->end && *q == '.') {
		q++;
		if (q >= P->end || *q < '0' || *q > '9')
			return fail(P, "expected digits after the decimal point");
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < P->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < P->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= P->end || *q < '0' || *q > '9')
			return fail(P, "expected digits in an exponent");
		while (q < P->end && *q >= '0' && *q <= '9')
			q++;
	}
	n = (size_t)(q - P->s);
	if (n >= sizeof tmp)
		return fail(P, "a number longer than 63 characters");
	memcpy(tmp, P->s, n);
	tmp[n] = '\0';
	errno = 0;
	*v = strtod(tmp, NULL);
	if (!isfinite(*v))
		return fail(P, "a number out of range");
	P->s = q;
	return MS_OK;
}

static int parse_value(parser *P, prof__json *v, int depth);

/* Appends an element slot to v's items (and keys); returns it zeroed, or NULL. */
static prof__json *grow(parser *P, prof__json *v, int *cap)
{
	if (v->n == *cap) {
		int nc = *cap ? 2 * *cap : 8;
		prof__json *ni = realloc(v->items, (size_t)nc * sizeof *ni);
		if (!ni)
			return NULL;
		v->items = ni;
		if (v->type == PROF__J_OBJ) {
			char **nk = realloc(v->keys, (size_t)nc * sizeof *nk);
			if (!nk)
				return NULL;
			v->keys = nk;
		}
		*cap = nc;
	}
	(void)P;
	memset(&v->items[v->n], 0, sizeof v->items[0]);
	if (v->type == PROF__J_OBJ)
		v->keys[v->n] = NULL;
	return &v->items[v->n++];
}

static int parse_container(parser *P, prof__json *v, int depth)
{
	int obj = *P->s == '{', cap = 0, rc;
	char close = obj ? '}' : ']';
	if (depth >= MAX_DEPTH)
		return fail(P, "nesting deeper than 64 levels");
	v->type = obj ? PROF__J_OBJ : PROF__J_ARR;
	P->s++;
	skip_ws(P);
	if (P->s < P->end && *P->s == close) {
		P->s++;
		return MS_OK;
	}
	for (;;) {
		prof__json *item;
		char *key = NULL;
		skip_ws(P);
		if (obj) {
			if (P->s >= P->end || *P->s != '"')
				return fail(P, "expected a \"key\" in an object");
			if ((rc = parse_string(P, &key)) < 0)
				return rc;
			skip_ws(P);
			if (P->s >= P->end || *P->s != ':') {
				free(key);
				return fail(P, "expected ':' after an object key");
			}
			P->s++;
		}
		item = grow(P, v, &cap);
		if (!item) {
			free(key);
			return MS_ERROR(P->err, MS_ENOMEM, "out of memory reading %s", P->name);
		}
		if (obj)
			v->keys[v->n - 1] = key;
		skip_ws(P);
		if ((rc = parse_value(P, item, depth + 1)) < 0)
			return rc;
		skip_ws(P);
		if (P->s < P->end && *P->s == ',') {
			P->s++;
			continue;
		}
		if (P->s < P->end && *P->s == close) {
			P->s++;
			return MS_OK;
		}
		return fail(P, obj ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
	}
}

static int literal(parser *P, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(P->end - P->s) < n || memcmp(P->s, word, n) != 0)
		return fail(P, "expected a value");
	P->s += n;
	return MS_OK;
}

static int parse_value(parser *P, prof__json *v, int depth)
{
	skip_ws(P);
	v->line = P->line;
	v->col = col(P);
	if (P->s >= P->end)
		return fail(P, "expected a value");
	switch (*P->s) {
	case '{':
	case '[': return parse_container(P, v, depth);
	case '"': v->type = PROF__J_STR; return parse_string(P, &v->str);
	case 't': v->type = PROF__J_BOOL; v->boolean = 1; return literal(P, "true");
	case 'f': v->type = PROF__J_BOOL; return literal(P, "false");
	case 'n': v->type = PROF__J_NULL; return literal(P, "null");
	default: v->type = PROF__J_NUM; return parse_number(P, &v->num);
	}
}

int prof__json_parse(const char *text, size_t len, const char *name, prof__json *out, ms_error *err)
{
	parser P = {text, text + len, name, 1, text, err};
	int rc;
	memset(out, 0, sizeof *out);
	rc = parse_value(&P, out, 0);
	if (rc == MS_OK) {
		skip_ws(&P);
		if (P.s < P.end)
			rc = fail(&P, "text after the end of the JSON value");
	}
	if (rc < 0) {
		prof__json_free(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

void prof__json_free(prof__json *v)
{
	if (!v)
		return;
	for (int i = 0; i < v->n; i++) {
		prof__json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	v->items = NULL;
	v->keys = NULL;
	v->str = NULL;
	v->n = 0;
}

const prof__json *prof__json_get(const prof__json *o, const char *key)
{
	if (!o || o->type != PROF__J_OBJ)
		return NULL;
	for (int i = 0; i < o->n; i++)
		if (o->keys[i] && strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}
