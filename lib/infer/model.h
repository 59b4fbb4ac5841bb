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
#include "indexer.h"
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
	bool has_indexer;                    /* DeepSeek-V3.2's (config.json's index_n_heads) */
	struct indexer_weights indexer;
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
	double swiglu_limit;                 /* > 0: MLPs clamp gate and up (DeepSeek-V4) */
	struct rope rope;
	struct route_cfg route;
	struct lin lin;
	uint64_t experts_run;                /* routed expert evaluations so far */
	/* Where NaN or infinite values first appeared since the caller last cleared it
	 * ("layer 2 (attention output)", "the final norm" ...; "" while none did).  A pass
	 * goes on over them: what they mean is the caller's business. */
	char nonfinite[INFER_WHERE];
	/* Called (when set) with the positions a layer's indexer kept for each of B*T queries:
	 * k a query, ascending, -1 after the first min(s + 1, k) (lib/infer/indexer.h).  Only
	 * where the indexer runs: past max_dense_positions, every position is kept. */
	void (*picked)(void *ctx, size_t layer, const int32_t *pick, size_t B, size_t T, size_t k);
	void *picked_ctx;
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

/* ---- pieces the passes share (lib/infer only) ---- */

/* The tensor `name` into *out, of the shape the family's inventory gives it (optional:
 * absence is no error, *out NULL). */
int infer_need(const struct infer_model *m, const struct vtensor **out, bool optional, const char *name);
/* Note where NaN or infinity first shows among n values of x (m->nonfinite). */
void infer_note_nonfinite(struct infer_model *m, const float *x, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A vector's values (dequantized ones rounded to BF16; F32 ones exact). */
int infer_read_vec(const struct infer_model *m, const struct vtensor *t, float *out);
/* out[i] = rmsnorm(x[i]) * w for n rows of d values (ldx, ldo apart); w NULL: unweighted. */
int infer_norm_rows(const struct infer_model *m, const struct vtensor *w, const float *x, size_t ldx, float *out,
		    size_t ldo, size_t n, size_t d);
/* down(silu(gate(x)) * up(x)) for several MLPs at once: w[3 * i + {0,1,2}], inputs x_i
 * (n_i rows of H), outputs y_i (n_i rows of H), inner sizes from the weights; gate and up
 * clamped first when m->swiglu_limit > 0. */
int infer_mlps(struct infer_model *m, const struct vtensor *const *w, const float *const *x, const size_t *n,
	       float *const *y, size_t count);
/* A MoE's weights: router, bias (or NULL), n_routed_experts x {gate, up, down}, shared
 * {gate, up, down} (NULL: none). */
struct infer_experts {
	const struct vtensor *router, *bias;
	const struct vtensor *const *expert;
	const struct vtensor *const *shared;
};
/* Routed experts plus shared experts of layer l: x [N][H] (normed) -> out [N][H].  given
 * (N x top_k, or NULL): the experts each token goes to, weighed by the router's scores
 * (route_given); NULL: m->route chooses them (route_token). */
int infer_moe(struct infer_model *m, size_t l, const struct infer_experts *X, const unsigned *given, const float *x,
	      size_t N, float *out);
/* Embedding rows of N tokens into h (ldh apart); what: the embedding's name in messages. */
int infer_embed_rows(struct infer_model *m, const struct vtensor *emb, const int64_t *tokens, size_t N, float *h,
		     size_t ldh, const char *what);
/* logits (or NULL) = head(rmsnorm(h) * norm) for N rows; normed_out (or NULL) gets the normed
 * rows; mtp: the MTP layer whose head it is, or SIZE_MAX for the model's own (messages). */
int infer_head_rows(struct infer_model *m, const struct vtensor *norm, const struct vtensor *head, const float *h,
		    size_t N, float *logits, float *normed_out, size_t mtp);

#endif
