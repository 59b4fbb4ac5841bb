/* DeepSeek-V3.2's lightning indexer (lib/infer/indexer.h): the top-k selection's rules
 * (ties to the earlier position, NaN last, every position while there are no more than k,
 * ascending output), and the whole sparse forward pass against fixtures/ref/v32-sparse
 * (transformers' DeepseekV32ForCausalLM, float64, 24 positions, index_topk 8): the same
 * positions picked by every layer for every query, logits and hidden states within 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "forward.h"
#include "hf_synth.h"
#include "indexer.h"
#include "st.h"
#include "t.h"

static int same(const int32_t *a, const int32_t *b, size_t n)
{
	return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_topk_rules(void)
{
	int32_t out[8];
	double s1[] = {0.5, 2.0, -1.0, 2.5, 3.0, 0.0};
	CHECK(indexer_topk(s1, 6, 3, out) == 3 && same(out, (int32_t[]){1, 3, 4}, 3),
	      "top 3 of 6: the three best, ascending");
	double s3[] = {NAN, -INFINITY, 1.0, NAN, -5.0};
	CHECK(indexer_topk(s3, 5, 3, out) == 3 && same(out, (int32_t[]){0, 2, 3}, 3),
	      "NaN ranks before every number, as torch.topk ranks it");
	double s4[] = {-3, -2, -1};
	CHECK(indexer_topk(s4, 3, 8, out) == 3 && same(out, (int32_t[]){0, 1, 2}, 3),
	      "no more candidates than k: every one, whatever its score");
	CHECK(indexer_topk(s4, 0, 8, out) == 0, "no candidates: none");
	/* ties as torch.topk left them in the fixture (topk.safetensors): query 0 of 24, the
	 * 23 later positions masked (-inf), keeps 18, 13, 14, 15, 16, 17, 21 of them */
	double row0[24];
	for (int t = 0; t < 24; t++)
		row0[t] = t ? -INFINITY : 0.25;
	CHECK(indexer_topk(row0, 24, 8, out) == 8 && same(out, (int32_t[]){0, 13, 14, 15, 16, 17, 18, 21}, 8),
	      "23 tied (masked) candidates: the 7 torch.topk keeps (fixture, layer 0, position 0)");
	/* layer 2, sequence 0, position 22: five positive scores, eleven ReLU zeros, six
	 * negative, one masked; torch keeps 13, 1 and 17 of the zeros */
	double row22[24] = {0};
	static const struct { int t; double v; } nz[] = {
		{12, 3.1690909862781917e-04}, {7, 2.5426197627429305e-04}, {2, 1.7435963580795545e-04},
		{5, 4.124544844530471e-05}, {11, 2.6972331192957867e-05}, {20, -2.9514483909761355e-04},
		{21, -6.4418713783616994e-04}, {10, -1.068398078813861e-03}, {19, -1.8766604317313109e-03},
		{9, -2.3249552964517057e-03}, {18, -3.2728736260228619e-03}, {22, -5.2376506084485476e-03},
	};
	for (size_t j = 0; j < sizeof nz / sizeof nz[0]; j++)
		row22[nz[j].t] = nz[j].v;
	row22[23] = -INFINITY;
	CHECK(indexer_topk(row22, 24, 8, out) == 8 && same(out, (int32_t[]){1, 2, 5, 7, 11, 12, 13, 17}, 8),
	      "a boundary among ReLU's zeros: the zeros torch.topk keeps (fixture, layer 2, position 22)");
	/* without ties, against a plain selection (repeatedly the best remaining), on both of
	 * torch's paths: k * 64 <= n (partial sort) and above (nth element) */
	enum { N = 300 };
	double s[N];
	unsigned x = 12345;
	int ok = 1;
	for (int round = 0; round < 40 && ok; round++) {
		size_t K = round % 2 ? 4 : 37;
		char used[N] = {0};
		for (int i = 0; i < N; i++) {
			x = x * 1103515245u + 12345u;
			s[i] = (double)(x >> 8) + i * 1e-9; /* distinct */
		}
		int32_t got[40], want[40];
		size_t n = 0;
		for (size_t j = 0; j < K; j++) {
			int best = -1;
			for (int i = 0; i < N; i++)
				if (!used[i] && (best < 0 || s[i] > s[best]))
					best = i;
			used[best] = 1;
		}
		for (int i = 0; i < N; i++)
			if (used[i])
				want[n++] = i;
		ok = indexer_topk(s, N, K, got) == K && n == K && same(got, want, K);
	}
	CHECK(ok, "rows of 300 without ties, k 4 and 37: the same positions as a plain selection");
	/* many equal scores on the partial-sort path: k of them, all distinct positions */
	double z[200] = {0};
	int32_t o2[3];
	CHECK(indexer_topk(z, 200, 3, o2) == 3 && o2[0] < o2[1] && o2[1] < o2[2] && o2[2] < 200,
	      "200 equal scores, k 3: three distinct positions");
}

