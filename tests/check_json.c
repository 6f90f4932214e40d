/*
 * check_json.c - the JSON reader (common/ms_json.h) against hand-built inputs and a
 * generated oracle: structure and positions of a hand-made document, every escape
 * (\u with surrogate pairs) against UTF-8 bytes worked out by hand, numbers at the limits
 * of int64 and double (the oracle for doubles is strtod on the same literal), nesting at
 * and past the limit, every syntax error with its exact message, reuse of one document
 * across parses, and random documents written by a seeded generator that knows the tree
 * it wrote (random white space, escapes and raw UTF-8) parsed back and compared.
 *
 * Not provoked: running out of memory (MS_ENOMEM), which would need a failing allocator.
 */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_json.h"
#include "test_util.h"

static int parse(ms_json *j, const char *text, ms_error *err)
{
	ms_error_clear(err);
	return ms_json_parse(j, text, strlen(text), "t.json", MS_JSON_FILE, err);
}

START_TEST(json_structure_and_positions)
{
	static const char text[] = "{\n"
				   "  \"a\": [1, {\"b\": null}, true, false],\n"
				   "  \"c\" : \"x\",\n"
				   "  \"\": -2,\n"
				   "  \"a\": 7\n"
				   "}\n";
	ms_json j;
	ms_error err;
	const ms_json_node *root, *a, *e, *c, *empty;
	ms_json_init(&j);
	ck_assert_int_eq(parse(&j, text, &err), MS_OK);
	root = ms_json_root(&j);
	ck_assert_int_eq(root->type, MS_JSON_OBJECT);
	ck_assert_uint_eq(root->count, 4);
	ck_assert(root->line == 1 && root->col == 1);
	/* A repeated name: the first member wins. */
	a = ms_json_get(&j, root, "a");
	ck_assert_int_eq(a->type, MS_JSON_ARRAY);
	ck_assert_uint_eq(a->count, 4);
	ck_assert(a->line == 2 && a->col == 8);
	ck_assert_str_eq(ms_json_key(&j, a), "a");
	e = ms_json_first(&j, a);
	ck_assert(e->type == MS_JSON_NUMBER && e->is_int && e->i == 1 && e->d == 1.0);
	ck_assert(e->line == 2 && e->col == 9);
	ck_assert_str_eq(ms_json_key(&j, e), ""); /* array elements have no name */
	e = ms_json_next(&j, e);
	ck_assert_int_eq(e->type, MS_JSON_OBJECT);
	ck_assert_int_eq(ms_json_get(&j, e, "b")->type, MS_JSON_NULL);
	ck_assert_int_eq(ms_json_get(&j, e, "b")->col, 18);
	ck_assert_ptr_null(ms_json_get(&j, e, "c"));
	e = ms_json_next(&j, e);
	ck_assert_int_eq(e->type, MS_JSON_TRUE);
	e = ms_json_next(&j, e);
	ck_assert_int_eq(e->type, MS_JSON_FALSE);
	ck_assert_ptr_null(ms_json_next(&j, e));
	c = ms_json_get(&j, root, "c");
	ck_assert(c->type == MS_JSON_STRING && c->len == 1 && c->line == 3 && c->col == 9);
	ck_assert_str_eq(ms_json_str(&j, c), "x");
	empty = ms_json_get(&j, root, "");
	ck_assert(empty && empty->type == MS_JSON_NUMBER && empty->i == -2);
	/* Lookups on what is not an object, and walks of what has no children. */
	ck_assert_ptr_null(ms_json_get(&j, a, "a"));
	ck_assert_ptr_null(ms_json_get(&j, NULL, "a"));
	ck_assert_ptr_null(ms_json_first(&j, c));
	ck_assert_ptr_null(ms_json_first(&j, NULL));
	ck_assert_ptr_null(ms_json_next(&j, NULL));
	/* Empty containers, scalars at the root, all four white-space characters. */
	ck_assert_int_eq(parse(&j, " \t\r\n[ ]\n", &err), MS_OK);
	root = ms_json_root(&j);
	ck_assert(root->type == MS_JSON_ARRAY && root->count == 0 && root->first == -1 && root->line == 2);
	ck_assert_int_eq(parse(&j, "{}", &err), MS_OK);
	ck_assert(ms_json_root(&j)->type == MS_JSON_OBJECT && ms_json_root(&j)->count == 0);
	ck_assert_int_eq(parse(&j, "null", &err), MS_OK);
	ck_assert_int_eq(ms_json_root(&j)->type, MS_JSON_NULL);
	ck_assert_int_eq(parse(&j, "\"\"", &err), MS_OK);
	ck_assert(ms_json_root(&j)->type == MS_JSON_STRING && ms_json_root(&j)->len == 0);
	/* The first line's number is the caller's (line N of a JSONL file). */
	ck_assert_int_eq(ms_json_parse(&j, "{\"k\":\n 5}", 9, "x.jsonl", 41, &err), MS_OK);
	e = ms_json_get(&j, ms_json_root(&j), "k");
	ck_assert(e->line == 42 && e->col == 2);
	ms_json_fini(&j);
}
END_TEST

