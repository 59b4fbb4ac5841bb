#include "v4_hc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "v4_model.h"

static double sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

void v4_hc_weights(size_t hc, const double *mix, const float *base, const float *scale, double eps, unsigned iters,
		   double *pre, double *post, double *comb)
{
	for (size_t i = 0; i < hc; i++) {
		pre[i] = sigmoid(mix[i] * scale[0] + base[i]) + eps;
		post[i] = 2 * sigmoid(mix[hc + i] * scale[1] + base[hc + i]);
	}
	for (size_t j = 0; j < hc; j++) {
		double *r = comb + j * hc, mx = -INFINITY, sum = 0;
		for (size_t k = 0; k < hc; k++) {
			r[k] = mix[2 * hc + j * hc + k] * scale[2] + base[2 * hc + j * hc + k];
			mx = r[k] > mx ? r[k] : mx;
		}
		for (size_t k = 0; k < hc; k++)
			sum += r[k] = exp(r[k] - mx);
		for (size_t k = 0; k < hc; k++)
			r[k] = r[k] / sum + eps;
	}
	for (unsigned it = 0; it < iters; it++) {
		/* the first pass normalises only the columns */
		for (size_t j = 0; it && j < hc; j++) {
			double sum = 0;
			for (size_t k = 0; k < hc; k++)
				sum += comb[j * hc + k];
			for (size_t k = 0; k < hc; k++)
				comb[j * hc + k] /= sum + eps;
		}
		for (size_t k = 0; k < hc; k++) {
			double sum = 0;
			for (size_t j = 0; j < hc; j++)
				sum += comb[j * hc + k];
			for (size_t j = 0; j < hc; j++)
				comb[j * hc + k] /= sum + eps;
		}
	}
}

/* fn [rows][hc D] . (streams / their RMS) into mix[rows], in double. */
static void mixes(const struct infer_model *m, const float *fn, size_t rows, const float *h, size_t n, double *mix)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)h[i] * h[i];
	double r = 1.0 / sqrt(ss / (double)n + m->cfg.rms_norm_eps);
	for (size_t k = 0; k < rows; k++) {
		const float *w = fn + k * n;
		double acc = 0;
		for (size_t i = 0; i < n; i++)
			acc += (double)w[i] * h[i];
		mix[k] = acc * r;
	}
}

/* Read {fn, base, scale} exactly (F32); rows of fn. */
static int read_site(struct infer_model *m, const struct vtensor *const *t, float **fn, float **base, float *scale,
		     size_t rows, size_t cols, size_t nscale)
{
	*fn = xmalloc(rows * cols * sizeof **fn);
	*base = xmalloc(rows * sizeof **base);
	int rc = view_read_rows(t[0], 0, rows, *fn, cols, 0) || infer_read_vec(m, t[1], *base) ||
		 view_read_rows(t[2], 0, 1, scale, nscale, 0);
	if (m->flags & INFER_RELEASE) {
		vtensor_release(t[0]);
		vtensor_release(t[2]);
	}
	return rc ? -1 : 0;
}

int v4_hc_open(struct v4_hc *x, struct infer_model *m, const struct vtensor *const *t, size_t N)
{
	memset(x, 0, sizeof *x);
	x->m = m;
	x->N = N;
	x->hc = m->v4->hc;
	x->D = (size_t)m->cfg.hidden_size;
	size_t rows = (2 + x->hc) * x->hc;
	x->pre = xmalloc((N ? N : 1) * x->hc * sizeof *x->pre);
	x->post = xmalloc((N ? N : 1) * x->hc * sizeof *x->post);
	x->comb = xmalloc((N ? N : 1) * x->hc * x->hc * sizeof *x->comb);
	if (read_site(m, t, &x->fn, &x->base, x->scale, rows, x->hc * x->D, 3)) {
		v4_hc_close(x);
		return -1;
	}
	return 0;
}

void v4_hc_close(struct v4_hc *x)
{
	free(x->fn);
	free(x->base);
	free(x->pre);
	free(x->post);
	free(x->comb);
	memset(x, 0, sizeof *x);
}

/* One token's streams s (hc x D) weighed by w into out (D values), in double. */
static void collapse(const double *w, const float *s, size_t hc, size_t D, float *out)
{
	for (size_t d = 0; d < D; d++) {
		double acc = 0;
		for (size_t i = 0; i < hc; i++)
			acc += w[i] * s[i * D + d];
		out[d] = (float)acc;
	}
}

void v4_hc_pre(struct v4_hc *x, const float *h, float *in)
{
	size_t hc = x->hc, D = x->D, rows = (2 + hc) * hc;
	double *mix = xmalloc(rows * sizeof *mix);
	for (size_t n = 0; n < x->N; n++) {
		const float *s = h + n * hc * D;
		double *pre = x->pre + n * hc;
		mixes(x->m, x->fn, rows, s, hc * D, mix);
		v4_hc_weights(hc, mix, x->base, x->scale, x->m->v4->hc_eps, x->m->v4->sinkhorn_iters, pre,
			      x->post + n * hc, x->comb + n * hc * hc);
		collapse(pre, s, hc, D, in + n * D);
	}
	free(mix);
}

void v4_hc_post(const struct v4_hc *x, const float *y, float *h)
{
	size_t hc = x->hc, D = x->D;
	float *old = xmalloc(hc * D * sizeof *old);
	for (size_t n = 0; n < x->N; n++) {
		float *s = h + n * hc * D;
		const double *post = x->post + n * hc, *comb = x->comb + n * hc * hc;
		memcpy(old, s, hc * D * sizeof *old);
		for (size_t k = 0; k < hc; k++)
			for (size_t d = 0; d < D; d++) {
				double acc = post[k] * y[n * D + d];
				for (size_t j = 0; j < hc; j++)
					acc += comb[j * hc + k] * old[j * D + d];
				s[k * D + d] = (float)acc;
			}
	}
	free(old);
}

int v4_hc_head(struct infer_model *m, const struct vtensor *const *t, const float *h, size_t N, float *x)
{
	size_t hc = m->v4->hc, D = (size_t)m->cfg.hidden_size;
	float *fn, *base, scale[1];
	if (read_site(m, t, &fn, &base, scale, hc, hc * D, 1)) {
		free(fn);
		free(base);
		return -1;
	}
	double *mix = xmalloc(hc * sizeof *mix);
	for (size_t n = 0; n < N; n++) {
		const float *s = h + n * hc * D;
		mixes(m, fn, hc, s, hc * D, mix);
		for (size_t i = 0; i < hc; i++)
			mix[i] = 1.0 / (1.0 + exp(-(mix[i] * scale[0] + base[i]))) + m->v4->hc_eps;
		collapse(mix, s, hc, D, x + n * D);
	}
	free(mix);
	free(fn);
	free(base);
	return 0;
}
