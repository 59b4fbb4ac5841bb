/* Synthetic checkpoints: the PRNG, block quantization, tensor synthesis, and every spec in
 * fixtures/specs written and checked against formats/hf and the values it was made from. */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "ckpt.h"
#include "err.h"
#include "hf.h"
#include "hf_synth.h"
#include "out.h"
#include "dequant.h"
#include "quantize.h"
#include "rng.h"
#include "synth.h"
#include "t.h"

static void test_rng(void)
{
	uint64_t x = 0;
	CHECK(rng_splitmix64(&x) == 0xe220a8397b1dcdafull && rng_splitmix64(&x) == 0x6e789e6aa1b965f4ull,
	      "splitmix64 from 0 gives the published first outputs");
	struct rng a, b;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	bool same = true;
	for (int i = 0; i < 1000; i++)
		same &= rng_next(&a) == rng_next(&b);
	rng_seed(&b, 43);
	CHECK(same && rng_next(&a) != rng_next(&b), "xoshiro256**: same seed same stream, another seed another");
	double s = 0, s2 = 0, mx = 0;
	int n = 200000;
	for (int i = 0; i < n; i++) {
		double v = rng_normalish(&a);
		s += v, s2 += v * v;
		mx = fabs(v) > mx ? fabs(v) : mx;
	}
	double mean = s / n, var = s2 / n - mean * mean;
	CHECK(fabs(mean) < 0.01 && fabs(var - 1) < 0.01 && mx <= 2 * sqrt(3.0) && mx > 3.0,
	      "normal-ish draws: mean %.4f, variance %.4f, max |x| %.3f", mean, var, mx);
	float u = rng_unit(&a);
	CHECK(u >= 0 && u < 1, "uniform draws in [0, 1)");
}

static void test_quantize(void)
{
	uint8_t st[4];
	float f;
	CHECK(quantize_scale(448.0f, DT_F8_E4M3, DT_F32, false, st) == 1.0f && (memcpy(&f, st, 4), f == 1.0f),
	      "e4m3: amax 448 gives scale 1, stored as F32");
	CHECK(quantize_scale(500.0f, DT_F8_E4M3, DT_F32, true, st) == 2.0f && (memcpy(&f, st, 4), f == 2.0f),
	      "ue8m0: amax 500 gives 500/448 rounded up to 2");
	CHECK(quantize_scale(448.0f, DT_F8_E4M3, DT_F32, true, st) == 1.0f, "ue8m0: an exact power of two stays");
	CHECK(quantize_scale(57344.0f * 0.25f, DT_F8_E5M2, DT_F8_E8M0, false, st) == 0.25f && st[0] == 125,
	      "e5m2 with E8M0 scales: 2^-2 is code 125");
	CHECK(quantize_scale(0.0f, DT_F8_E4M3, DT_F32, false, st) == 1e-12f / 448.0f,
	      "an all-zero block's amax is taken as 1e-12, as refgen.py clamps it");
	float s = quantize_scale(1.0f, DT_F8_E4M3, DT_BF16, false, st);
	uint16_t h;
	memcpy(&h, st, 2);
	CHECK(h == dt_f32_to_bf16(1.0f / 448.0f) && s == dt_bf16_to_f32(h), "BF16 scales: the value used is the one stored");

	/* a 5 x 7 weight in 2 x 3 blocks: partial blocks at the right and bottom edges */
	enum { R = 5, C = 7, BM = 2, BN = 3 };
	float v[R * C];
	struct rng g;
	rng_seed(&g, 5);
	for (int i = 0; i < R * C; i++)
		v[i] = rng_normalish(&g) * (i % 7 == 6 ? 100.0f : 0.1f);
	uint8_t codes[R * C];
	float scales[3 * 3];
	for (int br = 0; br < 3; br++) {
		int nr = br * BM + BM <= R ? BM : R - br * BM;
		quantize_block_row(v + br * BM * C, (uint64_t)nr, C, BN, DT_F8_E4M3, DT_F32, false, codes + br * BM * C,
				   scales + br * 3);
	}
	uint64_t ws[2] = {R, C}, ss[2] = {3, 3};
	struct st_tensor wt = {"w", DT_F8_E4M3, 2, ws, R * C, 0, R * C}, sc = {"s", DT_F32, 2, ss, 9, 0, 36};
	struct quant q;
	CHECK(quant_init(&q, "w", &wt, codes, &sc, (const uint8_t *)scales, BM, BN) == 0, "quant_init accepts the result");
	float out[R * C], scratch[3 * 256];
	quant_rows_f32(&q, 0, R, out, scratch);
	bool ok = true;
	for (int i = 0; i < R * C; i++)
		ok &= fabsf(out[i] - v[i]) <= fabsf(v[i]) * 0x1p-4f + quant_scale(&q, (uint64_t)(i / C / BM), (uint64_t)(i % C / BN)) * 0x1p-10f;
	bool peak = true;
	for (int br = 0; br < 3; br++)
		for (int bc = 0; bc < 3; bc++) {
			float m = 0;
			for (int r = br * BM; r < R && r < br * BM + BM; r++)
				for (int c = bc * BN; c < C && c < bc * BN + BN; c++)
					m = fmaxf(m, fabsf(dt_e4m3_to_f32(codes[r * C + c])));
			peak &= m == 448.0f;
		}
	CHECK(ok && peak, "partial blocks: dequantized within e4m3 precision, each block's largest code is 448");
}

