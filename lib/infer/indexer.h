/* DeepSeek-V3.2's lightning indexer (DeepSeek Sparse Attention): which earlier positions
 * each query's attention keeps once a sequence is longer than index_topk.
 *
 * The reference is transformers' DeepseekV32Indexer (docs/forward.md): per layer, from the
 * layer's normed input x and the query's low-rank state qr (q_norm's output),
 *   q = wq_b(qr) as [heads][head_dim], k = LayerNorm(wk(x)) (weight, bias, eps 1e-6), the
 *   first qk_rope_head_dim values of each rotated by MLA's rotary tables in halves (i, i + d/2);
 *   w = weights_proj(x) * heads^-0.5;
 *   score[s][t] = sum_h w[s][h] * relu(q[s][h] . k[t] * head_dim^-0.5), for t <= s;
 * and the top_k best t of each s.  DeepSeek's inference/model.py also rotates q and k by a
 * Hadamard transform and rounds them to FP8 before the products: not simulated here (the
 * transform alone changes no product; the rounding can change which positions tie). */
#ifndef CKPT_INFER_INDEXER_H
#define CKPT_INFER_INDEXER_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"
#include "pool.h"
#include "rope.h"
#include "view.h"

struct indexer_weights {
	const struct vtensor *wq_b;         /* [heads * head_dim, q_lora_rank] */
	const struct vtensor *wk;           /* [head_dim, hidden] */
	const struct vtensor *k_norm, *k_bias; /* [head_dim] each */
	const struct vtensor *weights_proj; /* [heads, hidden] */
};

struct indexer_shape {
	size_t heads, head_dim, top_k;
	size_t hidden, q_lora;
};

/* The positions each of B*T queries keeps: pick[(b * T + s) * top_k + j], ascending, the
 * first min(s + 1, top_k) of them valid and the rest -1.  x: [B*T][hidden], qr:
 * [B*T][q_lora].  *nonfinite: whether a NaN or infinite score was met (such a score ranks
 * above every number, as in torch.topk).  Memory: the indexer's q and k, and one row of scores per worker. */
int indexer_pick(struct lin *lin, struct pool *pool, const struct rope *rope, const struct indexer_weights *w,
		 const struct indexer_shape *sh, const float *x, const float *qr, size_t B, size_t T, int32_t *pick,
		 int *nonfinite);

/* The k best of n scores into out (ascending positions; min(n, k) of them, returned), as
 * torch.topk on the CPU selects them (topk_torch.h: NaN above every number, of equal
 * scores those its algorithm leaves in front). */
size_t indexer_topk(const double *score, size_t n, size_t k, int32_t *out);

#endif
