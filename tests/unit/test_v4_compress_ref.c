/* DeepSeek-V4's compressed attention against transformers' DeepseekV4ForCausalLM in float64
 * (fixtures/ref/v4-forward, made from fixtures/specs/fwd-v4.json, made again here by the
 * library ckpt-synth runs): each layer fed transformers' own input streams (hidden.l), so
 * that every layer is judged alone.
 *   - layers 1 and 3 (ratio 4): the indexer's picks [2, 160, 8] equal transformers', index
 *     for index and in its order (ties included), and its scores [2, 160, 40] are within 1e-4;
 *   - layers 0, 1, 2 (ratios 0, 4, 128): the layer's output streams within 1e-4 of hidden.l+1
 *     (layer 3's are not in the fixture: hidden.4 is after the hc head and the final norm). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check/forward.h"
#include "err.h"
#include "hf_synth.h"
#include "infer/v4_compress.h"
#include "infer/v4_hc.h"
#include "pool.h"
#include "st.h"
#include "t.h"

static const float *f32(const struct st_file *f, const char *name, uint64_t n)
{
	const struct st_tensor *t = st_find(f, name);
	return t && t->dtype == DT_F32 && t->nelem == n ? (const float *)st_bytes(f, t) : NULL;
}

static const int64_t *i64(const struct st_file *f, const char *name, uint64_t n)
{
	const struct st_tensor *t = st_find(f, name);
	return t && t->dtype == DT_I64 && t->nelem == n ? (const int64_t *)st_bytes(f, t) : NULL;
}

/* The attention's input x [N][D] and low-rank query state qr [N][q_lora_rank] of layer L
 * from the streams h. */
static int layer_input(struct infer_model *m, struct v4_layer *L, const float *h, size_t N, float *x, float *qr)
{
	size_t D = (size_t)m->cfg.hidden_size, ql = (size_t)m->cfg.q_lora_rank;
	struct v4_hc mix;
	if (v4_hc_open(&mix, m, L->hc_attn, N))
		return -1;
	v4_hc_pre(&mix, h, x);
	v4_hc_close(&mix);
	struct lin_job j = {L->wq_a, x, D, N, qr, ql, 0, 0};
	return infer_norm_rows(m, L->attn_norm, x, D, x, D, N, D) || lin_run(&m->lin, &j, 1) ||
	       infer_norm_rows(m, L->q_norm, qr, ql, qr, ql, N, ql);
}

/* Sequences shorter than the ratio, or not a multiple of it: only complete windows make
 * entries, a query sees none before its first window ends. */
static void short_sequences(struct infer_model *m, const struct st_file *hf, size_t T0)
{
	size_t D = (size_t)m->cfg.hidden_size, hc = m->v4->hc, ql = (size_t)m->cfg.q_lora_rank;
	const float *h = f32(hf, "hidden.1", 2 * T0 * hc * D);
	static const struct {
		size_t l, T, n, k;
	} cases[] = {{1, 3, 0, 0}, {1, 4, 1, 1}, {1, 37, 9, 8}, {2, 127, 0, 0}, {2, 150, 1, 1}};
	for (size_t i = 0; h && i < sizeof cases / sizeof *cases; i++) {
		size_t T = cases[i].T;
		struct v4_layer *L = NULL;
		float *x = malloc(T * D * sizeof *x), *qr = malloc(T * ql * sizeof *qr);
		struct v4_compressed c = {0};
		int rc = v4_layer_get(m, cases[i].l, &L) || layer_input(m, L, h, T, x, qr) ||
			 v4_compress(m, L, x, D, qr, ql, 1, T, &c, NULL);
		size_t seen_early = 0, last = 0;
		for (size_t t = 0; rc == 0 && t < T; t++)
			for (size_t j = 0; j < c.k; j++) {
				int32_t p = c.pick[t * c.k + j];
				seen_early += p >= 0 && (size_t)p >= (t + 1) / L->ratio;
				last += t == T - 1 && p >= 0;
			}
		CHECK(rc == 0 && c.n == cases[i].n && c.k == cases[i].k && seen_early == 0 &&
			      last == (cases[i].n < c.k ? cases[i].n : c.k),
		      "layer %zu (ratio %u), T = %zu: %zu entries, %zu picks a query, none before its window ends (%s)",
		      cases[i].l, L ? L->ratio : 0, T, c.n, c.k, rc ? err_last() : "");
		v4_compressed_free(&c);
		free(qr);
		free(x);
	}
}

