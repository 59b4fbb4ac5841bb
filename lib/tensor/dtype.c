#include "dtype.h"

#include <math.h>

static const struct {
	const char *name;
	unsigned bits;
} info[DT_COUNT] = {
	[DT_BOOL] = {"BOOL", 8},       [DT_F4] = {"F4", 4},
	[DT_F6_E2M3] = {"F6_E2M3", 6}, [DT_F6_E3M2] = {"F6_E3M2", 6},
	[DT_U8] = {"U8", 8},           [DT_I8] = {"I8", 8},
	[DT_F8_E5M2] = {"F8_E5M2", 8}, [DT_F8_E4M3] = {"F8_E4M3", 8},
	[DT_F8_E8M0] = {"F8_E8M0", 8}, [DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
	[DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
	[DT_I16] = {"I16", 16},        [DT_U16] = {"U16", 16},
	[DT_F16] = {"F16", 16},        [DT_BF16] = {"BF16", 16},
	[DT_I32] = {"I32", 32},        [DT_U32] = {"U32", 32},
	[DT_F32] = {"F32", 32},        [DT_C64] = {"C64", 64},
	[DT_F64] = {"F64", 64},        [DT_I64] = {"I64", 64},
	[DT_U64] = {"U64", 64},
};

const char *dt_name(enum dt t) { return (unsigned)t < DT_COUNT ? info[t].name : "?"; }
unsigned dt_bits(enum dt t) { return info[t].bits; }

bool dt_is_fp8(enum dt t)
{
	return t == DT_F8_E5M2 || t == DT_F8_E4M3 || t == DT_F8_E8M0 || t == DT_F8_E4M3FNUZ ||
	       t == DT_F8_E5M2FNUZ;
}

bool dt_is_float(enum dt t)
{
	return dt_is_fp8(t) || t == DT_F4 || t == DT_F6_E2M3 || t == DT_F6_E3M2 || t == DT_F16 ||
	       t == DT_BF16 || t == DT_F32 || t == DT_F64;
}

bool dt_has_value(enum dt t)
{
	return t != DT_C64 && t != DT_F6_E2M3 && t != DT_F6_E3M2;
}

int dt_parse(const char *s, size_t len, enum dt *out)
{
	for (int t = 0; t < DT_COUNT; t++)
		if (strlen(info[t].name) == len && memcmp(info[t].name, s, len) == 0) {
			*out = (enum dt)t;
			return 0;
		}
	return -1;
}

int dt_nbytes(enum dt t, uint64_t n, uint64_t *bytes)
{
	unsigned __int128 bits = (unsigned __int128)n * info[t].bits;
	if (bits % 8)
		return -2;
	if (bits / 8 > UINT64_MAX)
		return -1;
	*bytes = (uint64_t)(bits / 8);
	return 0;
}

/* The FP8 tables are constant expressions, so the hot loops index read-only data. */
#define SGN(c) (((c) & 0x80) ? -1.0f : 1.0f)
#define E4M3(c) (((c) & 0x7f) == 0x7f ? SGN(c) * NAN : SGN(c) * \
	((((c) >> 3) & 15) == 0 ? (float)((c) & 7) / 512.0f \
	 : (float)(8 + ((c) & 7)) * (float)(1u << (((c) >> 3) & 15)) / 1024.0f))
#define E5M2(c) ((((c) >> 2) & 31) == 31 ? (((c) & 3) ? SGN(c) * NAN : SGN(c) * INFINITY) : \
	SGN(c) * ((((c) >> 2) & 31) == 0 ? (float)((c) & 3) / 65536.0f \
	 : (float)(4 + ((c) & 3)) * (float)(1u << (((c) >> 2) & 31)) / 131072.0f))
#define R4(F, b) F(b), F((b) + 1), F((b) + 2), F((b) + 3)
#define R16(F, b) R4(F, b), R4(F, (b) + 4), R4(F, (b) + 8), R4(F, (b) + 12)
#define R64(F, b) R16(F, b), R16(F, (b) + 16), R16(F, (b) + 32), R16(F, (b) + 48)
#define R256(F) R64(F, 0u), R64(F, 64u), R64(F, 128u), R64(F, 192u)

static const float e4m3_lut[256] = {R256(E4M3)};
static const float e5m2_lut[256] = {R256(E5M2)};