static void test_synth_pieces(void)
{
	static const struct synth cases[] = {
		{.seed = 1, .std = 0.1f, .outliers = true, .rows = 300, .cols = 200, .dtype = DT_F8_E4M3,
		 .sdtype = DT_BF16, .bm = 128, .bn = 64, .specials = true},
		{.seed = 2, .mode = SYNTH_CHEAP, .rows = 300, .cols = 200, .dtype = DT_F8_E5M2, .sdtype = DT_F8_E8M0,
		 .bm = 64, .bn = 64},
		{.seed = 3, .std = 0.1f, .rows = 3000, .cols = 301, .dtype = DT_BF16, .specials = true},
		{.seed = 4, .mode = SYNTH_CHEAP, .rows = 1, .cols = 77, .dtype = DT_F32},
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const struct synth *s = &cases[k];
		size_t el = dt_bits(s->dtype) / 8, n = (size_t)(s->rows * s->cols) * el;
		uint8_t *whole = malloc(n), *parts = malloc(n);
		void *scratch = malloc(synth_scratch_bytes(s) + 300 * 4 * 256);
		CHECK(synth_check(s) == 0, "case %zu is synthesizable", k);
		synth_data(s, 0, s->rows, whole, scratch);
		uint64_t p = synth_piece_rows(s);
		for (uint64_t r = 0; r < s->rows; r += p)
			synth_data(s, r, r + p < s->rows ? r + p : s->rows, parts + r * s->cols * el, scratch);
		CHECK(memcmp(whole, parts, n) == 0, "case %zu: the same bytes in one piece or in pieces of %" PRIu64 " rows", k, p);
		if (synth_quantized(s)) {
			uint64_t sr = (s->rows + s->bm - 1) / s->bm, sc = (s->cols + s->bn - 1) / s->bn;
			size_t sel = dt_bits(s->sdtype) / 8;
			uint8_t *sa = malloc(sr * sc * sel), *sb = malloc(sr * sc * sel);
			synth_scales(s, 0, sr, sa, scratch);
			for (uint64_t b = 0; b < sr; b++)
				synth_scales(s, b, b + 1, sb + b * sc * sel, scratch);
			CHECK(memcmp(sa, sb, sr * sc * sel) == 0, "case %zu: scales the same in one piece or row by row", k);
			if (s->mode == SYNTH_CHEAP) {
				bool finite = true;
				for (size_t i = 0; i < n; i++)
					finite &= isfinite(dt_e5m2_to_f32(whole[i]));
				bool pow2 = true;
				for (size_t i = 0; i < sr * sc; i++)
					pow2 &= sa[i] >= 114 && sa[i] <= 117;
				CHECK(finite && pow2, "cheap e5m2: no NaN or inf codes, E8M0 scales 2^-13 .. 2^-10");
			}
			free(sa);
			free(sb);
		}
		if (s->specials) {
			uint32_t codes[SYNTH_NSPECIAL], last;
			size_t ns = synth_specials(s->dtype, codes, &last);
			bool ok = ns == SYNTH_NSPECIAL;
			for (size_t i = 0; i < ns; i++) {
				uint32_t c = 0;
				memcpy(&c, whole + i * el, el);
				ok &= c == codes[i];
			}
			uint32_t c = 0;
			memcpy(&c, whole + n - el, el);
			ok &= c == last;
			CHECK(ok, "case %zu: special codes in row 0 and a NaN last", k);
		}
		free(whole);
		free(parts);
		free(scratch);
	}
	uint32_t codes[SYNTH_NSPECIAL], last;
	synth_specials(DT_F8_E4M3, codes, &last);
	CHECK(isnan(dt_e4m3_to_f32((uint8_t)codes[0])) && dt_e4m3_to_f32((uint8_t)codes[2]) == 448.0f &&
	      dt_e4m3_to_f32((uint8_t)codes[4]) == 0x1p-9f && signbit(dt_e4m3_to_f32((uint8_t)codes[7])) &&
	      isnan(dt_e4m3_to_f32((uint8_t)last)), "e4m3 specials: NaN, 448, smallest subnormal, -0; NaN last");
	synth_specials(DT_F8_E5M2, codes, &last);
	CHECK(isinf(dt_e5m2_to_f32((uint8_t)codes[0])) && isinf(dt_e5m2_to_f32((uint8_t)codes[1])) &&
	      isnan(dt_e5m2_to_f32((uint8_t)codes[2])) && dt_e5m2_to_f32((uint8_t)codes[4]) == 57344.0f &&
	      isnan(dt_e5m2_to_f32((uint8_t)last)), "e5m2 specials: +-inf, NaN, 57344; NaN last");
}

