#include "quantize.h"

#include <math.h>
#include <string.h>

bool quantize_weight_dtype(enum dt t) { return t == DT_F8_E4M3 || t == DT_F8_E5M2; }
bool quantize_scale_dtype(enum dt t) { return t == DT_F32 || t == DT_BF16 || t == DT_F8_E8M0; }

float quantize_max(enum dt wdt) { return wdt == DT_F8_E5M2 ? 57344.0f : 448.0f; }

/* recip: amax times float32's 1 / max, as torch on CUDA divides a tensor by a Python
 * number (BinaryDivTrueKernel.cu: "this may lose one bit of precision"); one ulp above
 * amax / max for about one block in four.  A power of two is the same either way (at
 * amax = 448 * 2^k the product rounds to 2^k exactly). */
static float scale_of(float amax, enum dt wdt, enum dt sdt, bool pow2, bool recip, void *stored)
{
	float a = amax > 1e-12f ? amax : 1e-12f;
	float s = recip ? a * (1.0f / quantize_max(wdt)) : a / quantize_max(wdt);
	if (pow2 || sdt == DT_F8_E8M0) {
		int e;
		float m = frexpf(s, &e);      /* s = m * 2^e, m in [0.5, 1) */
		int k = m == 0.5f ? e - 1 : e;  /* the least power of two >= s */
		if (k < -127)
			k = -127;
		if (k > 127)
			k = 127;
		s = ldexpf(1.0f, k);
		if (sdt == DT_F8_E8M0) {
			*(uint8_t *)stored = (uint8_t)(k + 127);
			return dt_e8m0_to_f32((uint8_t)(k + 127));
		}
	}
	if (sdt == DT_BF16) {
		uint16_t h = dt_f32_to_bf16(s);
		memcpy(stored, &h, 2);
		return dt_bf16_to_f32(h);
	}
	memcpy(stored, &s, 4);
	return s;
}

float quantize_scale(float amax, enum dt wdt, enum dt sdt, bool pow2, void *stored)
{
	return scale_of(amax, wdt, sdt, pow2, false, stored);
}

uint8_t quantize_code(enum dt wdt, float v)
{
	return wdt == DT_F8_E5M2 ? dt_f32_to_e5m2(v) : dt_f32_to_e4m3(v);
}

float quantize_floor(enum dt in)
{
	return in == DT_BF16 ? dt_bf16_to_f32(dt_f32_to_bf16(1e-12f)) : 1e-12f;
}

/* Rows [0, nrows) x columns [c0, c1) of src as float32: src itself for F32 (row stride
 * cols), else widened into tmp (row stride c1 - c0). */
static const float *tile(const void *src, enum dt in, uint64_t nrows, uint64_t cols, uint64_t c0, uint64_t c1,
			 float *tmp, uint64_t *stride)
{
	if (in == DT_F32) {
		*stride = cols;
		return (const float *)src + c0;
	}
	size_t esz = dt_bits(in) / 8;
	for (uint64_t r = 0; r < nrows; r++)
		dt_to_f32(in, (const uint8_t *)src + (r * cols + c0) * esz, 0, (size_t)(c1 - c0), tmp + r * (c1 - c0));
	*stride = c1 - c0;
	return tmp;
}

int quantize_rows(const void *src, enum dt in, uint64_t nrows, uint64_t cols, const struct qblock *q,
		  uint8_t *codes, void *scales, float *tmp, uint64_t *bad)
{
	size_t ssz = dt_bits(q->sdt) / 8;
	float max = quantize_max(q->wdt);
	for (uint64_t c0 = 0, bc = 0; c0 < cols; c0 += q->bn, bc++) {
		uint64_t c1 = c0 + q->bn < cols ? c0 + q->bn : cols, w = c1 - c0, stride;
		const float *v = tile(src, in, nrows, cols, c0, c1, tmp, &stride);
		float amax = 0;
		for (uint64_t r = 0; r < nrows; r++)
			for (uint64_t c = 0; c < w; c++) {
				float a = fabsf(v[r * stride + c]);
				if (!isfinite(a)) {
					*bad = r * cols + c0 + c;
					return 1;
				}
				amax = a > amax ? a : amax;
			}
		float s = scale_of(amax > q->floor ? amax : q->floor, q->wdt, q->sdt, q->pow2, q->recip,
				   (uint8_t *)scales + bc * ssz);
		if (!codes)
			continue;
		for (uint64_t r = 0; r < nrows; r++)
			for (uint64_t c = 0; c < w; c++) {
				float x = v[r * stride + c] / s;
				codes[r * cols + c0 + c] = quantize_code(q->wdt, x > max ? max : x < -max ? -max : x);
			}
	}
	return 0;
}

void quantize_block_row(const float *v, uint64_t nrows, uint64_t cols, uint64_t bn, enum dt wdt,
			enum dt sdt, bool pow2, uint8_t *codes, void *scales)
{
	struct qblock q = {wdt, sdt, pow2, false, 1e-12f, bn};
	uint64_t bad;
	quantize_rows(v, DT_F32, nrows, cols, &q, codes, scales, NULL, &bad);
}
