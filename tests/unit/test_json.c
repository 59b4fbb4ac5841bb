/* lib/base/json.c (strict reader) and lib/base/jsonw.c (writer), and json_edit_text. */
#include <math.h>
#include <stdint.h>

#include "buf.h"
#include "ds_config.h"
#include "json_edit.h"
#include "err.h"
#include "json.h"
#include "jsonw.h"
#include "t.h"

/* Parse src (NUL-terminated, or n bytes when n is given); NULL and the message on failure. */
static struct json_doc *parse_n(const char *src, size_t n, int flags)
{
	struct json_doc *d;
	if (json_parse(&d, src, n, flags))
		return NULL;
	return d;
}

static struct json_doc *parse(const char *src) { return parse_n(src, strlen(src), 0); }

/* src is refused with exactly this message. */
static void refused(const char *src, size_t n, const char *msg)
{
	struct json_doc *d = parse_n(src, n, 0);
	CHECK(!d && strcmp(err_last(), msg) == 0, "refused: %s (want \"%s\", got \"%s\")", msg, msg, d ? "accepted" : err_last());
	json_free(d);
}
#define REFUSED(lit, msg) refused(lit, sizeof(lit) - 1, msg)

static void test_integers(void)
{
	static const struct {
		const char *src;
		int rc;
		uint64_t v;
	} u[] = {
		{"0", 0, 0}, {"18446744073709551615", 0, UINT64_MAX}, {"18446744073709551616", -2, 0},
		{"99999999999999999999999", -2, 0}, {"-1", -1, 0}, {"-0", -1, 0}, {"1.0", -1, 0},
		{"1e3", -1, 0}, {"1E3", -1, 0}, {"99999999999999999999.5", -1, 0}, {"\"1\"", -1, 0},
		{"null", -1, 0}, {"4294967296", 0, 4294967296ull},
	};
	for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
		struct json_doc *d = parse(u[i].src);
		uint64_t v = 12345;
		int rc = d ? json_u64(json_root(d), &v) : 99;
		CHECK(rc == u[i].rc && (rc || v == u[i].v), "json_u64(%s) = %d", u[i].src, rc);
		json_free(d);
	}
	static const struct {
		const char *src;
		int rc;
		int64_t v;
	} s[] = {
		{"-9223372036854775808", 0, INT64_MIN}, {"9223372036854775807", 0, INT64_MAX},
		{"9223372036854775808", -2, 0}, {"-9223372036854775809", -2, 0}, {"-0", 0, 0},
		{"-12", 0, -12}, {"-1.0", -1, 0}, {"-1e2", -1, 0},
	};
	for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
		struct json_doc *d = parse(s[i].src);
		int64_t v = 12345;
		int rc = d ? json_i64(json_root(d), &v) : 99;
		CHECK(rc == s[i].rc && (rc || v == s[i].v), "json_i64(%s) = %d", s[i].src, rc);
		json_free(d);
	}
	struct json_doc *d = parse("[1.5, -0.0, 1e308, 1e400, 5e-324, 1e-400, \"x\"]");
	const struct json *k = json_kid(json_root(d));
	double x;
	CHECK(json_double(k, &x) == 0 && x == 1.5, "json_double 1.5");
	k = json_next(k);
	CHECK(json_double(k, &x) == 0 && x == 0 && signbit(x), "json_double -0.0 keeps the sign");
	k = json_next(k);
	CHECK(json_double(k, &x) == 0 && x == 1e308, "json_double 1e308");
	k = json_next(k);
	CHECK(json_double(k, &x) == -2, "json_double 1e400 is out of range");
	k = json_next(k);
	CHECK(json_double(k, &x) == 0 && x == 5e-324, "json_double 5e-324 (subnormal) is read");
	k = json_next(k);
	CHECK(json_double(k, &x) == 0 && x == 0, "json_double 1e-400 underflows to 0");
	k = json_next(k);
	CHECK(json_double(k, &x) == -1, "json_double of a string is refused");
	json_free(d);
	d = parse("  -12.5e+3 ");
	CHECK(d && json_root(d)->type == JSON_NUMBER && json_root(d)->len == 8 &&
	      memcmp(json_str(json_root(d)), "-12.5e+3", 8) == 0, "a number keeps its source spelling");
	json_free(d);
}

