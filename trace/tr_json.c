/*
 * tr_json.c - recursive-descent JSON parser with bounded depth (see tr_json.h).
 * O(len) time; nodes and decoded text grow by doubling and are reused across lines.
 */
#include "trace/tr_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
	tr__json *j;
	const char *s;
	size_t len, pos;
} parser;

void tr__json_init(tr__json *j)
{
	memset(j, 0, sizeof *j);
}

void tr__json_free(tr__json *j)
{
	free(j->nodes);
	free(j->text);
	memset(j, 0, sizeof *j);
}

static int fail(parser *p, const char *what)
{
	snprintf(p->j->err, sizeof p->j->err, "column %zu: %s", p->pos + 1, what);
	return -1;
}

static void ws(parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int64_t new_node(parser *p, tr__json_type type)
{
	tr__json *j = p->j;
	if (j->n == j->cap) {
		int64_t nc = j->cap ? 2 * j->cap : 1024;
		void *q = realloc(j->nodes, (size_t)nc * sizeof *j->nodes);
		if (!q)
			return -1;
		j->nodes = q;
		j->cap = nc;
	}
	memset(&j->nodes[j->n], 0, sizeof j->nodes[j->n]);
	j->nodes[j->n].type = type;
	j->nodes[j->n].first = j->nodes[j->n].next = -1;
	return j->n++;
}

static int put_text(parser *p, const char *b, size_t n)
{
	tr__json *j = p->j;
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

static int hex4(parser *p, unsigned *v)
{
	*v = 0;
	if (p->pos + 4 > p->len)
		return fail(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "bad hex digit in \\u escape");
	}
	return 0;
}

/* Parses a string at p->pos (at the opening quote); its decoded text goes to j->text. */
static int string(parser *p, size_t *off, size_t *len)
{
	size_t start;
	p->pos++; /* opening quote */
	start = p->j->tlen;
	for (;;) {
		size_t run = p->pos;
		char c;
		while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' && (unsigned char)p->s[p->pos] >= 0x20)
			p->pos++;
		if (put_text(p, p->s + run, p->pos - run) < 0)
			return fail(p, "out of memory");
		if (p->pos >= p->len)
			return fail(p, "unterminated string");
		c = p->s[p->pos++];
		if (c == '"')
			break;
		if ((unsigned char)c < 0x20)
			return fail(p, "control character in a string");
		if (p->pos >= p->len)
			return fail(p, "unterminated escape");
		c = p->s[p->pos++];
		{
			char out[4];
			size_t n = 1;
			unsigned cp;
			switch (c) {
			case '"': out[0] = '"'; break;
			case '\\': out[0] = '\\'; break;
			case '/': out[0] = '/'; break;
			case 'b': out[0] = '\b'; break;
			case 'f': out[0] = '\f'; break;
			case 'n': out[0] = '\n'; break;
			case 'r': out[0] = '\r'; break;
			case 't': out[0] = '\t'; break;
			case 'u':
				if (hex4(p, &cp) < 0)
					return -1;
				if (cp >= 0xD800 && cp < 0xDC00) {
					unsigned lo;
					if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
						return fail(p, "unpaired surrogate in \\u escape");
					p->pos += 2;
					if (hex4(p, &lo) < 0)
						return -1;
					if (lo < 0xDC00 || lo >= 0xE000)
						return fail(p, "bad low surrogate in \\u escape");
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else if (cp >= 0xDC00 && cp < 0xE000) {
					return fail(p, "unpaired surrogate in \\u escape");
				}
				if (cp == 0)
					return fail(p, "\\u0000 in a string");
				if (cp < 0x80) {
					out[0] = (char)cp;
				} else if (cp < 0x800) {
					out[0] = (char)(0xC0 | (cp >> 6));
					out[1] = (char)(0x80 | (cp & 0x3F));
					n = 2;
				} else if (cp < 0x10000) {
					out[0] = (char)(0xE0 | (cp >> 12));
					out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
					out[2] = (char)(0x80 | (cp & 0x3F));
					n = 3;
				} else {
					out[0] = (char)(0xF0 | (cp >> 18));
					out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
					out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
					out[3] = (char)(0x80 | (cp & 0x3F));
					n = 4;
				}
				break;
			default:
				return fail(p, "unknown escape in a string");
			}
			if (put_text(p, out, n) < 0)
				return fail(p, "out of memory");
		}
	}
	*len = p->j->tlen - start;
	if (put_text(p, "", 1) < 0)
		return fail(p, "out of memory");
	*off = start;
	return 0;
}

static int number(parser *p, tr__json_node *v)
{
	size_t start = p->pos;
	int frac = 0;
	char buf[64];
	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return fail(p, "expected a value");
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		frac = 1;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, "expected a digit after '.'");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		frac = 1;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, "expected a digit in the exponent");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof buf)
		return fail(p, "number too long");
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = '\0';
	v->d = strtod(buf, NULL);
	if (!frac) {
		/* Exact integer unless it overflows int64. */
		const char *q = buf;
		int neg = *q == '-';
		uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		int ok = 1;
		q += neg;
		for (; *q; q++) {
			unsigned dgt = (unsigned)(*q - '0');
			if (acc > (lim - dgt) / 10) {
				ok = 0;
				break;
			}
			acc = acc * 10 + dgt;
		}
		if (ok) {
			v->is_int = 1;
			v->i = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
		}
	}
	return 0;
}

