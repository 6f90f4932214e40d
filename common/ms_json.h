/*
 * ms_json.h - the one JSON reader of moesim (RFC 8259), for every input another tool
 * writes as JSON: the trace importers (one JSONL line or one vLLM response at a time,
 * trace/tr_import_*.c) and nccl-tests' -J output (profile/prof_nccl.c).
 *
 * A parsed document is an array of nodes in document order; the children of an array or
 * object are linked by `next` indices, so walking a 100,000-element array is a linear
 * scan and a document costs one allocation of nodes and one of decoded text, both reused
 * by the next parse into the same ms_json (JSONL files parse a line at a time without
 * allocating). A DOM rather than a streaming (SAX) interface: the importers look members
 * up by name in any order, and records are small.
 *
 * What it accepts is exactly the standard: objects, arrays, strings, numbers, true, false,
 * null, surrounded by white space and nothing else. Deliberately stricter than RFC 8259
 * in three places, each an error naming line and column rather than a value moesim would
 * misread: a number that does not fit a double (1e999), an unpaired UTF-16 surrogate
 * (\uD800 alone) and \u0000 (strings here are NUL-terminated, so it would cut the string
 * short). Bytes >= 0x80 pass through undecoded (no UTF-8 validation: names are compared
 * byte for byte).
 *
 * Invariants after ms_json_parse succeeds: node 0 is the root; every node's line and col
 * (1-based, col in bytes) are where its value starts; an integer literal within int64 has
 * is_int set and its exact value in i (d holds the nearest double for every number);
 * decoded strings are NUL-terminated and hold no NUL; a key is "" for nodes that are not
 * object members. Nesting is limited to MS_JSON_MAX_DEPTH containers, so hostile input
 * cannot exhaust the stack. The parser never reads past len bytes. O(len) time.
 */
#ifndef MS_JSON_H
#define MS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"

#define MS_JSON_MAX_DEPTH 64 /* nested arrays and objects */

typedef enum ms_json_type {
	MS_JSON_NULL,
	MS_JSON_FALSE,
	MS_JSON_TRUE,
	MS_JSON_NUMBER,
	MS_JSON_STRING,
	MS_JSON_ARRAY,
	MS_JSON_OBJECT
} ms_json_type;

typedef struct ms_json_node {
	ms_json_type type;
	int line, col;     /* where the value starts, 1-based (col in bytes from the line start) */
	int is_int;        /* NUMBER: an integer literal (no fraction, no exponent) within int64 */
	int64_t i;         /* NUMBER: the exact value when is_int */
	double d;          /* NUMBER: the value (the nearest double), always finite */
	size_t str, len;   /* STRING: offset of the decoded text in the document's text; its bytes */
	size_t key;        /* member of an OBJECT: offset of its decoded name; else the offset of "" */
	size_t count;      /* ARRAY, OBJECT: number of children */
	int64_t first;     /* ARRAY, OBJECT: index of the first child, -1 if none */
	int64_t next;      /* index of the next sibling, -1 at the end */
} ms_json_node;

typedef struct ms_json {
	ms_json_node *nodes; /* [n]; nodes[0] is the root */
	int64_t n, cap;
	char *text;          /* decoded strings and keys, each NUL-terminated */
	size_t tlen, tcap;
} ms_json;

/* An empty document (nothing allocated); pair with ms_json_fini. */
void ms_json_init(ms_json *j);

/* Frees what the document holds; it is empty (and reusable) afterwards. */
void ms_json_fini(ms_json *j);

/*
 * Parses text[0..len) (one value, white space around it allowed) into j, replacing what j
 * held; node pointers from an earlier parse are then invalid. name and line are for
 * messages: text is the whole file `name` when line is MS_JSON_FILE (0), or line `line`
 * (>= 1) of it, one JSONL record. On bad input returns MS_EFORMAT with "NAME:LINE:COL:
 * what is wrong, found 'x'" (or ", but the file ends (truncated JSON?)", "the line ends"
 * for a record) in err; MS_ENOMEM when memory runs out. err may be NULL (for a parse that
 * only probes whether text is JSON).
 */
#define MS_JSON_FILE 0
int ms_json_parse(ms_json *j, const char *text, size_t len, const char *name, int line, ms_error *err);

/* The root after a successful parse, else NULL. */
const ms_json_node *ms_json_root(const ms_json *j);

/* Member `key` of an object node (the first, if the name repeats); NULL when v is NULL,
 * not an object, or has no such member. */
const ms_json_node *ms_json_get(const ms_json *j, const ms_json_node *obj, const char *key);

/* First child of an array or object, and next sibling; NULL when none (or v is NULL). */
const ms_json_node *ms_json_first(const ms_json *j, const ms_json_node *v);
const ms_json_node *ms_json_next(const ms_json *j, const ms_json_node *v);

/* The decoded text of a STRING node, and the name of an object member. */
static inline const char *ms_json_str(const ms_json *j, const ms_json_node *v)
{
	return j->text + v->str;
}

static inline const char *ms_json_key(const ms_json *j, const ms_json_node *v)
{
	return j->text + v->key;
}

/* Writes s as a JSON string, quotes included: '"', '\\' and control characters escaped,
 * other bytes (UTF-8) as they are (RFC 8259 section 7). */
void ms_json_write_string(FILE *f, const char *s);

#endif
