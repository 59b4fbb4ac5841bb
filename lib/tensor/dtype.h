/* Element types, in the safetensors reference's order (increasing alignment), and exact
 * conversions between them and float32. */
#ifndef CKPT_DTYPE_H
#define CKPT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum dt {
	DT_BOOL, DT_F4, DT_F6_E2M3, DT_F6_E3M2, DT_U8, DT_I8, DT_F8_E5M2, DT_F8_E4M3,
	DT_F8_E8M0, DT_F8_E4M3FNUZ, DT_F8_E5M2FNUZ, DT_I16, DT_U16, DT_F16, DT_BF16,
	DT_I32, DT_U32, DT_F32, DT_C64, DT_F64, DT_I64, DT_U64,
	DT_COUNT
};

const char *dt_name(enum dt t);
unsigned dt_bits(enum dt t);                 /* bits per element: 4, 6, 8 ... 64 */
bool dt_is_float(enum dt t);                 /* real floating-point kinds (not C64) */
bool dt_is_fp8(enum dt t);                   /* the 1-byte float kinds */
bool dt_has_value(enum dt t);                /* dt_to_f32 can widen it (not C64, F6) */
/* 0 and *out set, or -1 when the name is not a dtype the reference knows. */
int dt_parse(const char *s, size_t len, enum dt *out);
/* Bytes of n elements: 0 ok; -1 overflow; -2 the bits do not fill whole bytes. */
int dt_nbytes(enum dt t, uint64_t n, uint64_t *bytes);

/* Single-code decoders; all exact (every value is representable in float32). */
float dt_e4m3_to_f32(uint8_t c);     /* e4m3fn: no infinities, 0x7f/0xff NaN */
float dt_e5m2_to_f32(uint8_t c);     /* IEEE-like, infinities and NaNs */
float dt_e8m0_to_f32(uint8_t c);     /* 2^(c-127), 0xff NaN */
float dt_e4m3fnuz_to_f32(uint8_t c); /* bias 8, 0x80 NaN, no -0 */
float dt_e5m2fnuz_to_f32(uint8_t c); /* bias 16, 0x80 NaN, no -0 */
float dt_f4_to_f32(uint8_t c);       /* e2m1, low 4 bits */
float dt_f6e2m3_to_f32(uint8_t c);   /* low 6 bits */
float dt_f6e3m2_to_f32(uint8_t c);
float dt_f16_to_f32(uint16_t h);

/* Rounding conversions from float32, round to nearest even. */
uint16_t dt_f32_to_f16(float f);     /* overflow to infinity, subnormals kept */
uint8_t dt_f32_to_e4m3(float f);     /* as PyTorch: beyond the largest finite code -> NaN */
uint8_t dt_f32_to_e5m2(float f);     /* as PyTorch: overflow -> infinity */

static inline float dt_bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint32_t dt_f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float dt_bf16_to_f32(uint16_t h) { return dt_bits_f32((uint32_t)h << 16); }

/* Round to nearest even on the top 16 bits; a NaN stays a NaN (quieted, sign kept),
 * which is what torch's CPU cast and numpy-style converters do. */
static inline uint16_t dt_f32_to_bf16(float f)
{
	uint32_t u = dt_f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* Widen n elements of type t starting at element `first` of src (first matters only for
 * sub-byte types) to float32 / float64.  -1 when t has no real value (C64, F6 packing). */
int dt_to_f32(enum dt t, const void *src, uint64_t first, size_t n, float *dst);
int dt_to_f64(enum dt t, const void *src, uint64_t first, size_t n, double *dst);

#endif
