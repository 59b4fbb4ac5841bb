#include "quantize.h"

#include <math.h>
#include <string.h>

bool quantize_weight_dtype(enum dt t) { return t == DT_F8_E4M3 || t == DT_F8_E5M2; }
bool quantize_scale_dtype(enum dt t) { return t == DT_F32 || t == DT_BF16 || t == DT_F8_E8M0; }

float quantize_max(enum dt wdt) { return wdt == DT_F8_E5M2 ? 57344.0f : 448.0f; }

float quantize_scale(float amax, enum dt wdt, enum dt sdt, bool pow2, void *stored)
{
	float s = (amax > 1e-12f ? amax : 1e-12f) / quantize_max(wdt);
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

uint8_t quantize_code(enum dt wdt, float v)
{
	return wdt == DT_F8_E5M2 ? dt_f32_to_e5m2(v) : dt_f32_to_e4m3(v);
}

void quantize_block_row(const float *v, uint64_t nrows, uint64_t cols, uint64_t bn, enum dt wdt,
			enum dt sdt, bool pow2, uint8_t *codes, void *scales)
{
	size_t ssz = dt_bits(sdt) / 8;
	for (uint64_t c0 = 0, bc = 0; c0 < cols; c0 += bn, bc++) {
		uint64_t c1 = c0 + bn < cols ? c0 + bn : cols;
		float amax = 0;
		for (uint64_t r = 0; r < nrows; r++)
			for (uint64_t c = c0; c < c1; c++) {
				float a = fabsf(v[r * cols + c]);
				amax = a > amax ? a : amax;
			}
		float s = quantize_scale(amax, wdt, sdt, pow2, (uint8_t *)scales + bc * ssz);
		if (!codes)
			continue;
		for (uint64_t r = 0; r < nrows; r++)
			for (uint64_t c = c0; c < c1; c++)
				codes[r * cols + c] = quantize_code(wdt, v[r * cols + c] / s);
	}
}
