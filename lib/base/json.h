/* A strict JSON reader (RFC 8259, as strict as serde_json) into a compact tree.
 *
 * Why not cJSON: safetensors headers and checkpoint indexes need 64-bit integers read
 * exactly (cJSON keeps only a double), duplicate keys detected, the original spelling of
 * numbers and the byte span of every value kept (so config.json can be edited without
 * reformatting it), a hard nesting limit, and memory in proportion to the text whatever
 * its shape: a 100 MB header of "[0,0,0,..." must not cost gigabytes.
 *
 * So a document is one block: a copy of the text, in which strings are decoded in place
 * and NUL-terminated (a decoded string is never longer than its source), then the values in
 * document order, 28 bytes each, a container's children right after it.  A value takes at
 * least 2 bytes of text ("0,"): a document holds at most 15 bytes per byte of text. */
#ifndef CKPT_JSON_H
#define CKPT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* Read the links and texts with the functions below, never from the private fields, and
 * never copy a value: its links lead from where it lies. */
struct json {
	enum json_type type : 3;
	unsigned key_len : 29;    /* members: the name's length in bytes */
	union {
		uint32_t n;       /* ARRAY, OBJECT: number of children */
		uint32_t len;     /* STRING: decoded length; NUMBER: length of its spelling */
	};
	uint32_t begin, end;      /* byte span of the value in the source */
	uint32_t key_begin;       /* members: offset of the name's opening quote (never 0); else 0 */
	uint32_t next_off;        /* private: values from this one to its next sibling, 0 if none */
	uint32_t text_off;        /* private: bytes from the document's text to this value */
};

/* The largest text json_parse reads: every offset above fits 32 bits.  Larger than any
 * file the tools give it (safetensors headers: ST_MAX_HEADER; JSON files: JSON_MAX_FILE). */
#define JSON_MAX_TEXT (128u << 20)

/* The first child of an array or object, or NULL. */
static inline const struct json *json_kid(const struct json *v)
{
	return v->type >= JSON_ARRAY && v->n ? v + 1 : NULL;
}

/* The next element or member of the same container, or NULL. */
static inline const struct json *json_next(const struct json *v)
{
	return v->next_off ? v + v->next_off : NULL;
}

/* A member's name, decoded and NUL-terminated (key_len bytes, which may hold NULs);
 * NULL for array elements and the root. */
static inline const char *json_key(const struct json *v)
{
	return v->key_begin ? (const char *)v - v->text_off + v->key_begin + 1 : NULL;
}

/* STRING: the decoded text; NUMBER: its source spelling; NUL-terminated, len bytes.  NULL
 * for other types. */
static inline const char *json_str(const struct json *v)
{
	if (v->type != JSON_STRING && v->type != JSON_NUMBER)
		return NULL;
	return (const char *)v - v->text_off + v->begin + (v->type == JSON_STRING);
}

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

/* The largest JSON file the tools read (config.json, the index, a JSON manifest ...): the
 * index of a 671B model is about 8 MB.  Larger ones are refused before they are read. */
#define JSON_MAX_FILE (64u << 20)

/* Read a whole file (at most JSON_MAX_FILE bytes) and parse it; the message names the file. */
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
