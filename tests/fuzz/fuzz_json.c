/* libFuzzer target: the JSON reader (json_parse) on arbitrary bytes, then every accessor
 * on every value of the tree.  The first byte picks the flags. */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct json *v, size_t len, int depth)
{
	char w[JSON_WHAT];
	uint64_t u;
	int64_t i;
	double d;
	if (depth >= JSON_MAX_DEPTH || v->begin > v->end || v->end > len)
		__builtin_trap(); /* deeper than the limit, or a span outside the text */
	json_what(v, w);
	json_type_name(v->type);
	json_u64(v, &u);
	json_i64(v, &i);
	json_double(v, &d);
	const char *s = json_str(v);
	if (s && s[v->len])
		__builtin_trap(); /* texts are NUL-terminated */
	size_t n = 0;
	for (const struct json *k = json_kid(v); k; k = json_next(k), n++) {
		const char *key = json_key(k);
		/* (json_get takes C strings: a key holding a NUL cannot be asked for) */
		if (v->type == JSON_OBJECT && (!key || key[k->key_len] ||
					       (strlen(key) == k->key_len && !json_get(v, key))))
			__builtin_trap();
		if (v->type == JSON_ARRAY && key)
			__builtin_trap();
		walk(k, len, depth + 1);
	}
	if (v->type >= JSON_ARRAY && n != v->n)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int flags = data[0] & 1 ? JSON_KEEP_DUPS : 0;
	struct json_doc *d;
	size_t bad;
	json_utf8_check((const char *)data + 1, size - 1, &bad);
	if (json_parse(&d, (const char *)data + 1, size - 1, flags) == 0) {
		walk(json_root(d), size - 1, 0);
		json_free(d);
	} else if (!err_last()[0]) {
		__builtin_trap();
	}
	return 0;
}
