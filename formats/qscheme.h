/* Quantization schemes, as data, apart from model families: a family says which of its
 * weights are quantized; a scheme says how such a weight is stored and where its scales
 * are.  Every scheme here is block scaling, value = decode(code) * scale[i/bm][j/bn] in
 * float32 (lib/tensor/dequant.h: any block shape; scales F32, BF16, F16 or F8_E8M0);
 * they differ in names and dtypes:
 *
 *   fp8-scale-inv   FP8 e4m3 / e5m2 "X.weight" with "X.weight_scale_inv" (DeepSeek-V3,
 *                   V3.1, Kimi-K2, Qwen3 FP8 with its BF16 scales, slime's converter)
 *   fp8-scale       FP8 e4m3 "X.weight" with "X.scale" (DeepSeek-V4's non-expert weights,
 *                   F8_E8M0 scales)
 *   fp4-scale       FP4 E2M1 codes "X.weight" (I8 [R, C/2] or F4 [R, C]) with "X.scale",
 *                   one F8_E8M0 scale a 1 x 32 group (DeepSeek-V4's routed experts)
 *
 * The block shape is config.json's quantization_config.weight_block_size (128 x 128 when
 * it gives none).  Packed FP4 (E2M1, two codes a byte, low nibble first, one E8M0 scale per
 * 1 x 32) is one more entry whose codes4 is one of the E2M1 tables below: the library
 * decodes any 4-bit code through its scheme's table (lib/tensor/dequant.h
 * quant_init_packed4, lib/checkpoint/view.h vpiece.codes4), so the DeepSeek-V4 family adds
 * it here, with nothing in lib/.
 *
 * Adding a scheme: one entry in the table of formats/qscheme.c (a new 1-byte code type also
 * needs its decoder in lib/tensor/dtype.c; a new 4-bit one only its table); tests, docs. */
#ifndef CKPT_QSCHEME_H
#define CKPT_QSCHEME_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"

struct qscheme {
	const char *name;
	const char *weight_suffix;   /* the end of a weight's name the scale's replaces */
	const char *scale_suffix;    /* ... with this: "X" + weight_suffix -> "X" + scale_suffix */
	/* NULL: one code a byte (FP8, the weight's dtype says which).  Else two 4-bit codes a
	 * byte, low nibble first, and these are their 16 values. */
	const float *codes4;
	/* A block shape of its own (FP4: 1 x 32, one scale a group of 32 codes along a row);
	 * 0 x 0: config.json's weight_block_size. */
	unsigned block[2];
};

/* The values of the 16 FP4 E2M1 codes: DeepSeek's FP4_TABLE (its V4 inference code and
 * sglang's copy), where code 8 is +0.0, and the IEEE-like reading of torch's
 * float4_e2m1fn_x2 and transformers' dequantization, where it is -0.0.  The two differ only
 * in the sign bit of the BF16 zero a converter writes for code 8. */
extern const float qscheme_e2m1_deepseek[16];
extern const float qscheme_e2m1_ieee[16];

/* The two by the names a user gives them (ckpt-fp8-to-bf16 --fp4-table): "deepseek" (DeepSeek's
 * table) and "transformers" (the IEEE-like one, as transformers, MaxText and vLLM decode);
 * NULL for another name.  QSCHEME_E2M1_NAMES lists them for messages. */
const float *qscheme_e2m1_named(const char *name);
#define QSCHEME_E2M1_NAMES "deepseek or transformers"

/* The schemes, in the order a weight's scale is looked for. */
extern const struct qscheme *const qschemes[];
extern const size_t nqschemes;

/* The name the scale of weight `weight` has under s, into out[size]; false when weight's
 * name does not end as s's weights do (or the name does not fit). */
bool qscheme_scale_name(const struct qscheme *s, const char *weight, char *out, size_t size);

/* The scheme of the HF checkpoints of the DeepSeek-V3 family and of the canonical names
 * every layout's view uses: fp8-scale-inv. */
#define QSCHEME_HF (qschemes[0])

/* Weight's scale name under QSCHEME_HF, allocated: a view's scale_name (lib/checkpoint/view.h). */
char *qscheme_hf_scale_name(const char *weight);

/* DeepSeek-V4's schemes: FP8 e4m3 weights and FP4 E2M1 codes (I8, U8 or F4, DeepSeek's
 * table), both "X.weight" with "X.scale" (F8_E8M0), and the scale name they give. */
#define QSCHEME_FP8_SCALE (qschemes[1])
#define QSCHEME_FP4_SCALE (qschemes[2])
extern const struct qscheme *const qschemes_dot_scale[]; /* the two, NULL-ended: FP8 first */
char *qscheme_dot_scale_name(const char *weight);

/* The scheme under which `name` is a scale, with its weight's name into out[size]; NULL
 * when it is no scheme's scale name. */
const struct qscheme *qscheme_of_scale(const char *name, char *out, size_t size);

#endif