static void test_grammar(void)
{
	const char *good[] = {"0", "-0", "1.5", "1e5", "1E+5", "1e-5", "-0.0e0", "123456789012345678901234567890",
			      "true", "false", "null", "\"\"", "[]", "{}", " \t\r\n[ 1 , { } ] \n", "[-1,0.25]"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct json_doc *d = parse(good[i]);
		char q[ERR_QUOTE];
		CHECK(d != NULL, "accepted: %s (%s)", err_quote(good[i], q), d ? "" : err_last());
		json_free(d);
	}
	REFUSED("01", "invalid number: leading zero at line 1 column 1");
	REFUSED("[-01]", "invalid number: leading zero at line 1 column 3");
	REFUSED("1.", "invalid number: no digit after the decimal point at line 1 column 3");
	REFUSED("1.e3", "invalid number: no digit after the decimal point at line 1 column 3");
	REFUSED("1e", "invalid number: no digit in the exponent at line 1 column 3");
	REFUSED("1e+", "invalid number: no digit in the exponent at line 1 column 4");
	REFUSED("-", "invalid number: no digit after '-' at line 1 column 1");
	REFUSED("-x", "invalid number: no digit after '-' at line 1 column 1");
	REFUSED(".5", "expected a value at line 1 column 1");
	REFUSED("+1", "expected a value at line 1 column 1");
	REFUSED("0x10", "trailing characters after the JSON value at line 1 column 2");
	REFUSED("NaN", "expected a value at line 1 column 1");
	REFUSED("Infinity", "expected a value at line 1 column 1");
	REFUSED("tru", "expected a value at line 1 column 1");
	REFUSED("nul", "expected a value at line 1 column 1");
	REFUSED("", "unexpected end of input at line 1 column 1");
	REFUSED("  \n ", "unexpected end of input at line 2 column 2");
	REFUSED("{} {}", "trailing characters after the JSON value at line 1 column 4");
	REFUSED("[1,]", "expected a value at line 1 column 4");
	REFUSED("[1 2]", "expected ',' or ']' at line 1 column 4");
	REFUSED("{\"a\" 1}", "expected ':' at line 1 column 6");
	REFUSED("{\"a\":1,}", "expected a string key at line 1 column 8");
	REFUSED("{'a':1}", "expected a string key at line 1 column 2");
	REFUSED("{\"a\":1", "expected ',' or '}' at line 1 column 7");
	REFUSED("[", "unexpected end of input at line 1 column 2");
	REFUSED("[1]\0", "trailing characters after the JSON value at line 1 column 4");
	REFUSED("\xef\xbb\xbf{}", "expected a value at line 1 column 1");
	REFUSED("/* c */ {}", "expected a value at line 1 column 1");
}

static const char *str_of(struct json_doc *d) { return d ? json_str(json_root(d)) : "(refused)"; }

