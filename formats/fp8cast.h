/* An FP8 block-quantized HF checkpoint as BF16: the plan of the conversion, for the engine
 * (lib/engine/convert.h).
 *
 * Shards: exactly what DeepSeek's fp8_cast_bf16.py writes, tensor for tensor and byte for
 * byte, except the header's __metadata__ ({"format":"pt"}, upstream none): per input shard
 * (the index's, sorted), tensors ending "_scale_inv" are left out; a tensor with a 1-byte
 * element type is dequantized with "<name>_scale_inv", found through the index wherever
 * it is stored (bf16(f32(w) * f32(scale)), blocks of quantization_config.weight_block_size);
 * one without such a scale is copied unchanged (a note); everything else is copied.  The
 * output shard keeps the input shard's name.
 *
 * Beyond upstream, what makes the output directory loadable as it is: the index with
 * metadata.total_size and no scale entries; config.json without quantization_config and
 * with torch_dtype bfloat16; every other file of the input directory copied.  Optionally
 * the MTP layers (numbered from num_hidden_layers on) are left out.
 *
 * Decisions where upstream has none or a broken one, each a note (an error with strict):
 *  - a weight without a scale: copied unchanged (as upstream);
 *  - a scale that no FP8 weight uses (its weight missing, or not 1-byte): left out of the
 *    shard (as upstream) and of the index (upstream keeps it there, naming a tensor that
 *    is in no shard);
 *  - a .safetensors file in the directory that the index does not name: left out
 *    (upstream converts it, and the index it writes does not name it either).
 * Scales are named and paired as the checkpoint's family says (formats/qscheme.h: DeepSeek-V3's
 * "_scale_inv" above, and for a model ckpt does not know; DeepSeek-V4's "X.scale" beside
 * "X.weight"), with the block and the codes' table the view paired them by: DeepSeek-V4's FP8
 * weights in config.json's blocks, its FP4 experts (I8 or U8 [out, in/2], F4 [out, in]) as
 * 4-bit codes with one scale a 1 x 32 group, written BF16 [out, in], code 8 as the table
 * asked for says (DeepSeek's +0 by default).  No official script exists for V4; the
 * reference is the formula, bf16(decode(code) * 2^(s - 127)), which transformers' own
 * dequantizer computes too (fixtures/ref/v4).  config.json also loses a top-level
 * "expert_dtype"; with drop_mtp, the MTP layers are those the family's names number at or
 * after num_hidden_layers (V4's "mtp.K."), and DeepSeek-V4's compress_ratios loses their
 * entries.  A NaN scale (E8M0 byte 0xFF) makes the values it scales NaN, written 0x7FFF as
 * every NaN is: the exact conversion of a NaN value, as for V3 (ckpt-verify --scan names
 * such scales in the input and the NaN in the output).
 * A 1-byte integer weight (I8, U8) with a scale is dequantized like an FP8 one (integer x
 * scale), as upstream's kernel does.  A BOOL or F8_E8M0 tensor with a scale, a scale of
 * the wrong shape or type, a quantized weight that is not 2-D: the input is refused.
 * NaN results are written as 0x7FFF, as upstream's GPU kernel writes them (lib/tensor/dequant.h). */
#ifndef CKPT_FP8CAST_H
#define CKPT_FP8CAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "family.h"
#include "view.h"

struct fp8cast_opts {
	bool drop_mtp;           /* leave out layers >= num_hidden_layers; config says 0 of them */
	bool strict;             /* every note is an error */
	/* The values 4-bit codes decode to (formats/qscheme.h's E2M1 tables); NULL: the table
	 * of the scheme that pairs the weight with its scale. */
	const float *codes4;
};

struct fp8cast_note {
	const char *shard;       /* the input shard it concerns; NULL: the checkpoint as a whole */
	char *text;
};

struct fp8cast {
	struct cv_job job;       /* one file per input shard (each its own group), side files */
	size_t nnotes;
	struct fp8cast_note *notes;
	uint64_t total_size;     /* the index's metadata.total_size: all output tensor bytes */
	size_t nconverted, ncopied, ndropped;
	size_t nfp4;             /* of nconverted, the weights of packed 4-bit codes */
	bool quant_declared;     /* config.json has a quantization_config */
	size_t nfills;
	void **fills;            /* per converted weight: what its fill function reads */
	/* The model family config.json names, NULL when none ckpt knows (then the dequantization
	 * is the generic one: every FP8 weight with a "<name>_scale_inv", and the checkpoint
	 * is not checked against a model); model: its name for messages. */
	const struct family *family;
	const char *model;
	char model_text[160];    /* (what model points to for a family without an inventory) */
};

/* Plan the conversion of the HF checkpoint v (with an index or without, opened in the HF
 * layout without VIEW_LENIENT): per file of v, its stored tensors, each read through v
 * (a weight with the block scale its canonical tensor carries).  On error (-1) p is freed. */
int fp8cast_plan(struct fp8cast *p, const struct view *v, const struct fp8cast_opts *o);
void fp8cast_free(struct fp8cast *p);
/* When no weight is dequantized (a BF16 checkpoint; FP8 weights without scales): 1 and
 * the line that says what the input is and that it is copied; else 0. */
int fp8cast_nothing(const struct fp8cast *p, const struct view *v);

/* Whether name is a tensor of layer >= nlayers ("model.layers.N."; a family with names of
 * its own says by its parse) */
bool fp8cast_is_mtp(const char *name, int64_t nlayers);

/* The files of an HF directory copied beside converted weights (cv_add_side_tree's keep):
 * every one but the top-level shards, the index and config.json, which the plans write. */
bool fp8cast_side_file(const char *rel, void *arg);

#endif
