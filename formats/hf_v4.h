/* The HF DeepSeek-V4 checkpoint (V4-Flash, V4-Pro): which tensors a checkpoint of a given
 * config.json holds, with their shapes and stored dtypes, and what a tensor name means
 * (../shared/spec/deepseek-v4.md, section a.3).  The family (formats/family_deepseek_v4.c)
 * answers with these; everything else asks the family.
 *
 * DeepSeek's own names, no "model." prefix: "embed.weight", "head.weight", "norm.weight",
 * "hc_head_{fn,base,scale}"; per layer "layers.L." + attention ("attn.wq_a" ...,
 * "attn.attn_sink"), hyper-connections ("hc_attn_fn" ...), the compressor on the layers
 * whose compress_ratios entry r is not 0 ("attn.compressor.*"; its windows overlap, twice
 * as wide, where r is 4), the lightning indexer where r is 4 ("attn.indexer.*"), the router
 * ("ffn.gate.weight", with "ffn.gate.tid2eid" I64 [vocab, experts per token] on the first
 * num_hash_layers layers, "ffn.gate.bias" F32 on the others), the shared experts and the
 * routed ones ("ffn.experts.E.w1/w2/w3"); the MTP blocks "mtp.K." are a layer of ratio
 * compress_ratios[num_hidden_layers + K] plus e_proj, h_proj, enorm, hnorm, norm and their
 * own hc_head_*.
 *
 * With a quantization_config: the projections are FP8 e4m3, each with "X.scale" F8_E8M0
 * [ceil(rows/bm), ceil(cols/bn)] (weight_block_size, 128 x 128), and the routed experts FP4
 * (packed4: I8 [out, in/2], two codes a byte) with "X.scale" F8_E8M0 [out, in/32], one a
 * group of 32; hc_*, attn_sink, ape and the router bias are F32; the rest BF16.  Without
 * one every weight is BF16 and nothing has a scale. */
#ifndef CKPT_HF_V4_H
#define CKPT_HF_V4_H

#include "hf.h"

int hf_v4_expected(struct hf_layout **out, const struct ds_config *c, const char *path);
uint64_t hf_v4_expected_bound(const struct ds_config *c);
/* The keys hf_v4_expected needs, each there and consistent with the others. */
int hf_v4_require(const struct ds_config *c, const char *path);
/* layer: L for "layers.L.", num_hidden_layers + K for "mtp.K." (role HF_OWN_MTP), -1 for
 * the global tensors; expert: E of "ffn.experts.E."; role HF_OWN otherwise.  -1 for a
 * name that is none of those (no message). */
int hf_v4_parse(const struct ds_config *c, const char *name, struct hf_name *out);

/* What a tensor of a DeepSeek-V4 checkpoint does in the forward pass (lib/infer/v4_model.h):
 * the names a role has, by hf_v4_name. */
enum v4_role {
	V4_EMBED, V4_HEAD, V4_NORM,                        /* embed, head, norm .weight */
	V4_HC_HEAD_FN, V4_HC_HEAD_BASE, V4_HC_HEAD_SCALE,  /* hc_head_* (model, or MTP block) */
	V4_ATTN_NORM, V4_FFN_NORM,
	V4_HC_ATTN_FN, V4_HC_ATTN_BASE, V4_HC_ATTN_SCALE,
	V4_HC_FFN_FN, V4_HC_FFN_BASE, V4_HC_FFN_SCALE,
	V4_SINK, V4_WQ_A, V4_Q_NORM, V4_WQ_B, V4_WKV, V4_KV_NORM, V4_WO_A, V4_WO_B,
	V4_CMP_APE, V4_CMP_WKV, V4_CMP_WGATE, V4_CMP_NORM, /* attn.compressor.* */
	V4_IDX_APE, V4_IDX_WKV, V4_IDX_WGATE, V4_IDX_NORM, /* attn.indexer.compressor.* */
	V4_IDX_WQ_B, V4_IDX_WEIGHTS,                       /* attn.indexer.wq_b, weights_proj */
	V4_ROUTER, V4_ROUTER_BIAS, V4_TID2EID,             /* ffn.gate.weight, .bias, .tid2eid */
	V4_EXPERT_W1, V4_EXPERT_W3, V4_EXPERT_W2,          /* ffn.experts.E.w1/w3/w2 (gate, up, down) */
	V4_SHARED_W1, V4_SHARED_W3, V4_SHARED_W2,
	V4_E_PROJ, V4_H_PROJ, V4_ENORM, V4_HNORM, V4_MTP_NORM, /* MTP block only */
	V4_ROLE_COUNT,
};

/* The name of the tensor playing role in layer (-1: the model's own, for the global roles;
 * from c's num_hidden_layers on: an MTP block "mtp.K.") for expert (-1: none),
 * snprintf-style: the length it needs. */
int hf_v4_name(char *out, size_t size, const struct ds_config *c, enum v4_role role, int layer, int expert);

#endif
