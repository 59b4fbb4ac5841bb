#include "kern.h"

#include <math.h>
#include <string.h>

#include "dtype.h"
#include "simd.h"

/* R x C dot products over K: R + C loads feed R * C multiply-adds per 16 values.  The last
 * partial chunk is copied into zero-padded lanes (adding 0 * 0 changes nothing). */
/* 16 weights from element off of a row of float32 (bf == 0) or BF16 bit patterns. */
static inline __attribute__((always_inline)) void wload(v16f *v, const void *w, size_t off, int bf)
{
	if (!bf) {
		v16f_load(v, (const float *)w + off);
		return;
	}
	v16u u;
	v16u_from_u16(&u, (const uint16_t *)w + off);
	*v = (v16f)(u << 16);
}

static inline __attribute__((always_inline)) float wget(const void *w, size_t off, int bf)
{
	if (!bf)
		return ((const float *)w)[off];
	uint16_t h;
	memcpy(&h, (const uint16_t *)w + off, 2);
	return dt_bits_f32((uint32_t)h << 16);
}

static inline __attribute__((always_inline)) void block(const void *w, size_t ldw, int bf, int R, const float *x,
							 size_t ldx, int C, size_t K, float *y, size_t ldy)
{
	v16f acc[4][4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			acc[r][c] = (v16f){0};
	size_t k = 0;
	for (; k + 16 <= K; k += 16) {
		v16f wv[4], xv[4];
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			wload(&wv[r], w, r * ldw + k, bf);
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			v16f_load(&xv[c], x + c * ldx + k);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
				acc[r][c] += wv[r] * xv[c];
	}
	if (k < K) {
		float wt[4][16] = {{0}}, xt[4][16] = {{0}};
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			for (size_t i = k; i < K; i++)
				wt[r][i - k] = wget(w, r * ldw + i, bf);
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			memcpy(xt[c], x + c * ldx + k, (K - k) * sizeof(float));
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int c = 0; c < C; c++) {
				v16f a, b;
				v16f_load(&a, wt[r]);
				v16f_load(&b, xt[c]);
				acc[r][c] += a * b;
			}
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			y[c * ldy + r] = v16f_sum(&acc[r][c]);
}

static inline __attribute__((always_inline)) void blocks(const void *w, size_t ldw, int bf, size_t R, const float *x,
							  size_t ldx, size_t C, size_t K, float *y, size_t ldy)
{
	for (size_t r = 0; r < R; r += 4) {
		int rr = R - r < 4 ? (int)(R - r) : 4;
		for (size_t c = 0; c < C; c += 4) {
			int cc = C - c < 4 ? (int)(C - c) : 4;
			const void *wp = bf ? (const void *)((const uint16_t *)w + r * ldw) : (const void *)((const float *)w + r * ldw);
			const float *xp = x + c * ldx;
			float *yp = y + c * ldy + r;
#define B(RR, CC) \
	case RR * 8 + CC: \
		block(wp, ldw, bf, RR, xp, ldx, CC, K, yp, ldy); \
		break
			switch (rr * 8 + cc) {
				B(1, 1); B(1, 2); B(1, 3); B(1, 4);
				B(2, 1); B(2, 2); B(2, 3); B(2, 4);
				B(3, 1); B(3, 2); B(3, 3); B(3, 4);
				B(4, 1); B(4, 2); B(4, 3); B(4, 4);
			}
#undef B
		}
	}
}

/* Clones stay static: clang 14 names the dispatcher of an exported clone so that other
 * files' calls do not find it. */
CKPT_CLONES static void dot_block_f32(const float *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C,
				      size_t K, float *y, size_t ldy)
{
	blocks(w, ldw, 0, R, x, ldx, C, K, y, ldy);
}

void kern_dot_block(const float *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C, size_t K, float *y,
		    size_t ldy)
{
	dot_block_f32(w, ldw, R, x, ldx, C, K, y, ldy);
}

CKPT_CLONES static void dot_block_bf16(const uint16_t *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C,
				       size_t K, float *y, size_t ldy)
{
	blocks(w, ldw, 1, R, x, ldx, C, K, y, ldy);
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>

/* The same arithmetic with AVX-512 intrinsics: GCC's generic vectors widen 16 BF16 values
 * in six instructions where one zero-extending load and a shift do.  One register is the
 * 16 lanes; the lane sums are those of v16f_sum. */
#define AVX512 __attribute__((target("avx512f,avx512bw"), always_inline)) static inline

AVX512 __m512 zload(const uint16_t *p)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)p)), 16));
}

