/* The DeepSeek-V4 forward pass (../shared/spec/deepseek-v4.md, section d), behind the entry
 * points of lib/infer/model.h: infer_open dispatches on the family's forward kind
 * (formats/family.h), and infer_forward, infer_layer and infer_mtp run this pass for a
 * DeepSeek-V4 checkpoint.
 *
 * The reference is transformers' DeepseekV4ForCausalLM (docs/forward.md says where it and
 * DeepSeek's inference/model.py differ and which is followed): hc_mult residual streams
 * mixed by hyper-connections (Sinkhorn-normalised), on every layer a shared-KV attention
 * over a sliding window with per-head sinks, plus on the layers whose compress ratio is not
 * 0 the compressed entries of lib/infer/v4_compress.h; a MoE with hash routing on the first
 * num_hash_layers layers and sqrtsoftplus scores after; the streams merged by the hc head,
 * the final norm, the head.  The MTP block follows model.py's MTPBlock (transformers has
 * none).
 *
 * The hidden state between layers is hc_mult streams: B*T rows of hc_mult * hidden values
 * (infer_state_dim). */
#ifndef CKPT_INFER_V4_MODEL_H
#define CKPT_INFER_V4_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_v4.h"
#include "model.h"
#include "rope.h"

/* The weights of one block (a layer, or from nlayers on an MTP block), found on first use.
 * hc_*: {fn, base, scale}, F32, read exactly (never rounded to BF16). */
struct v4_layer {
	bool ready, mtp;
	unsigned ratio;                      /* compress_ratios[l]: 0, 4 or 128 */
	bool hash;                           /* routed by tid2eid (l < num_hash_layers) */
	const struct vtensor *attn_norm, *ffn_norm;
	const struct vtensor *hc_attn[3], *hc_ffn[3];
	/* attention: sinks [heads] F32; wq_a [q_lora, D]; q_norm; wq_b [heads*hd, q_lora];
	 * wkv [hd, D]; kv_norm [hd]; wo_a [groups*o_lora, heads*hd/groups]; wo_b [D, groups*o_lora] */
	const struct vtensor *sink, *wq_a, *q_norm, *wq_b, *wkv, *kv_norm, *wo_a, *wo_b;
	/* ratio > 0: the compressor {ape [r, w], wkv [w, D], wgate [w, D], norm [hd]}, w = hd
	 * (2 hd at ratio 4); ratio 4: the indexer's own compressor (index_head_dim wide), its
	 * wq_b [index_heads*index_hd, q_lora] and weights_proj [index_heads, D] */
	const struct vtensor *cmp[4], *idx_cmp[4], *idx_wq_b, *idx_weights;
	/* MoE: router [E, D]; tid2eid [vocab, top_k] I64 (hash layers) or bias [E] F32 */
	const struct vtensor *router, *bias, *tid2eid;
	const struct vtensor **expert;       /* n_routed_experts x {w1 gate, w3 up, w2 down} */
	const struct vtensor *shared[3];     /* gate, up, down */
	/* MTP block: e_proj, h_proj [D, D], enorm, hnorm, norm [D], its own hc head */
	const struct vtensor *e_proj, *h_proj, *enorm, *hnorm, *norm, *hc_head[3];
};

/* What infer_model holds for a DeepSeek-V4 checkpoint (m->v4). */
struct v4_state {
	struct v4_layer *layer;              /* nlayers + nmtp */
	const struct vtensor *hc_head[3];    /* the model's hc head {fn, base, scale} */
	/* rotary tables: "main" (rope_theta, no scaling) for the window-only layers,
	 * "compress" (compress_rope_theta with YaRN, amplitude 1) for the others and their
	 * compressors; both on the last qk_rope_head_dim dims of a head, pairs (2i, 2i+1) */
	struct rope main, compress;
	size_t hc, hd, rd;                   /* hc_mult, head_dim, qk_rope_head_dim */
	size_t window;                       /* sliding_window */
	double hc_eps, swiglu_limit;
	unsigned sinkhorn_iters;
	const int64_t *ids;                  /* the tokens of the pass running (hash routing) */
	size_t ids_T;                        /* their row length */
};

/* What the compressor of a layer with ratio r > 0 gives the attention (lib/infer/v4_compress.h
 * makes it): for each sequence b, n entries of head_dim values (key = value, normed and
 * rotated at their positions as transformers does), and for each query token which of them it
 * attends to: pick[(b*T + t) * k + j], an entry index below n, or -1 for none.  The attention
 * puts them after the window's keys (the sinks apply to the whole row). */
struct v4_compressed {
	size_t n, k;
	float *kv;                           /* [B][n][head_dim] */
	int32_t *pick;                       /* [B*T][k] */
};
void v4_compressed_free(struct v4_compressed *c);

/* The entry points' V4 halves (model.c calls them when m->v4 is set). */
int v4_open(struct infer_model *m);
void v4_close(struct infer_model *m);
int v4_forward(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, float *logits, float *last_hidden,
	       const struct infer_hook *hook);
int v4_layer(struct infer_model *m, size_t l, float *h, size_t B, size_t T);
int v4_mtp(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, const float *last_hidden,
	   float **logits);

/* ---- pieces the compressor shares ---- */

/* Layer l's weights (found and shape-checked on first use). */
int v4_layer_get(struct infer_model *m, size_t l, struct v4_layer **out);
/* (norms, vectors, products: infer_norm_rows, infer_read_vec in model.h, lin_run in
 * linear.h; F32 parameters are read exactly, never rounded to BF16) */

#endif
