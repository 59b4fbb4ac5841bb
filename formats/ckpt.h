/* The reader of an HF checkpoint's files: a directory of shards (with or without
 * model.safetensors.index.json), one .safetensors file, or an index file, also made of an
 * archive's files.  Stored tensors are found by name across shards and can be walked in
 * name order.  Only the layouts that store HF-style directories read it (the HF layout,
 * formats/hf_view.c, and MindSpore's): tools, checks and plans read the view they build
 * (lib/checkpoint/view.h). */
#ifndef CKPT_CKPT_H
#define CKPT_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "json.h"
#include "st.h"
#include "view.h"

struct ckpt_shard {
	char *name;              /* relative to the checkpoint directory */
	char *path;
	struct st_file *st;      /* NULL when it could not be opened (lenient mode) */
};

struct ckpt_tensor {
	const char *name;
	struct ckpt_shard *shard;
	const struct st_tensor *t;
};

struct ckpt {
	char *dir;
	char *index_path;        /* NULL without an index */
	struct idx *index;
	size_t nshards;
	struct ckpt_shard *shards;   /* sorted by name */
	size_t n;
	struct ckpt_tensor *t;       /* sorted by name */
	char *config_path;       /* config.json beside the shards, NULL if there is none */
	struct json_doc *config;
	size_t nproblems;            /* what was wrong, in lenient mode */
	char **problems;
	size_t nstray;               /* .safetensors files in dir that the index does not name */
	char **stray;
};

enum {
	/* Record inconsistencies (unreadable shards, index entries that do not resolve, tensors
	 * outside the index) in problems[] instead of failing. */
	CKPT_LENIENT = 1,
};

int ckpt_open(struct ckpt **out, const char *path, int flags);

/* A file of a checkpoint that the caller read itself (e.g. streamed out of an archive). */
struct ckpt_file {
	const char *name;        /* relative to the checkpoint's root, "/"-separated */
	struct st_file *st;      /* its parsed header (st_parse) when it may be a shard ... */
	const char *error;       /* ... or the message saying why it is not */
	const char *text;        /* a JSON side file's contents (index, config.json), or NULL */
	size_t len;
};

/* The checkpoint made of files[0..n) as if they were in directory dir (which only names
 * them in messages): the same rules and messages as ckpt_open on a directory.  The shards'
 * st_file have no data (map == NULL): only names, dtypes, shapes and offsets can be used.
 * Every files[i].st is taken over (set to NULL), whatever happens. */
int ckpt_open_files(struct ckpt **out, const char *dir, struct ckpt_file *files, size_t n, int flags);
void ckpt_close(struct ckpt *c);
/* config.json read from path instead of the one beside the shards (a --config option). */
int ckpt_use_config(struct ckpt *c, const char *path);

const struct ckpt_tensor *ckpt_find(const struct ckpt *c, const char *name);

static inline const uint8_t *ckpt_bytes(const struct ckpt_tensor *t)
{
	return st_bytes(t->shard->st, t->t);
}

/* The block scale of a quantized weight: the tensor "<name>_scale_inv" wherever it lies,
 * or NULL. */
const struct ckpt_tensor *ckpt_scale_of(const struct ckpt *c, const char *name);

/* What c holds besides its tensors, into the view a layout builds of it: the directory,
 * the shards as the view's files, config.json, the index, the shards it does not name, and
 * c's problems.  The view borrows c's JSON, index and names: c must outlive it (the view
 * is the usual owner of c). */
void ckpt_describe(const struct ckpt *c, struct view *v);

/* Sum of all tensors' data bytes. */
uint64_t ckpt_tensor_bytes(const struct ckpt *c);

#endif
