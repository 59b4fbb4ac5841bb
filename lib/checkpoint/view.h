/* A checkpoint seen through its layout: every tensor under its canonical (HF) name, with
 * how to assemble it from the stored tensors, and what the layout read besides (its files,
 * config.json, the HF index).  The one model of a checkpoint: layouts (formats/) build
 * views; tools, checks and plans read them the same way whatever the layout: HF FP8, HF
 * BF16, model-parallel ranks, MindSpore.
 *
 * A canonical tensor is handled as a 2-D matrix [rows, cols] (leading dimensions folded into
 * rows; a 1-D tensor is one row).  It is made of pieces, each a rectangle of one stored
 * tensor (itself folded to 2-D) placed at a rectangle of the canonical matrix, optionally
 * read transposed or with its rows permuted.  FP8 pieces carry their block scale and are
 * dequantized on read exactly as lib/tensor/dequant.h does; so are pieces of 4-bit codes
 * packed two a byte (FP4), whose canonical columns are codes, not stored bytes. */
#ifndef CKPT_VIEW_H
#define CKPT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "index.h"
#include "json.h"
#include "st.h"

struct jw;
struct table;

struct vpiece {
	const struct st_file *f;
	const struct st_tensor *t;       /* the stored tensor */
	const struct st_file *sf;
	const struct st_tensor *s;       /* its block scale, or NULL */
	uint64_t bm, bn;                 /* block size of s */
	uint64_t sr, sc;                 /* top-left in the stored tensor's 2-D fold */
	uint64_t dr, dc;                 /* top-left in the canonical matrix */
	uint64_t nr, nc;                 /* size, in canonical orientation */
	bool transposed;                 /* canonical (i, j) is stored (sr + j, sc + i) */
	const uint32_t *perm;            /* canonical row dr + i is stored row sr + perm[i] */
	/* NULL: one element a stored element.  Else the stored bytes (I8, U8 or F4) are 4-bit
	 * codes, two a byte, the low nibble the even column, and code c is codes4[c] (the
	 * scheme's table, formats/qscheme.h): sr, sc and the stored tensor's fold count codes,
	 * so an I8 [R, C] holds [R, 2C]. */
	const float *codes4;
};

struct vtensor {
	char *name;                      /* canonical name */
	enum dt dtype;                   /* values' dtype: BF16 for dequantized FP8 (what
					    DeepSeek's dequantization produces), else as stored */
	enum dt stored;                  /* the stored dtype of the (first) piece */
	unsigned ndim;
	uint64_t shape[ST_MAX_DIMS];
	uint64_t rows, cols;
	size_t npieces;
	struct vpiece *p;
	size_t nreplicas;                /* stored copies that must equal this tensor (e.g.
					    a tensor every model-parallel rank holds) */
	struct vpiece *replica;          /* one full-tensor piece each */
	/* The block scale of a scaled tensor as a tensor of its own, under the name an HF
	 * checkpoint gives it ("<name>_scale_inv"): its pieces are the pieces' scales.  NULL
	 * when unscaled, or when the pieces' scales do not tile one grid of blocks. */
	struct vtensor *scale;
};

/* A safetensors file of the checkpoint, as its layout read it. */
struct vfile {
	char *name;                      /* relative to the checkpoint's directory */
	char *path;                      /* for messages */
	const struct st_file *st;        /* NULL when it could not be read (a problem says why) */
};

struct ds_config;

enum view_layout { LAYOUT_HF, LAYOUT_DSMP, LAYOUT_MS_TRAIN, LAYOUT_MS_INFER };

struct view {
	enum view_layout layout;
	const char *layout_name;
	char *path;
	char *dir;                       /* the directory its files are in */
	size_t nfiles;
	struct vfile *files;             /* every safetensors file it reads, in the layout's order */
	/* config.json as its model family read it (formats/ds_config.h), NULL without one;
	 * a plain struct the view frees */
	struct ds_config *cfg;
	/* What the layout read beside the tensors (NULL: there is none).  The JSON, the
	 * index and the stray names belong to the layout's state (owner). */
	char *config_path;               /* config.json, also when it could not be read */
	const struct json_doc *config;   /* its JSON, when it could be parsed */
	char *index_path;                /* HF: model.safetensors.index.json */
	const struct idx *index;
	size_t nstray;
	char *const *stray;              /* HF: .safetensors files of dir the index does not name */
	size_t n;
	struct vtensor *t;               /* sorted by name once view_finish() ran */
	size_t nproblems;                /* what does not fit the layout (lenient opening) */
	char **problems;
	/* Canonical tensors the layout does not store by design (e.g. a MindSpore checkpoint
	 * has no MTP embed_tokens): their absence is no difference from another layout.  NULL:
	 * the layout stores everything. */
	bool (*omits)(const struct view *v, const char *name);
	void *owner;                     /* the layout's own state (open files ...) */
	void (*free_owner)(void *owner);
	/* What the layout adds to a report of the checkpoint (e.g. the model-parallel ranks):
	 * "key  value" rows into a two-column table, or members of the JSON object being
	 * written.  NULL: nothing. */
	void (*describe_rows)(const struct view *v, struct table *t);
	void (*describe_json)(const struct view *v, struct jw *w);
	/* The canonical name of weight's block scale, as the quantization scheme of the
	 * family's checkpoints names it (formats/qscheme.h; caller frees): the name its scale is
	 * listed under as a tensor of its own (vtensor.scale).  NULL: scales get none. */
	char *(*scale_name)(const char *weight);
	const struct vfile **by_st;      /* (view.c) the files by st, for view_file_of */
};

