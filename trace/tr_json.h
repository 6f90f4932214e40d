/*
 * tr_json.h - internal to trace/: a small JSON parser for the importers (one JSONL line
 * at a time). RFC 8259 values; numbers keep their exact int64 value when they are
 * integers; strings are decoded (escapes, \u with surrogate pairs, to UTF-8).
 *
 * A document is an array of nodes; children are linked by `next` indices in document
 * order, so walking a 100,000-element array is a linear scan. Nesting is limited to 64
 * levels (no recursion blow-up on hostile input). The parser never reads past len bytes.
 */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum tr__json_type { TJ_NULL, TJ_FALSE, TJ_TRUE, TJ_NUMBER, TJ_STRING, TJ_ARRAY, TJ_OBJECT } tr__json_type;

typedef struct tr__json_node {
	tr__json_type type;
	int is_int;        /* NUMBER: an integer literal within int64 */
	int64_t i;         /* NUMBER: value when is_int */
	double d;          /* NUMBER: value */
	size_t str;        /* STRING: offset of the decoded, NUL-terminated text in doc->text */
	size_t len;        /* STRING: bytes; ARRAY/OBJECT: children */
	size_t key;        /* member of an OBJECT: offset of its decoded key in doc->text */
	int64_t first;     /* ARRAY/OBJECT: first child, -1 if none */
	int64_t next;      /* next sibling, -1 at the end */
} tr__json_node;

typedef struct tr__json {
	tr__json_node *nodes;
	int64_t n, cap;
	char *text;        /* decoded strings */
	size_t tlen, tcap;
	char err[160];     /* after a failed parse: "column 17: expected ':'" */
} tr__json;

void tr__json_init(tr__json *j);
void tr__json_free(tr__json *j);

/* Parses one value (surrounding white space allowed, nothing else). Root is node 0. 0 or -1. */
int tr__json_parse(tr__json *j, const char *s, size_t len);

/* Member `key` of an object node, or NULL. */
const tr__json_node *tr__json_get(const tr__json *j, const tr__json_node *obj, const char *key);

/* First child and next sibling, or NULL. */
const tr__json_node *tr__json_first(const tr__json *j, const tr__json_node *v);
const tr__json_node *tr__json_next(const tr__json *j, const tr__json_node *v);

static inline const char *tr__json_str(const tr__json *j, const tr__json_node *v)
{
	return j->text + v->str;
}

#endif
