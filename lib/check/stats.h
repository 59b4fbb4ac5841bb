/* Per-tensor statistics: min, max, mean, standard deviation, largest magnitude, NaN and
 * infinity counts, over any dtype that has real values, FP8 block-quantized weights
 * optionally dequantized with their scales, of tensors read through their view.
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

#include "dtype.h"
#include "pool.h"
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

/* Statistics of canonical tensors of views (any layout: a tensor stored in parts is
 * summarised whole) into out[0..n).  A tensor with block scales is dequantized (the
 * float32 products weight x scale, view_read_f32) unless raw; otherwise the stored values,
 * in the tensor's row-major order. */
void stats_views(const struct vtensor *const *v, size_t n, bool raw, struct pool *p, struct tstats *out);

/* Block scales that should be powers of two and are not (2^k, k any integer: positive and
 * finite; zero, negative, NaN and infinite values are not). */
struct pow2_count {
	bool checked;            /* a block scale the family means to be powers of two, read */
	uint64_t values, not_pow2;
	uint64_t first;          /* the row-major element of the first that is not */
	double first_value;
};

/* Count t's values (a block scale, F32, BF16, F16 or F8_E8M0) that are not powers of two,
 * into *out (checked set).  -1 with a message when they cannot be read. */
int stats_pow2(const struct vtensor *t, struct pow2_count *out);

/* Where v's model family means its block scales to be powers of two (formats/family.h:
 * family_pow2_scales), the count of each of ts[0..n) that is a block scale of v: an
 * array of n (caller frees; .checked false for the others and for a scale that could
 * not be read).  NULL where the family means nothing of the kind. */
struct pow2_count *stats_pow2_scales(const struct view *v, const struct vtensor *const *ts, size_t n);

#endif
