/* Tensor comparison: the dtype values are compared in, rounding, bit identity (NaN, -0),
 * tolerances, dequantized FP8 against its BF16 rounding, the first mismatch, and the same
 * results whatever the number of threads and chunks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "err.h"
#include "t.h"

/* A one-piece canonical tensor over a buffer (no file behind it). */
struct fake {
	struct st_file f;
	struct st_tensor t;
	uint64_t shape[2];
	struct st_file sf;
	struct st_tensor s;
	uint64_t sshape[2];
	struct vtensor v;
	struct vpiece p;
};

static void fake(struct fake *x, enum dt dt, const void *data, uint64_t rows, uint64_t cols, const float *scale,
		 uint64_t srows, uint64_t scols, uint64_t bm, uint64_t bn)
{
	memset(x, 0, sizeof *x);
	x->shape[0] = rows;
	x->shape[1] = cols;
	uint64_t nb;
	dt_nbytes(dt, rows * cols, &nb);
	x->t = (struct st_tensor){"w", dt, 2, x->shape, rows * cols, 0, nb};
	x->f.data = data;
	x->p = (struct vpiece){.f = &x->f, .t = &x->t, .nr = rows, .nc = cols};
	if (scale) {
		x->sshape[0] = srows;
		x->sshape[1] = scols;
		x->s = (struct st_tensor){"w_scale_inv", DT_F32, 2, x->sshape, srows * scols, 0, 4 * srows * scols};
		x->sf.data = (const uint8_t *)scale;
		x->p.sf = &x->sf;
		x->p.s = &x->s;
		x->p.bm = bm;
		x->p.bn = bn;
	}
	x->v = (struct vtensor){.name = "w", .dtype = scale ? DT_BF16 : dt, .stored = dt, .ndim = 2,
				.shape = {rows, cols}, .rows = rows, .cols = cols, .npieces = 1, .p = &x->p};
}

static struct cmp_result one(const struct fake *a, const struct fake *b, const struct cmp_opts *o, struct pool *p)
{
	struct cmp_pair pair = {&a->v, &b->v};
	struct cmp_result r;
	cmp_run(&pair, 1, o, p, &r);
	return r;
}

static void test_dtypes(void)
{
	CHECK(cmp_dtype(DT_F32, DT_BF16) == DT_BF16 && cmp_dtype(DT_BF16, DT_F32) == DT_BF16 &&
		      cmp_dtype(DT_F16, DT_BF16) == DT_BF16 && cmp_dtype(DT_BF16, DT_F8_E4M3) == DT_F8_E4M3 &&
		      cmp_dtype(DT_F8_E4M3, DT_F8_E5M2) == DT_F8_E5M2 && cmp_dtype(DT_F32, DT_F32) == DT_F32,
	      "the coarser dtype: fewer significand bits");
	CHECK(cmp_round(DT_BF16, 1.00390625f) == 1.0f && cmp_round(DT_BF16, 1.01171875f) == 1.015625f &&
		      cmp_round(DT_F32, 1.00390625f) == 1.00390625f && cmp_round(DT_F8_E4M3, 1.1f) == 1.125f,
	      "rounding to a dtype: nearest, ties to even");
}

static void test_values(struct pool *p)
{
	struct cmp_opts exact = {.exact = true}, tol = {.atol = 1e-6, .rtol = 1e-2};
	float a[6] = {1, 2, 3, NAN, 0.0f, 100}, b[6] = {1, 2, 3, NAN, 0.0f, 100};
	struct fake fa, fb;
	fake(&fa, DT_F32, a, 2, 3, NULL, 0, 0, 0, 0);
	fake(&fb, DT_F32, b, 2, 3, NULL, 0, 0, 0, 0);
	struct cmp_result r = one(&fa, &fb, &exact, p);
	CHECK(r.identical && r.mismatches == 0 && r.values == 6 && r.max_abs == 0 && r.as == DT_F32,
	      "equal tensors are identical (NaN equals NaN)");
	b[3] = -NAN;
	r = one(&fa, &fb, &exact, p);
	CHECK(r.identical, "a NaN's sign and payload do not matter");
	b[4] = -0.0f;
	r = one(&fa, &fb, &exact, p);
	CHECK(!r.identical && r.mismatches == 1 && r.first == 4 && r.max_abs == 0, "-0 and +0 differ in bits, not in value");
	r = one(&fa, &fb, &tol, p);
	CHECK(!r.identical && r.mismatches == 0, "-0 and +0 are within any tolerance");
	b[4] = 0;
	b[5] = 100.5f;
	r = one(&fa, &fb, &tol, p);
	CHECK(!r.identical && r.mismatches == 0 && r.max_abs == 0.5 && fabs(r.max_rel - 0.5 / 100.5) < 1e-12,
	      "0.5%% off is within rtol 1e-2; errors measured (abs %g, rel %g)", r.max_abs, r.max_rel);
	b[5] = 102;
	r = one(&fa, &fb, &tol, p);
	CHECK(r.mismatches == 1 && r.first == 5, "2%% off is beyond rtol 1e-2");
	b[5] = 100;
	b[1] = NAN;
	r = one(&fa, &fb, &tol, p);
	CHECK(r.mismatches == 1 && r.nan_one == 1 && r.first == 1, "NaN on one side only is a mismatch");
	b[1] = INFINITY;
	r = one(&fa, &fb, &tol, p);
	CHECK(r.mismatches == 1 && isinf(r.max_abs) && isinf(r.max_rel), "an infinity against a finite value: infinite error");
}

