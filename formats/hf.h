/* The HF DeepSeek-V3 checkpoint layout: which tensors a checkpoint of a given config.json
 * holds, with their shapes and stored dtypes, and what any tensor name means.
 *
 * This is the one place that knows the HF names (shared/spec/deepseek-upstream.md, "The HF
 * checkpoint"); verify, the converters and the inference core ask it instead of taking
 * names apart themselves.
 *
 *   struct hf_layout *L;
 *   hf_expected(&L, &cfg, "config.json");      every tensor, canonical order
 *   for (size_t i = 0; i < L->nentries; i++)   every stored tensor: weights and scales
 *           ... L->e[i].name, L->e[i].dtype, L->e[i].ndim, L->e[i].shape ...
 *   const struct hf_entry *e = hf_find(L, "model.layers.3.mlp.experts.7.up_proj.weight_scale_inv");
 *           e->scale is true, e->t->role == HF_EXPERT_UP, e->t->layer == 3, e->t->expert == 7
 *   hf_free(L);
 *
 * Which layers are what (as transformers' DeepseekV3 builds them):
 *  - layers 0 .. num_hidden_layers-1, then the MTP layers num_hidden_layers ..
 *    num_hidden_layers + num_nextn_predict_layers - 1;
 *  - a layer is MoE when n_routed_experts > 0, L >= first_k_dense_replace and
 *    L % moe_layer_freq == 0, else it has a dense MLP.  DeepSeek's own model.py ignores
 *    moe_layer_freq (every DeepSeek-V3 config has 1), so only 1 matters in practice;
 *  - an MTP layer is a full decoder layer plus embed_tokens, enorm, hnorm, eh_proj and
 *    shared_head.{norm, head};
 *  - q_lora_rank null (or 0): q_proj instead of q_a_proj, q_a_layernorm and q_b_proj;
 *  - n_shared_experts 0: no shared_experts tensors;
 *  - tie_word_embeddings true: no lm_head.weight (HF saves tied weights once).
 *
 * Stored dtypes: BF16 for embeddings, norms, the router, eh_proj and the heads; F32 for
 * e_score_correction_bias; projection weights (attention, dense MLP, experts, shared
 * experts) are block-quantized when config.json has a quantization_config (F8_E4M3 for fmt
 * "e4m3" or no fmt, F8_E5M2 for "e5m2"), each with a companion "<name>_scale_inv" of F32
 * [ceil(rows/bm), ceil(cols/bn)] for weight_block_size [bm, bn]; without a
 * quantization_config they are BF16 and have no scale.  (Checkpoints with
 * scale_fmt "ue8m0" still store their power-of-two scales as F32; other tools may store
 * scales as BF16 or F8_E8M0: whether to accept those is the caller's policy.) */
#ifndef CKPT_HF_H
#define CKPT_HF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ds_config.h"
#include "dtype.h"

/* What a tensor is.  Per-layer names are "model.layers.L." + the suffix shown; expert
 * names "model.layers.L.mlp.experts.E." + the suffix. */