static void test_strings(void)
{
	struct json_doc *d = parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	CHECK(d && json_root(d)->len == 8 && memcmp(str_of(d), "\"\\/\b\f\n\r\t", 8) == 0, "the eight simple escapes");
	json_free(d);
	d = parse("\"a\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\"");
	CHECK(d && json_root(d)->len == 1 + 2 + 3 + 4 + 1 + 1 &&
	      memcmp(str_of(d), "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z", 12) == 0,
	      "\\u escapes decode to UTF-8, a surrogate pair to one code point, \\u0000 to a NUL kept in len");
	json_free(d);
	d = parse("\"\x7f\xc3\xa9\xf4\x8f\xbf\xbf\"");
	CHECK(d && json_root(d)->len == 7, "DEL and raw UTF-8 up to U+10FFFF pass through");
	json_free(d);

	REFUSED("\"\\x\"", "invalid escape \\x in string at line 1 column 2");
	REFUSED("\"\\'\"", "invalid escape \\' in string at line 1 column 2");
	REFUSED("\"\\\x01\"", "invalid escape in string (byte 0x01 after \\) at line 1 column 2");
	REFUSED("\"\\u12g4\"", "invalid \\u escape at line 1 column 6");
	REFUSED("\"\\u12\"", "invalid \\u escape at line 1 column 6");
	REFUSED("\"\\u12", "truncated \\u escape at line 1 column 6");
	REFUSED("\"\\u", "truncated \\u escape at line 1 column 4");
	REFUSED("\"\\ud800\"", "lone high surrogate in \\u escape at line 1 column 2");
	REFUSED("\"\\ud800", "lone high surrogate in \\u escape at line 1 column 2");
	REFUSED("\"\\udbffx\"", "lone high surrogate in \\u escape at line 1 column 2");
	REFUSED("\"\\udc00\"", "lone low surrogate in \\u escape at line 1 column 2");
	REFUSED("\"\\ud800\\u0041\"", "invalid surrogate pair in \\u escape at line 1 column 8");
	REFUSED("\"\\ud800\\ud800\"", "invalid surrogate pair in \\u escape at line 1 column 8");
	REFUSED("\"a\tb\"", "unescaped control character 0x09 in string at line 1 column 3");
	REFUSED("\"a\0b\"", "unescaped control character 0x00 in string at line 1 column 3");
	REFUSED("\"abc", "unterminated string at line 1 column 1");
	REFUSED("\"abc\\", "unterminated string at line 1 column 1");

	REFUSED("\"\xff\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"\xc0\xaf\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"\xe0\x80\xaf\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"\xed\xa0\x80\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"\xf4\x90\x80\x80\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"ab\xe2\x82\"", "invalid UTF-8 at line 1 column 4");
	REFUSED("\"\x80\"", "invalid UTF-8 at line 1 column 2");
	REFUSED("\"\xe2\x82", "invalid UTF-8 at line 1 column 2");
	size_t bad = 0;
	CHECK(json_utf8_check("ok\xc3\xa9 \xf0\x9f\x98\x80", 10, &bad) == 0, "json_utf8_check accepts 2- and 4-byte sequences");
	CHECK(json_utf8_check("ok\xc3\xa9 \xf0\x9f\x98", 9, &bad) == -1 && bad == 5, "json_utf8_check: offset of a cut sequence");
}

static void test_duplicates(void)
{
	REFUSED("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key \"a\" at line 1 column 14");
	REFUSED("{\"x\":{\"k\":1,\n\"k\":2}}", "duplicate key \"k\" at line 2 column 1");
	REFUSED("{\"\\u0061\":1,\"a\":2}", "duplicate key \"a\" at line 1 column 13");
	REFUSED("{\"a\\u0000b\":1,\"a\\u0000b\":2}", "duplicate key \"a\\x00b\" at line 1 column 15");
	struct json_doc *d = parse("{\"a\":1,\"a\\u0000\":2,\"a\\u0000b\":3,\"a\\u0000c\":4}");
	CHECK(d && json_root(d)->n == 4, "keys differing after a NUL are different keys");
	json_free(d);
	const char *src = "{\"a\":1,\"a\":2}";
	d = parse_n(src, strlen(src), JSON_KEEP_DUPS);
	CHECK(d && json_root(d)->n == 2 && json_str(json_get(json_root(d), "a"))[0] == '1',
	      "JSON_KEEP_DUPS keeps both, json_get finds the first");
	json_free(d);
}

static void nest(struct buf *b, int levels, bool objects)
{
	for (int i = 0; i < levels; i++)
		buf_adds(b, objects && i % 2 ? "{\"k\":" : "[");
	for (int i = levels - 1; i >= 0; i--)
		buf_adds(b, objects && i % 2 ? "}" : "]");
}

