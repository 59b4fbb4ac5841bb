/* safetensors files: strict reading (mmap, zero-copy tensor views) and byte-exact writing.
 *
 * The reader refuses every file the reference implementation (huggingface/safetensors)
 * refuses, and duplicate names besides; each problem is one message naming the file and,
 * where there is one, the tensor.  The writer lays files out exactly as the reference does:
 * tensors sorted by dtype (descending) then name, compact JSON, header padded with spaces
 * to a multiple of 8. */
#ifndef CKPT_ST_H
#define CKPT_ST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

#define ST_MAX_HEADER 100000000ull

/* The most dimensions a tensor may have.  The format sets no limit, but no checkpoint holds
 * more than 4; the reader refuses more than this, so that every shape in the toolchain (they
 * all come from the reader, or from config.json with at most 3) fits arrays of this size. */
#define ST_MAX_DIMS 8
/* Room for st_shape_str of any shape: brackets, and up to 20 digits and ", " a dimension. */
#define ST_SHAPE_LEN (3 + ST_MAX_DIMS * 22)

struct st_tensor {
	const char *name;        /* NUL-terminated */
	enum dt dtype;
	unsigned ndim;           /* at most ST_MAX_DIMS */
	const uint64_t *shape;
	uint64_t nelem;
	uint64_t begin, end;     /* byte offsets within the data section */
};

struct st_meta {
	const char *key, *value;
};

struct st_file {
	char *path;
	uint64_t size;           /* the file's size in bytes */
	uint64_t header_len;     /* N: the JSON header's length, padding included */
	const uint8_t *map;      /* the whole file, read-only (NULL when only the header was parsed) */
	const uint8_t *data;     /* start of the data section */
	size_t n;                /* tensors, in data order */
	struct st_tensor *t;
	bool has_meta;           /* a __metadata__ map is present (it may be empty) */
	size_t nmeta;
	struct st_meta *meta;    /* in header order */
	struct st_priv *priv;
};

/* Map and validate a file. */
int st_open(struct st_file **out, const char *path);
/* Validate a header held in memory: buf holds the file's first `avail` bytes (at least
 * 8 + N of them, or the whole file if shorter) and file_size is the whole file's size.
 * `name` is used in messages.  The tensors carry no data (map == data == NULL). */
int st_parse(struct st_file **out, const char *name, const uint8_t *buf, size_t avail,
	     uint64_t file_size);
void st_close(struct st_file *f);

const struct st_tensor *st_find(const struct st_file *f, const char *name);
const char *st_meta_get(const struct st_file *f, const char *key);

static inline const uint8_t *st_bytes(const struct st_file *f, const struct st_tensor *t)
{
	return f->data + t->begin;
}

static inline uint64_t st_nbytes(const struct st_tensor *t) { return t->end - t->begin; }

/* "[2, 3]" into out (size bytes, ST_SHAPE_LEN holds any), for messages and tables. */
const char *st_shape_str(unsigned ndim, const uint64_t *shape, char *out, size_t size);

/* ---- writing ---- */

struct st_entry {
	const char *name;
	enum dt dtype;
	unsigned ndim;
	const uint64_t *shape;
};

struct st_layout {
	size_t n;
	size_t *order;           /* order[k]: index into the caller's entries of the k-th tensor */
	uint64_t *begin;         /* per caller's entry: offset within the data section */
	uint64_t *nbytes;        /* per caller's entry */
	uint8_t *header;         /* the first 8 + N bytes of the file */
	size_t header_size;
	uint64_t data_size, file_size;
};

/* Lay out tensors as the reference writer does.  meta may be NULL (no __metadata__). */
int st_layout(struct st_layout *L, const struct st_entry *e, size_t n,
	      const struct st_meta *meta, size_t nmeta);
void st_layout_free(struct st_layout *L);

#endif