/* ---- whole checkpoints ---- */

struct expect {
	const char *spec;
	enum dt wdt, sdt;
	uint64_t bm, bn;
	bool pow2, specials, experts_only;
	const char *moved;       /* the one scale in another shard than its weight */
	const char *dropped;     /* the one weight without a scale */
	size_t nshards;
};

static const uint64_t *dims(const struct hf_tensor *t, uint64_t *rows, uint64_t *cols)
{
	*rows = t->ndim == 2 ? t->shape[0] : 1;
	*cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
	return t->shape;
}

static bool is_special_pos(const struct synth *s, uint64_t i)
{
	return s->specials && (i < SYNTH_NSPECIAL || i == s->rows * s->cols - 1);
}

/* Weight and scale as synth says; realistic values within the code's precision. */
static int check_values(const struct hf_synth *hs, const struct hf_tensor *t, const struct ckpt_tensor *w,
			const struct ckpt_tensor *sc, char *why, size_t whylen)
{
	struct synth s;
	hf_synth_tensor(hs, t, &s);
	uint64_t rows, cols;
	dims(t, &rows, &cols);
	size_t n = (size_t)st_nbytes(w->t);
	uint8_t *want = malloc(n ? n : 1);
	void *scratch = malloc(synth_scratch_bytes(&s));
	synth_data(&s, 0, rows, want, scratch);
	int bad = memcmp(want, ckpt_bytes(w), n) != 0;
	if (bad)
		snprintf(why, whylen, "%s: bytes differ from synth_data", t->name);
	if (!bad && sc) {
		size_t m = (size_t)st_nbytes(sc->t);
		uint8_t *ws = malloc(m);
		synth_scales(&s, 0, t->scale.shape[0], ws, scratch);
		bad = memcmp(ws, ckpt_bytes(sc), m) != 0;
		if (bad)
			snprintf(why, whylen, "%s: scale bytes differ from synth_scales", t->name);
		free(ws);
	}
	if (!bad && s.mode == SYNTH_REALISTIC) {
		float *v = malloc(rows * cols * sizeof *v), *d = malloc(rows * cols * sizeof *d);
		synth_values(&s, 0, rows, v);
		if (t->quantized && sc) {
			struct quant q;
			if (quant_init(&q, t->name, w->t, ckpt_bytes(w), sc->t, ckpt_bytes(sc), s.bm, s.bn)) {
				snprintf(why, whylen, "%s", err_last());
				bad = 1;
			} else {
				void *qs = malloc(quant_scratch_bytes(&q));
				quant_rows_f32(&q, 0, rows, d, qs);
				free(qs);
				int m = s.dtype == DT_F8_E5M2 ? 2 : 3;
				float sub = s.dtype == DT_F8_E5M2 ? 0x1p-17f : 0x1p-10f;
				float rel = ldexpf(1.0f, -(m + 1)) * 1.0001f;
				for (uint64_t i = 0; i < rows * cols && !bad; i++) {
					if (is_special_pos(&s, i))
						continue;
					float scale = quant_scale(&q, i / cols / s.bm, i % cols / s.bn);
					if (!(fabsf(d[i] - v[i]) <= fabsf(v[i]) * rel + scale * sub)) {
						snprintf(why, whylen, "%s[%" PRIu64 "]: %g dequantizes to %g (scale %g)", t->name, i,
							 v[i], d[i], scale);
						bad = 1;
					}
					if (!bad && (s.pow2 || s.sdtype == DT_F8_E8M0) && frexpf(scale, &(int){0}) != 0.5f) {
						snprintf(why, whylen, "%s: scale %g is not a power of two", t->name, scale);
						bad = 1;
					}
				}
			}
		} else if (!t->quantized) {
			dt_to_f32(w->t->dtype, ckpt_bytes(w), 0, rows * cols, d);
			for (uint64_t i = 0; i < rows * cols && !bad; i++) {
				float want_v = w->t->dtype == DT_BF16 ? dt_bf16_to_f32(dt_f32_to_bf16(v[i])) : v[i];
				if (!is_special_pos(&s, i) && d[i] != want_v) {
					snprintf(why, whylen, "%s[%" PRIu64 "]: %g stored as %g", t->name, i, v[i], d[i]);
					bad = 1;
				}
			}
		}
		free(v);
		free(d);
	}
	free(want);
	free(scratch);
	return bad;
}