START_TEST(json_escapes)
{
	static const struct {
		const char *text;
		const char *bytes;
		size_t len;
	} cases[] = {
		{"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
		{"\"\\u0041\\u0001\\u007f\"", "A\x01\x7f", 3},
		{"\"\\u0080\\u07FF\"", "\xc2\x80\xdf\xbf", 4},          /* 2-byte limits */
		{"\"\\u0800\\uffff\\u20AC\"", "\xe0\xa0\x80\xef\xbf\xbf\xe2\x82\xac", 9}, /* 3-byte */
		{"\"\\u00e9t\\u00C9\"", "\xc3\xa9t\xc3\x89", 5},        /* either case of hex */
		{"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4},          /* U+1F600, a surrogate pair */
		{"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4},          /* U+10000, the first pair */
		{"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},          /* U+10FFFF, the last */
		{"\"a\\uE000b\"", "a\xee\x80\x80" "b", 5},            /* just past the surrogates */
		{"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xf0\x9f\x98\x80", 10}, /* raw UTF-8 */
		{"\"\x7f\xff\"", "\x7f\xff", 2},                        /* bytes >= 0x7f pass through */
	};
	ms_json j;
	ms_error err;
	ms_json_init(&j);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const ms_json_node *v;
		ck_assert_msg(parse(&j, cases[i].text, &err) == MS_OK, "case %zu: %s", i, err.msg);
		v = ms_json_root(&j);
		ck_assert_int_eq(v->type, MS_JSON_STRING);
		ck_assert_msg(v->len == cases[i].len, "case %zu: %zu bytes, want %zu", i, v->len, cases[i].len);
		ck_assert_msg(memcmp(ms_json_str(&j, v), cases[i].bytes, v->len) == 0, "case %zu: wrong bytes", i);
		ck_assert_int_eq(ms_json_str(&j, v)[v->len], '\0');
	}
	/* Keys are decoded the same way. */
	ck_assert_int_eq(parse(&j, "{\"\\u00e9\\n\": 1}", &err), MS_OK);
	ck_assert_ptr_nonnull(ms_json_get(&j, ms_json_root(&j), "\xc3\xa9\n"));
	ms_json_fini(&j);
}
END_TEST

START_TEST(json_numbers_at_limits)
{
	static const struct {
		const char *text;
		int is_int;
		int64_t i;
	} cases[] = {
		{"0", 1, 0},
		{"-0", 1, 0},
		{"2385", 1, 2385},
		{"-2385", 1, -2385},
		{"9223372036854775807", 1, INT64_MAX},
		{"-9223372036854775808", 1, INT64_MIN},
		{"9223372036854775808", 0, 0},  /* INT64_MAX + 1: only the double */
		{"-9223372036854775809", 0, 0}, /* INT64_MIN - 1 */
		{"18446744073709551616", 0, 0},
		{"1.0", 0, 0},                  /* a fraction or exponent is never an integer */
		{"1e2", 0, 0},
		{"1E+2", 0, 0},
		{"2.385e-3", 0, 0},
		{"-0.5E-0", 0, 0},
		{"1.7976931348623157e308", 0, 0},  /* DBL_MAX */
		{"-1.7976931348623157e308", 0, 0},
		{"4.9406564584124654e-324", 0, 0}, /* the smallest subnormal */
		{"1e-400", 0, 0},                  /* underflows to 0: finite, accepted */
		{"123456789012345678901234567890123456789012345678901234567890123", 0, 0}, /* 63 characters */
	};
	ms_json j;
	ms_error err;
	ms_json_init(&j);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const ms_json_node *v;
		ck_assert_msg(parse(&j, cases[i].text, &err) == MS_OK, "case %zu: %s", i, err.msg);
		v = ms_json_root(&j);
		ck_assert_int_eq(v->type, MS_JSON_NUMBER);
		ck_assert_msg(v->is_int == cases[i].is_int, "case %zu: is_int %d", i, v->is_int);
		if (v->is_int)
			ck_assert_msg(v->i == cases[i].i, "case %zu: %lld", i, (long long)v->i);
		ck_assert_msg(v->d == strtod(cases[i].text, NULL), "case %zu: %.17g", i, v->d);
	}
	ms_json_fini(&j);
}
END_TEST

START_TEST(json_nesting_limit)
{
	char text[2 * (MS_JSON_MAX_DEPTH + 1) + 1];
	ms_json j;
	ms_error err;
	const ms_json_node *v;
	int depth = 0;
	ms_json_init(&j);
	/* 64 nested arrays parse ... */
	memset(text, '[', MS_JSON_MAX_DEPTH);
	memset(text + MS_JSON_MAX_DEPTH, ']', MS_JSON_MAX_DEPTH);
	text[2 * MS_JSON_MAX_DEPTH] = '\0';
	ck_assert_int_eq(parse(&j, text, &err), MS_OK);
	for (v = ms_json_root(&j); v; v = ms_json_first(&j, v))
		depth++;
	ck_assert_int_eq(depth, MS_JSON_MAX_DEPTH);
	/* ... 65 do not, and the message points at the 65th. */
	memset(text, '[', MS_JSON_MAX_DEPTH + 1);
	memset(text + MS_JSON_MAX_DEPTH + 1, ']', MS_JSON_MAX_DEPTH + 1);
	text[2 * (MS_JSON_MAX_DEPTH + 1)] = '\0';
	ck_assert_int_eq(parse(&j, text, &err), MS_EFORMAT);
	ck_assert_str_eq(err.msg, "t.json:1:65: nesting deeper than 64 levels");
	/* Objects count the same: 64 levels of {"a": ...}. */
	{
		char obj[64 * 6 + 64 + 8], *o = obj;
		for (int i = 0; i < MS_JSON_MAX_DEPTH; i++)
			o += sprintf(o, "{\"a\":");
		o += sprintf(o, "1");
		for (int i = 0; i < MS_JSON_MAX_DEPTH; i++)
			*o++ = '}';
		*o = '\0';
		ck_assert_int_eq(parse(&j, obj, &err), MS_OK);
	}
	ms_json_fini(&j);
}
END_TEST

START_TEST(json_every_error)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"", "t.json:1:1: expected a value, but the file ends (truncated JSON?)"},
		{" \n  ", "t.json:2:3: expected a value, but the file ends (truncated JSON?)"},
		{"[1,]", "t.json:1:4: expected a value, found ']'"},
		{"[1 2]", "t.json:1:4: expected ',' or ']' in an array, found '2'"},
		{"[1", "t.json:1:3: expected ',' or ']' in an array, but the file ends (truncated JSON?)"},
		{"{\"a\" 1}", "t.json:1:6: expected ':' after an object key, found '1'"},
		{"{1:2}", "t.json:1:2: expected a \"key\" in an object, found '1'"},
		{"{\"a\":1,}", "t.json:1:8: expected a \"key\" in an object, found '}'"},
		{"{\"a\":1 \"b\":2}", "t.json:1:8: expected ',' or '}' in an object, found '\"'"},
		{"{\"a\":", "t.json:1:6: expected a value, but the file ends (truncated JSON?)"},
		{"tru", "t.json:1:1: expected a value, found 't'"},
		{"nul", "t.json:1:1: expected a value, found 'n'"},
		{"falsy", "t.json:1:1: expected a value, found 'f'"},
		{"True", "t.json:1:1: expected a value, found 'T'"},
		{"[\x01]", "t.json:1:2: expected a value, found '?'"},
		{"\f1", "t.json:1:1: expected a value, found '?'"}, /* form feed is not white space */
		{"-", "t.json:1:2: expected a value, but the file ends (truncated JSON?)"},
		{"-x", "t.json:1:2: expected a value, found 'x'"},
		{"+1", "t.json:1:1: expected a value, found '+'"},
		{".5", "t.json:1:1: expected a value, found '.'"},
		{"01", "t.json:1:2: text after the end of the JSON value, found '1'"},
		{"1.", "t.json:1:3: expected digits after the decimal point, but the file ends (truncated JSON?)"},
		{"1.e5", "t.json:1:3: expected digits after the decimal point, found 'e'"},
		{"1e", "t.json:1:3: expected digits in an exponent, but the file ends (truncated JSON?)"},
		{"1e+", "t.json:1:4: expected digits in an exponent, but the file ends (truncated JSON?)"},
		{"[1E-x]", "t.json:1:5: expected digits in an exponent, found 'x'"},
		{"[1234567890123456789012345678901234567890123456789012345678901234]",
		 "t.json:1:2: a number longer than 63 characters"},
		{"[1e999]", "t.json:1:2: a number out of range (beyond a double's)"},
		{"-1e309", "t.json:1:1: a number out of range (beyond a double's)"},
		{"\"abc", "t.json:1:5: a string is not closed, but the file ends (truncated JSON?)"},
		{"\"a\tb\"", "t.json:1:3: a control character (byte 0x09) inside a string"},
		{"\"a\nb\"", "t.json:1:3: a control character (byte 0x0a) inside a string"},
		{"\"a\\", "t.json:1:4: an escape is not finished, but the file ends (truncated JSON?)"},
		{"\"\\q\"", "t.json:1:2: an unknown escape in a string ('\\q')"},
		{"\"\\U0041\"", "t.json:1:2: an unknown escape in a string ('\\U')"},
		{"\"\\u12\"", "t.json:1:6: expected 4 hex digits after \\u, found '\"'"},
		{"\"\\u12", "t.json:1:6: expected 4 hex digits after \\u, but the file ends (truncated JSON?)"},
		{"\"\\u00g0\"", "t.json:1:6: expected 4 hex digits after \\u, found 'g'"},
		{"\"\\uD800\"", "t.json:1:2: a high surrogate \\u escape without the low one after it"},
		{"\"\\uD800\\n\"", "t.json:1:2: a high surrogate \\u escape without the low one after it"},
		{"\"\\uDBFF", "t.json:1:2: a high surrogate \\u escape without the low one after it"},
		{"\"\\uD800\\u0041\"", "t.json:1:8: a high surrogate \\u escape followed by an escape that is not a low one"},
		{"\"\\uD800\\uD800\"", "t.json:1:8: a high surrogate \\u escape followed by an escape that is not a low one"},
		{"\"\\uD800\\uDC0\"", "t.json:1:13: expected 4 hex digits after \\u, found '\"'"},
		{"\"x\\uDC00\"", "t.json:1:3: a low surrogate \\u escape without the high one before it"},
		{"\"\\u0000\"", "t.json:1:2: \\u0000 in a string (moesim's strings end at the first NUL)"},
		{"{\"\\q\":1}", "t.json:1:3: an unknown escape in a string ('\\q')"},
		{"[1] [2]", "t.json:1:5: text after the end of the JSON value, found '['"},
		{"1 x", "t.json:1:3: text after the end of the JSON value, found 'x'"},
		{"{\n  \"a\": 1,\n  \"b\": ?\n}", "t.json:3:8: expected a value, found '?'"},
	};
	ms_json j;
	ms_error err;
	ms_json_init(&j);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(parse(&j, cases[i].text, &err) == MS_EFORMAT, "case %zu accepted", i);
		ck_assert_int_eq(err.code, MS_EFORMAT);
		ck_assert_msg(strcmp(err.msg, cases[i].msg) == 0, "case %zu: got '%s', want '%s'", i, err.msg, cases[i].msg);
		ck_assert_ptr_null(ms_json_root(&j)); /* a failed parse leaves no document */
	}
	/* Without an ms_error the parse only says whether the text is JSON. */
	ck_assert_int_eq(ms_json_parse(&j, "[1,", 3, "t.json", MS_JSON_FILE, NULL), MS_EFORMAT);
	/* The parser stops at len: a NUL or garbage after it is never read. */
	ms_error_clear(&err);
	ck_assert_int_eq(ms_json_parse(&j, "[1]garbage", 3, "t.json", MS_JSON_FILE, &err), MS_OK);
	ck_assert_int_eq(ms_json_parse(&j, "\"ab\"", 3, "t.json", MS_JSON_FILE, &err), MS_EFORMAT);
	ck_assert_str_eq(err.msg, "t.json:1:4: a string is not closed, but the file ends (truncated JSON?)");
	/* Line 12 of a JSONL file: positions on that line, and it is the line that ends. */
	ms_error_clear(&err);
	ck_assert_int_eq(ms_json_parse(&j, "  {\"a\": [1", 10, "t.jsonl", 12, &err), MS_EFORMAT);
	ck_assert_str_eq(err.msg, "t.jsonl:12:11: expected ',' or ']' in an array, but the line ends (truncated JSON?)");
	ms_json_fini(&j);
}
END_TEST

