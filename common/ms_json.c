/*
 * ms_json.c - recursive-descent JSON parser with bounded depth (see ms_json.h).
 *
 * One pass over the text: O(len) time. Nodes and decoded text live in two arrays that
 * grow by doubling and are kept from one parse to the next; the parser refers to nodes by
 * index while it runs (the array may move), and hands out pointers only once it is done.
 * Every error goes through fail() or fail_at(), which put the position in the message.
 */
#include "common/ms_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
	ms_json *j;
	const char *s;
	size_t len, pos;
	const char *name;
	const char *unit;  /* what ends with the text: "file" or "line" */
	int line;          /* of pos */
	size_t line_start; /* offset of the first byte of that line */
	ms_error *err;
} parser;

void ms_json_init(ms_json *j)
{
	memset(j, 0, sizeof *j);
}

void ms_json_fini(ms_json *j)
{
	free(j->nodes);
	free(j->text);
	memset(j, 0, sizeof *j);
}

static int col_of(const parser *p, size_t pos)
{
	return (int)(pos - p->line_start) + 1;
}

/* What is wrong at byte `pos` (on the current line); show the byte found there unless the
 * message already names it. */
static int fail_at(parser *p, size_t pos, const char *what, int show_found)
{
	unsigned char c;
	if (pos >= p->len)
		return MS_ERROR(p->err, MS_EFORMAT, "%s:%d:%d: %s, but the %s ends (truncated JSON?)", p->name, p->line,
				col_of(p, pos), what, p->unit);
	c = (unsigned char)p->s[pos];
	if (!show_found)
		return MS_ERROR(p->err, MS_EFORMAT, "%s:%d:%d: %s", p->name, p->line, col_of(p, pos), what);
	return MS_ERROR(p->err, MS_EFORMAT, "%s:%d:%d: %s, found '%c'", p->name, p->line, col_of(p, pos), what,
			c >= 0x20 && c < 0x7f ? (char)c : '?');
}

static int fail(parser *p, const char *what)
{
	return fail_at(p, p->pos, what, 1);
}

static int nomem(parser *p)
{
	return MS_ERROR(p->err, MS_ENOMEM, "out of memory parsing the JSON of %s", p->name);
}

static void skip_ws(parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c == '\n') {
			p->line++;
			p->line_start = p->pos + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		p->pos++;
	}
}

static int64_t new_node(parser *p)
{
	ms_json *j = p->j;
	ms_json_node *v;
	if (j->n == j->cap) {
		int64_t nc = j->cap ? 2 * j->cap : 256;
		void *q = realloc(j->nodes, (size_t)nc * sizeof *j->nodes);
		if (!q)
			return -1;
		j->nodes = q;
		j->cap = nc;
	}
	v = &j->nodes[j->n];
	memset(v, 0, sizeof *v);
	v->first = v->next = -1;
	v->line = p->line;
	v->col = col_of(p, p->pos);
	return j->n++;
}

static int put_text(ms_json *j, const char *b, size_t n)
{
	if (j->tlen + n + 1 > j->tcap) {
		size_t nc = j->tcap ? j->tcap : 4096;
		void *q;
		while (nc < j->tlen + n + 1)
			nc *= 2;
		q = realloc(j->text, nc);
		if (!q)
			return -1;
		j->text = q;
		j->tcap = nc;
	}
	memcpy(j->text + j->tlen, b, n);
	j->tlen += n;
	return 0;
}

/* Four hex digits at p->pos into *v. */
static int hex4(parser *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++, p->pos++) {
		char c = p->pos < p->len ? p->s[p->pos] : '\0';
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "expected 4 hex digits after \\u");
	}
	return MS_OK;
}

/* The UTF-8 encoding of code point cp (< 0x110000) into o; its length. */
static size_t utf8(unsigned cp, char *o)
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

/* A \u escape, p->pos just after the 'u' (esc: offset of its backslash): a code point, or
 * a surrogate pair spelt as two escapes, appended as UTF-8. */
