/* DeepSeek-V4's re-encode of its FP4 routed experts as FP8, as V4-Flash's inference/convert.py
 * does it (cast_e2m1fn_to_e4m3fn, for --expert-dtype fp8; ../shared/spec/deepseek-v4.md,
 * b.3): packed E2M1 codes with one E8M0 scale a 1 x 32 group become e4m3 codes with one E8M0
 * scale a 128 x 128 block.  In each block, with M the largest of its 512 group scale bytes:
 *
 *   out scale   = 2^(M - 127) / 64                    (stored byte M - 6; 0 below that)
 *   out code    = e4m3_rne(value(code) * 2^(b - 127) / out scale)     b: its group's byte
 *
 * in float32 as torch computes it (a power of two over a power of two, then one product: all
 * exact until the e4m3 rounding, which rounds subnormals to nearest even and keeps the sign
 * of a value that underflows: -0 is 0x80).  A group more than about 14 binades below its
 * block's largest loses bits, and a block whose largest byte is below 6 gets a scale it
 * cannot store; convert.py calls the re-encode lossless and does neither check: the same
 * bytes here, and a count of the values whose re-encoded value is not the original one.  A
 * NaN group scale (0xFF) makes its whole block NaN (codes 0x7F, scale 0xFF), as torch's
 * NaN-propagating max does. */
#ifndef CKPT_FP4FP8_H
#define CKPT_FP4FP8_H

#include <stddef.h>
#include <stdint.h>

#define FP4FP8_BLOCK 128u   /* the FP8 scale block, both ways */
#define FP4FP8_GROUP 32u    /* the FP4 scale group, along a row */

/* One block row: FP4FP8_BLOCK rows of `cols` codes (a multiple of FP4FP8_BLOCK), two a
 * byte, the low nibble the even column, row i at codes + i * stride; their group scale bytes
 * (cols / FP4FP8_GROUP a row) at scales + i * sstride; codes4 the codes' values (the
 * scheme's table: DeepSeek's, code 8 = +0).  Writes the e4m3 codes, row-major (row i at
 * out + i * cols), unless out is NULL, and the cols / FP4FP8_BLOCK scale bytes to oscale
 * unless it is NULL; returns how many values did not survive exactly (counted only when out
 * is set). */
uint64_t fp4fp8_block_row(const uint8_t *codes, size_t stride, const uint8_t *scales, size_t sstride,
			  uint64_t cols, const float codes4[16], uint8_t *out, uint8_t *oscale);

/* The stored scale byte of a block whose largest group scale byte is maxb. */
uint8_t fp4fp8_scale_byte(uint8_t maxb);

#endif