static void check_spec(const struct expect *x, const struct json_edit *sets, size_t nsets)
{
	char path[512], dir[512], why[512] = "";
	snprintf(path, sizeof path, "%s", t_path("CKPT_ROOT", x->spec));
	snprintf(dir, sizeof dir, "out-%s", strrchr(x->spec, '/') + 1);
	struct hf_synth *hs;
	struct hf_synth_result r;
	struct ckpt *c;
	if (hf_synth_load_file(&hs, path, sets, nsets) || hf_synth_write(hs, dir, 1, &r)) {
		CHECK(0, "%s: written (%s)", x->spec, err_last());
		return;
	}
	buf_free(&r.notes);
	if (ckpt_open(&c, dir, 0)) {
		CHECK(0, "%s: opens with ckpt_open (%s)", x->spec, err_last());
		hf_synth_free(hs);
		return;
	}
	const struct hf_layout *L = hs->L;
	CHECK(c->index && c->nshards == x->nshards && c->nstray == 0 && c->index->total_size == ckpt_tensor_bytes(c) &&
	      c->config, "%s: %zu shards through the index, total_size right, config.json", x->spec, c->nshards);

	size_t expected = 0, bad_set = 0, bad_val = 0, partial = 0, moved = 0, dropped = 0, nan_first = 0, nan_last = 0;
	const char *moved_name = "", *dropped_name = "";
	for (size_t i = 0; i < L->n; i++) {
		const struct hf_tensor *t = &L->t[i];
		if (x->experts_only && !hf_role_per_expert(t->role))
			continue;
		const struct ckpt_tensor *w = ckpt_find(c, t->name), *sc = t->quantized ? ckpt_find(c, t->scale.name) : NULL;
		expected += 1 + (sc != NULL);
		bool ok = w && w->t->dtype == t->dtype && w->t->ndim == t->ndim && w->t->shape[0] == t->shape[0] &&
			  (t->ndim == 1 || w->t->shape[1] == t->shape[1]);
		if (t->quantized && !sc) {
			dropped++;
			dropped_name = t->name;
		}
		if (sc) {
			ok &= sc->t->dtype == x->sdt && sc->t->ndim == 2 && sc->t->shape[0] == t->scale.shape[0] &&
			      sc->t->shape[1] == t->scale.shape[1] &&
			      t->scale.shape[0] == (t->shape[0] + x->bm - 1) / x->bm &&
			      t->scale.shape[1] == (t->shape[1] + x->bn - 1) / x->bn;
			partial += t->shape[0] % x->bm != 0 || t->shape[1] % x->bn != 0;
			if (w && sc->shard != w->shard) {
				moved++;
				moved_name = sc->name;
			}
		}
		if (t->quantized)
			ok &= t->dtype == x->wdt;
		if (!ok) {
			if (bad_set++ == 0)
				snprintf(why, sizeof why, "%s is missing or has the wrong dtype or shape", t->name);
			continue;
		}
		if (check_values(hs, t, w, sc, why, sizeof why))
			bad_val++;
		if (t->quantized) {
			float f[SYNTH_NSPECIAL], l;
			dt_to_f32(w->t->dtype, ckpt_bytes(w), 0, SYNTH_NSPECIAL, f);
			dt_to_f32(w->t->dtype, ckpt_bytes(w), w->t->nelem - 1, 1, &l);
			nan_first += isnan(f[0]);
			nan_last += isnan(l);
		}
	}
	if (x->wdt != DT_BF16) {
		size_t nq = 0;
		for (size_t i = 0; i < L->n; i++)
			nq += L->t[i].quantized && (!x->experts_only || hf_role_per_expert(L->t[i].role));
		CHECK(x->specials ? nan_first == nq && nan_last == nq : nan_first == 0 && nan_last == 0,
		      "%s: %zu of %zu quantized weights start with a NaN code, %zu end with one", x->spec, nan_first, nq,
		      nan_last);
	}
	CHECK(bad_set == 0 && expected == c->n, "%s: holds exactly the %zu tensors hf_expected says, dtypes and shapes%s%s",
	      x->spec, c->n, bad_set ? ": " : "", bad_set ? why : "");
	CHECK(bad_val == 0, "%s: every tensor is what synth makes; realistic values dequantize within FP8 precision%s%s",
	      x->spec, bad_val ? ": " : "", bad_val ? why : "");
	if (x->wdt != DT_BF16 && !x->experts_only)
		CHECK(partial > 0, "%s: %zu weights have partial edge blocks", x->spec, partial);
	CHECK(moved == (x->moved != NULL) && (!x->moved || strcmp(moved_name, x->moved) == 0),
	      "%s: %s scales in another shard than their weight (%zu)", x->spec, x->moved ? x->moved : "no", moved);
	CHECK(dropped == (x->dropped != NULL) && (!x->dropped || strcmp(dropped_name, x->dropped) == 0),
	      "%s: %s weights without a scale (%zu)", x->spec, x->dropped ? x->dropped : "no", dropped);
	ckpt_close(c);
	hf_synth_free(hs);
}