static void test_depth(void)
{
	for (int objects = 0; objects < 2; objects++) {
		struct buf b = {0};
		nest(&b, 127, objects);
		struct json_doc *d = parse_n(b.p, b.len, 0);
		CHECK(d != NULL, "127 nested %s are accepted (%s)", objects ? "arrays and objects" : "arrays", d ? "" : err_last());
		json_free(d);
		buf_clear(&b);
		nest(&b, 128, objects);
		d = parse_n(b.p, b.len, 0);
		CHECK(!d && strstr(err_last(), "more than 127 nested arrays and objects at line 1 column "),
		      "128 nested %s are refused, as serde_json refuses them: %s", objects ? "arrays and objects" : "arrays", err_last());
		json_free(d);
		buf_free(&b);
	}
	struct buf b = {0};
	nest(&b, 100000, false);
	struct json_doc *d = parse_n(b.p, b.len, 0);
	CHECK(!d, "100000 nested arrays are refused without exhausting the stack");
	buf_free(&b);
}

static void test_spans(void)
{
	const char *src = "{ \"a\" : [1, 2] ,\n  \"bb\":\"x\\ny\", \"c\":{\"d\":null} }";
	struct json_doc *d = parse(src);
	const struct json *r = json_root(d), *a = json_get(r, "a"), *bb = json_get(r, "bb"), *c = json_get(r, "c");
	CHECK(r->begin == 0 && r->end == strlen(src), "root span is the whole text");
	CHECK(a && a->key_begin == 2 && a->begin == 8 && a->end == 14 && a->n == 2, "member a: key at 2, value [8, 14)");
	CHECK(a && json_kid(a)->begin == 9 && json_kid(a)->end == 10 && json_next(json_kid(a))->begin == 12, "array elements have spans");
	CHECK(bb && bb->key_begin == 19 && bb->begin == 24 && bb->end == 30 && bb->len == 3 && memcmp(json_str(bb), "x\ny", 3) == 0,
	      "string span covers the quotes and escapes; s is decoded");
	CHECK(c && json_get(c, "d") && json_get(c, "d")->type == JSON_NULL && c->end == strlen(src) - 2,
	      "nested object found by json_get");
	CHECK(!json_get(r, "zz") && !json_get(a, "a") && !json_get(NULL, "a"), "json_get: missing keys, arrays and NULL give NULL");
	CHECK(json_kid(r) == a && json_next(a) == bb && json_next(bb) == c && !json_next(c) && a->key_len == 1 && bb->key_len == 2,
	      "members in source order");
	json_free(d);
}

static void test_what(void)
{
	struct json_doc *d = parse("[\"s\", [], {}, null, true, false, -1.5e3, 123456789012345678901234567890123456789012345]");
	const char *want[] = {"a string", "an array", "an object", "null", "true", "false", "-1.5e3",
			      "the number 123456789012345678901234567890..."};
	size_t i = 0;
	for (const struct json *k = json_kid(json_root(d)); k; k = json_next(k), i++) {
		char w[JSON_WHAT];
		CHECK(strcmp(json_what(k, w), want[i]) == 0, "json_what: %s", want[i]);
	}
	json_free(d);
}

static void edit(const char *text, const struct json_edit *e, size_t n, const char *want, const char *name)
{
	struct buf out = {0};
	int rc = json_edit_text(&out, text, strlen(text), e, n, "config.json");
	CHECK(rc == 0 && strcmp(buf_str(&out), want) == 0, "json_edit_text: %s%s%s", name, rc ? ": " : "",
	      rc ? err_last() : "");
	if (rc == 0 && strcmp(buf_str(&out), want) != 0)
		printf("#   got: %s\n", buf_str(&out));
	buf_free(&out);
}

