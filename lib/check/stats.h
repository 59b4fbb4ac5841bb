/* Per-tensor statistics: min, max, mean, standard deviation, largest magnitude, NaN and
 * infinity counts, over any dtype that has real values, FP8 block-quantized weights
 * optionally dequantized with their scales.
 *
 * Tensors are read where they lie (mmap) in fixed chunks spread over a thread pool, each
 * chunk summarised in double precision, and the chunk summaries combined in chunk order:
 * the same numbers whatever the number of threads, and memory bounded by a few chunks per
 * thread whatever the tensor's size. */
#ifndef CKPT_STATS_H
#define CKPT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "dtype.h"
#include "pool.h"
#include "dequant.h"
#include "view.h"

/* The running summary of a stream of values (mean and squared deviations combined as in
 * Chan, Golub and LeVeque's pairwise update). */
struct stats_acc {
	uint64_t n;              /* finite values */
	uint64_t nan, inf;
	double mean, m2;         /* of the finite values */
	double min, max, absmax;
};

void stats_acc_init(struct stats_acc *a);
/* Add n values (two passes over them: sum, then squared deviations from their mean). */
void stats_acc_add(struct stats_acc *a, const double *x, size_t n);
/* a <- a followed by b. */
void stats_acc_merge(struct stats_acc *a, const struct stats_acc *b);

struct tstats {
	bool valid;              /* the dtype has real values (not C64 or packed F6) */
	bool dequantized;        /* the values are weight x block scale */
	uint64_t count;          /* elements */
	uint64_t nan, inf;
	/* Over the finite values; NaN when there are none.  std is the population standard
	 * deviation (divided by the number of finite values). */
	double min, max, mean, std, absmax;
};

void stats_finish(const struct stats_acc *a, struct tstats *out);

/* One tensor's values: nelem elements of dtype at data, or, with q set, q's dequantized
 * rows (dtype and nelem are then ignored). */
struct stats_src {
	enum dt dtype;
	const uint8_t *data;
	uint64_t nelem;
	const struct quant *q;
};

/* Statistics of every source into out[0..n). */
void stats_run(const struct stats_src *src, size_t n, struct pool *p, struct tstats *out);

/* Statistics of canonical tensors of a view (any layout), read with view_read_f32: FP8
 * weights dequantized with their scales (float32 products, as with q above). */
void stats_views(const struct vtensor *const *v, size_t n, struct pool *p, struct tstats *out);

/* Statistics of tensors ts[0..n) of c.  Unless raw, an FP8 weight with a
 * "<name>_scale_inv" tensor is dequantized with blocks of bm x bn (config.json's
 * quantization_config.weight_block_size).  Fails when a scale does not fit its weight. */
int stats_ckpt(const struct ckpt *c, const struct ckpt_tensor *const *ts, size_t n, bool raw,
	       uint64_t bm, uint64_t bn, struct pool *p, struct tstats *out);

#endif
