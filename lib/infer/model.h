/* A DeepSeek-V3 forward pass in float32 over weights read through a view (any layout of
 * formats/): embedding, MLA attention with YaRN rotary, dense and MoE feed-forward layers,
 * final norm and head; the multi-token-prediction (MTP) layers on request.
 *
 * The reference is transformers' DeepseekV3ForCausalLM (docs/forward.md lists where it and
 * DeepSeek's model.py differ and which one is followed).  Weights are what DeepSeek's
 * dequantization makes of FP8 checkpoints: bf16(float32(w) * scale). */
#ifndef CKPT_INFER_MODEL_H
#define CKPT_INFER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_config.h"
#include "family.h"
#include "linear.h"
#include "pool.h"
#include "rope.h"
#include "route.h"
#include "view.h"

struct v4_state;

struct infer_layer {
	bool ready, moe, mtp;
	const struct vtensor *attn_norm, *ffn_norm;
	const struct vtensor *wq, *wq_a, *q_norm, *wq_b, *wkv_a, *kv_norm, *wkv_b, *wo;
	const struct vtensor *mlp[3];        /* dense: gate, up, down */
	const struct vtensor *router, *bias;
	const struct vtensor **expert;       /* n_routed_experts x {gate, up, down} */
	const struct vtensor *shared[3];
	/* MTP only (embed and head fall back to the model's) */
	const struct vtensor *embed, *enorm, *hnorm, *eh_proj, *head_norm, *head;
};

enum {
	/* Give the pages of each weight back after use (vtensor_release): memory stays
	 * bounded by what one step needs, at the price of reading them again next time. */
	INFER_RELEASE = 1,
};

#define INFER_WHERE 96

struct infer_model {
	const struct view *v;
	struct ds_config cfg;
	/* cfg's model family: every weight is asked of it by role (formats/family.h), and
	 * its inventory L gives the shape each must have */
	const struct family *family;
	struct hf_layout *L;
	struct pool *pool;
	unsigned flags;
	const struct vtensor *embed, *norm, *head;
	size_t nlayers, nmtp;                /* main layers; MTP layers follow them */
	struct infer_layer *layer;
	/* A DeepSeek-V4 checkpoint's pass (lib/infer/v4_model.h); NULL for the MLA pass. */
	struct v4_state *v4;
	struct rope rope;
	struct route_cfg route;
	struct lin lin;
	uint64_t experts_run;                /* routed expert evaluations so far */
	/* Where NaN or infinite values first appeared since the caller last cleared it
	 * ("layer 2 (attention output)", "the final norm" ...; "" while none did).  A pass
	 * goes on over them: what they mean is the caller's business. */
	char nonfinite[INFER_WHERE];
};

/* Prepare a forward pass over v with hyper-parameters cfg (checked here).  Tensors are
 * found when first needed, so a checkpoint with only some layers can run those. */
int infer_open(struct infer_model *m, const struct view *v, const struct ds_config *cfg, struct pool *pool,
	       unsigned flags);
void infer_close(struct infer_model *m);

/* Values a token's hidden state has between layers: hidden_size, or hc_mult * hidden_size
 * for a model with hyper-connections (DeepSeek-V4's streams). */
size_t infer_state_dim(const struct infer_model *m);
/* Whether the checkpoint holds MTP depth d (1..nmtp). */
bool infer_has_mtp(const struct infer_model *m, size_t d);

/* Called with the hidden states of all B*T tokens: k = 0 after the embedding, k = l + 1
 * after layer l, k = nlayers + 1 after the final norm (what the head sees). */
struct infer_hook {
	void (*hidden)(void *ctx, size_t k, const float *h, size_t ntok, size_t dim);
	void *ctx;
};

/* B sequences of T tokens each (row-major), positions 0..T-1 in each.  logits: B*T*vocab
 * values; last_hidden (or NULL): the B*T states (infer_state_dim values each) before the
 * final norm (and the hc head), for MTP. */
int infer_forward(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, float *logits,
		  float *last_hidden, const struct infer_hook *hook);

/* Layer l (0 <= l < nlayers + nmtp) on B*T hidden states, in place. */
int infer_layer(struct infer_model *m, size_t l, float *h, size_t B, size_t T);

/* The MTP layers after a forward pass: depth d (1..nmtp) predicts token i + d + 1 from
 * position i, for i < T - d, chaining the previous depth's states (the DeepSeek-V3
 * report: eh_proj over [enorm(embedding of token i + d); hnorm(state)], one block, the
 * shared head).  logits[d - 1]: B*(T-d)*vocab values each (NULL to skip a depth). */
int infer_mtp(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, const float *last_hidden,
	      float **logits);

#endif