static void test_edit(void)
{
	const char *t = "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": 3.50\n}\n";
	struct json_edit rm_a = {"a", NULL}, rm_b = {"b", NULL}, rm_c = {"c", NULL};
	struct json_edit set_b = {"b", "null"}, add_d = {"d", "\"new\""}, add_e = {"e", "[]"};
	edit(t, &rm_a, 1, "{\n  \"b\": {\"x\": [1, 2]},\n  \"c\": 3.50\n}\n", "remove the first member");
	edit(t, &rm_b, 1, "{\n  \"a\": 1,\n  \"c\": 3.50\n}\n", "remove a middle member");
	edit(t, &rm_c, 1, "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]}\n}\n", "remove the last member");
	edit(t, &set_b, 1, "{\n  \"a\": 1,\n  \"b\": null,\n  \"c\": 3.50\n}\n", "replace a value, the rest byte for byte");
	edit(t, &add_d, 1, "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": 3.50,\n  \"d\": \"new\"\n}\n",
	     "add a member, indented like the last");
	struct json_edit two_rm[] = {rm_a, rm_b};
	edit(t, two_rm, 2, "{\n  \"c\": 3.50\n}\n", "remove the first two members");
	struct json_edit last_two[] = {rm_c, rm_b};
	edit(t, last_two, 2, "{\n  \"a\": 1\n}\n", "remove the last two members");
	struct json_edit all[] = {rm_b, rm_a, rm_c};
	edit(t, all, 3, "{\n  \n}\n", "remove every member");
	struct json_edit all_add[] = {rm_a, rm_b, rm_c, add_d, add_e};
	edit(t, all_add, 5, "{\n  \"d\": \"new\",\n  \"e\": []\n}\n", "remove every member and add two");
	struct json_edit mix[] = {add_e, rm_c, set_b, add_d};
	edit(t, mix, 4, "{\n  \"a\": 1,\n  \"b\": null,\n  \"e\": [],\n  \"d\": \"new\"\n}\n",
	     "remove the last, replace, and add two in the order given");
	struct json_edit twice[] = {set_b, rm_b};
	edit(t, twice, 2, "{\n  \"a\": 1,\n  \"b\": null,\n  \"c\": 3.50\n}\n", "two edits of one member: the first wins");
	struct json_edit missing = {"zz", NULL};
	edit(t, &missing, 1, t, "removing a missing key changes nothing");
	edit("{}", &add_d, 1, "{\"d\": \"new\"}", "add to an empty object");
	edit("{\"a\":1}", &rm_a, 1, "{}", "remove the only member");
	struct buf out = {0};
	CHECK(json_edit_text(&out, "{\"a\":1,}", 8, &rm_a, 1, "config.json") == -1 &&
	      strcmp(err_last(), "config.json: invalid JSON: expected a string key at line 1 column 8") == 0,
	      "json_edit_text refuses invalid JSON, naming the file");
	CHECK(json_edit_text(&out, "[1]", 3, &rm_a, 1, "config.json") == -1 &&
	      strcmp(err_last(), "config.json: not a JSON object") == 0, "json_edit_text refuses a non-object");
	buf_free(&out);
}

