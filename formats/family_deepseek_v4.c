/* DeepSeek-V4 (model_type "deepseek_v4": V4-Flash, V4-Pro; ../shared/spec/deepseek-v4.md):
 * a family of its own, not the V3 generation's: DeepSeek's names without "model.", FP8
 * weights with "X.scale" F8_E8M0 128 x 128 block scales, FP4 routed experts (I8, two codes a
 * byte) with one F8_E8M0 scale a 1 x 32 group, hyper-connections, compressed attention on
 * the layers compress_ratios says, hash routing on the first num_hash_layers, one MTP block.
 * Its inventory is formats/hf_v4.h (with the roles its forward pass asks for, hf_v4_name).
 * ckpt reads and checks it (inspect, verify) and runs its forward pass (lib/infer/v4_model.h). */
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

/* V4-Flash's inference/convert.py (../shared/spec/deepseek-v4.md, b.1; the official one,
 * commit 0825add of Mockingjay1316/deepseek-v4-flash-spark): its mapping, entry for entry.
 * Only the second group meets a V4 checkpoint's names, each the same name: embed, head,
 * the attention's wq_b and the indexer's (both cut along dim 0, unlike V3.2's indexer),
 * wo_a, attn_sink and weights_proj along dim 0, wo_b along dim 1.  Every other key (the
 * shared experts' w1/w2/w3 too, unlike V3) is copied to every rank. */
static const struct mp_rule v4_rules[] = {
	{"embed_tokens", "embed", 0},
	{"input_layernorm", "attn_norm", -1},
	{"post_attention_layernorm", "ffn_norm", -1},
	{"q_proj", "wq", 0},
	{"q_a_proj", "wq_a", -1},
	{"q_a_layernorm", "q_norm", -1},
	{"q_b_proj", "wq_b", 0},
	{"kv_a_proj_with_mqa", "wkv_a", -1},
	{"kv_a_layernorm", "kv_norm", -1},
	{"kv_b_proj", "wkv_b", 0},
	{"o_proj", "wo", 1},
	{"gate_proj", "w1", 0},
	{"down_proj", "w2", 1},
	{"up_proj", "w3", 0},
	{"lm_head", "head", 0},

	{"embed", "embed", 0},
	{"wq_b", "wq_b", 0},
	{"wo_a", "wo_a", 0},
	{"wo_b", "wo_b", 1},
	{"head", "head", 0},
	{"attn_sink", "attn_sink", 0},
	{"weights_proj", "weights_proj", 0},
};

/* Names holding these are keyed by their last part ("tie2eid" is convert.py's spelling:
 * tid2eid is keyed by "gate", which copies it whole all the same). */
static const char *const v4_key_last[] = {"hc", "attn_sink", "tie2eid", "ape", NULL};

/* convert.py skips an MTP block's own embedding and head (V4's MTP shares the model's, so
 * no V4 checkpoint has one): names from "mtp." holding "emb" or ending in "head.weight". */
static bool v4_left_out(const char *name)
{
	if (strncmp(name, "model.", 6) == 0)
		name += 6;
	size_t n = strlen(name);
	return strncmp(name, "mtp.", 4) == 0 &&
	       (strstr(name, "emb") || (n >= 11 && strcmp(name + n - 11, "head.weight") == 0));
}

static const char *const v4_expert_dtypes[] = {"fp4", "fp8", NULL};

static const struct mp_cut v4_cut = {
	.what = "DeepSeek-V4's inference/convert.py", .rules = v4_rules, .n = sizeof v4_rules / sizeof *v4_rules,
	.key_last_if = v4_key_last, .others_whole = true, .left_out = v4_left_out, .bf16_suffix = "wo_a.weight",
	.expert_dtypes = v4_expert_dtypes, .keeps_mtp = true,
};

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
	.forward = FAMILY_FORWARD_HC,
	.mp_cut = &v4_cut,
};
