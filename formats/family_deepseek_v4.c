/* DeepSeek-V4 (model_type "deepseek_v4": V4-Flash, V4-Pro; ../shared/spec/deepseek-v4.md):
 * a family of its own, not the V3 generation's: DeepSeek's names without "model.", FP8
 * weights with "X.scale" F8_E8M0 128 x 128 block scales, FP4 routed experts (I8, two codes a
 * byte) with one F8_E8M0 scale a 1 x 32 group, hyper-connections, compressed attention on
 * the layers compress_ratios says, hash routing on the first num_hash_layers, one MTP block.
 * Its inventory is formats/hf_v4.h.  ckpt reads and checks it (inspect, verify); its forward
 * pass (hyper-connections, compressed sparse attention, hash routing, sqrtsoftplus scores)
 * is not implemented, and said so. */
#include <string.h>

#include "ds_config.h"
#include "family.h"
#include "hf_v4.h"
#include "qscheme.h"

static const char *const v4_types[] = {"deepseek_v4", NULL};
static const char *const v4_archs[] = {"DeepseekV4ForCausalLM", NULL};

/* What convert.py copies beside the weights, and a chat template kept apart. */
static const char *const side_files[] = {"*token*", "chat_template.jinja", NULL};

/* Named by their shapes (spec section a.3): both configs set the same keys. */
static const char *v4_variant(const struct ds_config *c)
{
	if (c->hidden_size == 4096 && c->num_hidden_layers == 43 && c->n_routed_experts == 256 &&
	    c->num_attention_heads == 64)
		return "DeepSeek-V4-Flash";
	if (c->hidden_size == 7168 && c->num_hidden_layers == 61 && c->n_routed_experts == 384 &&
	    c->num_attention_heads == 128)
		return "DeepSeek-V4-Pro";
	return NULL;
}

static bool v4_layer_is_moe(const struct ds_config *c, int64_t layer)
{
	(void)c, (void)layer;
	return true; /* every layer, hash-routed or scored */
}

const struct family family_deepseek_v4 = {
	.name = "deepseek-v4", .title = "DeepSeek-V4", .model_types = v4_types, .architectures = v4_archs,
	.variant = v4_variant, .expected = hf_v4_expected, .layer_is_moe = v4_layer_is_moe,
	.side_files = side_files, .parse = hf_v4_parse, .expected_bound = hf_v4_expected_bound,
	.require = hf_v4_require, .schemes = qschemes_dot_scale, .scale_name = qscheme_dot_scale_name,
	.no_forward = "the DeepSeek-V4 forward pass (hyper-connections, compressed attention, hash routing) is not implemented",
};