enum hf_role {
	HF_EMBED,        /* model.embed_tokens.weight            [vocab, hidden] */
	HF_NORM,         /* model.norm.weight                    [hidden] */
	HF_LM_HEAD,      /* lm_head.weight                       [vocab, hidden] */
	HF_INPUT_NORM,   /* input_layernorm.weight               [hidden] */
	HF_Q_PROJ,       /* self_attn.q_proj.weight              [heads*(nope+rope), hidden] */
	HF_Q_A_PROJ,     /* self_attn.q_a_proj.weight            [q_lora_rank, hidden] */
	HF_Q_A_NORM,     /* self_attn.q_a_layernorm.weight       [q_lora_rank] */
	HF_Q_B_PROJ,     /* self_attn.q_b_proj.weight            [heads*(nope+rope), q_lora_rank] */
	HF_KV_A_PROJ,    /* self_attn.kv_a_proj_with_mqa.weight  [kv_lora_rank+rope, hidden] */
	HF_KV_A_NORM,    /* self_attn.kv_a_layernorm.weight      [kv_lora_rank] */
	HF_KV_B_PROJ,    /* self_attn.kv_b_proj.weight           [heads*(nope+v), kv_lora_rank] */
	HF_O_PROJ,       /* self_attn.o_proj.weight              [hidden, heads*v] */
	HF_POST_NORM,    /* post_attention_layernorm.weight      [hidden] */
	HF_MLP_GATE,     /* mlp.gate_proj.weight (dense layers)  [intermediate, hidden] */
	HF_MLP_UP,       /* mlp.up_proj.weight                   [intermediate, hidden] */
	HF_MLP_DOWN,     /* mlp.down_proj.weight                 [hidden, intermediate] */
	HF_ROUTER,       /* mlp.gate.weight                      [experts, hidden] */
	HF_ROUTER_BIAS,  /* mlp.gate.e_score_correction_bias     [experts], F32 */
	HF_EXPERT_GATE,  /* gate_proj.weight (routed expert E)   [moe_intermediate, hidden] */
	HF_EXPERT_UP,    /* up_proj.weight                       [moe_intermediate, hidden] */
	HF_EXPERT_DOWN,  /* down_proj.weight                     [hidden, moe_intermediate] */
	HF_SHARED_GATE,  /* mlp.shared_experts.gate_proj.weight  [shared*moe_intermediate, hidden] */
	HF_SHARED_UP,    /* mlp.shared_experts.up_proj.weight    [shared*moe_intermediate, hidden] */
	HF_SHARED_DOWN,  /* mlp.shared_experts.down_proj.weight  [hidden, shared*moe_intermediate] */
	HF_MTP_EMBED,    /* embed_tokens.weight (MTP layers)     [vocab, hidden] */
	HF_MTP_ENORM,    /* enorm.weight                         [hidden] */
	HF_MTP_HNORM,    /* hnorm.weight                         [hidden] */
	HF_MTP_EH_PROJ,  /* eh_proj.weight                       [hidden, 2*hidden] */
	HF_MTP_HEAD_NORM,/* shared_head.norm.weight              [hidden] */
	HF_MTP_HEAD,     /* shared_head.head.weight              [vocab, hidden] */
	/* DeepSeek-V3.2's lightning indexer, on every layer when config.json has
	 * index_n_heads (nh_i) and index_head_dim (d_i): */
	HF_IDX_WQ_B,     /* self_attn.indexer.wq_b.weight        [nh_i*d_i, q_lora_rank] */
	HF_IDX_WK,       /* self_attn.indexer.wk.weight          [d_i, hidden] */
	HF_IDX_K_NORM,   /* self_attn.indexer.k_norm.weight      [d_i] (a LayerNorm) */
	HF_IDX_K_NORM_BIAS, /* self_attn.indexer.k_norm.bias     [d_i] */
	HF_IDX_WEIGHTS_PROJ, /* self_attn.indexer.weights_proj.weight [nh_i, hidden], BF16 */
	HF_ROLE_COUNT,
	/* A tensor of a family with an inventory of its own (DeepSeek-V4: formats/hf_v4.h),
	 * whose name alone says what it is: none of the tables here know it (hf_parse,
	 * hf_format, hf_role_name say "?").  HF_OWN_MTP: of an MTP layer. */
	HF_OWN = HF_ROLE_COUNT,
	HF_OWN_MTP,
};

/* A short stable name for messages and reports: "q_a_proj", "expert_down", "mtp_head"... */
const char *hf_role_name(enum hf_role r);
/* Whether the role is a projection weight, block-quantized in an FP8 checkpoint. */
bool hf_role_quantized(enum hf_role r);
/* Whether the role's names carry an expert id. */
bool hf_role_per_expert(enum hf_role r);
/* Whether layer L of this config has routed experts (see above); L counts MTP layers on. */
bool hf_layer_is_moe(const struct ds_config *c, int64_t layer);

/* ---- names, without a config ---- */

struct hf_name {
	enum hf_role role;
	int layer;       /* -1 for the global tensors */
	int expert;      /* routed expert id; -1 when the role has none */
	bool scale;      /* the "_scale_inv" companion of a quantized role's weight */
};

/* Take an HF DeepSeek-V3 tensor name apart: 0, or -1 when it is not one (no message).
 * Numbers are plain decimals without leading zeros; "_scale_inv" is accepted only after a
 * quantized role's weight. */
