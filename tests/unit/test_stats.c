/* Per-tensor statistics of tensors read through views: exact values for small buffers,
 * NaN/Inf counting, dequantized FP8 against a direct computation, the same bits whatever
 * the thread count. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <stdint.h>

#include "err.h"
#include "dequant.h"
#include "layout.h"
#include "out.h"
#include "stats.h"
#include "t.h"

static struct pool *P1, *P3;

/* Tensors in memory, seen through a view as a layout would show them. */
struct mem {
	struct view *v;
	struct st_file f[2];
	struct st_tensor t[2];
	uint64_t shape[2][2];
};

/* A view of n elements of dtype t at data, 1-D (one row) or rows x n/rows; with s, the
 * weight's block scale (sdata: srows x scols F32, blocks bm x bn). */
static const struct vtensor *mem_view(struct mem *m, enum dt t, const void *data, uint64_t n, uint64_t rows,
				      const void *sdata, uint64_t bm, uint64_t bn)
{
	memset(m, 0, sizeof *m);
	m->v = view_new(LAYOUT_HF, "hf", "mem");
	unsigned nd = rows ? 2 : 1;
	m->shape[0][0] = rows ? rows : n;
	m->shape[0][1] = rows ? n / rows : 0;
	uint64_t bytes;
	dt_nbytes(t, n, &bytes);
	m->t[0] = (struct st_tensor){"w", t, nd, m->shape[0], n, 0, bytes};
	m->f[0].data = data;
	if (sdata) {
		uint64_t sr = (rows + bm - 1) / bm, sc = (n / rows + bn - 1) / bn;
		m->shape[1][0] = sr;
		m->shape[1][1] = sc;
		m->t[1] = (struct st_tensor){"w_scale_inv", DT_F32, 2, m->shape[1], sr * sc, 0, sr * sc * 4};
		m->f[1].data = sdata;
	}
	view_add_whole(m->v, "w", &m->f[0], &m->t[0], sdata ? &m->f[1] : NULL, sdata ? &m->t[1] : NULL, bm, bn);
	if (view_finish(m->v))
		abort();
	return &m->v->t[0];
}

static struct tstats one(enum dt t, const void *data, uint64_t n, struct pool *p)
{
	struct mem m;
	const struct vtensor *v = mem_view(&m, t, data, n, 0, NULL, 0, 0);
	struct tstats r;
	stats_views(&v, 1, false, p, &r);
	view_free(m.v);
	return r;
}

/* The reference: straightforward two passes in long double over the finite values. */
struct ref {
	uint64_t n, nan, inf;
	long double mean, std, min, max, absmax;
};

static struct ref direct(const double *x, size_t n)
{
	struct ref r = {0};
	long double sum = 0;
	r.min = INFINITY;
	r.max = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i])) {
			r.nan++;
		} else if (isinf(x[i])) {
			r.inf++;
		} else {
			r.n++;
			sum += x[i];
			r.min = fminl(r.min, x[i]);
			r.max = fmaxl(r.max, x[i]);
			r.absmax = fmaxl(r.absmax, fabsl((long double)x[i]));
		}
	}
	r.mean = sum / r.n;
	long double m2 = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			m2 += (x[i] - r.mean) * (x[i] - r.mean);
	r.std = sqrtl(m2 / r.n);
	return r;
}

static int close_to(double got, long double want, double rel)
{
	return fabsl((long double)got - want) <= rel * fabsl(want) + 1e-300;
}

