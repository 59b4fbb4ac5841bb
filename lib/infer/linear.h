/* y = x W^T for weights read through a view, weight-stationary: each task dequantizes a
 * block of W's rows once into its worker's buffer (lib/checkpoint/view.h's view_read_rows, never the
 * whole weight) and applies it to every token.  Several independent products can share
 * one parallel loop. */
#ifndef CKPT_INFER_LINEAR_H
#define CKPT_INFER_LINEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "view.h"

struct lin_job {
	const struct vtensor *w;     /* [out, in] */
	const float *x;              /* ntok rows of `in` values, ldx apart */
	size_t ldx, ntok;
	float *y;                    /* ntok rows of `out` values, ldy apart */
	size_t ldy;
	/* Only rows [r0, r0 + nr) of w, y's first column being row r0 (nr 0: every row):
	 * one group of a block-diagonal weight (DeepSeek-V4's grouped wo_a). */
	uint64_t r0, nr;
};

struct lin {
	struct pool *pool;
	unsigned flags;              /* for view_read_rows */
	bool release;                /* vtensor_release each weight after its products */
	unsigned nbuf;
	float **buf;                 /* one row-block buffer per worker */
	size_t *cap;
	uint64_t bytes;              /* stored bytes of the weights read so far */
	uint64_t macs;               /* multiply-adds done so far */
};

void lin_init(struct lin *l, struct pool *pool, unsigned flags);
void lin_fini(struct lin *l);
/* Run the products; fails (naming the tensor) when a weight cannot be read as numbers or
 * its shape does not fit. */
int lin_run(struct lin *l, const struct lin_job *jobs, size_t n);

/* Stored bytes behind a canonical tensor (its pieces and their scales). */
uint64_t vtensor_stored_bytes(const struct vtensor *t);

#endif
