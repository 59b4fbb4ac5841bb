/* Which routed experts a token goes to, and with what weights (DeepSeek-V3's MoE gate).
 *
 * scores s = sigmoid(router logits) (or softmax over the experts, or DeepSeek-V4's
 * sqrt(softplus)), in float32; biased
 * scores b = s + e_score_correction_bias.  The experts form n_group equal groups; a group
 * scores the sum of its two largest b; the topk_group best groups stay and every other
 * expert is out of the running (DeepSeek's -inf); the top_k experts by b are chosen, and
 * weighted by their unbiased s, divided by the sum of those (+1e-20) when norm_topk_prob,
 * times routed_scaling_factor.  Ties go to the lower index, for groups and experts alike. */
#ifndef CKPT_INFER_ROUTE_H
#define CKPT_INFER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "ds_config.h"

struct route_cfg {
	unsigned n_experts, n_group, topk_group, top_k;
	enum score_func score;
	bool norm;
	float scale;
};

/* From config.json's keys; fails when the numbers do not fit together. */
int route_cfg_init(struct route_cfg *rc, const struct ds_config *c);

/* One token: logits[n_experts] of the router, bias[n_experts] or NULL.  Writes top_k
 * expert indices in increasing order and their weights. */
void route_token(const struct route_cfg *rc, const float *logits, const float *bias, unsigned *idx, float *w);
/* The weights of top_k experts chosen otherwise (DeepSeek-V4's hash routing: tid2eid of the
 * token), from the router's scores as route_token weighs its own. */
void route_given(const struct route_cfg *rc, const float *logits, const unsigned *idx, float *w);
/* sqrt(softplus(x)), DeepSeek-V4's score (SCORE_SQRTSOFTPLUS), in double. */
double route_sqrtsoftplus(double x);

#endif
