/* DeepSeek-V4's compressed attention, the part a layer whose compress ratio r is not 0 adds to
 * the sliding window: its compressor (r = 4, CSA: overlapping windows of 2r tokens with
 * learned gates; any other r, HCA: r-token windows) turns the layer's input into r-times fewer
 * KV entries, and on r = 4 layers the lightning indexer picks which of them each query sees.
 *
 * The reference is transformers' DeepseekV4CSACompressor, DeepseekV4HCACompressor,
 * DeepseekV4Indexer and DeepseekV4IndexerScorer run over whole sequences from position 0
 * (a prefill: nothing cached before), followed exactly (docs/forward.md, "DeepSeek-V4's
 * compressed attention"):
 *
 *   entry w of a sequence pools tokens [w*r, (w+1)*r) (r = 4: and the previous window's
 *   first half-vector series), gates softmaxed per channel with the position bias `ape`,
 *   kv_norm (RMSNorm with weight), then RoPE of the "compress" rope at position w*r on the
 *   trailing qk_rope_head_dim values, pairs (2i, 2i+1) rotated in place (rope_apply_tail);
 *   there are floor(T / r) entries, the tokens past the last full window give none;
 *
 *   query t may see entry w only when w < (t + 1) / r (integer division): the window is
 *   complete at t.  On r = 4 layers it sees at most index_topk of those, the indexer's
 *   picks (score sum_h relu(q_h . k_w) / sqrt(index_head_dim) * weight_h / sqrt(index_n_heads),
 *   top-k as torch's CPU topk orders it, ties included; -1 where fewer are visible).
 *
 * FOR THE ATTENTION (lib/infer/v4_model.c): an entry is both key and value (K = V), one head
 * shared by every query head, like the window's kv; it is appended after the window keys,
 * with the same softmax (scale, sinks) and its value goes through the same inverse rope of
 * the output at the query's position.  v4c_visible lists the entries a query attends to. */
#ifndef CKPT_INFER_V4_COMPRESS_H
#define CKPT_INFER_V4_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "ds_config.h"
#include "linear.h"
#include "rope.h"
#include "view.h"

/* The weights of one compressed layer, found by the caller (by role, formats/hf_v4.h).
 * hd = head_dim; c = 2 where r is 4 (two series a token: the first hd values go to the
 * next window's entry, the last hd to the current one), 1 otherwise. */
struct v4c_weights {
	const struct vtensor *wkv, *wgate;   /* attn.compressor.wkv/wgate [c*hd, hidden] */
	const struct vtensor *ape;           /* attn.compressor.ape [r, c*hd], F32 */
	const struct vtensor *norm;          /* attn.compressor.norm [hd] */
	/* the indexer, r = 4 only (NULL elsewhere); id = index_head_dim, nh = index_n_heads */
	const struct vtensor *iwq_b;         /* attn.indexer.wq_b [nh*id, q_lora_rank] */
	const struct vtensor *iweights;      /* attn.indexer.weights_proj [nh, hidden] */
	const struct vtensor *iwkv, *iwgate; /* attn.indexer.compressor.wkv/wgate [2*id, hidden] */
	const struct vtensor *iape;          /* attn.indexer.compressor.ape [4, 2*id] */
	const struct vtensor *inorm;         /* attn.indexer.compressor.norm [id] */
};

struct v4c_entries {
	size_t B, T;
	unsigned ratio, dim;                 /* r, head_dim */
	size_t n;                            /* entries a sequence: floor(T / r) */
	float *kv;                           /* [B][n][dim]: K = V, roped */
	/* r = 4 only (else 0 / NULL) */
	size_t k;                            /* picks a query: min(index_topk, n) */
	int32_t *pick;                       /* [B*T][k]: the indexer's picks, best first, -1: none */
	float *score;                        /* [B*T][n]: the scorer's scores, before the causal mask */
};

/* The compress rope (transformers' "compress" rope type): YaRN of config.json's rope_scaling
 * with compress_rope_theta as base and cos/sin not scaled (attention_factor 1), over
 * qk_rope_head_dim dims in interleaved pairs.  The same one rotates the queries and window
 * keys of the attention on compressed layers; sliding-only layers use rope_theta, no YaRN. */
int v4c_rope_init(struct rope *r, const struct ds_config *c);

/* Layer with ratio r > 0 (compress_ratios[layer]) and weights w: from x, the attention's
 * normalised input (B*T rows of hidden_size, ldx apart), and qr, its low-rank query state
 * q_a_norm(q_a_proj(x)) (B*T rows of q_lora_rank, ldq apart; read on r = 4 layers only),
 * B sequences of T tokens each at positions 0..T-1.  crope: v4c_rope_init's, tabulated for
 * T positions at least (rope_positions).  The products run through lin.  On failure (a
 * weight that cannot be read or has the wrong shape) nothing is left allocated. */
int v4c_run(struct v4c_entries *e, unsigned r, const struct v4c_weights *w, const struct ds_config *c,
	    const struct rope *crope, struct lin *lin, const float *x, size_t ldx, const float *qr, size_t ldq,
	    size_t B, size_t T);

/* The entries query t of sequence b attends to, ascending, into list (room for e->n);
 * returns their number.  Entry j of sequence b is e->kv + (b * e->n + j) * e->dim. */
size_t v4c_visible(const struct v4c_entries *e, size_t b, size_t t, uint32_t *list);

void v4c_free(struct v4c_entries *e);

#endif
