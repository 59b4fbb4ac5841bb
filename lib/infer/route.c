#include "route.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int route_cfg_init(struct route_cfg *rc, const struct ds_config *c)
{
	memset(rc, 0, sizeof *rc);
	if (c->n_routed_experts <= 0 || c->num_experts_per_tok <= 0 || c->n_group <= 0 || c->topk_group <= 0)
		return err_set("n_routed_experts, num_experts_per_tok, n_group and topk_group must be positive");
	if (c->n_routed_experts > CFG_MAX_HEADS)
		return err_set("n_routed_experts %lld is over the limit %d", (long long)c->n_routed_experts, CFG_MAX_HEADS);
	if (ds_config_check_routing(c, "config.json"))
		return -1;
	rc->n_experts = (unsigned)c->n_routed_experts;
	rc->n_group = (unsigned)c->n_group;
	rc->topk_group = (unsigned)c->topk_group;
	rc->top_k = (unsigned)c->num_experts_per_tok;
	rc->score = c->scoring_func;
	rc->norm = c->norm_topk_prob;
	rc->scale = (float)c->routed_scaling_factor;
	return 0;
}

/* Whether a ranks before b: greater value, or equal and lower index.  NaN ranks last. */
static bool before(float va, unsigned a, float vb, unsigned b)
{
	if (isnan(vb))
		return !isnan(va) || a < b;
	if (isnan(va))
		return false;
	return va > vb || (va == vb && a < b);
}

/* Indices of the k best of v[0..n) (skipping those with keep[i] false), into out. */
static void top_k(const float *v, const bool *keep, unsigned n, unsigned k, unsigned *out)
{
	unsigned got = 0;
	for (unsigned i = 0; i < n; i++) {
		if (keep && !keep[i])
			continue;
		unsigned j = got < k ? got++ : k;
		if (j == k && !before(v[i], i, v[out[k - 1]], out[k - 1]))
			continue;
		if (j == k)
			j = k - 1;
		while (j > 0 && before(v[i], i, v[out[j - 1]], out[j - 1])) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = i;
	}
}

static int by_index(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return (x > y) - (x < y);
}

double route_sqrtsoftplus(double x)
{
	/* torch's softplus is x itself past its threshold 20 */
	return sqrt(x > 20 ? x : log1p(exp(x)));
}

static void scores(const struct route_cfg *rc, const float *logits, float *s)
{
	unsigned E = rc->n_experts;
	if (rc->score == SCORE_SIGMOID) {
		for (unsigned e = 0; e < E; e++)
			s[e] = (float)(1.0 / (1.0 + exp(-(double)logits[e])));
	} else if (rc->score == SCORE_SQRTSOFTPLUS) {
		for (unsigned e = 0; e < E; e++)
			s[e] = (float)route_sqrtsoftplus(logits[e]);
	} else {
		double mx = -INFINITY, sum = 0;
		for (unsigned e = 0; e < E; e++)
			mx = logits[e] > mx ? logits[e] : mx;
		for (unsigned e = 0; e < E; e++)
			sum += exp((double)logits[e] - mx);
		for (unsigned e = 0; e < E; e++)
			s[e] = (float)(exp((double)logits[e] - mx) / sum);
	}
}

/* w[k] = s[idx[k]], normalised when rc says so, times the scaling factor. */
static void weigh(const struct route_cfg *rc, const float *s, const unsigned *idx, float *w)
{
	float sum = 0;
	for (unsigned k = 0; k < rc->top_k; k++) {
		w[k] = s[idx[k]];
		sum += w[k];
	}
	for (unsigned k = 0; k < rc->top_k; k++) {
		if (rc->norm)
			w[k] /= sum + 1e-20f;
		w[k] *= rc->scale;
	}
}

void route_given(const struct route_cfg *rc, const float *logits, const unsigned *idx, float *w)
{
	float *s = xmalloc(rc->n_experts * sizeof *s);
	scores(rc, logits, s);
	weigh(rc, s, idx, w);
	free(s);
}

void route_token(const struct route_cfg *rc, const float *logits, const float *bias, unsigned *idx, float *w)
{
	unsigned E = rc->n_experts, G = rc->n_group, per = E / G;
	float *s = xmalloc(E * sizeof *s), *b = xmalloc(E * sizeof *b), *gs = xmalloc(G * sizeof *gs);
	bool *keep = xmalloc(E * sizeof *keep);
	unsigned *gi = xmalloc(G * sizeof *gi);
	scores(rc, logits, s);
	for (unsigned e = 0; e < E; e++)
		b[e] = bias ? s[e] + bias[e] : s[e];
	for (unsigned e = 0; e < E; e++)
		keep[e] = true;
	if (G > 1) {
		for (unsigned g = 0; g < G; g++) {
			unsigned two[2], k = per < 2 ? per : 2;
			top_k(b + g * per, NULL, per, k, two);
			gs[g] = k == 2 ? b[g * per + two[0]] + b[g * per + two[1]] : b[g * per + two[0]];
		}
		top_k(gs, NULL, G, rc->topk_group, gi);
		for (unsigned e = 0; e < E; e++)
			keep[e] = false;
		for (unsigned k = 0; k < rc->topk_group; k++)
			for (unsigned e = 0; e < per; e++)
				keep[gi[k] * per + e] = true;
	}
	top_k(b, keep, E, rc->top_k, idx);
	qsort(idx, rc->top_k, sizeof *idx, by_index);
	weigh(rc, s, idx, w);
	free(s);
	free(b);
	free(gs);
	free(keep);
	free(gi);
}
