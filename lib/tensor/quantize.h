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

/* One block row: nrows (<= the block height) rows of cols values, row-major; column blocks
 * of bn.  Writes ceil(cols / bn) stored scales to scales and, unless codes is NULL, the
 * nrows * cols codes. */
void quantize_block_row(const float *v, uint64_t nrows, uint64_t cols, uint64_t bn, enum dt wdt,
			enum dt sdt, bool pow2, uint8_t *codes, void *scales);

#endif
