/* Short fixed-width vectors for the numeric kernels (FP8 decoding, dot products).
 *
 * The source fixes 16 lanes; the compiler maps them onto whatever registers the target has
 * (4 SSE, 2 AVX2 or 1 AVX-512 register).  Since every lane is written out in the source,
 * and contraction into fused multiply-adds is off, results are the same bits on every
 * target and for every clone below: only speed differs.
 *
 * CKPT_CLONES compiles a hot function for x86-64-v4 (AVX-512), v3 (AVX2) and the baseline,
 * picking one at load time, so the default build (no -march) still uses wide vectors. */
#ifndef CKPT_SIMD_H
#define CKPT_SIMD_H

#include <stdint.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
/* The helpers below are inlined: passing 64-byte vectors by value never crosses a call. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v16f __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint16_t v16s __attribute__((vector_size(32)));
typedef uint8_t v16b __attribute__((vector_size(16)));

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define CKPT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CKPT_CLONES
#endif

/* Loads write through a pointer rather than return a vector: clang refuses a 64-byte vector
 * returned inside a function cloned for AVX2 (target_clones), inlined or not. */
static inline __attribute__((always_inline)) void v16f_load(v16f *v, const float *p)
{
	memcpy(v, p, sizeof *v);
}


/* 16 bytes widened to 32-bit lanes (through 16 bits: GCC turns that into two zero-extends;
 * the direct conversion comes out as scalar code). */
static inline __attribute__((always_inline)) void v16u_from_bytes(v16u *v, const uint8_t *p)
{
	v16b b;
	memcpy(&b, p, sizeof b);
	*v = __builtin_convertvector(__builtin_convertvector(b, v16s), v16u);
}

static inline __attribute__((always_inline)) void v16u_from_u16(v16u *v, const void *p)
{
	v16s s;
	memcpy(&s, p, sizeof s);
	*v = __builtin_convertvector(s, v16u);
}

static inline __attribute__((always_inline)) v16f v16f_set1(float x) { return (v16f){0} + x; }

/* The 16 lanes summed in a fixed pairwise order. */
static inline __attribute__((always_inline)) float v16f_sum(const v16f *v)
{
	float t[16];
	memcpy(t, v, sizeof t);
	for (int w = 8; w; w /= 2)
		for (int i = 0; i < w; i++)
			t[i] += t[i + w];
	return t[0];
}

#endif
