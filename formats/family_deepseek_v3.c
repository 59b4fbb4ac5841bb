/* The DeepSeek-V3 family: DeepSeek-V3, V3.1 and V3.1-Terminus (block scales of scale_fmt
 * "ue8m0"), R1, and Kimi-K2 (model_type "kimi_k2", the same architecture and names: its
 * config.json says so and its tensors are V3's).  Its inventory is formats/hf.c, its
 * config keys formats/ds_config.c, its model-parallel cut formats/dsmp.c. */
#include <string.h>

#include "ds_config.h"
#include "family.h"

static const char *const model_types[] = {"deepseek_v3", "kimi_k2", NULL};
static const char *const architectures[] = {"DeepseekV3ForCausalLM", NULL};

static const char *variant(const struct ds_config *c)
{
	if (strcmp(c->model_type, "kimi_k2") == 0)
		return "Kimi-K2";
	if (strcmp(c->quant.scale_fmt, "ue8m0") == 0)
		return "DeepSeek-V3.1 (ue8m0 block scales)";
	return NULL;
}

const struct family family_deepseek_v3 = {
	.name = "deepseek-v3",
	.title = "DeepSeek-V3",
	.model_types = model_types,
	.architectures = architectures,
	.variant = variant,
	.expected = hf_expected,
	.name_of = hf_format,
	.layer_is_moe = hf_layer_is_moe,
};
