/* A BF16 (or F16, F32) HF checkpoint as block FP8: the plan of the conversion, for the engine
 * (lib/engine/convert.h); fp8cast's in the other direction.
 *
 * Shards: exactly what slime's tools/convert_hf_to_fp8.py --strategy block --block-size BM
 * BN writes (THUDM/slime at 624b824a8), tensor for tensor and byte for byte: per input shard
 * (the index's, sorted) a shard of the same name with {"format":"pt"} metadata, where each
 * weight it selects becomes F8_E4M3 codes with an F32 "<weight>_scale_inv" of
 * [ceil(rows/BM), ceil(cols/BN)] (lib/tensor/quantize.h: per block, amax raised to
 * quantize_floor, scale = amax / 448, code = RNE(clamp(value / scale))), and every other
 * tensor is copied.  Which weights, by name (slime's rule): those whose name holds "weight"
 * and none of layernorm, embed, router, mlp.gate., norm, lm_head, eh_proj, weights_proj,
 * conv1d, A_log, dt_bias, in_proj_a, in_proj_b; or, with FP8Q_SELECT_MODEL, exactly those
 * that the model's own FP8 checkpoints quantize (its family's inventory with a
 * quantization_config), with the scale names and dtypes that inventory gives.
 *
 * Beside the shards: config.json with quantization_config {activation_scheme "dynamic",
 * fmt "e4m3", quant_method "fp8", weight_block_size, scale_fmt "ue8m0" when asked,
 * modules_to_not_convert: every tensor left unquantized with ".weight" taken out of its
 * name, as slime lists them (sorted: slime's order is a Python set's)}, every other byte
 * of the input's config.json as it was; the index naming every output tensor, whose
 * metadata.total_size is the data bytes (slime sums the tensors' first dimensions); every
 * other file of the input directory copied.
 *
 * Refused (slime would crash or write something broken): a selected weight that is not
 * 2-D, not F32, BF16 or F16, or whose name does not end in ".weight" (slime names its scale
 * by replacing ".weight"); a 1-byte float tensor anywhere (the checkpoint is quantized
 * already); a NaN or infinity in a selected weight (slime writes NaN codes and scales), when
 * its block is quantized. */
#ifndef CKPT_FP8QUANT_H
#define CKPT_FP8QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "family.h"
#include "view.h"

enum fp8q_select { FP8Q_SELECT_NAMES, FP8Q_SELECT_MODEL };

struct fp8quant_opts {
	enum fp8q_select select;
	bool pow2;               /* scale_fmt "ue8m0": each scale rounded up to a power of two */
	uint64_t block[2];       /* BM, BN; 0: 128 */
};

struct fp8quant {
	struct cv_job job;       /* one file per input shard (each its own group), side files */
	size_t nnotes;
	char **notes;            /* what was decided and should be said (shards left out) */
	uint64_t total_size;
	size_t nquantized, ncopied;
	size_t nfills;
	void **fills;            /* per quantized weight: what its fill functions read */
	const struct family *family;
	const char *model;       /* the family's name for this config, NULL when none known */
};

/* Plan the conversion of the HF checkpoint v (opened in the HF layout without
 * VIEW_LENIENT).  On error (-1) p is freed. */
int fp8quant_plan(struct fp8quant *p, const struct view *v, const struct fp8quant_opts *o);
void fp8quant_free(struct fp8quant *p);

/* Whether slime's name rule quantizes the tensor of that name. */
bool fp8quant_by_name(const char *name);

#endif
