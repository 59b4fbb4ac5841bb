/* config.json of the DeepSeek-V3 family: its hyper-parameters, read and checked (the keys
 * this family reads; formats/family.h says which models are of it). */
#ifndef CKPT_DS_CONFIG_H
#define CKPT_DS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dtype.h"
#include "json.h"

struct family;

/* SCORE_SQRTSOFTPLUS: sqrt(softplus(x)), DeepSeek-V4's; accepted only for a family whose
 * forward pass is the hyper-connection one (struct family's forward) or is not run (its
 * no_forward), so it is never computed as another. */
enum score_func { SCORE_SIGMOID, SCORE_SOFTMAX, SCORE_SQRTSOFTPLUS };

/* The largest values config.json may give, checked as it is read: far above what
 * DeepSeek-V3, V3.2, Kimi-K2 and DeepSeek-V4 use (vocabulary 129280 / 163840, hidden 7168,
 * intermediate 18432, LoRA ranks 1536 and 512, 128 heads, head dimensions up to 512, 61
 * layers, 384 experts of 8 per token, 8 groups), low enough that nothing computed from
 * them overflows and that a hostile config fails before any work rather than after
 * gigabytes of tables or millions of layers. */
#define CFG_MAX_VOCAB (1 << 24)      /* vocab_size */
#define CFG_MAX_DIM (1 << 20)        /* hidden, intermediate and MoE intermediate sizes, LoRA
					ranks, weight_block_size */
#define CFG_MAX_HEADS (1 << 16)      /* heads, head dimensions, experts (routed, shared, per
					token), groups */
#define CFG_MAX_LAYERS 4096          /* num_hidden_layers, num_nextn_predict_layers,
					first_k_dense_replace, moe_layer_freq */
#define CFG_MAX_POSITIONS (1ll << 32) /* rope_scaling original_max_position_embeddings */
#define CFG_MAX_COMPRESS (2 * CFG_MAX_LAYERS) /* compress_ratios' entries (one a layer, MTP
					layers included) */
#define CFG_MAX_RATIO 65535          /* a compress ratio (DeepSeek-V4: 0, 4 and 128) */

/* Integers are -1 where config.json does not give them (q_lora_rank: 0 when null). */
struct ds_config {
	int64_t vocab_size, hidden_size, intermediate_size, moe_intermediate_size;
	int64_t num_hidden_layers, num_nextn_predict_layers, num_attention_heads;
	int64_t q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
	int64_t n_routed_experts, n_shared_experts, num_experts_per_tok, n_group, topk_group;
	int64_t first_k_dense_replace, moe_layer_freq;
	int64_t index_n_heads, index_head_dim, index_topk;   /* DeepSeek-V3.2's indexer */
	double routed_scaling_factor, rms_norm_eps, rope_theta;
	enum score_func scoring_func;
	bool norm_topk_prob, tie_word_embeddings;
	bool rope_interleave;            /* rotary pairs (2i, 2i+1); false: (i, i + d/2) */
	char model_type[32], torch_dtype[32];
	char architecture[64];           /* architectures[0], "" when not given */
	/* The family model_type (or architecture) names (formats/family.h); NULL when ckpt
	 * knows no such model: then the keys above were read as this family's keys but
	 * mean nothing checked, and no tool may say it checked the model. */
	const struct family *family;
	struct {
		bool yarn;
		double factor, beta_fast, beta_slow, mscale, mscale_all_dim;
		int64_t original_max_position_embeddings;
		bool has_mscale, has_mscale_all_dim;   /* given in rope_scaling */
		double attention_factor;               /* given in rope_scaling, else 0 */
		bool truncate;                         /* round the correction range (default) */
	} rope;
	struct {
		bool present;            /* quantization_config is there */
		char method[16], fmt[16], scale_fmt[16];
		int64_t block[2];        /* weight_block_size, [128, 128] when not given */
	} quant;
	/* DeepSeek-V4's keys (formats/family_deepseek_v4.c): head_dim, o_groups, o_lora_rank,
	 * hc_mult (-1: not given), num_hash_layers (0), compress_ratios (ncompress of them,
	 * 0: not given; one a layer, MTP layers included) */
	int64_t head_dim, o_groups, o_lora_rank, hc_mult, num_hash_layers;
	/* and its forward pass's: sliding_window (-1: not given), hc_sinkhorn_iters (20),
	 * compress_rope_theta (160000), swiglu_limit (10), hc_eps (1e-6): transformers'
	 * defaults where config.json leaves them out */
	int64_t sliding_window, hc_sinkhorn_iters;
	double compress_rope_theta, swiglu_limit, hc_eps;
	size_t ncompress;
	uint16_t compress_ratios[CFG_MAX_COMPRESS];
	/* Not config.json's: the tensors as the family's model-parallel cut stores them
	 * (model_check_as_stored): DeepSeek-V4's convert.py writes wo_a in BF16 and the
	 * experts' FP4 codes as F4 or (experts_fp8) re-encoded to FP8 with 128 x 128 scales. */
	struct {
		bool on, experts_fp8;
	} mp;
};

/* Read the keys that are present; wrong types are errors naming the file and key, and so
 * is any value out of its range ("config.json: qk_rope_head_dim 1000000000000 is over the
 * limit 65536", rope_theta not above 1, a negative rms_norm_eps ...) or that does not fit
 * with the others (ds_config_check_routing; n_routed_experts or num_experts_per_tok 0
 * where there are MoE layers; an odd qk_rope_head_dim). */
int ds_config_read(struct ds_config *c, const struct json *root, const char *path);
int ds_config_load(struct ds_config *c, const char *path);
/* The same into a new struct (free() it): what a view holds.  NULL with the error set. */
struct ds_config *ds_config_new(const struct json *root, const char *path);
struct ds_config *ds_config_new_file(const char *path);
/* Fail, naming the first missing key, unless everything a forward pass or the tensor
 * layout needs is there (the family's own check where it has one: struct family's
 * require). */
int ds_config_require(const struct ds_config *c, const char *path);
/* The routing keys fit together where they are given: n_routed_experts a multiple of
 * n_group, topk_group at most n_group, num_experts_per_tok at most the experts of
 * topk_group groups. */
int ds_config_check_routing(const struct ds_config *c, const char *path);

/* config.json's text for a checkpoint whose weights are not FP8 (what a converter writing
 * BF16, or wider, writes beside them): without quantization_config, every other byte as
 * it was. */
int config_text_unquantized(struct buf *out, const char *path);

#endif
