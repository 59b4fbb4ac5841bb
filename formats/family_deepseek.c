/* The DeepSeek-V3 generation's families, which share one inventory (formats/hf.c: names,
 * roles, shapes) and one set of config keys (formats/ds_config.c); each has the
 * model-parallel cut of its own inference/convert.py (applied by formats/dsmp.c):
 *  - DeepSeek-V3: V3, V3.1 and V3.1-Terminus (block scales of scale_fmt "ue8m0"), R1, and
 *    Kimi-K2 (model_type "kimi_k2": the same architecture and names);
 *  - DeepSeek-V3.2: V3.2-Exp and V3.2 (model_type "deepseek_v32"): V3 plus a lightning
 *    indexer on every layer (seven tensors, hf.h's HF_IDX_*, where config.json has
 *    index_n_heads and index_head_dim), norms in whichever float dtype the release chose
 *    (F32 in V3.2's files); its sparse attention selects every position up to index_topk,
 *    so the dense pass is exact until then (../shared/spec/deepseek-v32.md, section 5), and
 *    the indexer picks index_topk positions per query after it (lib/infer/indexer.h). */
#include <string.h>

#include "ds_config.h"
#include "family.h"

/* what every family of the generation answers from the shared inventory */
#define DEEPSEEK_INVENTORY .expected = hf_expected, .name_of = hf_format, .layer_is_moe = hf_layer_is_moe

/* DeepSeek-V3's inference/convert.py (commit 9b4e978): its mapping, entry for entry. */
#define DEEPSEEK_V3_CUT \
	{"embed_tokens", "embed", 0}, \
	{"input_layernorm", "attn_norm", -1}, \
	{"post_attention_layernorm", "ffn_norm", -1}, \
	{"q_proj", "wq", 0}, \
	{"q_a_proj", "wq_a", -1}, \
	{"q_a_layernorm", "q_norm", -1}, \
	{"q_b_proj", "wq_b", 0}, \
	{"kv_a_proj_with_mqa", "wkv_a", -1}, \
	{"kv_a_layernorm", "kv_norm", -1}, \
	{"kv_b_proj", "wkv_b", 0}, \
	{"o_proj", "wo", 1}, \
	{"gate", "gate", -1}, \
	{"gate_proj", "w1", 0}, \
	{"down_proj", "w2", 1}, \
	{"up_proj", "w3", 0}, \
	{"norm", "norm", -1}, \
	{"lm_head", "head", 0}, \
	{"scale", "scale", -1}

static const struct mp_rule v3_rules[] = {DEEPSEEK_V3_CUT};
static const struct mp_cut v3_cut = {.what = "DeepSeek-V3's inference/convert.py", .rules = v3_rules,
				     .n = sizeof v3_rules / sizeof *v3_rules};

/* DeepSeek-V3.2-Exp's inference/convert.py: V3's and four entries, the indexer's tensors
 * copied whole to every rank (model.py's Indexer is plain Linear and LayerNorm).  Its "wq_b"
 * is the indexer's: the MLA query's HF name is q_b_proj, still cut along dim 0. */
static const struct mp_rule v32_rules[] = {
	DEEPSEEK_V3_CUT,
	{"wq_b", "wq_b", -1},
	{"wk", "wk", -1},
	{"k_norm", "k_norm", -1},
	{"weights_proj", "weights_proj", -1},
};
static const struct mp_cut v32_cut = {.what = "DeepSeek-V3.2-Exp's inference/convert.py", .rules = v32_rules,
				      .n = sizeof v32_rules / sizeof *v32_rules};

/* What a loader reads beside the weights: the tokenizer (tokenizer.json and
 * tokenizer_config.json; Kimi-K2's tiktoken.model: the names convert.py copies), a chat
 * template kept apart, and the model and tokenizer code auto_map names (V3's
 * configuration_deepseek.py and modeling_deepseek.py, Kimi-K2's tokenization_kimi.py). */
static const char *const side_files[] = {"*token*", "chat_template.jinja", NULL};
#define DEEPSEEK_SIDE_FILES .side_files = side_files, .side_auto_map = true

static const char *const v3_types[] = {"deepseek_v3", "kimi_k2", NULL};
static const char *const v3_archs[] = {"DeepseekV3ForCausalLM", NULL};

static const char *v3_variant(const struct ds_config *c)
{
	if (strcmp(c->model_type, "kimi_k2") == 0)
		return "Kimi-K2";
	if (strcmp(c->quant.scale_fmt, "ue8m0") == 0)
		return "DeepSeek-V3.1 (ue8m0 block scales)";
	return NULL;
}

/* scale_fmt "ue8m0" (V3.1, V3.1-Terminus, V3.2): the block scales were trained as UE8M0,
 * powers of two stored as F32 (../shared/spec/deepseek-v32.md, section 4), except where a
 * release says otherwise (V3.1-Terminus: self_attn.o_proj's), so only counted. */
static const char *ue8m0_scales(const struct ds_config *c)
{
	return strcmp(c->quant.scale_fmt, "ue8m0") == 0 ? "quantization_config.scale_fmt \"ue8m0\"" : NULL;
}

const struct family family_deepseek_v3 = {
	.name = "deepseek-v3", .title = "DeepSeek-V3", .model_types = v3_types, .architectures = v3_archs,
	.variant = v3_variant, DEEPSEEK_INVENTORY, .pow2_scales = ue8m0_scales, DEEPSEEK_SIDE_FILES,
	.mp_cut = &v3_cut,
};

static const char *const v32_types[] = {"deepseek_v32", NULL};
static const char *const v32_archs[] = {"DeepseekV32ForCausalLM", NULL};

static int64_t v32_max_dense_positions(const struct ds_config *c)
{
	return c->index_topk > 0 ? c->index_topk : 2048; /* (ModelArgs' default) */
}

const struct family family_deepseek_v32 = {
	.name = "deepseek-v3.2", .title = "DeepSeek-V3.2", .model_types = v32_types, .architectures = v32_archs,
	DEEPSEEK_INVENTORY, .max_dense_positions = v32_max_dense_positions, .norms_any_float = true,
	.pow2_scales = ue8m0_scales, DEEPSEEK_SIDE_FILES, .mp_cut = &v32_cut,
};