/* ---- random documents against the tree their generator wrote ---- */

typedef struct expect {
	ms_json_type type;
	int64_t i;         /* NUMBER (integers only are generated exactly; see gen) */
	double d;
	int is_int;
	char str[64];      /* STRING: decoded bytes */
	size_t len;
	char key[64];      /* member name, decoded ("" for array elements) */
	size_t count;      /* ARRAY, OBJECT */
} expect;

typedef struct gen {
	gsl_rng *rng;
	char *out;
	size_t n, cap;
	expect *ex;
	size_t nex, capex;
} gen;

static void put(gen *g, const char *s, size_t n)
{
	if (g->n + n + 1 > g->cap) {
		g->cap = 2 * (g->n + n + 1);
		g->out = realloc(g->out, g->cap);
		ck_assert_ptr_nonnull(g->out);
	}
	memcpy(g->out + g->n, s, n);
	g->n += n;
	g->out[g->n] = '\0';
}

static void puts_(gen *g, const char *s)
{
	put(g, s, strlen(s));
}

static void ws(gen *g)
{
	static const char *const w[] = {"", "", " ", "\n", "\t", "\r\n  "};
	puts_(g, w[gsl_rng_uniform_int(g->rng, 6)]);
}

/* A random string: each character raw, escaped, \u-escaped or a surrogate pair; the
 * expected decoding (UTF-8) into dec. */