int hf_parse(const char *name, struct hf_name *out);
/* A decimal without leading zeros that fits an int at *p, which moves past it: 0, or -1. */
int hf_parse_num(const char **p, int *out);
/* The name for n, snprintf-style: the length it needs, written when it fits in size. */
int hf_format(char *out, size_t size, const struct hf_name *n);

/* ---- the expected tensors of a config ---- */

struct hf_tensor {
	const char *name;
	enum hf_role role;
	int layer;             /* -1: global */
	int expert;            /* routed expert id, -1 otherwise */
	bool mtp;              /* in an MTP layer (layer >= num_hidden_layers) */
	enum dt dtype;
	unsigned ndim;         /* 1 or 2 */
	uint64_t shape[2];
	bool quantized;        /* a block-quantized weight; then scale is set */
	/* Stored in whichever float dtype the file has (BF16, F16 or F32): dtype is only the
	 * usual one.  DeepSeek-V3.2's norms (F32 in its release, BF16 in V3.2-Exp's). */
	bool any_float;
	/* 4-bit codes two a byte (FP4 E2M1, DeepSeek-V4's routed experts): shape is the codes'
	 * [rows, cols], as a view shows it; stored I8 [rows, cols / 2] (as DeepSeek writes
	 * it), U8 the same, or F4 [rows, cols] (safetensors' float4_e2m1fn_x2); dtype is I8. */
	bool packed4;
	struct {
		const char *name;  /* name + "_scale_inv" (DeepSeek-V4: X.weight -> X.scale) */
		enum dt dtype;     /* F32 (DeepSeek-V4: F8_E8M0) */
		uint64_t shape[2]; /* [ceil(rows/block[0]), ceil(cols/block[1])] */
	} scale;
};

/* One stored tensor: a spec's weight, or its scale. */
struct hf_entry {
	const char *name;
	enum dt dtype;
	unsigned ndim;
	const uint64_t *shape;
	const struct hf_tensor *t;
	bool scale;
};

struct hf_layout {
	struct ds_config cfg;          /* the config it was made from */
	int64_t nlayers, nmtp;         /* num_hidden_layers, num_nextn_predict_layers */
	uint64_t block[2];             /* weight_block_size when quantized */
	size_t n;
	struct hf_tensor *t;           /* canonical order: global tensors, then layer by layer */
	size_t nentries;
	struct hf_entry *e;            /* every stored tensor: each weight followed by its scale */
	uint64_t total_bytes;          /* their data bytes (an index's total_size) */
	struct hf_priv *priv;
};

/* The tensors a checkpoint of config c holds.  Fails, naming `path` and the key, when a
 * needed key is missing or a value makes no sense (or more than 2^24 tensors). */
int hf_expected(struct hf_layout **out, const struct ds_config *c, const char *path);
/* At least as many stored tensors as hf_expected would list (more than 2^24: too many),
 * counted without listing them. */
uint64_t hf_expected_bound(const struct ds_config *c);
/* The same from a config.json file. */
int hf_expected_file(struct hf_layout **out, const char *config_path);
void hf_free(struct hf_layout *L);
/* A builder's next tensor: room in L->t and the name offsets (grown together, capacity
 * *cap), the entry zeroed; L->n is the builder's to count. */
struct hf_tensor *hf_layout_next(struct hf_layout *L, size_t *cap, size_t **name_off, size_t **scale_off);
/* A builder's failure: L, the arena and the offsets freed; -1. */
int hf_layout_abandon(struct hf_layout *L, struct buf *names, size_t *name_off, size_t *scale_off);

/* For a family's own inventory (formats/hf_v4.c): L->t[0 .. L->n) made, their names at
 * offsets name_off[i] (and scale_off[i] for the quantized ones) of the arena `names`:
 * sets the names, the stored entries, total_bytes and the lookup by name, and L into
 * *out.  Takes names, name_off and scale_off over, and L too: -1 (naming path, L freed)
 * when the sizes overflow. */
int hf_layout_finish(struct hf_layout **out, struct hf_layout *L, struct buf *names, size_t *name_off, size_t *scale_off,
		     const char *path);

/* The stored tensor of that name, or NULL when a checkpoint of this config has none. */
const struct hf_entry *hf_find(const struct hf_layout *L, const char *name);

#endif
