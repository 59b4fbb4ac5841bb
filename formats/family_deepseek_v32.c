/* The DeepSeek-V3.2 family: DeepSeek-V3.2-Exp and V3.2 (model_type "deepseek_v32").  V3's
 * model plus a lightning indexer on every layer (seven tensors, formats/hf.h's HF_IDX_*,
 * from index_n_heads and index_head_dim), its norms stored in whichever float dtype the
 * release chose (F32 in V3.2's files), block scales of scale_fmt "ue8m0".  Its inventory
 * and names are V3's (formats/hf.c adds the indexer where config.json has its keys); the
 * sparse attention selects every position up to index_topk, so the dense pass is exact
 * until then (../shared/spec/deepseek-v32.md, section 5). */
#include "ds_config.h"
#include "family.h"

static const char *const model_types[] = {"deepseek_v32", NULL};
static const char *const architectures[] = {"DeepseekV32ForCausalLM", NULL};

static int64_t max_dense_positions(const struct ds_config *c)
{
	return c->index_topk > 0 ? c->index_topk : 2048; /* (ModelArgs' default) */
}

const struct family family_deepseek_v32 = {
	.name = "deepseek-v3.2",
	.title = "DeepSeek-V3.2",
	.model_types = model_types,
	.architectures = architectures,
	.expected = hf_expected,
	.name_of = hf_format,
	.layer_is_moe = hf_layer_is_moe,
	.max_dense_positions = max_dense_positions,
	.norms_any_float = true,
};