/* Layer l's compressor on transformers' input streams hidden.l: picks and scores. */
static void indexer_layer(struct infer_model *m, const struct st_file *hf, const struct st_file *tk, size_t l,
			  size_t B, size_t T)
{
	size_t N = B * T, D = (size_t)m->cfg.hidden_size, hc = m->v4->hc, ql = (size_t)m->cfg.q_lora_rank;
	char name[96];
	snprintf(name, sizeof name, "hidden.%zu", l);
	const float *h = f32(hf, name, N * hc * D);
	snprintf(name, sizeof name, "model.layers.%zu.self_attn.compressor.indexer", l);
	const int64_t *want = i64(tk, name, N * 8);
	snprintf(name, sizeof name, "model.layers.%zu.self_attn.compressor.indexer.scorer", l);
	const float *wscore = f32(tk, name, N * (T / 4));
	struct v4_layer *L;
	if (!h || !want || !wscore || v4_layer_get(m, l, &L)) {
		CHECK(0, "layer %zu: the fixture's tensors and the layer's weights (%s)", l, err_last());
		return;
	}
	float *x = malloc(N * D * sizeof *x), *qr = malloc(N * ql * sizeof *qr), *score = NULL;
	struct v4_compressed c = {0};
	int rc = layer_input(m, L, h, N, x, qr);
	if (rc == 0) {
		rope_positions(&m->v4->compress, T);
		rc = v4_compress(m, L, x, D, qr, ql, B, T, &c, &score);
	}
	CHECK(rc == 0 && L->ratio == 4 && c.n == T / 4 && c.k == 8, "layer %zu: the compressor runs (%zu entries, %zu picks)",
	      l, c.n, c.k);
	if (rc == 0) {
		size_t diff = 0, first = N;
		for (size_t i = 0; i < N * 8; i++)
			if (c.pick[i] != want[i]) {
				diff++;
				first = first < N ? first : i / 8;
			}
		double err = 0;
		for (size_t i = 0; i < N * c.n; i++)
			err = fmax(err, fabs((double)score[i] - wscore[i]));
		if (diff)
			printf("# layer %zu: first differing row %zu\n", l, first);
		CHECK(diff == 0, "layer %zu: the indexer's %zu picks equal transformers' in its order (%zu differ)", l,
		      N * 8, diff);
		CHECK(err <= 1e-4, "layer %zu: the indexer's scores within 1e-4 of transformers' (%.3g)", l, err);
	}
	free(score);
	v4_compressed_free(&c);
	free(qr);
	free(x);
}

/* Layer l (any ratio) on hidden.l against hidden.l+1. */
static void whole_layer(struct infer_model *m, const struct st_file *hf, const int64_t *ids, size_t l, size_t B,
			size_t T)
{
	size_t n = B * T * m->v4->hc * (size_t)m->cfg.hidden_size;
	char a[32], b[32];
	snprintf(a, sizeof a, "hidden.%zu", l);
	snprintf(b, sizeof b, "hidden.%zu", l + 1);
	const float *in = f32(hf, a, n), *want = f32(hf, b, n);
	float *h = malloc(n * sizeof *h);
	int rc = -1;
	if (in && want) {
		memcpy(h, in, n * sizeof *h);
		m->v4->ids = ids;
		rc = infer_layer(m, l, h, B, T);
		m->v4->ids = NULL;
	}
	double err = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		err = fmax(err, fabs((double)h[i] - want[i]));
	CHECK(rc == 0 && err <= 1e-4, "layer %zu (compress ratio %u) on transformers' input: output streams within 1e-4 "
				      "(%.3g)",
	      l, m->cfg.compress_ratios[l], err);
	free(h);
}

int main(void)
{
	char spec[4096], ref[4096], topk[4096];
	const char *root = getenv("CKPT_ROOT");
	snprintf(spec, sizeof spec, "%s/fixtures/specs/fwd-v4.json", root);
	snprintf(ref, sizeof ref, "%s/fixtures/ref/v4-forward/forward/hf_logits.safetensors", root);
	snprintf(topk, sizeof topk, "%s/fixtures/ref/v4-forward/forward/topk.safetensors", root);
	struct hf_synth *s = NULL;
	struct hf_synth_result r = {0};
	int rc = hf_synth_load_file(&s, spec, NULL, 0) || hf_synth_write(s, "v4", 2, &r);
	buf_free(&r.notes);
	hf_synth_free(s);
	struct st_file *hf = NULL, *tk = NULL;
	if (rc == 0)
		rc = st_open(&hf, ref) || st_open(&tk, topk);
	struct pool *p = pool_new(2);
	struct fwd_model f;
	if (rc == 0)
		rc = fwd_open(&f, "v4", NULL, NULL, p, 0);
	CHECK(rc == 0, "fwd-v4 made, opened, with its references (%s)", rc ? err_last() : "");
	if (rc == 0) {
		const size_t B = 2, T = 160;
		const int64_t *ids = i64(hf, "input_ids", B * T);
		indexer_layer(&f.m, hf, tk, 1, B, T);
		indexer_layer(&f.m, hf, tk, 3, B, T);
		for (size_t l = 0; l < 3; l++)
			whole_layer(&f.m, hf, ids, l, B, T);
		short_sequences(&f.m, hf, T);
		fwd_close(&f);
	}
	st_close(tk);
	st_close(hf);
	pool_free(p);
	return t_done();
}
