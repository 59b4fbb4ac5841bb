/* Block quantization, the inverse of dequant.h: float32 values to 1-byte float codes with one
 * scale per block, as DeepSeek's tools make FP8 checkpoints: for each block,
 * scale = max(amax, 1e-12) / largest finite code (448 for e4m3, 57344 for e5m2), optionally
 * rounded up to a power of two (scale_fmt "ue8m0"), then rounded to the scale's stored
 * dtype; each value's code is round-to-nearest-even(value / stored scale).  Because the
 * codes are made with the scale as stored, dequantizing (dequant.h) gives every value back
 * within the code's precision. */
#ifndef CKPT_QUANTIZE_H
#define CKPT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"

/* Weight and scale dtypes this file can make. */
bool quantize_weight_dtype(enum dt t);   /* F8_E4M3, F8_E5M2 */
bool quantize_scale_dtype(enum dt t);    /* F32, BF16, F8_E8M0 (always a power of two) */

/* The largest finite value of a weight dtype. */
float quantize_max(enum dt wdt);

/* The scale of a block whose largest magnitude is amax: its stored bits go to *stored
 * (dt_bits(sdt) / 8 bytes, little-endian) and the value dequantization will multiply by
 * is returned. */
float quantize_scale(float amax, enum dt wdt, enum dt sdt, bool pow2, void *stored);

/* One code. */
uint8_t quantize_code(enum dt wdt, float v);

/* The floor a block's largest magnitude is raised to for a weight stored as `in`: 1e-12,
 * as DeepSeek's tools and slime's convert_hf_to_fp8.py clamp it, rounded to BF16 for a BF16
 * weight as torch's clamp of a BF16 tensor rounds it (2^-40 * 1.1015625, a little above
 * 1e-12); float32's 1e-12 for the others (torch would round it to 0 for F16, and an
 * all-zero block would become NaN codes). */
float quantize_floor(enum dt in);

/* How blocks are quantized. */
struct qblock {
	enum dt wdt, sdt;        /* codes (quantize_weight_dtype), scales (quantize_scale_dtype) */
	bool pow2;               /* scales rounded up to a power of two */
	bool recip;              /* amax * (1 / max), not amax / max (slime's, made on a GPU) */
	float floor;             /* quantize_floor */
	uint64_t bn;             /* block width */
};

/* One block row of a stored 2-D tensor: nrows (<= the block height) rows of cols values of
 * dtype `in` (F32, BF16 or F16) at src, row-major, in column blocks of q->bn.  Per block:
 * amax, its largest magnitude (read exactly as float32), raised to q->floor; its scale,
 * quantize_scale(amax) (with q->recip, amax times float32's 1 / max), stored at
 * scales[block]; unless codes is NULL, each value's code,
 * quantize_code(value / scale clamped to +-quantize_max) (float32 division, as torch
 * divides a BF16 tensor by a float32 scale; the clamp is slime's, and changes nothing for
 * finite values).  tmp: nrows * bn floats (unused for F32).  0, or 1 at the first value
 * that is not finite, with *bad its offset (row * cols + col): neither its block nor those
 * after it are written. */
int quantize_rows(const void *src, enum dt in, uint64_t nrows, uint64_t cols, const struct qblock *q,
		  uint8_t *codes, void *scales, float *tmp, uint64_t *bad);

/* The same for float32 values that are all finite, with float32's floor of 1e-12 (the
 * generator's). */
void quantize_block_row(const float *v, uint64_t nrows, uint64_t cols, uint64_t bn, enum dt wdt,
			enum dt sdt, bool pow2, uint8_t *codes, void *scales);

#endif