static void gen_string(gen *g, char *dec, size_t *dlen)
{
	int n = (int)gsl_rng_uniform_int(g->rng, 6);
	size_t d = 0;
	puts_(g, "\"");
	for (int c = 0; c < n; c++) {
		char buf[16];
		switch (gsl_rng_uniform_int(g->rng, 5)) {
		case 0: /* plain ASCII */
			buf[0] = (char)('a' + gsl_rng_uniform_int(g->rng, 26));
			put(g, buf, 1);
			dec[d++] = buf[0];
			break;
		case 1: { /* a short escape */
			static const char esc[] = "\"\\/bfnrt", val[] = "\"\\/\b\f\n\r\t";
			int k = (int)gsl_rng_uniform_int(g->rng, 8);
			buf[0] = '\\';
			buf[1] = esc[k];
			put(g, buf, 2);
			dec[d++] = val[k];
			break;
		}
		case 2: /* \u00e9, written in upper or lower case hex */
			puts_(g, gsl_rng_uniform_int(g->rng, 2) ? "\\u00e9" : "\\u00E9");
			dec[d++] = '\xc3';
			dec[d++] = '\xa9';
			break;
		case 3: /* U+20AC raw */
			puts_(g, "\xe2\x82\xac");
			memcpy(dec + d, "\xe2\x82\xac", 3);
			d += 3;
			break;
		default: /* U+1F600 as a surrogate pair */
			puts_(g, "\\ud83d\\ude00");
			memcpy(dec + d, "\xf0\x9f\x98\x80", 4);
			d += 4;
			break;
		}
	}
	puts_(g, "\"");
	dec[d] = '\0';
	*dlen = d;
}

