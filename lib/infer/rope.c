#include "rope.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

double rope_yarn_mscale(double factor, double m)
{
	return factor <= 1 ? 1.0 : 0.1 * m * log(factor) + 1.0;
}

/* The dimension index at which a frequency completes `rot` rotations over the original
 * context (YaRN's correction range). */
static double correction_dim(double rot, double dim, double base, double orig)
{
	return dim * log(orig / (rot * 2 * M_PI)) / (2 * log(base));
}

int rope_init(struct rope *r, const struct ds_config *c)
{
	memset(r, 0, sizeof *r);
	/* (config.json's values were checked as it was read; this one sizes the tables) */
	if (c->qk_rope_head_dim <= 0 || c->qk_rope_head_dim % 2 || c->qk_rope_head_dim > CFG_MAX_HEADS)
		return err_set("qk_rope_head_dim %lld is not a positive even number up to %d", (long long)c->qk_rope_head_dim,
			       CFG_MAX_HEADS);
	unsigned d = (unsigned)c->qk_rope_head_dim, half = d / 2;
	r->dim = d;
	r->interleave = c->rope_interleave;
	r->inv_freq = xcalloc(half, sizeof *r->inv_freq);
	r->amplitude = 1.0f;
	r->softmax_scale = 1.0 / sqrt((double)(c->qk_nope_head_dim + c->qk_rope_head_dim));
	double base = c->rope_theta;
	for (unsigned i = 0; i < half; i++) {
		/* float32 powers, as torch computes base ** (arange(0, d, 2).float() / d) */
		float pos_freq = (float)pow(base, (double)(float)(2.0 * i) / d);
		float extra = 1.0f / pos_freq;
		r->inv_freq[i] = extra;
	}
	if (!c->rope.yarn)
		return 0;
	double factor = c->rope.factor;
	double beta_fast = c->rope.beta_fast ? c->rope.beta_fast : 32;
	double beta_slow = c->rope.beta_slow ? c->rope.beta_slow : 1;
	double orig = (double)c->rope.original_max_position_embeddings;
	double lo = correction_dim(beta_fast, d, base, orig), hi = correction_dim(beta_slow, d, base, orig);
	if (c->rope.truncate) {
		lo = floor(lo);
		hi = ceil(hi);
	}
	if (lo < 0)
		lo = 0;
	if (hi > d - 1)
		hi = d - 1;
	if (lo == hi)
		hi += 0.001;
	for (unsigned i = 0; i < half; i++) {
		float pos_freq = (float)pow(base, (double)(float)(2.0 * i) / d);
		float extra = 1.0f / pos_freq;
		float inter = (float)(1.0 / (double)(float)(factor * (double)pos_freq));
		float ramp = (float)(((float)i - (float)lo) / (float)(hi - lo));
		ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
		float extra_factor = 1.0f - ramp;
		r->inv_freq[i] = inter * (1.0f - extra_factor) + extra * extra_factor;
	}
	/* transformers: cos/sin carry mscale/mscale_all_dim when both are given, else the
	 * plain YaRN factor; the softmax scale carries mscale_all_dim squared */
	if (c->rope.attention_factor)
		r->amplitude = (float)c->rope.attention_factor;
	else if (c->rope.has_mscale && c->rope.has_mscale_all_dim && c->rope.mscale && c->rope.mscale_all_dim)
		r->amplitude = (float)(rope_yarn_mscale(factor, c->rope.mscale) /
				       rope_yarn_mscale(factor, c->rope.mscale_all_dim));
	else
		r->amplitude = (float)rope_yarn_mscale(factor, 1.0);
	if (c->rope.has_mscale_all_dim && c->rope.mscale_all_dim) {
		double m = rope_yarn_mscale(factor, c->rope.mscale_all_dim);
		r->softmax_scale *= m * m;
	}
	return 0;
}

void rope_positions(struct rope *r, size_t npos)
{
	if (npos <= r->npos)
		return;
	unsigned half = r->dim / 2;
	r->cos = xreallocarray(r->cos, npos * half, sizeof *r->cos);
	r->sin = xreallocarray(r->sin, npos * half, sizeof *r->sin);
	for (size_t p = r->npos; p < npos; p++)
		for (unsigned i = 0; i < half; i++) {
			/* the angle is a float32 product and cos/sin are taken of it, in float32 */
			float a = (float)p * r->inv_freq[i];
			r->cos[p * half + i] = (float)cos((double)a) * r->amplitude;
			r->sin[p * half + i] = (float)sin((double)a) * r->amplitude;
		}
	r->npos = npos;
}

static void rotate(const struct rope *r, float *x, size_t pos, bool interleave)
{
	unsigned half = r->dim / 2;
	const float *cs = r->cos + pos * half, *sn = r->sin + pos * half;
	float tmp[512];
	float *t = r->dim <= 512 ? tmp : xmalloc(r->dim * sizeof *t);
	for (unsigned i = 0; i < half; i++) {
		float a = interleave ? x[2 * i] : x[i], b = interleave ? x[2 * i + 1] : x[i + half];
		t[i] = a * cs[i] - b * sn[i];
		t[i + half] = b * cs[i] + a * sn[i];
	}
	memcpy(x, t, r->dim * sizeof *x);
	if (t != tmp)
		free(t);
}

void rope_apply(const struct rope *r, float *x, size_t pos)
{
	rotate(r, x, pos, r->interleave);
}

void rope_apply_halves(const struct rope *r, float *x, size_t pos)
{
	rotate(r, x, pos, false);
}

void rope_apply_pairs(const struct rope *r, float *x, size_t pos, bool inverse)
{
	unsigned half = r->dim / 2;
	const float *cs = r->cos + pos * half, *sn = r->sin + pos * half;
	for (unsigned i = 0; i < half; i++) {
		double a = x[2 * i], b = x[2 * i + 1], c = cs[i], s = inverse ? -sn[i] : sn[i];
		x[2 * i] = (float)(a * c - b * s);
		x[2 * i + 1] = (float)(b * c + a * s);
	}
}

void rope_free(struct rope *r)
{
	free(r->inv_freq);
	free(r->cos);
	free(r->sin);
	memset(r, 0, sizeof *r);
}
