/* Ready-made byte sources for the conversion engine (lib/engine/convert.h), for tensors that are
 * not a plain copy of one stored tensor:
 *  - a gather: byte runs of stored tensors one after another (per-head concatenations,
 *    row splits, stacking);
 *  - a transpose: [batch, rows, cols] elements of a stored tensor as [batch, cols, rows];
 *  - rows of a view: each output row a row of a canonical tensor (lib/checkpoint/view.h), read as
 *    float32 and stored as the output dtype (the way to write any layout from any other).
 * Each fills chunks on the engine's worker threads and tells the engine which input bytes
 * a chunk reads and which it is the last to read, so input pages are read ahead and
 * dropped behind as with copies.  The description must outlive cv_run. */
#ifndef CKPT_CONVERT_SRC_H
#define CKPT_CONVERT_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "view.h"

/* ---- gather ---- */

struct cv_span {
	const uint8_t *p;
	uint64_t len;
	uint64_t at;             /* where the run starts in the output */
};

struct cv_gather {
	size_t n, cap;
	struct cv_span *run;
	uint64_t len;            /* output bytes so far */
};

/* Append len bytes at p (joined with the previous run when they follow it in memory). */
void cv_gather_add(struct cv_gather *g, const uint8_t *p, uint64_t len);
void cv_gather_free(struct cv_gather *g);
/* t's bytes are g's runs; g->len must equal t's byte size. */
void cv_tensor_gather(struct cv_tensor *t, const struct cv_gather *g);

/* ---- transpose ---- */

struct cv_transpose {
	const uint8_t *src;
	uint64_t batch, rows, cols;  /* the stored shape, folded to [batch, rows, cols] */
	unsigned esize;              /* bytes per element: 1, 2, 4 or 8 */
};

/* t's bytes are src transposed on its last two dimensions. */
void cv_tensor_transpose(struct cv_tensor *t, const struct cv_transpose *x);

/* ---- rows of a view ---- */

struct cv_rowseg {
	const struct vtensor *t;
	uint64_t r0, nr;             /* rows r0 .. r0 + nr of t, or r0 + perm[i] when perm is set */
	const uint32_t *perm;
	uint64_t at;                 /* first output row */
};

struct cv_rows {
	size_t n, cap;
	struct cv_rowseg *seg;
	uint64_t rows, cols;         /* the output, folded to 2-D */
	enum dt out;                 /* F32, BF16 or F16 */
};

/* An output of `cols` columns stored as `out`. */
void cv_rows_init(struct cv_rows *r, uint64_t cols, enum dt out);
/* Append nr rows of t (whose cols must match). */
void cv_rows_add(struct cv_rows *r, const struct vtensor *t, uint64_t r0, uint64_t nr, const uint32_t *perm);
void cv_rows_free(struct cv_rows *r);
/* t's bytes are r's rows.  A value is what view_read_f32 gives, rounded to bf16 first when
 * its tensor's dtype is BF16 (dequantized FP8 is bf16(float32(w) * float32(s)), as
 * DeepSeek's dequantization stores it), then rounded (to nearest even) to the output dtype. */
void cv_tensor_rows(struct cv_tensor *t, const struct cv_rows *r);

#endif
