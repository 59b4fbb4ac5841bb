/* DeepSeek-V4.1 (model_type "deepseek_v41"; ../shared/spec/deepseek-v4.md section e, where
 * all of it is [U]): recognised by name, and known only as far as the spec is sure.  Its FP8
 * weights pair with "X.scale" F8_E8M0 block scales in quantization_config's
 * weight_block_size (32 x 32), its FP4 experts with one scale a 1 x 32 group, as
 * DeepSeek-V4's do (the same schemes): ckpt-inspect shows them, ckpt-fp8-to-bf16 dequantizes
 * them by the same formula with the block the config gives and the scale grid confirms.
 * What the spec is unsure of is refused by name: its inventory (keys nested under
 * text_config, Engram tables, three DSpark MTP layers, a vision tower: the model check says
 * not checked, --drop-mtp is refused), its Engram tables (names with ".engram.": FP8 rows
 * with per-row E8M0 scales, stored in a way the spec does not pin down), the model-parallel
 * cut (no mp_cut) and the forward pass. */
#include <string.h>

#include "err.h"
#include "family.h"
#include "qscheme.h"

static const char *const v41_types[] = {"deepseek_v41", NULL};
static const char *const v41_archs[] = {"DeepseekV41ForCausalLM", NULL};
static const char *const side_files[] = {"*token*", "chat_template.jinja", NULL};

#define NO_INVENTORY                                                                                 \
	"DeepSeek-V4.1's tensors (Engram tables, DSpark MTP layers, a vision tower, keys under "      \
	"text_config) are not known to ckpt with confidence"

static int v41_expected(struct hf_layout **out, const struct ds_config *c, const char *path)
{
	(void)c;
	*out = NULL;
	return err_set("%s: %s", path, NO_INVENTORY);
}

static bool v41_layer_is_moe(const struct ds_config *c, int64_t layer)
{
	(void)c, (void)layer;
	return true;
}

static const char *v41_unconvertible(const char *name)
{
	if (strstr(name, ".engram."))
		return "DeepSeek-V4.1's Engram tables (FP8 rows with per-row E8M0 scales) are not known to ckpt with "
		       "confidence: not converted";
	return NULL;
}

const struct family family_deepseek_v41 = {
	.name = "deepseek-v41", .title = "DeepSeek-V4.1", .model_types = v41_types, .architectures = v41_archs,
	.expected = v41_expected, .layer_is_moe = v41_layer_is_moe, .side_files = side_files,
	.schemes = qschemes_dot_scale, .scale_name = qscheme_dot_scale_name,
	.no_forward = "the DeepSeek-V4.1 forward pass is not implemented",
	.no_inventory = NO_INVENTORY, .unconvertible = v41_unconvertible,
};
