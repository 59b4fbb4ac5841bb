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
 *   first series), the gates softmaxed per channel after adding the position bias `ape`;
 *   then kv_norm (RMSNorm with weight) and the compress rope at position w*r on the trailing
 *   qk_rope_head_dim values (rope_apply_pairs).  floor(T / r) entries: the tokens past the
 *   last full window give none;
 *
 *   query t may see entry w only when w < (t + 1) / r (integer division: its window is
 *   complete at t).  On r = 4 layers it sees at most index_topk of those, the indexer's
 *   picks: score_w = sum_h relu(q_h . k_w) / sqrt(index_head_dim) * weight_h / sqrt(index_n_heads),
 *   q and k rotated by the compress rope (q at t), the best first as torch's CPU topk orders
 *   them, ties included (lib/infer/topk_torch.h); -1 where fewer are visible.
 *
 * For the attention (v4_model.c): an entry is both key and value (K = V), one head shared by
 * every query head like the window's kv; it goes after the window keys under the same
 * softmax (scale, sinks), and its value, rotated at w*r, goes through the same inverse rope
 * of the output at the query's position. */
#ifndef CKPT_INFER_V4_COMPRESS_H
#define CKPT_INFER_V4_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "topk_torch.h"
#include "v4_model.h"

/* Layer L (L->ratio > 0): from x, the attention's normalised input (B*T rows of hidden_size,
 * ldx apart), and qr, its low-rank query state q_a_norm(q_a_proj(x)) (B*T rows of q_lora_rank,
 * ldq apart; read where the ratio is 4), for B sequences of T tokens at positions 0..T-1,
 * fill out: n = T / r entries a sequence, and per query k picks (r = 4: min(index_topk, n),
 * the indexer's, best first; other r: k = n, entry j at place j while visible), -1 for none.
 * m->v4->compress must be tabulated for T positions.  score (or NULL): *score gets the
 * indexer's scores before the causal mask, [B*T][n] (free() it; NULL where r is not 4).
 * On failure nothing is left allocated. */
int v4_compress(struct infer_model *m, const struct v4_layer *L, const float *x, size_t ldx, const float *qr,
		size_t ldq, size_t B, size_t T, struct v4_compressed *out, float **score);

/* ---- the pieces, for the tests ---- */

/* The gated pooling of one sequence's n windows of r tokens: kv and gate are the tokens'
 * projections (n*r rows of c*hd values: c = 2 with overlap, else 1), ape [r][c*hd].  Entry w,
 * channel d: the softmax over its slots of gate + ape weighs kv; the slots are, with overlap,
 * window w-1's first hd values (none for w = 0) then window w's last hd, else window w's hd.
 * out: n rows of hd (before kv_norm and the rope). */
void v4c_pool(const float *kv, const float *gate, const float *ape, size_t n, unsigned r, size_t hd, bool overlap,
	      float *out);

/* How many entries query t sees at ratio r, of n: min(n, (t + 1) / r). */
size_t v4c_visible(size_t t, unsigned r, size_t n);

/* The indexer's k picks of a query that sees vis of the n scores: torch's topk of the scores
 * with the invisible ones at -inf, picks that are not visible -1.  scratch: n elements. */
void v4c_pick(const float *score, size_t n, size_t vis, size_t k, int32_t *pick, struct topk_elem *scratch);

#endif
