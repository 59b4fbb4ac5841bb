/* The view's row readers used by the forward pass: view_read_rows (float32, optionally
 * rounded to BF16) and view_read_rows_bf16 (BF16 through per-block tables) against the FP8
 * dequantization references of fixtures/ref/fp8cases (torch on the CPU computing
 * bf16(float32(w) * scale): every e4m3 and e5m2 code, special scales, partial blocks,
 * BF16 and E8M0 scales, 64x64 and 128x64 blocks), bit for bit except that any NaN stands
 * for any NaN.  Also row ranges, strides, and the ROUND flag leaving non-FP8 values alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "layout.h"
#include "st.h"
#include "t.h"

static bool same_value(uint16_t got, uint16_t want)
{
	bool gn = isnan(dt_bf16_to_f32(got)), wn = isnan(dt_bf16_to_f32(want));
	return gn || wn ? gn && wn : got == want;
}

static void check_case(const char *name)
{
	char in[256], ref[256];
	snprintf(in, sizeof in, "fixtures/ref/fp8cases/%s/input", name);
	snprintf(ref, sizeof ref, "fixtures/ref/fp8cases/%s/torch_cpu.safetensors", name);
	struct view *v;
	struct st_file *r;
	int rv = layout_open(&v, t_path("CKPT_ROOT", in), NULL, 0), rr = st_open(&r, t_path("CKPT_ROOT", ref));
	CHECK(rv == 0 && rr == 0, "%s: input and reference open (%s)", name, rv || rr ? err_last() : "");
	if (rv || rr)
		return;
	size_t weights = 0, bad16 = 0, badround = 0, badf32 = 0, values = 0, nans = 0, unreadable = 0, failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct st_tensor *rt = &r->t[i];
		const struct vtensor *t = view_find(v, rt->name);
		if (!t || !t->p[0].s || rt->dtype != DT_BF16 || t->rows * t->cols != rt->nelem)
			continue;
		weights++;
		size_t n = (size_t)(t->rows * t->cols), ld = (size_t)t->cols + 3;
		uint16_t *b16 = calloc(t->rows * ld, sizeof *b16);
		float *fr = calloc(t->rows * ld, sizeof *fr), *f = calloc(n, sizeof *f);
		const uint8_t *want = st_bytes(r, rt);
		unreadable += !vtensor_bf16_readable(t);
		/* in two row ranges, to cross a block row where there is one */
		uint64_t half = t->rows / 2;
		int e = view_read_rows_bf16(t, 0, half, b16, ld) | view_read_rows_bf16(t, half, t->rows - half, b16 + half * ld, ld) |
			view_read_rows(t, 0, t->rows, fr, ld, VIEW_ROUND_BF16) | view_read_f32(t, 0, t->rows, f);
		failed += e != 0;
		for (size_t k = 0; k < n; k++) {
			uint16_t w;
			memcpy(&w, want + 2 * k, 2);
			size_t at = k / (size_t)t->cols * ld + k % (size_t)t->cols;
			bad16 += !same_value(b16[at], w);
			badround += !same_value((uint16_t)(dt_f32_bits(fr[at]) >> 16), w) || (dt_f32_bits(fr[at]) & 0xffff);
			badf32 += !same_value(dt_f32_to_bf16(f[k]), w);
			nans += isnan(dt_bf16_to_f32(w));
			values++;
		}
		free(b16);
		free(fr);
		free(f);
	}
	CHECK(unreadable == 0 && failed == 0, "%s: every weight reads as BF16 and as float32", name);
	CHECK(weights > 0 && bad16 == 0, "%s: view_read_rows_bf16 equals the reference (%zu weights, %zu values, %zu NaN; %zu differ)",
	      name, weights, values, nans, bad16);
	CHECK(weights > 0 && badround == 0, "%s: view_read_rows with VIEW_ROUND_BF16 equals it (%zu differ)", name, badround);
	CHECK(weights > 0 && badf32 == 0, "%s: the unrounded float32 products round to it (%zu differ)", name, badf32);
	view_free(v);
	st_close(r);
}

/* Values that are not dequantized are never rounded, and BF16 tensors read the same both ways. */
static void check_plain(void)
{
	struct view *v;
	if (layout_open(&v, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0)) {
		CHECK(0, "tiny-v3 opens (%s)", err_last());
		return;
	}
	const struct vtensor *b = view_find(v, "model.layers.1.mlp.gate.e_score_correction_bias");
	const struct vtensor *h = view_find(v, "lm_head.weight");
	float f[8], g[8];
	view_read_f32(b, 0, 1, f);
	view_read_rows(b, 0, 1, g, 8, VIEW_ROUND_BF16);
	CHECK(memcmp(f, g, sizeof f) == 0 && dt_f32_bits(f[0]) & 0xffff, "F32 values are not rounded by VIEW_ROUND_BF16");
	CHECK(!vtensor_bf16_readable(b) && vtensor_bf16_readable(h), "F32 tensors are not BF16-readable, BF16 ones are");
	uint16_t *x = malloc(3 * h->cols * 2);
	float *y = malloc(3 * h->cols * 4);
	view_read_rows_bf16(h, 7, 3, x, (size_t)h->cols);
	view_read_f32(h, 7, 3, y);
	size_t bad = 0;
	for (size_t k = 0; k < 3 * h->cols; k++)
		bad += dt_bf16_to_f32(x[k]) != y[k];
	CHECK(bad == 0, "BF16 rows read the same as float32 (rows 7..9 of lm_head)");
	CHECK(view_read_rows_bf16(b, 0, 1, x, 8) == -1 && strstr(err_last(), "not BF16"),
	      "view_read_rows_bf16 refuses F32 values (%s)", err_last());
	CHECK(view_read_rows_bf16(h, h->rows, 1, x, 8) == -1 && strstr(err_last(), "outside"),
	      "rows past the end are refused (%s)", err_last());
	free(x);
	free(y);
	view_free(v);
}

int main(void)
{
	err_init("test_view_rows");
	static const char *cases[] = {"partial-blocks", "scale-bf16", "scale-ue8m0", "block64", "block128x64",
				      "e5m2", "e4m3-special", "no-index"};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(cases[i]);
	check_plain();
	return t_done();
}