float dt_e4m3_to_f32(uint8_t c) { return e4m3_lut[c]; }
float dt_e5m2_to_f32(uint8_t c) { return e5m2_lut[c]; }

float dt_e8m0_to_f32(uint8_t c)
{
	/* The exponent bias is float32's own, so the code is the exponent field; 0 is the
	 * one subnormal, 2^-127. */
	if (c == 0xff)
		return NAN;
	return dt_bits_f32(c ? (uint32_t)c << 23 : 0x00400000u);
}

/* A small float with e exponent bits, m mantissa bits and the given bias, no inf/NaN. */
static float minifloat(unsigned code, int ebits, int mbits, int bias)
{
	unsigned e = (code >> mbits) & ((1u << ebits) - 1), m = code & ((1u << mbits) - 1);
	float s = (code >> (ebits + mbits)) & 1 ? -1.0f : 1.0f;
	if (e == 0)
		return s * ldexpf((float)m, 1 - bias - mbits);
	return s * ldexpf((float)((1u << mbits) + m), (int)e - bias - mbits);
}

float dt_e4m3fnuz_to_f32(uint8_t c) { return c == 0x80 ? NAN : minifloat(c, 4, 3, 8); }
float dt_e5m2fnuz_to_f32(uint8_t c) { return c == 0x80 ? NAN : minifloat(c, 5, 2, 16); }
float dt_f4_to_f32(uint8_t c) { return minifloat(c & 0xf, 2, 1, 1); }
float dt_f6e2m3_to_f32(uint8_t c) { return minifloat(c & 0x3f, 2, 3, 1); }
float dt_f6e3m2_to_f32(uint8_t c) { return minifloat(c & 0x3f, 3, 2, 3); }

float dt_f16_to_f32(uint16_t h)
{
	uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
	if (e == 0x1f)
		return dt_bits_f32(s | 0x7f800000u | (m << 13));
	if (e == 0) {
		float v = ldexpf((float)m, -24);
		return s ? -v : v;
	}
	return dt_bits_f32(s | ((e + 112) << 23) | (m << 13));
}

/* |f| (finite, not NaN) rounded to nearest even on the grid of a small float; returns the
 * code without sign, possibly one past the largest finite code when it rounds up (or more:
 * callers clamp).  On float32's bits, not frexpf/ldexpf/nearbyintf (which cost ckpt-bf16-to-fp8
 * two thirds of its time): the same grid, the same ties (tests/unit/test_dtype.c holds the
 * float formula as its reference). */
static unsigned round_mini(float a, int mbits, int bias)
{
	uint32_t u = dt_f32_bits(a), ef = u >> 23;
	int emin = 1 - bias;
	if ((int)ef - 127 < emin) {
		/* subnormal range: a fixed-point grid of step 2^(emin - mbits); a = m * 2^(e - 23) */
		uint32_t m = ef ? (u & 0x7fffffu) | 0x800000u : u & 0x7fffffu;
		int e = ef ? (int)ef - 127 : -126, sh = 23 - e - mbits + emin;
		if (sh > 25) /* m < 2^24: below half the step */
			return 0;
		uint32_t q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
		return q + (rem > half || (rem == half && (q & 1)));
	}
	/* normal: drop 23 - mbits mantissa bits, ties to even; a carry steps the exponent */
	int sh = 23 - mbits;
	uint32_t r = (u + (1u << (sh - 1)) - 1 + ((u >> sh) & 1)) >> sh;
	return r - ((uint32_t)(127 - bias) << mbits);
}

uint16_t dt_f32_to_f16(float f)
{
	uint32_t u = dt_f32_bits(f), sign = (u >> 16) & 0x8000;
	if (isnan(f))
		return (uint16_t)(sign | 0x7e00 | ((u >> 13) & 0x3ff));
	float a = fabsf(f);
	if (a >= 65520.0f) /* halfway between 65504 and 2^16 rounds up to infinity */
		return (uint16_t)(sign | 0x7c00);
	return (uint16_t)(sign | round_mini(a, 10, 15));
}

uint8_t dt_f32_to_e4m3(float f)
{
	uint8_t sign = (dt_f32_bits(f) >> 24) & 0x80;
	if (isnan(f) || isinf(f))
		return sign | 0x7f;
	unsigned c = round_mini(fabsf(f), 3, 7);
	return sign | (uint8_t)(c >= 0x7f ? 0x7f : c);
}