static expect *new_expect(gen *g)
{
	if (g->nex == g->capex) {
		g->capex = g->capex ? 2 * g->capex : 64;
		g->ex = realloc(g->ex, g->capex * sizeof *g->ex);
		ck_assert_ptr_nonnull(g->ex);
	}
	memset(&g->ex[g->nex], 0, sizeof g->ex[0]);
	return &g->ex[g->nex++];
}

/* Writes one value and its expectation (preorder), at nesting depth `depth`. */
static void gen_value(gen *g, int depth, const char *key)
{
	expect *e = new_expect(g);
	int kind = (int)gsl_rng_uniform_int(g->rng, depth < 6 ? 8 : 6);
	snprintf(e->key, sizeof e->key, "%s", key);
	ws(g);
	switch (kind) {
	case 0: e->type = MS_JSON_NULL; puts_(g, "null"); break;
	case 1: e->type = MS_JSON_TRUE; puts_(g, "true"); break;
	case 2: e->type = MS_JSON_FALSE; puts_(g, "false"); break;
	case 3: { /* an integer anywhere in int64 */
		char buf[32];
		e->type = MS_JSON_NUMBER;
		e->is_int = 1;
		e->i = (int64_t)((uint64_t)gsl_rng_get(g->rng) << 32 ^ gsl_rng_get(g->rng)) >> gsl_rng_uniform_int(g->rng, 63);
		snprintf(buf, sizeof buf, "%lld", (long long)e->i);
		e->d = strtod(buf, NULL);
		puts_(g, buf);
		break;
	}
	case 4: { /* a double: the oracle is strtod of the literal written */
		char buf[40];
		e->type = MS_JSON_NUMBER;
		snprintf(buf, sizeof buf, "%.17e", (gsl_rng_uniform(g->rng) - 0.5) * pow(10.0, (double)gsl_rng_uniform_int(g->rng, 40) - 20.0));
		e->d = strtod(buf, NULL);
		puts_(g, buf);
		break;
	}
	case 5: e->type = MS_JSON_STRING; gen_string(g, e->str, &e->len); break;
	case 6:
	case 7: {
		int obj = kind == 7, n = (int)gsl_rng_uniform_int(g->rng, 5);
		e->type = obj ? MS_JSON_OBJECT : MS_JSON_ARRAY;
		e->count = (size_t)n;
		puts_(g, obj ? "{" : "[");
		for (int c = 0; c < n; c++) {
			char k[64] = "";
			size_t klen;
			if (c)
				puts_(g, ",");
			if (obj) {
				ws(g);
				gen_string(g, k, &klen);
				ws(g);
				puts_(g, ":");
			}
			gen_value(g, depth + 1, k);
		}
		ws(g);
		puts_(g, obj ? "}" : "]");
		break;
	}
	default: break;
	}
	ws(g);
}