AVX512 void zblock(const uint16_t *w, size_t ldw, int R, const float *x, size_t ldx, int C, size_t K, float *y,
		   size_t ldy)
{
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			acc[r][c] = _mm512_setzero_ps();
	size_t k = 0;
	for (; k + 16 <= K; k += 16) {
		__m512 wv[4], xv[4];
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			wv[r] = zload(w + r * ldw + k);
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			xv[c] = _mm512_loadu_ps(x + c * ldx + k);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
				acc[r][c] = _mm512_add_ps(acc[r][c], _mm512_mul_ps(wv[r], xv[c]));
	}
	if (k < K) {
		uint16_t wt[4][16] = {{0}};
		float xt[4][16] = {{0}};
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			memcpy(wt[r], w + r * ldw + k, (K - k) * sizeof(uint16_t));
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			memcpy(xt[c], x + c * ldx + k, (K - k) * sizeof(float));
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
				acc[r][c] = _mm512_add_ps(acc[r][c], _mm512_mul_ps(zload(wt[r]), _mm512_loadu_ps(xt[c])));
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++) {
			v16f v;
			memcpy(&v, &acc[r][c], sizeof v);
			y[c * ldy + r] = v16f_sum(&v);
		}
}

__attribute__((target("avx512f,avx512bw"))) static void dot_block_bf16_avx512(const uint16_t *w, size_t ldw, size_t R,
									      const float *x, size_t ldx, size_t C,
									      size_t K, float *y, size_t ldy)
{
	/* tokens outer: a quad of activation rows stays in L1 while the (BF16, half as big)
	 * weight rows stream past it */
	for (size_t c = 0; c < C; c += 4) {
		int cc = C - c < 4 ? (int)(C - c) : 4;
		for (size_t r = 0; r < R; r += 4) {
			int rr = R - r < 4 ? (int)(R - r) : 4;
			const uint16_t *wp = w + r * ldw;
			const float *xp = x + c * ldx;
			float *yp = y + c * ldy + r;
#define B(RR, CC) \
	case RR * 8 + CC: \
		zblock(wp, ldw, RR, xp, ldx, CC, K, yp, ldy); \
		break
			switch (rr * 8 + cc) {
				B(1, 1); B(1, 2); B(1, 3); B(1, 4);
				B(2, 1); B(2, 2); B(2, 3); B(2, 4);
				B(3, 1); B(3, 2); B(3, 3); B(3, 4);
				B(4, 1); B(4, 2); B(4, 3); B(4, 4);
			}
#undef B
		}
	}
}
#endif

void kern_dot_block_bf16(const uint16_t *w, size_t ldw, size_t R, const float *x, size_t ldx, size_t C, size_t K,
			 float *y, size_t ldy)
{
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
	if (__builtin_cpu_supports("avx512bw")) {
		dot_block_bf16_avx512(w, ldw, R, x, ldx, C, K, y, ldy);
		return;
	}
#endif
	dot_block_bf16(w, ldw, R, x, ldx, C, K, y, ldy);
}

float kern_dot(const float *a, const float *b, size_t K)
{
	float y;
	kern_dot_block(a, K, 1, b, K, 1, K, &y, 1);
	return y;
}

void kern_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	double r = 1.0 / sqrt(ss / (double)n + eps);
	for (size_t i = 0; i < n; i++)
		out[i] = (float)((double)x[i] * r * w[i]);
}

void kern_silu_mul(float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double v = g[i];
		g[i] = (float)(v / (1.0 + exp(-v)) * u[i]);
	}
}

size_t kern_first_nonfinite(const float *x, size_t n)
{
	/* 64 values at a time through the exponent bits (all ones: NaN or infinity), so the
	 * common all-finite case costs one pass without a branch per value */
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		uint32_t bad = 0;
		for (size_t k = 0; k < 64; k++) {
			uint32_t b;
			memcpy(&b, x + i + k, sizeof b);
			bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
		}
		if (bad)
			break;
	}
	for (; i < n; i++)
		if (!isfinite(x[i]))
			return i;
	return n;
}