static int literal(parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "expected a value");
	p->pos += n;
	return 0;
}

static int value(parser *p, int64_t *out, int depth);

static int container(parser *p, int64_t self, int is_obj, int depth)
{
	int64_t last = -1;
	size_t count = 0;
	char close = is_obj ? '}' : ']';
	p->pos++;
	ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		size_t key = 0, klen;
		int64_t child;
		ws(p);
		if (is_obj) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, "expected a member name in quotes");
			if (string(p, &key, &klen) < 0)
				return -1;
			ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, "expected ':'");
			p->pos++;
		}
		if (value(p, &child, depth + 1) < 0)
			return -1;
		p->j->nodes[child].key = key;
		if (last < 0)
			p->j->nodes[self].first = child;
		else
			p->j->nodes[last].next = child;
		last = child;
		count++;
		ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			break;
		}
		return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	p->j->nodes[self].len = count;
	return 0;
}

static int value(parser *p, int64_t *out, int depth)
{
	int64_t self;
	char c;
	if (depth > MAX_DEPTH)
		return fail(p, "nested too deeply");
	ws(p);
	if (p->pos >= p->len)
		return fail(p, "expected a value");
	c = p->s[p->pos];
	self = new_node(p, TJ_NULL);
	if (self < 0)
		return fail(p, "out of memory");
	*out = self;
	switch (c) {
	case '{':
		p->j->nodes[self].type = TJ_OBJECT;
		return container(p, self, 1, depth);
	case '[':
		p->j->nodes[self].type = TJ_ARRAY;
		return container(p, self, 0, depth);
	case '"': {
		size_t off, len;
		if (string(p, &off, &len) < 0)
			return -1;
		p->j->nodes[self].type = TJ_STRING;
		p->j->nodes[self].str = off;
		p->j->nodes[self].len = len;
		return 0;
	}
	case 't':
		p->j->nodes[self].type = TJ_TRUE;
		return literal(p, "true");
	case 'f':
		p->j->nodes[self].type = TJ_FALSE;
		return literal(p, "false");
	case 'n':
		return literal(p, "null");
	default:
		p->j->nodes[self].type = TJ_NUMBER;
		return number(p, &p->j->nodes[self]);
	}
}

int tr__json_parse(tr__json *j, const char *s, size_t len)
{
	parser p = {j, s, len, 0};
	int64_t root;
	j->n = 0;
	j->tlen = 0;
	j->err[0] = '\0';
	if (put_text(&p, "", 1) < 0) /* offset 0 is the empty string (keys of array elements) */
		return fail(&p, "out of memory");
	if (value(&p, &root, 0) < 0)
		return -1;
	ws(&p);
	if (p.pos != p.len)
		return fail(&p, "unexpected text after the value");
	return 0;
}

const tr__json_node *tr__json_get(const tr__json *j, const tr__json_node *obj, const char *key)
{
	if (!obj || obj->type != TJ_OBJECT)
		return NULL;
	for (int64_t c = obj->first; c >= 0; c = j->nodes[c].next)
		if (strcmp(j->text + j->nodes[c].key, key) == 0)
			return &j->nodes[c];
	return NULL;
}

const tr__json_node *tr__json_first(const tr__json *j, const tr__json_node *v)
{
	return v && v->first >= 0 ? &j->nodes[v->first] : NULL;
}

const tr__json_node *tr__json_next(const tr__json *j, const tr__json_node *v)
{
	return v && v->next >= 0 ? &j->nodes[v->next] : NULL;
}
