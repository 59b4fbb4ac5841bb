/* Block-quantized weights: W [rows, cols] of a 1-byte float type with a scale S of shape
 * [ceil(rows/bm), ceil(cols/bn)]; value(i, j) = float32(W[i][j]) * float32(S[i/bm][j/bn]),
 * one float32 multiply, as DeepSeek's weight_dequant kernel computes it.  Edge blocks are
 * partial.  Or W of 4-bit codes packed two a byte (FP4 E2M1 experts), each code's value
 * from a table the quantization scheme gives (formats/qscheme.h), the same multiply. */
#ifndef CKPT_DEQUANT_H
#define CKPT_DEQUANT_H

#include <stdint.h>

#include "dtype.h"
#include "st.h"

struct quant {
	enum dt wdt, sdt;
	const uint8_t *w, *s;
	uint64_t rows, cols;
	uint64_t bm, bn;             /* block size */
	uint64_t srows, scols;       /* scale grid */
	/* NULL: one code a byte, decoded as wdt.  Else 16 values: the codes are 4 bits, two a
	 * byte, the low nibble the even column, and code c is codes4[c]. */
	const float *codes4;
	uint64_t stride;             /* bytes from one row of w to the next */
};

/* Check dtypes and shapes; messages name `name` (the weight). */
int quant_init(struct quant *q, const char *name, const struct st_tensor *w, const uint8_t *wdata,
	       const struct st_tensor *s, const uint8_t *sdata, uint64_t bm, uint64_t bn);

/* A weight of 4-bit codes packed two a byte, low nibble first: stored I8 or U8
 * [rows, cols / 2] (as DeepSeek-V4's FP4 experts), or F4 [rows, cols] (safetensors'
 * float4_e2m1fn_x2, whose shape counts codes; cols even); codes4[16] are the codes' values
 * (the scheme's table; kept by q).  The scale grid covers the logical [rows, cols]. */
int quant_init_packed4(struct quant *q, const char *name, const struct st_tensor *w, const uint8_t *wdata,
		       const struct st_tensor *s, const uint8_t *sdata, uint64_t bm, uint64_t bn,
		       const float *codes4);

/* Whether a dtype can hold 4-bit codes two a byte: I8 and U8 (the codes' bytes) or F4
 * (whose shape counts codes); and the codes in n stored elements of such a dtype. */
bool quant_packed4_dtype(enum dt t);
static inline uint64_t quant_packed4_codes(enum dt t, uint64_t n) { return t == DT_F4 ? n : 2 * n; }

/* Whether a dtype can be a quantized weight / a scale. */
bool quant_weight_dtype(enum dt t);
/* 1-byte integers (I8, U8): not FP8, but DeepSeek's kernel dequantizes them the same way
 * (integer x scale) when they have a scale, and quant_init accepts them. */
bool quant_int_weight_dtype(enum dt t);
bool quant_scale_dtype(enum dt t);

/* Scratch space for quant_rows_*: one table of 256 entries per column block. */
size_t quant_scratch_bytes(const struct quant *q);

/* Rows [r0, r1) dequantized, row-major into out; scratch from quant_scratch_bytes.
 * Fastest when r0 and r1 fall on block-row boundaries.  bf16: rounded to nearest even,
 * subnormals kept, and every NaN written as 0x7FFF - what upstream's Triton kernel stores
 * on the GPU, whatever the NaN's sign or payload (fixtures/ref/README.md). */
void quant_rows_bf16(const struct quant *q, uint64_t r0, uint64_t r1, uint16_t *out, void *scratch);
void quant_rows_f32(const struct quant *q, uint64_t r0, uint64_t r1, float *out, void *scratch);

/* One scale value as float32. */
float quant_scale(const struct quant *q, uint64_t br, uint64_t bc);

#endif
