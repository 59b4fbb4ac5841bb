#include "indexer.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "topk_torch.h"

static int cmp_pos(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* The selection is torch.topk's on the CPU, which the reference ran (topk_torch.h): which
 * of equal scores are kept (ReLU's zeros tie often) is what its algorithm leaves, and any
 * other rule keeps other positions, with them other attention outputs. */
size_t indexer_topk(const double *score, size_t n, size_t k, int32_t *out)
{
	if (n == 0 || k == 0)
		return 0;
	struct topk_elem *q = xmalloc(n * sizeof *q);
	for (size_t t = 0; t < n; t++)
		q[t] = (struct topk_elem){score[t], (int64_t)t};
	size_t m = topk_torch(q, n, k, out);
	free(q);
	/* ascending: the attention then sums the kept positions in the dense pass's order */
	qsort(out, m, sizeof *out, cmp_pos);
	return m;
}

struct score_ctx {
	const struct indexer_shape *sh;
	size_t T;
	const float *q, *k, *w;     /* [N][heads][head_dim], [N][head_dim], [N][heads] */
	int32_t *pick;
	atomic_int nonfinite;       /* set by any worker that met one */
};

/* One query: its scores against every position up to its own, then its top_k. */
static void score_row(void *ctx, size_t i, unsigned worker)
{
	(void)worker;
	struct score_ctx *c = ctx;
	const struct indexer_shape *sh = c->sh;
	size_t s = i % c->T, b = i / c->T, nh = sh->heads, d = sh->head_dim, K = sh->top_k;
	double *score = xmalloc(c->T * sizeof *score);
	double scale = 1.0 / sqrt((double)d), wscale = 1.0 / sqrt((double)nh);
	const float *q = c->q + i * nh * d, *w = c->w + i * nh;
	int bad = 0;
	for (size_t t = 0; t <= s; t++) {
		const float *k = c->k + (b * c->T + t) * d;
		double sum = 0;
		for (size_t h = 0; h < nh; h++) {
			double dot = 0;
			for (size_t j = 0; j < d; j++)
				dot += (double)q[h * d + j] * k[j];
			dot *= scale;
			sum += (double)w[h] * wscale * (dot > 0 ? dot : 0);
		}
		score[t] = sum;
		bad |= !isfinite(sum);
	}
	/* the later positions as the reference's causal mask leaves them: they take part in
	 * the selection (where ties fall depends on them) and are dropped after it */
	for (size_t t = s + 1; t < c->T; t++)
		score[t] = -INFINITY;
	int32_t *out = c->pick + i * K;
	size_t m = indexer_topk(score, c->T, K, out), kept = 0;
	for (size_t j = 0; j < m; j++)
		if ((size_t)out[j] <= s)
			out[kept++] = out[j];
	for (size_t j = kept; j < K; j++)
		out[j] = -1;
	if (bad)
		atomic_store_explicit(&c->nonfinite, 1, memory_order_relaxed);
	free(score);
}

static int read_vec(const struct lin *lin, const struct vtensor *t, float *out)
{
	int rc = view_read_rows(t, 0, 1, out, (size_t)t->cols, lin->flags);
	if (lin->release)
		vtensor_release(t);
	return rc;
}

int indexer_pick(struct lin *lin, struct pool *pool, const struct rope *rope, const struct indexer_weights *w,
		 const struct indexer_shape *sh, const float *x, const float *qr, size_t B, size_t T, int32_t *pick,
		 int *nonfinite)
{
	size_t N = B * T, nh = sh->heads, d = sh->head_dim, H = sh->hidden, dr = rope->dim;
	if (dr > d)
		return err_set("index_head_dim %zu is smaller than qk_rope_head_dim %u, the dimensions its indexer rotates",
			       d, rope->dim);
	float *q = xmalloc(N * nh * d * sizeof *q), *k = xmalloc(N * d * sizeof *k), *wt = xmalloc(N * nh * sizeof *wt);
	float *g = xmalloc(d * sizeof *g), *bias = xmalloc(d * sizeof *bias);
	int rc = -1;
	struct lin_job j[3] = {
		{.w = w->wq_b, .x = qr, .ldx = sh->q_lora, .ntok = N, .y = q, .ldy = nh * d},
		{.w = w->wk, .x = x, .ldx = H, .ntok = N, .y = k, .ldy = d},
		{.w = w->weights_proj, .x = x, .ldx = H, .ntok = N, .y = wt, .ldy = nh},
	};
	if (lin_run(lin, j, 3) || read_vec(lin, w->k_norm, g) || read_vec(lin, w->k_bias, bias))
		goto out;
	for (size_t n = 0; n < N; n++) {
		/* LayerNorm in double: mean, biased variance, eps 1e-6 (transformers' and
		 * model.py's constant, not config.json's rms_norm_eps) */
		float *kn = k + n * d;
		double mean = 0, var = 0;
		for (size_t i = 0; i < d; i++)
			mean += kn[i];
		mean /= (double)d;
		for (size_t i = 0; i < d; i++)
			var += ((double)kn[i] - mean) * ((double)kn[i] - mean);
		double inv = 1.0 / sqrt(var / (double)d + 1e-6);
		for (size_t i = 0; i < d; i++)
			kn[i] = (float)(((double)kn[i] - mean) * inv * g[i] + bias[i]);
		size_t pos = n % T;
		rope_apply_halves(rope, kn, pos);
		for (size_t h = 0; h < nh; h++)
			rope_apply_halves(rope, q + (n * nh + h) * d, pos);
	}
	struct score_ctx c = {.sh = sh, .T = T, .q = q, .k = k, .w = wt, .pick = pick};
	atomic_init(&c.nonfinite, 0);
	pool_for(pool, N, score_row, &c);
	*nonfinite = atomic_load(&c.nonfinite);
	rc = 0;
out:
	free(q);
	free(k);
	free(wt);
	free(g);
	free(bias);
	return rc;
}
