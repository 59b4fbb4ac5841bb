/* Deterministic synthetic tensor data, for fixtures and benchmarks.
 *
 * A tensor's bytes depend only on its description (struct synth, seed included), never on
 * how the work is split or how many threads do it: every row draws from its own stream,
 * seeded from the tensor's seed and the row number (rng.h).  So a writer can make any
 * piece of any tensor at any time, in parallel, and a test can make the values again to
 * compare them with what a checkpoint holds.
 *
 * Two modes:
 *  - realistic: normal-ish values (mean 0 or 1, given std), block-quantized with lib/quantize
 *    when the dtype is FP8; with `outliers`, one block in 16 is 8 times larger, so scales
 *    vary as in real checkpoints.  synth_values() gives the values before quantization.
 *  - cheap: random bits at memory speed, for multi-GB benchmark checkpoints: FP8 codes are
 *    random bytes with bit 6 clear (finite, |code value| <= 1.875 (e4m3) / 3.5 (e5m2) -
 *    no NaN, no inf), scales random in [2^-13, 2^-9) (powers of two for pow2/E8M0), BF16/F32
 *    random with small exponents.  synth_values() does not apply.
 *
 * With `specials`, row 0 starts with the codes synth_specials() lists (as many as the row
 * holds) and the last element holds its `last` code (a NaN): NaN, infinities where the type
 * has them, the largest finite value, the smallest subnormal, -0.  Scales are not touched. */
#ifndef CKPT_SYNTH_H
#define CKPT_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

enum synth_mode { SYNTH_REALISTIC, SYNTH_CHEAP };
enum synth_dist { SYNTH_GAUSS, SYNTH_NEAR_ONE };   /* N(0, std), or 1 + N(0, std) (norm weights) */

struct synth {
	uint64_t seed;
	enum synth_mode mode;
	enum synth_dist dist;
	float std;
	bool outliers;           /* realistic: some blocks x8 (blocks of bm x bn, or 128 x 128 unquantized) */
	uint64_t rows, cols;     /* a 1-D tensor has rows 1 */
	enum dt dtype;           /* F32, BF16, or F8_E4M3 / F8_E5M2: then block-quantized */
	/* block-quantized only */
	enum dt sdtype;          /* F32, BF16 or F8_E8M0 */
	uint64_t bm, bn;
	bool pow2;               /* power-of-two scales (ue8m0), implied by F8_E8M0 */
	bool specials;
};

#define SYNTH_NSPECIAL 8

/* 0, or -1 with a message when the description is not one this file can make. */
int synth_check(const struct synth *s);
bool synth_quantized(const struct synth *s);

/* The rows one piece of work should cover: a block row when quantized (pieces must start
 * on one), about 1 MiB of rows otherwise. */
uint64_t synth_piece_rows(const struct synth *s);
/* Scratch that synth_data / synth_scales need for a piece of synth_piece_rows() rows. */
size_t synth_scratch_bytes(const struct synth *s);

/* The stored bytes of rows [r0, r1).  Quantized: r0 a multiple of bm. */
void synth_data(const struct synth *s, uint64_t r0, uint64_t r1, void *out, void *scratch);
/* The stored scales of block rows [b0, b1): (b1 - b0) * ceil(cols / bn) values of sdtype. */
void synth_scales(const struct synth *s, uint64_t b0, uint64_t b1, void *out, void *scratch);
/* Realistic mode: the values of rows [r0, r1) before they were rounded to the stored type. */
void synth_values(const struct synth *s, uint64_t r0, uint64_t r1, float *out);

/* The special codes of a dtype (F8_E4M3, F8_E5M2, BF16, F32): returns how many (<=
 * SYNTH_NSPECIAL), 0 for other types. */
size_t synth_specials(enum dt t, uint32_t codes[SYNTH_NSPECIAL], uint32_t *last);

#endif