static int unicode_escape(parser *p, size_t esc)
{
	char out[4];
	unsigned cp, lo;
	int rc;
	if ((rc = hex4(p, &cp)) < 0)
		return rc;
	if (cp >= 0xDC00 && cp < 0xE000)
		return fail_at(p, esc, "a low surrogate \\u escape without the high one before it", 0);
	if (cp >= 0xD800 && cp < 0xDC00) {
		size_t esc2 = p->pos;
		if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return fail_at(p, esc, "a high surrogate \\u escape without the low one after it", 0);
		p->pos += 2;
		if ((rc = hex4(p, &lo)) < 0)
			return rc;
		if (lo < 0xDC00 || lo >= 0xE000)
			return fail_at(p, esc2, "a high surrogate \\u escape followed by an escape that is not a low one", 0);
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp == 0)
		return fail_at(p, esc, "\\u0000 in a string (moesim's strings end at the first NUL)", 0);
	return put_text(p->j, out, utf8(cp, out)) < 0 ? nomem(p) : MS_OK;
}

/* A string at p->pos (the opening quote); its decoded text is appended to j->text. */
static int string(parser *p, size_t *off, size_t *len)
{
	ms_json *j = p->j;
	size_t start = j->tlen;
	p->pos++;
	for (;;) {
		size_t run = p->pos, esc;
		unsigned char c;
		char out;
		while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' && (unsigned char)p->s[p->pos] >= 0x20)
			p->pos++;
		if (put_text(j, p->s + run, p->pos - run) < 0)
			return nomem(p);
		if (p->pos >= p->len)
			return fail(p, "a string is not closed");
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			char what[64];
			snprintf(what, sizeof what, "a control character (byte 0x%02x) inside a string", c);
			return fail_at(p, p->pos, what, 0);
		}
		esc = p->pos++;
		if (p->pos >= p->len)
			return fail(p, "an escape is not finished");
		switch (p->s[p->pos++]) {
		case '"': out = '"'; break;
		case '\\': out = '\\'; break;
		case '/': out = '/'; break;
		case 'b': out = '\b'; break;
		case 'f': out = '\f'; break;
		case 'n': out = '\n'; break;
		case 'r': out = '\r'; break;
		case 't': out = '\t'; break;
		case 'u': {
			int rc = unicode_escape(p, esc);
			if (rc < 0)
				return rc;
			continue;
		}
		default: {
			char what[64];
			unsigned char e = (unsigned char)p->s[p->pos - 1];
			snprintf(what, sizeof what, "an unknown escape in a string ('\\%c')", e >= 0x20 && e < 0x7f ? (char)e : '?');
			return fail_at(p, esc, what, 0);
		}
		}
		if (put_text(j, &out, 1) < 0)
			return nomem(p);
	}
	*len = j->tlen - start;
	if (put_text(j, "", 1) < 0)
		return nomem(p);
	*off = start;
	return MS_OK;
}

static int digits(parser *p)
{
	size_t start = p->pos;
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
	return p->pos > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at p->pos. */
static int number(parser *p, ms_json_node *v)
{
	size_t start = p->pos, n;
	int whole = 1;
	char buf[64];
	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return fail(p, "expected a value");
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		digits(p);
	if (p->pos < p->len && p->s[p->pos] == '.') {
		whole = 0;
		p->pos++;
		if (!digits(p))
			return fail(p, "expected digits after the decimal point");
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		whole = 0;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!digits(p))
			return fail(p, "expected digits in an exponent");
	}
	n = p->pos - start;
	if (n >= sizeof buf)
		return fail_at(p, start, "a number longer than 63 characters", 0);
	memcpy(buf, p->s + start, n);
	buf[n] = '\0';
	v->d = strtod(buf, NULL);
	if (!isfinite(v->d))
		return fail_at(p, start, "a number out of range (beyond a double's)", 0);
	if (whole) {
		/* Exact unless it overflows int64 (then only d holds it). */
		const char *q = buf;
		int neg = *q == '-';
		uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (q += neg; *q; q++) {
			unsigned dgt = (unsigned)(*q - '0');
			if (acc > (lim - dgt) / 10)
				return MS_OK;
			acc = acc * 10 + dgt;
		}
		v->is_int = 1;
		v->i = !neg ? (int64_t)acc : acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
	}
	return MS_OK;
}