/* How a layout opens a checkpoint (layout.h). */
enum {
	/* Whatever does not fit the layout is a problem recorded in the view (v->problems),
	 * not a failure: for checks that report everything. */
	VIEW_LENIENT = 1,
	/* Only a block scale that does not fit its weight is (in the HF layout; the others
	 * open strictly): the weight is unscaled and the scale a tensor of its own.  For
	 * reports that show such a checkpoint as it is. */
	VIEW_SCALE_PROBLEMS = 2,
};

/* Building a view (for formats/). */
struct view *view_new(enum view_layout layout, const char *layout_name, const char *path);
/* A file the view reads (st may be NULL: unreadable). */
void view_add_file(struct view *v, const char *name, const char *path, const struct st_file *st);
struct vtensor *view_add(struct view *v, const char *name, unsigned ndim, const uint64_t *shape);
struct vpiece *vtensor_add_piece(struct vtensor *t);
struct vpiece *vtensor_add_replica(struct vtensor *t);
/* The common case: a whole stored tensor (with its scale, if FP8) is the canonical one. */
struct vtensor *view_add_whole(struct view *v, const char *name, const struct st_file *f,
			       const struct st_tensor *t, const struct st_file *sf,
			       const struct st_tensor *s, uint64_t bm, uint64_t bn);
void view_problem(struct view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sort, check that the pieces of each tensor tile it exactly, set dtypes. */
int view_finish(struct view *v);
void view_free(struct view *v);

const struct vtensor *view_find(const struct view *v, const char *name);
/* The file of v that st is, or NULL. */
const struct vfile *view_file_of(const struct view *v, const struct st_file *st);
/* The stored tensors of v under their HF names, in name order: each canonical tensor and
 * its block scale (vtensor.scale), as an HF checkpoint stores them.  *n gets their number;
 * caller frees the array. */
const struct vtensor **view_stored(const struct view *v, size_t *n);

/* Rows [r0, r0 + nr) of a canonical tensor as float32, row-major (nr * cols values). */
int view_read_f32(const struct vtensor *t, uint64_t r0, uint64_t nr, float *out);

enum {
	/* Round dequantized FP8 values to BF16, as DeepSeek's weight_dequant stores them (the
	 * tensor's dtype says so): bf16(float32(w) * float32(scale)).  Without it they stay
	 * the float32 products.  Values that are not dequantized are never rounded. */
	VIEW_ROUND_BF16 = 1,
	/* The codes of scaled pieces as the values they stand for, not multiplied by their
	 * scale (FP8 codes and 4-bit table values exactly); unscaled pieces as without it. */
	VIEW_CODES = 2,
	/* In place of each value, the block scale it is multiplied by (1 where unscaled): with
	 * VIEW_CODES, what judges a dequantized value by the quantization step that made it. */
	VIEW_SCALES = 4,
};

/* The same as view_read_f32, with row i of the result at out + i * ld (ld >= cols) and
 * flags above; FP8 e4m3 blocks are decoded 16 values at a time.  The reader of choice
 * for row blocks of large weights. */
int view_read_rows(const struct vtensor *t, uint64_t r0, uint64_t nr, float *out, size_t ld, unsigned flags);

/* Whether t's values are BF16 that view_read_rows_bf16 can produce: every piece stored
 * BF16, or sign-magnitude FP8 (e4m3fn, e5m2) with a block scale, and not transposed. */
bool vtensor_bf16_readable(const struct vtensor *t);
/* Rows as BF16 bit patterns, row i at out + i * ld: the values view_read_rows gives with
 * VIEW_ROUND_BF16, bit for bit, at half the size; FP8 blocks are decoded through one
 * 128-entry table per block (AVX-512 word permutes where the CPU has them). */
int view_read_rows_bf16(const struct vtensor *t, uint64_t r0, uint64_t nr, uint16_t *out, size_t ld);

/* Row r0 of t in the mapped file when t is one stored BF16 tensor whose rows are the
 * canonical rows (rows cols apart, read in place: no copy); NULL otherwise. */
const uint16_t *vtensor_bf16_direct(const struct vtensor *t, uint64_t r0);

/* The stored bytes behind t (and their block scales) are not needed for now: their pages
 * leave the process's resident set and are read from the file again if touched.  Lets a
 * reader of a large checkpoint keep its memory bounded by what it holds at a time.  Bytes
 * not in a file mapping (a view over buffers) are left alone. */
void vtensor_release(const struct vtensor *t);

/* Elements [e0, e0 + n) of a canonical tensor (row-major) as stored bytes, assembled from
 * its pieces: the stored values, whatever their block scales (whole-byte dtypes only).
 * Lets a check compare bytes, or summarise the stored values, of a tensor stored in parts. */
int view_read_elems(const struct vtensor *t, uint64_t e0, uint64_t n, uint8_t *out);
/* Its rows [r0, r0 + nr). */
static inline int view_read_bytes(const struct vtensor *t, uint64_t r0, uint64_t nr, uint8_t *out)
{
	return view_read_elems(t, r0 * t->cols, nr * t->cols, out);
}
/* Whether view_read_elems can give t's elements: whole bytes each (not packed 4-bit codes,
 * not F4 or F6). */
bool vtensor_byte_elems(const struct vtensor *t);
/* The same for one piece alone (e.g. a replica): its rows [i0, i0 + n), nc elements each. */
int vpiece_read_bytes(const struct vpiece *p, uint64_t i0, uint64_t n, uint8_t *out);

/* The bytes a piece reads: a whole stored tensor's as stored, a part's rounded up to
 * whole bytes. */
uint64_t vpiece_nbytes(const struct vpiece *p);

/* The stored bytes when the tensor is exactly one untransformed, unscaled stored tensor
 * (NULL otherwise): lets comparisons and hashes work on bytes. */
const uint8_t *vtensor_bytes(const struct vtensor *t);

#endif
