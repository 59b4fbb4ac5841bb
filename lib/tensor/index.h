/* model.safetensors.index.json: {"metadata": {"total_size": N, ...}, "weight_map": {name: file}}. */
#ifndef CKPT_INDEX_H
#define CKPT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define INDEX_NAME "model.safetensors.index.json"

struct idx_entry {
	const char *name;
	const char *file;
};

struct idx {
	char *path;
	bool has_total_size;
	uint64_t total_size;
	size_t n;
	struct idx_entry *e;     /* the weight_map, in file order */
	size_t nfiles;
	const char **files;      /* the distinct shard names, sorted */
	struct json_doc *doc;
};

/* Load and check: a weight_map of strings whose file names stay inside the directory. */
int idx_load(struct idx **out, const char *path);
/* The same from text in memory (e.g. read out of an archive); path names it in messages. */
int idx_parse(struct idx **out, const char *path, const char *text, size_t len);
void idx_free(struct idx *x);
/* The index as the HF tools write it (indent 2); total_size NULL writes "metadata": {}. */
void idx_render(struct buf *out, const struct idx_entry *e, size_t n, const uint64_t *total_size);

#endif