static void test_doubles(void)
{
	static const struct {
		double v;
		const char *repr;
	} t[] = {
		{1e-06, "1e-06"}, {1e+16, "1e+16"}, {0.1, "0.1"}, {2.5, "2.5"}, {100.0, "100.0"}, {-0.0, "-0.0"},
		{0.0, "0.0"}, {1e-05, "1e-05"}, {0.0001, "0.0001"}, {1e15, "1000000000000000.0"},
		{1234567890123456.0, "1234567890123456.0"}, {1e22, "1e+22"}, {5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"}, {0.30000000000000004, "0.30000000000000004"},
		{123.456, "123.456"}, {-1.5, "-1.5"}, {1.5e-07, "1.5e-07"},
		{12345678901234567890.0, "1.2345678901234567e+19"}, {9999999999999998.0, "9999999999999998.0"},
		{0.00012345, "0.00012345"}, {1.5e-323, "1.5e-323"}, {1.0 / 3, "0.3333333333333333"},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		char s[40];
		jw_fmt_double(t[i].v, s);
		CHECK(strcmp(s, t[i].repr) == 0, "repr(%s) (got %s)", t[i].repr, s);
	}
	struct buf b = {0};
	struct jw w;
	jw_init(&w, &b, 0, false);
	jw_arr(&w);
	jw_double(&w, INFINITY);
	jw_double(&w, NAN);
	jw_double(&w, 0.5);
	jw_arr_end(&w);
	CHECK(strcmp(buf_str(&b), "[null,null,0.5]") == 0, "non-finite doubles are written as null");
	buf_free(&b);
}

static void write_sample(struct jw *w)
{
	jw_obj(w);
	jw_key(w, "a");
	jw_u64(w, UINT64_MAX);
	jw_key(w, "b");
	jw_arr(w);
	jw_i64(w, INT64_MIN);
	jw_bool(w, true);
	jw_null(w);
	jw_arr_end(w);
	jw_key(w, "c");
	jw_obj(w);
	jw_obj_end(w);
	jw_key(w, "d");
	jw_arr(w);
	jw_arr_end(w);
	jw_key(w, "e");
	jw_str(w, "\xc3\xa9\xf0\x9f\x98\x80\x01\x1f\x7f/\"\\\n\b\f\r\t");
	jw_keyn(w, "f\0g", 3);
	jw_raw(w, "1.50", 4);
	jw_obj_end(w);
}

static void test_writer(void)
{
	struct buf b = {0};
	struct jw w;
	jw_init(&w, &b, 2, true);
	write_sample(&w);
	const char *py = "{\n  \"a\": 18446744073709551615,\n  \"b\": [\n    -9223372036854775808,\n    true,\n    null\n  ],\n"
			 "  \"c\": {},\n  \"d\": [],\n"
			 "  \"e\": \"\\u00e9\\ud83d\\ude00\\u0001\\u001f\\u007f/\\\"\\\\\\n\\b\\f\\r\\t\",\n"
			 "  \"f\\u0000g\": 1.50\n}";
	CHECK(strcmp(buf_str(&b), py) == 0, "indent 2 + ensure_ascii is Python's json.dumps(indent=2): non-BMP as a surrogate pair, DEL escaped");
	if (strcmp(buf_str(&b), py) != 0)
		printf("#   got: %s\n", buf_str(&b));
	buf_clear(&b);
	jw_init(&w, &b, 0, false);
	write_sample(&w);
	const char *serde = "{\"a\":18446744073709551615,\"b\":[-9223372036854775808,true,null],\"c\":{},\"d\":[],"
			    "\"e\":\"\xc3\xa9\xf0\x9f\x98\x80\\u0001\\u001f\x7f/\\\"\\\\\\n\\b\\f\\r\\t\",\"f\\u0000g\":1.50}";
	CHECK(strcmp(buf_str(&b), serde) == 0, "compact is serde_json's: UTF-8 and DEL raw, controls as \\u00XX, '/' unescaped");
	if (strcmp(buf_str(&b), serde) != 0)
		printf("#   got: %s\n", buf_str(&b));
	/* what was written reads back */
	struct json_doc *d = parse_n(b.p, b.len, 0);
	const struct json *e = d ? json_get(json_root(d), "e") : NULL;
	CHECK(e && e->len == 17 && memcmp(json_str(e), "\xc3\xa9\xf0\x9f\x98\x80\x01\x1f\x7f/\"\\\n\b\f\r\t", 17) == 0,
	      "the written string reads back byte for byte");
	json_free(d);
	buf_free(&b);
}

int main(void)
{
	err_init("test_json");
	test_integers();
	test_grammar();
	test_strings();
	test_duplicates();
	test_depth();
	test_spans();
	test_what();
	test_edit();
	test_doubles();
	test_writer();
	return t_done();
}
