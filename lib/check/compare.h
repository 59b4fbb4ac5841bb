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
 * Quantized against float: when one tensor is block-quantized (FP8 or 4-bit codes, every
 * piece with its block scale) and the other is a float tensor as stored (F32, F16, BF16),
 * each value is judged, outside exact mode, by the quantization step that made it instead
 * of atol and rtol.  Its error is |a - c * s| (a the float value, c the code's value, s
 * its block scale), less half the float dtype's spacing at a (a may be the rounding of
 * the value that was quantized), in units of half the gap between c and the neighbouring
 * code on a's side of it, times s: at most 1 is what round-to-nearest quantization gives,
 * up to ties (and 2^-16 for the float32 division that made the code).  Beyond the largest
 * code, the gap below it is the unit (a saturated code judged against the maximum); at
 * zero, the gap to the smallest code.  NaN and infinite codes pass only against the same.
 *
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
	bool steps;                      /* judged by quantization steps (above) */
	double max_steps;                /* the largest error in half-steps */
	float first_a, first_b;          /* the values of the first mismatch, as read (the
					    quantized one dequantized in float32) */
	double first_steps;              /* its error in half-steps, when steps */
};

/* Whether a and b are compared by quantization steps, and which one is quantized. */
bool cmp_by_steps(const struct vtensor *a, const struct vtensor *b, bool *a_quantized);

/* Above this many half-steps a value is beyond its quantization step. */
#define CMP_STEPS_LIMIT (1.0 + 0x1p-16)

/* The dtype two tensors' values are compared in. */
enum dt cmp_dtype(enum dt a, enum dt b);
/* x rounded to dtype t (identity for dtypes at least as fine as float32). */
float cmp_round(enum dt t, float x);

void cmp_run(const struct cmp_pair *p, size_t n, const struct cmp_opts *o, struct pool *pool,
	     struct cmp_result *out);

#endif