/* ---- the fixture ---- */

struct picks {
	const struct st_file *ref;
	size_t layers_seen, queries, same, bad_causal;
	char first_diff[160];
};

static void picked(void *ctx, size_t layer, const int32_t *pick, size_t B, size_t T, size_t k)
{
	struct picks *p = ctx;
	char name[96];
	snprintf(name, sizeof name, "model.layers.%zu.self_attn.indexer", layer);
	const struct st_tensor *t = st_find(p->ref, name);
	if (!t || t->ndim != 3 || t->shape[0] != B || t->shape[1] != T || t->shape[2] != k || t->dtype != DT_I32)
		return;
	const int32_t *want = (const int32_t *)st_bytes(p->ref, t);
	p->layers_seen++;
	for (size_t q = 0; q < B * T; q++) {
		size_t s = q % T;
		/* transformers' positions after the query are masked ones filling a short row:
		 * compare the kept positions up to s as sets */
		char a[4096] = {0}, b[4096] = {0};
		int ok = T <= sizeof a;
		for (size_t j = 0; ok && j < k; j++) {
			if (pick[q * k + j] >= 0) {
				if ((size_t)pick[q * k + j] > s)
					p->bad_causal++;
				a[pick[q * k + j]] = 1;
			}
			if (want[q * k + j] >= 0 && (size_t)want[q * k + j] <= s)
				b[want[q * k + j]] = 1;
		}
		p->queries++;
		if (ok && memcmp(a, b, T) == 0)
			p->same++;
		else if (!p->first_diff[0])
			snprintf(p->first_diff, sizeof p->first_diff, "layer %zu, sequence %zu, position %zu", layer,
				 q / T, s);
	}
}

static void test_fixture(void)
{
	const char *ref = t_path("CKPT_ROOT", "fixtures/ref/v32-sparse/forward/hf_logits.safetensors");
	char topk[4096];
	snprintf(topk, sizeof topk, "%s", t_path("CKPT_ROOT", "fixtures/ref/v32-sparse/forward/topk.safetensors"));
	struct hf_synth *s = NULL;
	struct hf_synth_result res = {0};
	if (hf_synth_load_file(&s, t_path("CKPT_ROOT", "fixtures/specs/fwd-v32.json"), NULL, 0) ||
	    hf_synth_write(s, "v32", 2, &res)) {
		CHECK(0, "fwd-v32.json is synthesized (%s)", err_last());
		hf_synth_free(s);
		return;
	}
	hf_synth_free(s);
	buf_free(&res.notes);
	struct st_file *tk = NULL;
	if (st_open(&tk, topk)) {
		CHECK(0, "topk.safetensors opens (%s)", err_last());
		return;
	}
	struct pool *p = pool_new(2);
	struct fwd_model f;
	struct fwd_reference r;
	struct picks pk = {.ref = tk};
	if (fwd_open(&f, "v32", NULL, NULL, p, 0)) {
		CHECK(0, "the V3.2 checkpoint opens (%s)", err_last());
	} else {
		f.m.picked = picked;
		f.m.picked_ctx = &pk;
		if (fwd_reference(&f, ref, 1e-4, &r)) {
			CHECK(0, "runs against the reference (%s)", err_last());
		} else {
			double hidden = 0;
			for (size_t i = 1; i < r.n; i++)
				hidden = r.cmp[i].max_abs > hidden ? r.cmp[i].max_abs : hidden;
			CHECK(fwd_reference_pass(&r) && r.cmp[0].max_abs < 1e-4,
			      "V3.2 at 24 positions (index_topk 8): logits within 1e-4 of transformers' float64 (max "
			      "abs %.3g), hidden states too (%.3g)",
			      r.cmp[0].max_abs, hidden);
			fwd_reference_free(&r);
		}
		CHECK(pk.layers_seen == 3 && pk.queries == 3 * 48 && pk.same == pk.queries,
		      "every layer's indexer keeps transformers' positions for every query (%zu of %zu; first "
		      "difference: %s)",
		      pk.same, pk.queries, pk.first_diff[0] ? pk.first_diff : "none");
		CHECK(pk.bad_causal == 0, "no query keeps a later position");
		/* the short sequence of the same model: every position kept, the indexer not run */
		struct fwd_tokens t;
		fwd_tokens_default(&t, f.cfg.vocab_size, 8);
		size_t before = pk.layers_seen;
		struct fwd_run run;
		CHECK(fwd_forward(&f, &t, false, &run) == 0 && pk.layers_seen == before,
		      "up to index_topk positions the indexer does not run (it would keep them all)");
		fwd_run_free(&run);
		fwd_tokens_free(&t);
		fwd_close(&f);
	}
	st_close(tk);
	pool_free(p);
}

int main(void)
{
	test_topk_rules();
	test_fixture();
	return t_done();
}
