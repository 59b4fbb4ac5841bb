/* The numeric kernels of the forward pass.  Dot products run in 16 float32 lanes whose
 * order is fixed by the source (lib/base/simd.h), so a result is the same bits whatever the
 * blocking, the thread count or the vector width. */
#ifndef CKPT_INFER_KERN_H
#define CKPT_INFER_KERN_H

#include <stddef.h>
#include <stdint.h>

/* y[c * ldy + r] = w_r . x_c over K values, for r < R (rows of w, ldw apart) and c < C
 * (rows of x, ldx apart).  Each dot product is the same function of its two vectors. */
void kern_dot_block(const float *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C, size_t K,
		    float *y, size_t ldy);
/* The same with w's rows as BF16 bit patterns (widened exactly: the same results as the
 * float32 rows they stand for). */
void kern_dot_block_bf16(const uint16_t *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C, size_t K,
			 float *y, size_t ldy);
float kern_dot(const float *a, const float *b, size_t K);

/* out = x / sqrt(mean(x^2) + eps) * w over n values (sums in double). */
void kern_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps);
/* g = silu(g) * u over n values. */
void kern_silu_mul(float *g, const float *u, size_t n);
/* The index of the first NaN or infinity of x[0..n), or n when every value is finite. */
size_t kern_first_nonfinite(const float *x, size_t n);

#endif