static int same_bits(const struct tstats *a, const struct tstats *b)
{
	return a->count == b->count && a->nan == b->nan && a->inf == b->inf && a->valid == b->valid &&
	       a->dequantized == b->dequantized && memcmp(&a->min, &b->min, sizeof a->min) == 0 &&
	       memcmp(&a->max, &b->max, sizeof a->max) == 0 && memcmp(&a->mean, &b->mean, sizeof a->mean) == 0 &&
	       memcmp(&a->std, &b->std, sizeof a->std) == 0 && memcmp(&a->absmax, &b->absmax, sizeof a->absmax) == 0;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_exact(void)
{
	float f[] = {1, 2, 3, 4};
	struct tstats s = one(DT_F32, f, 4, P1);
	CHECK(s.valid && !s.dequantized && s.count == 4 && s.nan == 0 && s.inf == 0, "f32 counts");
	CHECK(s.min == 1 && s.max == 4 && s.mean == 2.5 && s.absmax == 4, "f32 min max mean absmax exact");
	CHECK(s.std == sqrt(1.25), "f32 population std exact (%.17g)", s.std);

	int8_t i8[] = {-5, 3, 0, 2};
	s = one(DT_I8, i8, 4, P1);
	CHECK(s.min == -5 && s.max == 3 && s.mean == 0 && s.absmax == 5, "i8 values, absmax from a negative");
	CHECK(s.std == sqrt(38.0 / 4), "i8 std (%.17g)", s.std);

	uint16_t bf[] = {0x3f80, 0xc000, 0x4040}; /* 1, -2, 3 */
	s = one(DT_BF16, bf, 3, P1);
	CHECK(s.min == -2 && s.max == 3 && s.absmax == 3 && s.mean == 2.0 / 3, "bf16 decoded (mean %.17g)", s.mean);

	uint16_t h[] = {0x3c00, 0x3c00}; /* f16 1.0 twice */
	s = one(DT_F16, h, 2, P1);
	CHECK(s.min == 1 && s.max == 1 && s.mean == 1 && s.std == 0, "f16 constant: std 0");

	uint8_t f4[] = {0x21}; /* e2m1 codes: low nibble 1 = 0.5, high 2 = 1.0 */
	s = one(DT_F4, f4, 2, P1);
	CHECK(s.count == 2 && s.min == 0.5 && s.max == 1 && s.mean == 0.75, "f4 packed pairs");

	uint8_t b[] = {0, 1, 1, 0, 1};
	s = one(DT_BOOL, b, 5, P1);
	CHECK(s.mean == 0.6 && s.max == 1 && s.min == 0, "bool as 0/1 (mean %.17g)", s.mean);

	int64_t big[] = {INT64_MIN, INT64_MAX};
	s = one(DT_I64, big, 2, P1);
	CHECK(s.min == -0x1p63 && s.max == 0x1p63 && s.mean == 0, "i64 extremes as doubles");
}

static void test_nonfinite(void)
{
	float f[] = {1, NAN, INFINITY, -INFINITY, 3, NAN};
	struct tstats s = one(DT_F32, f, 6, P1);
	CHECK(s.count == 6 && s.nan == 2 && s.inf == 2, "nan and inf counted (%llu %llu)",
	      (unsigned long long)s.nan, (unsigned long long)s.inf);
	CHECK(s.min == 1 && s.max == 3 && s.mean == 2 && s.std == 1 && s.absmax == 3,
	      "statistics over the finite values only");

	float allnan[] = {NAN, NAN, INFINITY};
	s = one(DT_F32, allnan, 3, P1);
	CHECK(s.valid && s.count == 3 && s.nan == 2 && s.inf == 1 && isnan(s.min) && isnan(s.max) &&
	      isnan(s.mean) && isnan(s.std) && isnan(s.absmax), "no finite value: statistics are NaN");

	s = one(DT_F32, f, 0, P1);
	CHECK(s.valid && s.count == 0 && isnan(s.mean), "empty tensor");

	uint8_t e4[] = {0x7f, 0xff, 0x38, 0xb8, 0x7e}; /* NaN, NaN, 1, -1, 448 */
	s = one(DT_F8_E4M3, e4, 5, P1);
	CHECK(s.nan == 2 && s.inf == 0 && s.min == -1 && s.max == 448 && s.absmax == 448,
	      "e4m3 stored values: 0x7f/0xff are NaN, no infinities");

	uint8_t e5[] = {0x7c, 0xfc, 0x7d, 0x3c}; /* +inf, -inf, NaN, 1 */
	s = one(DT_F8_E5M2, e5, 4, P1);
	CHECK(s.inf == 2 && s.nan == 1 && s.mean == 1, "e5m2 infinities and NaN");

	uint8_t c64[16] = {0};
	s = one(DT_C64, c64, 2, P1);
	CHECK(!s.valid && s.count == 2 && isnan(s.mean), "c64 has no real values: not valid");
}

/* Many chunks: against long double, and bit-identical for 1 and 3 threads. */
static void test_large(void)
{
	size_t n = 300000;
	float *f = malloc(n * sizeof *f);
	double *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++) {
		/* a large offset and a small spread: where one-pass formulas cancel */
		f[i] = 1e4f + (float)((double)(next() % 2000001) / 1e6 - 1.0);
		x[i] = f[i];
	}
	f[777] = NAN;
	x[777] = NAN;
	struct ref r = direct(x, n);
	struct tstats a = one(DT_F32, f, n, P1), b = one(DT_F32, f, n, P3);
	CHECK(a.min == (double)r.min && a.max == (double)r.max && a.absmax == (double)r.absmax,
	      "large: min max absmax exact");
	CHECK(close_to(a.mean, r.mean, 1e-15), "large: mean (%.17g vs %.17Lg)", a.mean, r.mean);
	CHECK(close_to(a.std, r.std, 1e-12), "large: std accurate despite the offset (%.17g vs %.17Lg)",
	      a.std, r.std);
	CHECK(a.nan == 1 && a.count == n, "large: counts");
	CHECK(same_bits(&a, &b), "large: same bits with 1 and 3 threads");
	free(f);
	free(x);

	/* more tensors than one parallel pass takes: results still land on the right tensors */
	size_t ns = 5000;
	float *v = malloc(ns * 3 * sizeof *v);
	struct view *view = view_new(LAYOUT_HF, "hf", "mem");
	struct st_file file = {.data = (const uint8_t *)v};
	struct st_tensor *ts = calloc(ns, sizeof *ts);
	uint64_t three = 3;
	char (*names)[16] = calloc(ns, sizeof *names);
	const struct vtensor **src = calloc(ns, sizeof *src);
	struct tstats *s1 = calloc(ns, sizeof *s1), *s3 = calloc(ns, sizeof *s3);
	for (size_t i = 0; i < ns; i++) {
		v[3 * i] = (float)i;
		v[3 * i + 1] = (float)i + 1;
		v[3 * i + 2] = (float)i + 2;
		snprintf(names[i], sizeof names[i], "t%05zu", i);
		ts[i] = (struct st_tensor){names[i], DT_F32, 1, &three, 3, 12 * i, 12 * i + 12};
		view_add_whole(view, names[i], &file, &ts[i], NULL, NULL, 0, 0);
	}
	view_finish(view);
	for (size_t i = 0; i < ns; i++)
		src[i] = &view->t[i];
	stats_views(src, ns, false, P1, s1);
	stats_views(src, ns, false, P3, s3);
	int ok = 1, same = 1;
	for (size_t i = 0; i < ns; i++) {
		ok &= s1[i].min == (double)i && s1[i].mean == (double)i + 1 && s1[i].max == (double)i + 2;
		same &= same_bits(&s1[i], &s3[i]);
	}
	CHECK(ok, "5000 tensors in several passes: each its own values");
	CHECK(same, "5000 tensors: same bits with 1 and 3 threads");
	view_free(view);
	free(names);
	free(ts);
	free(v);
	free(src);
	free(s1);
	free(s3);
}

