/* Two canonical tensors of the same shape compared value by value (views of any layout;
 * FP8 dequantized with its scales).
 *
 * Each value is first rounded to its own tensor's value dtype (BF16 for a dequantized FP8
 * weight: what DeepSeek's dequantization produces), then both to the coarser of the two
 * dtypes when they differ (fewer significand bits: F32 > F16 > BF16 > F8_E4M3 > F8_E5M2),
 * so that a BF16 copy of an F32 tensor, or the BF16 output of an FP8 checkpoint, compares
 * equal to its source.  Then:
 *   identical   every pair has the same bits (NaN equals NaN whatever its payload; +0 and
 *               -0 differ);
 *   exact mode  a pair is a mismatch unless identical;
 *   otherwise   a pair is a mismatch when |x - y| > atol + rtol * max(|x|, |y|), or when
 *               only one of them is NaN.
 * Errors: max |x - y| and max |x - y| / max(|x|, |y|) over the pairs that are not both NaN.
 *
 * Work is spread over a pool in chunks of rows, memory bounded by two chunks per thread;
 * results do not depend on the number of threads. */
#ifndef CKPT_COMPARE_H
#define CKPT_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "pool.h"
#include "view.h"

struct cmp_opts {
	bool exact;
	double atol, rtol;
	bool verbose;            /* reports list every tensor, not only those that differ */
};

/* The defaults of --atol and --rtol: one BF16 rounding step (2^-8 relative) passes. */
#define CMP_ATOL 1e-6
#define CMP_RTOL 1e-2

struct cmp_pair {
	const struct vtensor *a, *b;     /* same rows and cols */
};

struct cmp_result {
	enum dt as;                      /* the dtype the values were compared in */
	uint64_t values;
	uint64_t mismatches;
	uint64_t nan_one;                /* pairs where only one value is NaN */
	uint64_t first;                  /* index (row-major) of the first mismatch */
	bool identical;
	double max_abs, max_rel;
};

/* The dtype two tensors' values are compared in. */
enum dt cmp_dtype(enum dt a, enum dt b);
/* x rounded to dtype t (identity for dtypes at least as fine as float32). */
float cmp_round(enum dt t, float x);

void cmp_run(const struct cmp_pair *p, size_t n, const struct cmp_opts *o, struct pool *pool,
	     struct cmp_result *out);

#endif