static void test_specs(void)
{
	static const struct expect specs[] = {
		{"fixtures/specs/partial.json", DT_F8_E4M3, DT_F32, 128, 128, .nshards = 2},
		{"fixtures/specs/noqlora.json", DT_F8_E4M3, DT_F32, 128, 128, .nshards = 2},
		{"fixtures/specs/scales-bf16.json", DT_F8_E4M3, DT_BF16, 128, 128, .nshards = 2},
		{"fixtures/specs/scales-e8m0.json", DT_F8_E4M3, DT_F8_E8M0, 128, 128, .pow2 = true, .nshards = 2},
		{"fixtures/specs/ue8m0.json", DT_F8_E4M3, DT_F32, 128, 128, .pow2 = true, .nshards = 2},
		{"fixtures/specs/block64.json", DT_F8_E4M3, DT_F32, 64, 64, .nshards = 2},
		{"fixtures/specs/block-128x64.json", DT_F8_E4M3, DT_F32, 128, 64, .nshards = 2},
		{"fixtures/specs/e5m2.json", DT_F8_E5M2, DT_F32, 128, 128, .nshards = 2},
		{"fixtures/specs/nan.json", DT_F8_E4M3, DT_F32, 128, 128, .specials = true, .nshards = 2},
		{"fixtures/specs/scale-other-shard.json", DT_F8_E4M3, DT_F32, 128, 128, .nshards = 3,
		 .moved = "model.layers.1.mlp.experts.0.down_proj.weight_scale_inv"},
		{"fixtures/specs/drop-scale.json", DT_F8_E4M3, DT_F32, 128, 128, .nshards = 2,
		 .dropped = "model.layers.1.mlp.experts.2.up_proj.weight"},
		{"fixtures/specs/bf16.json", DT_BF16, DT_F32, 128, 128, .nshards = 2},
	};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
		check_spec(&specs[i], NULL, 0);
	/* the bench spec at its real shapes, one expert */
	static const struct json_edit one[] = {{"n_routed_experts", "1"}, {"n_group", "1"}, {"topk_group", "1"}};
	static const struct expect bench = {"fixtures/specs/bench-experts.json", DT_F8_E4M3, DT_F32, 128, 128,
					    .experts_only = true, .nshards = 1};
	check_spec(&bench, one, 3);
}