/* A block-quantized weight with partial edge blocks and chunks that straddle block rows. */
static void quant_case(uint64_t rows, uint64_t cols, uint64_t bm, uint64_t bn, const char *what)
{
	uint64_t sr = (rows + bm - 1) / bm, sc = (cols + bn - 1) / bn;
	uint8_t *w = malloc(rows * cols);
	float *scale = malloc(sr * sc * sizeof *scale);
	double *x = malloc(rows * cols * sizeof *x);
	for (uint64_t i = 0; i < rows * cols; i++) {
		w[i] = (uint8_t)next();
		if ((w[i] & 0x7f) == 0x7f && i % 5)
			w[i] ^= 1; /* keep a few NaN codes, not a fifth of the data */
	}
	for (uint64_t i = 0; i < sr * sc; i++)
		scale[i] = (float)ldexp(1.0 + (double)(next() % 1000) / 1000, -(int)(next() % 12));
	for (uint64_t i = 0; i < rows; i++)
		for (uint64_t j = 0; j < cols; j++)
			x[i * cols + j] = (float)(dt_e4m3_to_f32(w[i * cols + j]) * scale[(i / bm) * sc + j / bn]);
	struct mem m;
	const struct vtensor *s = mem_view(&m, DT_F8_E4M3, w, rows * cols, rows, scale, bm, bn);
	struct tstats a, b;
	stats_views(&s, 1, false, P1, &a);
	stats_views(&s, 1, false, P3, &b);
	struct ref r = direct(x, rows * cols);
	CHECK(a.dequantized && a.count == rows * cols && a.nan == r.nan && a.inf == 0, "%s: counts (nan %llu)", what,
	      (unsigned long long)a.nan);
	CHECK(a.min == (double)r.min && a.max == (double)r.max && a.absmax == (double)r.absmax,
	      "%s: min max absmax of weight x scale exact", what);
	CHECK(close_to(a.mean, r.mean, 1e-12) && close_to(a.std, r.std, 1e-12),
	      "%s: mean and std against a direct computation", what);
	CHECK(same_bits(&a, &b), "%s: same bits with 1 and 3 threads", what);
	view_free(m.v);
	free(w);
	free(scale);
	free(x);
}

static void test_quant(void)
{
	quant_case(300, 200, 128, 128, "fp8 300x200 blocks 128x128");
	quant_case(9, 70000, 4, 128, "fp8 9x70000 blocks 4x128 (chunks cross block rows)");
	quant_case(5, 3, 2, 2, "fp8 5x3 blocks 2x2");
}

