/* DeepSeek-V4's forward pass (lib/infer/v4_model.h): the hyper-connections' Sinkhorn mixes and
 * the sqrtsoftplus routing against hand-computed values; then, on fixtures/specs/fwd-v4.json
 * written here by hf_synth, transformers' float64 logits and hidden states
 * (fixtures/ref/v4-forward) within 1e-4, and each layer run alone with its pages given back
 * (what --layers does) giving the whole pass's states bit for bit, MTP included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "forward.h"
#include "hf_synth.h"
#include "route.h"
#include "t.h"
#include "v4_hc.h"
#include "v4_model.h"

static bool near(double a, double b, double tol)
{
	return fabs(a - b) <= tol;
}

static void sinkhorn(void)
{
	/* hc 1: pre = sigmoid(m s + b) + eps, post = 2 sigmoid(...), comb = (1 + eps) / (1 + 2 eps) */
	double mix1[3] = {0.5, -1.0, 3.0}, pre, post, comb;
	float base1[3] = {0.25f, 0.5f, -2.0f}, scale[3] = {2.0f, 0.5f, 1.0f};
	v4_hc_weights(1, mix1, base1, scale, 1e-6, 20, &pre, &post, &comb);
	CHECK(near(pre, 1 / (1 + exp(-1.25)) + 1e-6, 1e-15), "hc 1: pre = sigmoid(mix scale + base) + eps (%.17g)", pre);
	CHECK(near(post, 2 / (1 + exp(0.0)), 1e-15), "hc 1: post = 2 sigmoid(mix scale + base) (%.17g)", post);
	/* softmax of one is 1; + eps; then /(x + eps) once for the columns and twice for each of
	 * the 19 further iterations */
	double x = 1 + 1e-6;
	for (int i = 0; i < 39; i++)
		x = x / (x + 1e-6);
	CHECK(near(comb, x, 1e-15), "hc 1: comb through the 20 Sinkhorn iterations (%.17g)", comb);

	/* hc 4, uneven logits: doubly stochastic up to eps; iterations = 1 normalises columns only */
	size_t hc = 4;
	double mix[24], p4[4], q4[4], c4[16], c1[16];
	float base[24], sc[3] = {1.0f, 1.0f, 1.5f};
	for (int i = 0; i < 24; i++) {
		mix[i] = sin(1.7 * i) * 2;
		base[i] = (float)(0.1 * (i % 5));
	}
	v4_hc_weights(hc, mix, base, sc, 1e-6, 20, p4, q4, c4);
	double worst_row = 0, worst_col = 0;
	for (size_t j = 0; j < hc; j++) {
		double r = 0, c = 0;
		for (size_t k = 0; k < hc; k++) {
			r += c4[j * hc + k];
			c += c4[k * hc + j];
		}
		worst_row = fmax(worst_row, fabs(r - 1));
		worst_col = fmax(worst_col, fabs(c - 1));
	}
	CHECK(worst_col < 1e-5 && worst_row < 1e-3, "hc 4: comb doubly stochastic (rows within %.1g, columns within %.1g)",
	      worst_row, worst_col);
	bool uneven = false;
	for (size_t i = 1; i < hc * hc; i++)
		uneven = uneven || fabs(c4[i] - c4[0]) > 1e-3;
	CHECK(uneven, "hc 4: ... and not uniform");
	v4_hc_weights(hc, mix, base, sc, 1e-6, 1, p4, q4, c1);
	double col = 0, e[4], sum = 0;
	for (size_t k = 0; k < hc; k++)
		sum += e[k] = exp(mix[8 + k] * 1.5 + base[8 + k]);
	for (size_t j = 0; j < hc; j++) {
		double f = 0, s2 = 0;
		for (size_t k = 0; k < hc; k++)
			f += exp(mix[8 + j * hc + k] * 1.5 + base[8 + j * hc + k]);
		s2 = exp(mix[8 + j * hc] * 1.5 + base[8 + j * hc]) / f + 1e-6;
		col += s2;
	}
	CHECK(near(c1[0], (e[0] / sum + 1e-6) / (col + 1e-6), 1e-15),
	      "hc 4, one iteration: row softmax + eps, divided by its column's sum + eps (%.17g)", c1[0]);
}

static void routing(void)
{
	CHECK(near(route_sqrtsoftplus(0), sqrt(log(2.0)), 1e-16), "sqrtsoftplus(0) = sqrt(ln 2)");
	CHECK(route_sqrtsoftplus(30) == sqrt(30.0), "sqrtsoftplus(30) = sqrt(30): torch's softplus threshold");
	CHECK(near(route_sqrtsoftplus(-30), sqrt(log1p(exp(-30.0))), 1e-22), "sqrtsoftplus(-30) = sqrt(log1p(e^-30))");
	struct route_cfg rc = {4, 1, 1, 2, SCORE_SQRTSOFTPLUS, true, 1.5f};
	float logits[4] = {1.0f, -2.0f, 0.5f, 3.0f}, bias[4] = {0, 5.0f, 0, 0}, w[2];
	unsigned idx[2];
	double s[4];
	for (int e = 0; e < 4; e++)
		s[e] = (float)route_sqrtsoftplus(logits[e]);
	route_token(&rc, logits, NULL, idx, w);
	CHECK(idx[0] == 0 && idx[1] == 3, "scored: the two best scores, in index order (%u, %u)", idx[0], idx[1]);
	CHECK(near(w[0], s[0] / (s[0] + s[3]) * 1.5, 1e-6) && near(w[1], s[3] / (s[0] + s[3]) * 1.5, 1e-6),
	      "scored: weights normalised, times routed_scaling_factor");
	route_token(&rc, logits, bias, idx, w);
	CHECK(idx[0] == 1 && idx[1] == 3, "the bias chooses (%u, %u) ...", idx[0], idx[1]);
	CHECK(near(w[0], s[1] / (s[1] + s[3]) * 1.5, 1e-6), "... but the weights are the unbiased scores'");
	unsigned given[2] = {2, 1};
	route_given(&rc, logits, given, w);
	CHECK(near(w[0], s[2] / (s[1] + s[2]) * 1.5, 1e-6) && near(w[1], s[1] / (s[1] + s[2]) * 1.5, 1e-6),
	      "hash: tid2eid's experts, in its order, weighed by their scores");
}

