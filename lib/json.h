/* A strict JSON reader (RFC 8259, as strict as serde_json) into a small tree.
 *
 * Why not cJSON: safetensors headers and checkpoint indexes need 64-bit integers read
 * exactly (cJSON keeps only a double), duplicate keys detected, the original spelling of
 * numbers and the byte span of every value kept (so config.json can be edited without
 * reformatting it), and a hard nesting limit. */
#ifndef CKPT_JSON_H
#define CKPT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	size_t n;                 /* number of children: array elements or object members */
	struct json *kid, *next;  /* first child, next sibling */
	const char *key;          /* member name, decoded and NUL-terminated; NULL in arrays */
	size_t key_len;
	const char *s;            /* STRING: decoded text; NUMBER: its source spelling */
	size_t len;
	size_t begin, end;        /* byte span of the value in the source */
	size_t key_begin;         /* members: offset of the key's opening quote */
};

struct json_doc;

/* serde_json's recursion limit: at most 127 arrays and objects nested in one another. */
#define JSON_MAX_DEPTH 128

enum {
	JSON_KEEP_DUPS = 1,   /* do not refuse duplicate keys (the caller checks them itself) */
};

/* Parse src[0..len).  On failure: -1 and a message "REASON at line L column C". */
int json_parse(struct json_doc **out, const char *src, size_t len, int flags);
const struct json *json_root(const struct json_doc *d);
void json_free(struct json_doc *d);

/* Read a whole file and parse it; the message names the file. */
int json_load(struct json_doc **out, const char *path, int flags);

/* -1 and *bad = byte offset when s is not valid UTF-8. */
int json_utf8_check(const char *s, size_t len, size_t *bad);

const struct json *json_get(const struct json *obj, const char *key);
/* Whether member k's key is exactly name (a key holding a NUL is never a C string's). */
bool json_key_is(const struct json *k, const char *name);
const char *json_type_name(enum json_type t);
/* The value for a message "X is <what>, not ...": a number's spelling, "a string", "an
 * array", "an object", "null", "true" or "false".  out must hold JSON_WHAT bytes. */
#define JSON_WHAT 48
const char *json_what(const struct json *v, char *out);

/* Exact number reads.  0 ok; -1 wrong kind (not a number, or not an integer where one is
 * needed); -2 out of range. */
int json_u64(const struct json *v, uint64_t *out);
int json_i64(const struct json *v, int64_t *out);
int json_double(const struct json *v, double *out);

#endif
