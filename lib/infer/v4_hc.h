/* DeepSeek-V4's hyper-connections (manifold-constrained, mHC), as transformers'
 * DeepseekV4HyperConnection and DeepseekV4HyperHead compute them: a token's hc_mult streams
 * of hidden values, RMS-normalised as one vector, give through `fn` the mixes
 *   pre  = sigmoid(mix[0..hc) * scale[0] + base) + hc_eps        (collapse the streams)
 *   post = 2 sigmoid(mix[hc..2hc) * scale[1] + base)              (spread a block's output)
 *   comb = Sinkhorn(softmax_rows(mix[2hc..) * scale[2] + base) + hc_eps) (mix the streams)
 * where Sinkhorn divides the columns by their sums (+ hc_eps), then hc_sinkhorn_iters - 1
 * times the rows and the columns.  A block's input is sum_i pre_i stream_i; after it,
 * stream_k = post_k out + sum_j comb[j][k] stream_j.  In double throughout. */
#ifndef CKPT_INFER_V4_HC_H
#define CKPT_INFER_V4_HC_H

#include <stddef.h>

#include "model.h"

/* pre[hc], post[hc], comb[hc * hc] (row j, column k) from mix[(2 + hc) * hc]. */
void v4_hc_weights(size_t hc, const double *mix, const float *base, const float *scale, double eps, unsigned iters,
		   double *pre, double *post, double *comb);

/* One site (attention or FFN) of a block over N tokens. */
struct v4_hc {
	struct infer_model *m;
	size_t N, hc, D;
	float *fn, *base, scale[3];
	double *pre, *post, *comb;           /* per token */
};

/* Read the site's {fn, base, scale}. */
int v4_hc_open(struct v4_hc *x, struct infer_model *m, const struct vtensor *const *t, size_t N);
void v4_hc_close(struct v4_hc *x);
/* The mixes of the N tokens' streams h [N][hc][D], and the block input x [N][D]. */
void v4_hc_pre(struct v4_hc *x, const float *h, float *in);
/* h [N][hc][D] updated in place with the block's output y [N][D]. */
void v4_hc_post(const struct v4_hc *x, const float *y, float *h);
/* The hc head {fn, base, scale}: the streams h [N][hc][D] merged into x [N][D]. */
int v4_hc_head(struct infer_model *m, const struct vtensor *const *t, const float *h, size_t N, float *x);

#endif