struct keep {
	float **h;
	size_t n;
};

static void keep_hidden(void *ctx, size_t k, const float *h, size_t ntok, size_t dim)
{
	struct keep *c = ctx;
	if (k < c->n) {
		c->h[k] = malloc(ntok * dim * sizeof *h);
		memcpy(c->h[k], h, ntok * dim * sizeof *h);
	}
}

static void model(void)
{
	struct hf_synth *s;
	struct hf_synth_result res = {0};
	if (hf_synth_load_file(&s, t_path("CKPT_ROOT", "fixtures/specs/fwd-v4.json"), NULL, 0) ||
	    hf_synth_write(s, "v4", 2, &res)) {
		CHECK(0, "writes fixtures/specs/fwd-v4.json (%s)", err_last());
		return;
	}
	hf_synth_free(s);
	buf_free(&res.notes);
	struct pool *p = pool_new(2);
	struct fwd_model a, r;
	struct fwd_reference ref;
	if (fwd_open(&a, "v4", NULL, NULL, p, 0) ||
	    fwd_reference(&a, t_path("CKPT_ROOT", "fixtures/ref/v4-forward/forward/hf_logits.safetensors"), 1e-4, &ref)) {
		CHECK(0, "runs against fixtures/ref/v4-forward (%s)", err_last());
		pool_free(p);
		return;
	}
	double hid = 0;
	for (size_t i = 1; i < ref.n; i++)
		hid = fmax(hid, ref.cmp[i].max_abs);
	CHECK(fwd_reference_pass(&ref) && ref.n == 6, "transformers' float64: logits within 1e-4 (%.3g), %zu hidden states (%.3g)",
	      ref.n ? ref.cmp[0].max_abs : -1, ref.n ? ref.n - 1 : 0, hid);
	CHECK(ref.n && ref.cmp[0].max_abs < 1e-5, "... logits within 1e-5");
	fwd_reference_free(&ref);

	/* tokens 0..T-1: what a layer run alone (--layers) routes hash layers by */
	size_t T = 160, D = 64, S = 4 * D, V = 256;
	int64_t ids[160];
	for (size_t i = 0; i < T; i++)
		ids[i] = (int64_t)i;
	float *h[6] = {0}, *logits = malloc(T * V * sizeof *logits), *last = malloc(T * S * sizeof *last);
	float *mtp = malloc((T - 1) * V * sizeof *mtp), *mtp_r = malloc((T - 1) * V * sizeof *mtp_r);
	struct keep kp = {h, 5};
	struct infer_hook hook = {keep_hidden, &kp};
	CHECK(infer_state_dim(&a.m) == S, "the state between layers: hc_mult streams (%zu values)", infer_state_dim(&a.m));
	CHECK(infer_has_mtp(&a.m, 1) && !infer_has_mtp(&a.m, 2), "one MTP block");
	int rc = infer_forward(&a.m, ids, 1, T, logits, last, &hook) || infer_mtp(&a.m, ids, 1, T, last, &mtp);
	CHECK(rc == 0, "whole pass and MTP on tokens 0..159 (%s)", rc ? err_last() : "");
	if (fwd_open(&r, "v4", NULL, NULL, p, INFER_RELEASE)) {
		CHECK(0, "opens with INFER_RELEASE (%s)", err_last());
	} else {
		float *x = malloc(T * S * sizeof *x);
		for (size_t l = 0; rc == 0 && l < 4; l++) {
			memcpy(x, h[l], T * S * sizeof *x);
			bool ok = h[l + 1] && infer_layer(&r.m, l, x, 1, T) == 0;
			CHECK(ok && (l == 3 ? memcmp(x, last, T * S * sizeof *x) : memcmp(x, h[l + 1], T * S * sizeof *x)) == 0,
			      "layer %zu alone, pages given back, is the whole pass's layer %zu bit for bit", l, l);
		}
		CHECK(rc == 0 && infer_mtp(&r.m, ids, 1, T, last, &mtp_r) == 0 &&
			      memcmp(mtp, mtp_r, (T - 1) * V * sizeof *mtp) == 0,
		      "the MTP block with pages given back: the same logits");
		bool finite = true;
		for (size_t i = 0; i < (T - 1) * V; i++)
			finite = finite && isfinite(mtp[i]);
		CHECK(finite, "MTP logits finite");
		free(x);
		fwd_close(&r);
	}
	for (int i = 0; i < 6; i++)
		free(h[i]);
	free(logits);
	free(last);
	free(mtp);
	free(mtp_r);
	fwd_close(&a);
	pool_free(p);
}

int main(void)
{
	sinkhorn();
	routing();
	model();
	return t_done();
}