/* A few ways a spec can be wrong, each one message. */
static void test_bad_specs(void)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"[]", "s.json: a spec is a JSON object"},
		{"{\"hidden_size\": 64}", "s.json: missing \"vocab_size\""},
		{"{\"extends\": \"partial.json\", \"scale_dtype\": \"F16\"}", "s.json: \"scale_dtype\" is \"F16\", not F32, BF16 or F8_E8M0"},
		{"{\"extends\": \"partial.json\", \"model_type\": \"deepseek_v32\", \"index_n_heads\": 2, \"index_head_dim\": 32, \"index_topk\": 8, \"norm_dtype\": \"F8_E4M3\"}", "s.json: \"norm_dtype\" is \"F8_E4M3\", not F32, BF16 or F16"},
		{"{\"extends\": \"partial.json\", \"norm_dtype\": \"F32\"}", "s.json: \"norm_dtype\" needs a model whose norms may be any float (DeepSeek-V3.2)"},
		{"{\"extends\": \"partial.json\", \"shards\": 2, \"shard_size\": 100}", "s.json: give \"shards\" or \"shard_size\", not both"},
		{"{\"extends\": \"partial.json\", \"values\": \"zero\"}", "s.json: \"values\" is \"zero\", not realistic or cheap"},
		{"{\"extends\": \"partial.json\", \"quantization_config\": null, \"drop_scale\": true}", "s.json: scale options need a quantization_config"},
		{"{\"extends\": \"partial.json\", \"seed\": -1}", "s.json: \"seed\" is not an integer from 0 to 18446744073709551615"},
		{"{\"extends\": \"s.json\"}", "s.json: \"extends\" goes more than 8 deep"},
	};
	char spec_dir[600];
	snprintf(spec_dir, sizeof spec_dir, "%s", t_path("CKPT_ROOT", "fixtures/specs/partial.json"));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct buf b = {0};
		buf_adds(&b, bad[i].text);
		/* extends is relative to the spec: write it where partial.json can be found */
		char *base = NULL;
		if (strstr(bad[i].text, "partial.json")) {
			base = xasprintf("{\"extends\": \"%s\"", spec_dir);
			buf_clear(&b);
			buf_adds(&b, base);
			buf_adds(&b, bad[i].text + strlen("{\"extends\": \"partial.json\""));
		}
		out_write_file("s.json", b.p, b.len);
		struct hf_synth *s;
		int rc = hf_synth_load_file(&s, "s.json", NULL, 0);
		CHECK(rc == -1 && strcmp(err_last(), bad[i].msg) == 0, "spec %s is refused: %s", bad[i].text, err_last());
		if (!rc)
			hf_synth_free(s);
		free(base);
		buf_free(&b);
	}
	/* plan errors come at write time */
	struct json_edit e[] = {{"drop_scale", "\"model.layers.0.input_layernorm.weight\""}};
	struct hf_synth *s;
	struct hf_synth_result r;
	int rc = hf_synth_load_file(&s, t_path("CKPT_ROOT", "fixtures/specs/partial.json"), e, 1);
	CHECK(rc == 0 && hf_synth_write(s, "never", 1, &r) == -1 &&
	      strstr(err_last(), "\"drop_scale\" names \"model.layers.0.input_layernorm.weight\", which is not a quantized weight"),
	      "dropping the scale of an unquantized tensor is refused: %s", err_last());
	hf_synth_free(s);
	e[0] = (struct json_edit){"scale_in_other_shard", "true"};
	struct json_edit e2[] = {e[0], {"shards", "1"}};
	rc = hf_synth_load_file(&s, t_path("CKPT_ROOT", "fixtures/specs/partial.json"), e2, 2);
	CHECK(rc == 0 && hf_synth_write(s, "never", 1, &r) == -1 &&
	      strstr(err_last(), "\"scale_in_other_shard\" needs at least 2 shards"), "moving a scale needs 2 shards: %s",
	      err_last());
	hf_synth_free(s);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

int main(void)
{
	err_init("test_synth");
	/* checkpoints go to a fresh directory under $TMPDIR, removed at the end */
	char root[PATH_MAX], tmp[PATH_MAX];
	const char *r = getenv("CKPT_ROOT"), *td = getenv("TMPDIR");
	if (!realpath(r ? r : ".", root))
		return 1;
	setenv("CKPT_ROOT", root, 1);
	snprintf(tmp, sizeof tmp, "%s/test_synth.XXXXXX", td ? td : "/tmp");
	if (!mkdtemp(tmp) || chdir(tmp) < 0)
		return 1;
	test_rng();
	test_quantize();
	test_synth_pieces();
	test_specs();
	test_bad_specs();
	if (chdir("/") == 0)
		nftw(tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return t_done();
}
