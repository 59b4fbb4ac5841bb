/* Small edits of a JSON object's text (config.json) that keep every other byte as it was. */
#ifndef CKPT_JSON_EDIT_H
#define CKPT_JSON_EDIT_H

#include <stddef.h>

#include "buf.h"

/* Rewrite a JSON object's text with top-level members removed, replaced or added, leaving
 * every other byte as it was.  value NULL removes the key; otherwise value is raw JSON. */
struct json_edit {
	const char *key;
	const char *value;
};
int json_edit_text(struct buf *out, const char *text, size_t len, const struct json_edit *e,
		   size_t n, const char *path);

/* The same for the JSON file at path (at most JSON_MAX_FILE bytes). */
int json_edit_file(struct buf *out, const char *path, const struct json_edit *e, size_t n);

#endif