static int literal(parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "expected a value");
	p->pos += n;
	return MS_OK;
}

static int value(parser *p, int64_t *out, int depth);

/* An array or object at p->pos; self is its node, depth its nesting (the root's is 1). */
static int container(parser *p, int64_t self, int depth)
{
	int obj = p->s[p->pos] == '{';
	char close = obj ? '}' : ']';
	int64_t last = -1;
	size_t count = 0;
	if (depth > MS_JSON_MAX_DEPTH)
		return fail_at(p, p->pos, "nesting deeper than 64 levels", 0);
	p->j->nodes[self].type = obj ? MS_JSON_OBJECT : MS_JSON_ARRAY;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return MS_OK;
	}
	for (;;) {
		size_t key = 0, klen;
		int64_t child;
		int rc;
		skip_ws(p);
		if (obj) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, "expected a \"key\" in an object");
			if ((rc = string(p, &key, &klen)) < 0)
				return rc;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, "expected ':' after an object key");
			p->pos++;
		}
		if ((rc = value(p, &child, depth)) < 0)
			return rc;
		p->j->nodes[child].key = key;
		if (last < 0)
			p->j->nodes[self].first = child;
		else
			p->j->nodes[last].next = child;
		last = child;
		count++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			break;
		}
		return fail(p, obj ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
	}
	p->j->nodes[self].count = count;
	return MS_OK;
}

/* One value; depth counts the containers around it. */
static int value(parser *p, int64_t *out, int depth)
{
	int64_t self;
	ms_json_node *v;
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, "expected a value");
	if ((self = new_node(p)) < 0)
		return nomem(p);
	*out = self;
	v = &p->j->nodes[self];
	switch (p->s[p->pos]) {
	case '{':
	case '[': return container(p, self, depth + 1);
	case '"': {
		size_t off, len;
		int rc = string(p, &off, &len);
		if (rc < 0)
			return rc;
		v->type = MS_JSON_STRING;
		v->str = off;
		v->len = len;
		return MS_OK;
	}
	case 't': v->type = MS_JSON_TRUE; return literal(p, "true");
	case 'f': v->type = MS_JSON_FALSE; return literal(p, "false");
	case 'n': v->type = MS_JSON_NULL; return literal(p, "null");
	default: v->type = MS_JSON_NUMBER; return number(p, v);
	}
}

int ms_json_parse(ms_json *j, const char *text, size_t len, const char *name, int line, ms_error *err)
{
	parser p = {j, text, len, 0, name ? name : "JSON", line > 0 ? "line" : "file", line > 0 ? line : 1, 0, err};
	int64_t root;
	int rc;
	j->n = 0;
	j->tlen = 0;
	if (put_text(j, "", 1) < 0) /* offset 0: the empty string, the key of non-members */
		return nomem(&p);
	rc = value(&p, &root, 0);
	if (rc == MS_OK) {
		skip_ws(&p);
		if (p.pos != p.len)
			rc = fail(&p, "text after the end of the JSON value");
	}
	if (rc < 0)
		j->n = 0;
	return rc;
}

const ms_json_node *ms_json_root(const ms_json *j)
{
	return j->n > 0 ? &j->nodes[0] : NULL;
}

const ms_json_node *ms_json_get(const ms_json *j, const ms_json_node *obj, const char *key)
{
	if (!obj || obj->type != MS_JSON_OBJECT)
		return NULL;
	for (int64_t c = obj->first; c >= 0; c = j->nodes[c].next)
		if (strcmp(j->text + j->nodes[c].key, key) == 0)
			return &j->nodes[c];
	return NULL;
}

const ms_json_node *ms_json_first(const ms_json *j, const ms_json_node *v)
{
	return v && v->first >= 0 ? &j->nodes[v->first] : NULL;
}

const ms_json_node *ms_json_next(const ms_json *j, const ms_json_node *v)
{
	return v && v->next >= 0 ? &j->nodes[v->next] : NULL;
}

void ms_json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