/* The golden checkpoint through its view: a weight whose scale lies in another shard,
 * dequantized, its scale as a tensor of its own, the stored codes with raw. */
static void test_ckpt(void)
{
	struct view *v;
	if (layout_open(&v, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0)) {
		CHECK(0, "open tiny-v3: %s", err_last());
		return;
	}
	const char *name = "model.layers.1.mlp.experts.0.down_proj.weight";
	const struct vtensor *t = view_find(v, name), *sc = t ? t->scale : NULL;
	CHECK(t && sc && t->p[0].f != t->p[0].sf && sc->p[0].f == t->p[0].sf,
	      "tiny-v3: %s and its scale in different shards, the scale a tensor read from its own", name);
	if (!t || !sc)
		goto out;
	uint64_t rows = t->rows, cols = t->cols, scols = (cols + 127) / 128;
	double *x = malloc(rows * cols * sizeof *x);
	const uint8_t *w = st_bytes(t->p[0].f, t->p[0].t), *sb = st_bytes(t->p[0].sf, t->p[0].s);
	for (uint64_t i = 0; i < rows; i++)
		for (uint64_t j = 0; j < cols; j++) {
			float s;
			memcpy(&s, sb + 4 * ((i / 128) * scols + j / 128), 4);
			x[i * cols + j] = (float)(dt_e4m3_to_f32(w[i * cols + j]) * s);
		}
	struct ref r = direct(x, rows * cols);
	free(x);
	const struct vtensor *ts[2] = {t, sc};
	struct tstats st[2], raw[2];
	stats_views(ts, 2, false, P3, st);
	CHECK(st[0].dequantized && !st[1].dequantized && st[1].count == sc->rows * sc->cols,
	      "tiny-v3: weight dequantized, scale stored");
	CHECK(st[0].min == (double)r.min && st[0].max == (double)r.max && close_to(st[0].mean, r.mean, 1e-12) &&
	      close_to(st[0].std, r.std, 1e-12), "tiny-v3: dequantized statistics match a direct computation");
	stats_views(ts, 2, true, P3, raw);
	CHECK(!raw[0].dequantized && raw[0].absmax <= 448 && raw[0].absmax != st[0].absmax && same_bits(&raw[1], &st[1]),
	      "tiny-v3: raw statistics are of the stored codes");
	/* the first weight by name is the first refused */
	const char *first = "model.layers.0.mlp.down_proj.weight";
	char *shard = xstrdup(view_find(v, first)->p[0].f->path);
	view_free(v);

	/* blocks of 64 x 64 that the scales do not fit: refused naming the shard, or shown */
	mkdir("b64", 0777);
	DIR *d = opendir(t_path("CKPT_ROOT", "fixtures/tiny-v3"));
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "config.json") == 0)
			continue;
		char src[4096], dst[512];
		snprintf(src, sizeof src, "%s/%s", t_path("CKPT_ROOT", "fixtures/tiny-v3"), e->d_name);
		snprintf(dst, sizeof dst, "b64/%s", e->d_name);
		t_link_or_copy(src, dst);
	}
	if (d)
		closedir(d);
	const char *cfg = "{\"quantization_config\": {\"weight_block_size\": [64, 64]}}";
	out_write_file("b64/config.json", cfg, strlen(cfg));
	const char *base = strrchr(shard, '/') + 1;
	char want[512];
	snprintf(want, sizeof want, "b64/%s: \"%s\": scale has shape [2, 4], expected [4, 8] for blocks of 64x64", base,
		 first);
	int rc = layout_open(&v, "b64", NULL, 0);
	CHECK(rc == -1 && strcmp(err_last(), want) == 0, "tiny-v3: a block size that does not fit: %s", err_last());
	if (!rc)
		view_free(v);
	rc = layout_open(&v, "b64", NULL, VIEW_SCALE_PROBLEMS);
	CHECK(rc == 0 && v->nproblems == 104 && !view_find(v, name)->p[0].s &&
	      view_find(v, "model.layers.1.mlp.experts.0.down_proj.weight_scale_inv"),
	      "VIEW_SCALE_PROBLEMS: a problem each, the weights unscaled, the scales tensors of their own (%s)",
	      rc ? err_last() : "");
	if (!rc)
		view_free(v);
	free(shard);
	return;
out:
	view_free(v);
}

int main(void)
{
	P1 = pool_new(1);
	P3 = pool_new(3);
	test_exact();
	test_nonfinite();
	test_large();
	test_quant();
	test_ckpt();
	pool_free(P1);
	pool_free(P3);
	return t_done();
}