uint8_t dt_f32_to_e5m2(float f)
{
	uint8_t sign = (dt_f32_bits(f) >> 24) & 0x80;
	if (isnan(f))
		return sign | 0x7f;
	if (isinf(f))
		return sign | 0x7c;
	unsigned c = round_mini(fabsf(f), 2, 15);
	return sign | (uint8_t)(c >= 0x7c ? 0x7c : c);
}

/* One generic loop per destination type; the switch sits outside the loops so each loop
 * is a plain, vectorisable pass. */
#define WIDEN(T, dst, src, n, first) do {                                              \
	const uint8_t *b = (const uint8_t *)(src);                                      \
	switch (t) {                                                                     \
	case DT_BOOL: for (size_t i = 0; i < n; i++) dst[i] = b[i] != 0; break;          \
	case DT_U8: for (size_t i = 0; i < n; i++) dst[i] = (T)b[i]; break;              \
	case DT_I8: for (size_t i = 0; i < n; i++) dst[i] = (T)(int8_t)b[i]; break;      \
	case DT_F8_E4M3: for (size_t i = 0; i < n; i++) dst[i] = e4m3_lut[b[i]]; break;  \
	case DT_F8_E5M2: for (size_t i = 0; i < n; i++) dst[i] = e5m2_lut[b[i]]; break;  \
	case DT_F8_E8M0: for (size_t i = 0; i < n; i++) dst[i] = dt_e8m0_to_f32(b[i]); break; \
	case DT_F8_E4M3FNUZ: for (size_t i = 0; i < n; i++) dst[i] = dt_e4m3fnuz_to_f32(b[i]); break; \
	case DT_F8_E5M2FNUZ: for (size_t i = 0; i < n; i++) dst[i] = dt_e5m2fnuz_to_f32(b[i]); break; \
	case DT_F4: for (size_t i = 0; i < n; i++) {                                     \
		uint64_t j = first + i;                                                  \
		dst[i] = dt_f4_to_f32((uint8_t)(b[j / 2] >> (4 * (j % 2))));             \
	} break;                                                                         \
	case DT_I16: for (size_t i = 0; i < n; i++) { int16_t v; memcpy(&v, b + 2 * i, 2); dst[i] = (T)v; } break; \
	case DT_U16: for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, b + 2 * i, 2); dst[i] = (T)v; } break; \
	case DT_F16: for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, b + 2 * i, 2); dst[i] = dt_f16_to_f32(v); } break; \
	case DT_BF16: for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, b + 2 * i, 2); dst[i] = dt_bf16_to_f32(v); } break; \
	case DT_I32: for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, b + 4 * i, 4); dst[i] = (T)v; } break; \
	case DT_U32: for (size_t i = 0; i < n; i++) { uint32_t v; memcpy(&v, b + 4 * i, 4); dst[i] = (T)v; } break; \
	case DT_F32: for (size_t i = 0; i < n; i++) { float v; memcpy(&v, b + 4 * i, 4); dst[i] = v; } break; \
	case DT_F64: for (size_t i = 0; i < n; i++) { double v; memcpy(&v, b + 8 * i, 8); dst[i] = (T)v; } break; \
	case DT_I64: for (size_t i = 0; i < n; i++) { int64_t v; memcpy(&v, b + 8 * i, 8); dst[i] = (T)v; } break; \
	case DT_U64: for (size_t i = 0; i < n; i++) { uint64_t v; memcpy(&v, b + 8 * i, 8); dst[i] = (T)v; } break; \
	default: return -1;                                                              \
	}                                                                                \
} while (0)

int dt_to_f32(enum dt t, const void *src, uint64_t first, size_t n, float *dst)
{
	if (t != DT_F4)
		src = (const uint8_t *)src + first * (dt_bits(t) / 8);
	WIDEN(float, dst, src, n, first);
	return 0;
}

int dt_to_f64(enum dt t, const void *src, uint64_t first, size_t n, double *dst)
{
	if (t != DT_F4)
		src = (const uint8_t *)src + first * (dt_bits(t) / 8);
	WIDEN(double, dst, src, n, first);
	return 0;
}
