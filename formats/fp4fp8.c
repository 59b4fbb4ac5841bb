#include "fp4fp8.h"

#include <math.h>
#include <string.h>

#include "dtype.h"

uint8_t fp4fp8_scale_byte(uint8_t maxb)
{
	/* torch's float -> E8M0: the exponent field, rounded up only from a normal float's
	 * mantissa; 2^(maxb - 133) is a float32 subnormal below maxb 7, whose field is 0 */
	if (maxb == 0xff)
		return 0xff;
	return maxb >= 6 ? (uint8_t)(maxb - 6) : 0;
}

/* Whether code value v under group byte b is what e4m3 code q under block byte ob gives
 * (double: every product of a code and a power of two in E8M0's range is exact). */
static int same_value(float v, uint8_t b, uint8_t q, uint8_t ob)
{
	double a = ldexp((double)v, (int)b - 127), n = ldexp((double)dt_e4m3_to_f32(q), (int)ob - 127);
	return a == n;
}

uint64_t fp4fp8_block_row(const uint8_t *codes, size_t stride, const uint8_t *scales, size_t sstride,
			  uint64_t cols, const float codes4[16], uint8_t *out, uint8_t *oscale)
{
	const unsigned per = FP4FP8_BLOCK / FP4FP8_GROUP;
	uint64_t lost = 0;
	for (uint64_t bc = 0; bc < cols / FP4FP8_BLOCK; bc++) {
		unsigned maxb = 0;
		for (unsigned r = 0; r < FP4FP8_BLOCK; r++)
			for (unsigned g = 0; g < per; g++) {
				unsigned b = scales[r * sstride + bc * per + g];
				maxb = b > maxb ? b : maxb;
			}
		uint8_t ob = fp4fp8_scale_byte((uint8_t)maxb);
		if (oscale)
			oscale[bc] = ob;
		if (!out)
			continue;
		/* float32, as torch: amax / 2^6, then scale / that, then code * offset */
		float smax = dt_e8m0_to_f32((uint8_t)maxb) / 64.0f;
		for (unsigned r = 0; r < FP4FP8_BLOCK; r++)
			for (unsigned g = 0; g < per; g++) {
				uint64_t c0 = bc * FP4FP8_BLOCK + g * FP4FP8_GROUP;
				uint8_t b = scales[r * sstride + c0 / FP4FP8_GROUP];
				uint8_t tab[16], bad[16];
				for (unsigned c = 0; c < 16; c++) {
					if (maxb == 0xff) {
						tab[c] = 0x7f; /* a NaN offset: positive NaN */
						bad[c] = b != 0xff;
						continue;
					}
					float off = dt_e8m0_to_f32(b) / smax;
					tab[c] = dt_f32_to_e4m3(codes4[c] * off);
					bad[c] = !same_value(codes4[c], b, tab[c], ob);
				}
				const uint8_t *in = codes + r * stride + c0 / 2;
				uint8_t *o = out + r * cols + c0;
				for (unsigned j = 0; j < FP4FP8_GROUP / 2; j++) {
					unsigned lo = in[j] & 15, hi = in[j] >> 4;
					o[2 * j] = tab[lo];
					o[2 * j + 1] = tab[hi];
					lost += bad[lo] + bad[hi];
				}
			}
	}
	return lost;
}