static void test_coarser(struct pool *p)
{
	/* F32 values against their BF16 rounding: identical once both are BF16 */
	float f[4] = {1.00390625f, 3.14159265f, -2.7182818f, 1e-20f};
	uint16_t h[4];
	for (int i = 0; i < 4; i++)
		h[i] = dt_f32_to_bf16(f[i]);
	struct fake fa, fb;
	fake(&fa, DT_F32, f, 1, 4, NULL, 0, 0, 0, 0);
	fake(&fb, DT_BF16, h, 1, 4, NULL, 0, 0, 0, 0);
	struct cmp_opts exact = {.exact = true};
	struct cmp_result r = one(&fa, &fb, &exact, p);
	CHECK(r.identical && r.as == DT_BF16, "F32 against its BF16 rounding: identical as BF16");
	h[2] ^= 1;
	r = one(&fa, &fb, &exact, p);
	CHECK(!r.identical && r.mismatches == 1 && r.first == 2, "one BF16 step off: found");

	/* an FP8 weight with block scales against the BF16 of its dequantization */
	enum { R = 5, C = 7 };
	uint8_t w[R * C];
	float s[3 * 2] = {0.5f, 2.0f, 0.001f, 3.0f, 1e-3f, 7.0f};
	uint16_t d[R * C];
	for (int i = 0; i < R * C; i++) {
		w[i] = (uint8_t)(i * 37 + 11);
		if ((w[i] & 0x7f) == 0x7f)
			w[i] = 0x42;
		float v = dt_e4m3_to_f32(w[i]) * s[(i / C) / 2 * 2 + (i % C) / 4];
		d[i] = dt_f32_to_bf16(v);
	}
	struct fake q, bf;
	fake(&q, DT_F8_E4M3, w, R, C, s, 3, 2, 2, 4);
	fake(&bf, DT_BF16, d, R, C, NULL, 0, 0, 0, 0);
	r = one(&q, &bf, &exact, p);
	CHECK(r.identical && r.values == R * C && r.as == DT_BF16,
	      "FP8 with partial blocks, dequantized, against its BF16: identical");
	s[5] = 7.5f;
	r = one(&q, &bf, &exact, p);
	CHECK(!r.identical && r.mismatches > 0 && r.first == 4 * C + 4, "a changed scale: its block differs (first at %llu)",
	      (unsigned long long)r.first);
}

static void test_threads(void)
{
	/* a tensor of many chunks, compared with 1 and 4 threads */
	enum { R = 3000, C = 300 };
	float *a = malloc(R * C * sizeof *a), *b = malloc(R * C * sizeof *b);
	for (int i = 0; i < R * C; i++) {
		a[i] = (float)sin(i * 0.001);
		b[i] = a[i] + (i % 9973 == 5 ? 1e-3f * (float)(i % 7) : 0);
	}
	uint64_t want = 0;
	for (int i = 0; i < R * C; i++)
		want += fabs((double)a[i] - (double)b[i]) > 1e-3;
	struct fake fa, fb;
	fake(&fa, DT_F32, a, R, C, NULL, 0, 0, 0, 0);
	fake(&fb, DT_F32, b, R, C, NULL, 0, 0, 0, 0);
	struct pool *p1 = pool_new(1), *p4 = pool_new(4);
	struct cmp_opts o = {.atol = 1e-3, .rtol = 0};
	struct cmp_result r1 = one(&fa, &fb, &o, p1), r4 = one(&fa, &fb, &o, p4);
	bool same = r1.values == r4.values && r1.mismatches == r4.mismatches && r1.first == r4.first &&
		    r1.max_abs == r4.max_abs && r1.max_rel == r4.max_rel && r1.identical == r4.identical;
	CHECK(same && r1.values == R * C && r1.mismatches == want && want > 50 && r1.first == 5,
	      "1 and 4 threads: the same result over %d chunks (first mismatch %llu)", R * C / (1 << 18) + 1,
	      (unsigned long long)r1.first);
	pool_free(p1);
	pool_free(p4);
	free(a);
	free(b);
}

int main(void)
{
	err_init("test_compare");
	struct pool *p = pool_new(2);
	test_dtypes();
	test_values(p);
	test_coarser(p);
	test_threads();
	pool_free(p);
	return t_done();
}