/* Walks the parsed document in preorder against the expectations. */
static void walk(const ms_json *j, const ms_json_node *v, const expect *ex, size_t *k, size_t nex)
{
	const expect *e;
	ck_assert_uint_lt(*k, nex);
	e = &ex[(*k)++];
	ck_assert_int_eq(v->type, e->type);
	ck_assert_str_eq(ms_json_key(j, v), e->key);
	switch (v->type) {
	case MS_JSON_NUMBER:
		ck_assert_int_eq(v->is_int, e->is_int);
		if (e->is_int)
			ck_assert(v->i == e->i);
		ck_assert(v->d == e->d);
		break;
	case MS_JSON_STRING:
		ck_assert_uint_eq(v->len, e->len);
		ck_assert(memcmp(ms_json_str(j, v), e->str, e->len + 1) == 0);
		break;
	case MS_JSON_ARRAY:
	case MS_JSON_OBJECT: {
		size_t n = 0;
		ck_assert_uint_eq(v->count, e->count);
		for (const ms_json_node *c = ms_json_first(j, v); c; c = ms_json_next(j, c), n++)
			walk(j, c, ex, k, nex);
		ck_assert_uint_eq(n, e->count);
		break;
	}
	default: break;
	}
}

START_TEST(json_random_documents_against_their_generator)
{
	gen g;
	ms_json j;
	ms_error err;
	memset(&g, 0, sizeof g);
	g.rng = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(g.rng, 2385);
	ms_json_init(&j);
	for (int doc = 0; doc < 2000; doc++) {
		size_t k = 0;
		g.n = 0;
		g.nex = 0;
		put(&g, "", 0);
		gen_value(&g, 0, "");
		ck_assert_msg(parse(&j, g.out, &err) == MS_OK, "document %d: %s\n%s", doc, err.msg, g.out);
		walk(&j, ms_json_root(&j), g.ex, &k, g.nex);
		ck_assert_uint_eq(k, g.nex);
		/* Cut short anywhere inside, the same text is an error (never a crash or a read
		 * past the end), unless the cut leaves a complete value (a number's prefix). */
		if (g.n > 1) {
			size_t cut = (size_t)gsl_rng_uniform_int(g.rng, (unsigned long)g.n);
			int rc = ms_json_parse(&j, g.out, cut, "t.json", MS_JSON_FILE, &err);
			ck_assert(rc == MS_OK || rc == MS_EFORMAT);
		}
	}
	ms_json_fini(&j);
	gsl_rng_free(g.rng);
	free(g.out);
	free(g.ex);
}
END_TEST

START_TEST(json_reuse_across_parses)
{
	ms_json j;
	ms_error err;
	char *big = malloc(100000 * 4 + 8), *o = big;
	const ms_json_node *v;
	int64_t n = 0, sum = 0;
	ms_json_init(&j);
	*o++ = '[';
	for (int i = 0; i < 100000; i++)
		o += sprintf(o, i ? ",%d" : "%d", i % 100);
	*o++ = ']';
	*o = '\0';
	ck_assert_int_eq(parse(&j, big, &err), MS_OK);
	for (v = ms_json_first(&j, ms_json_root(&j)); v; v = ms_json_next(&j, v), n++)
		sum += v->i;
	ck_assert(n == 100000 && sum == 4950000);
	/* A smaller document into the same ms_json: nothing of the first is left. */
	ck_assert_int_eq(parse(&j, "{\"z\": \"short\"}", &err), MS_OK);
	ck_assert_int_eq(j.n, 2);
	ck_assert_str_eq(ms_json_str(&j, ms_json_get(&j, ms_json_root(&j), "z")), "short");
	/* A failed parse leaves no root; the next one works again. */
	ck_assert_int_eq(parse(&j, "[", &err), MS_EFORMAT);
	ck_assert_ptr_null(ms_json_root(&j));
	ck_assert_int_eq(parse(&j, "[true]", &err), MS_OK);
	ck_assert_int_eq(ms_json_first(&j, ms_json_root(&j))->type, MS_JSON_TRUE);
	ms_json_fini(&j);
	ck_assert_ptr_null(ms_json_root(&j));
	ms_json_fini(&j); /* twice is harmless */
	free(big);
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, json_structure_and_positions);
	tcase_add_test(tc, json_escapes);
	tcase_add_test(tc, json_numbers_at_limits);
	tcase_add_test(tc, json_nesting_limit);
	tcase_add_test(tc, json_every_error);
	tcase_add_test(tc, json_random_documents_against_their_generator);
	tcase_add_test(tc, json_reuse_across_parses);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
