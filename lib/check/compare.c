#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Values per chunk (whole rows, at least one). */
#define CHUNK_VALUES (1u << 18)
/* Chunks per parallel pass: bounds the per-chunk results held at once. */
#define BATCH 4096

static int significand_bits(enum dt t)
{
	switch (t) {
	case DT_F64: return 52;
	case DT_F32: return 23;
	case DT_F16: return 10;
	case DT_BF16: return 7;
	case DT_F8_E4M3: case DT_F8_E4M3FNUZ: case DT_F6_E2M3: return 3;
	case DT_F8_E5M2: case DT_F8_E5M2FNUZ: case DT_F6_E3M2: return 2;
	case DT_F4: return 1;
	case DT_F8_E8M0: return 0;
	default: return 64; /* integers and booleans: compared as read */
	}
}

enum dt cmp_dtype(enum dt a, enum dt b)
{
	return significand_bits(b) < significand_bits(a) ? b : a;
}

float cmp_round(enum dt t, float x)
{
	switch (t) {
	case DT_BF16: return dt_bf16_to_f32(dt_f32_to_bf16(x));
	case DT_F16: return dt_f16_to_f32(dt_f32_to_f16(x));
	case DT_F8_E4M3: return dt_e4m3_to_f32(dt_f32_to_e4m3(x));
	case DT_F8_E5M2: return dt_e5m2_to_f32(dt_f32_to_e5m2(x));
	default: return x;
	}
}

/* Every piece block-quantized the same way: FP8 codes or 4-bit table codes, with scales. */
static bool block_quantized(const struct vtensor *t)
{
	if (!t->npieces)
		return false;
	const struct vpiece *p0 = &t->p[0];
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		if (!p->s || p->codes4 != p0->codes4 || p->t->dtype != p0->t->dtype)
			return false;
	}
	return p0->codes4 || (dt_is_fp8(p0->t->dtype) && p0->t->dtype != DT_F8_E8M0);
}

static bool plain_float(const struct vtensor *t)
{
	if (t->dtype != t->stored || (t->stored != DT_F32 && t->stored != DT_BF16 && t->stored != DT_F16))
		return false;
	for (size_t k = 0; k < t->npieces; k++)
		if (t->p[k].s || t->p[k].codes4)
			return false;
	return true;
}

bool cmp_by_steps(const struct vtensor *a, const struct vtensor *b, bool *a_quantized)
{
	*a_quantized = block_quantized(a);
	return *a_quantized ? plain_float(b) : block_quantized(b) && plain_float(a);
}

/* The finite magnitudes a quantized tensor's codes stand for, ascending, each once. */
struct ladder {
	size_t n;
	float m[256];
};

static int float_order(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return (a > b) - (a < b);
}

static void ladder_of(const struct vtensor *t, struct ladder *l)
{
	float v[256];
	size_t n = 0;
	if (t->p[0].codes4) {
		memcpy(v, t->p[0].codes4, 16 * sizeof *v);
		n = 16;
	} else {
		uint8_t code[256];
		for (unsigned k = 0; k < 256; k++)
			code[k] = (uint8_t)k;
		dt_to_f32(t->p[0].t->dtype, code, 0, 256, v);
		n = 256;
	}
	for (size_t k = 0; k < n; k++)
		v[k] = fabsf(v[k]);
	qsort(v, n, sizeof *v, float_order);
	l->n = 0;
	for (size_t k = 0; k < n; k++)
		if (isfinite(v[k]) && (!l->n || v[k] != l->m[l->n - 1]))
			l->m[l->n++] = v[k];
}

/* Half the spacing of float dtype t at a: the most its rounding moved a value.  From a's
 * float32 exponent field (no libm call: this runs once per value); 0 where that is below
 * float32's normal range, a smaller bound than the truth, never a larger one. */
static float half_spacing(enum dt t, float a)
{
	int p = t == DT_F32 ? 23 : t == DT_F16 ? 10 : 7;
	int e = (int)((dt_f32_bits(a) >> 23) & 0xff) - p - 1;
	return e > 0 ? dt_bits_f32((uint32_t)e << 23) : 0.0f;
}

/* a's error in half-steps against code value c of scale s (compare.h). */
static double steps_err(const struct ladder *l, enum dt ft, float a, float c, float s)
{
	if (!isfinite(a) || !isfinite(c) || !isfinite(s) || l->n < 2)
		return INFINITY;
	double u = (double)a - (double)c * (double)s, m = fabs((double)c);
	double over = fabs(u) - half_spacing(ft, a);
	if (over <= 0)
		return 0;
	size_t lo = 0, hi = l->n - 1;
	while (lo < hi) {   /* the first rung >= m */
		size_t mid = (lo + hi) / 2;
		if (l->m[mid] < m)
			lo = mid + 1;
		else
			hi = mid;
	}
	double gap;
	bool outward = c != 0 && (u > 0) == (c > 0);
	if (lo == 0)
		gap = l->m[1];
	else if (outward && lo + 1 < l->n)
		gap = (double)l->m[lo + 1] - l->m[lo];
	else
		gap = (double)l->m[lo] - l->m[lo - 1];
	double unit = gap / 2 * fabs((double)s);
	return unit > 0 ? over / unit : INFINITY;
}

struct chunk {
	size_t pair;
	uint64_t r0, r1;
};

struct scratch {
	float *x, *y;
	float *c, *s;                    /* codes and scales of a quantized side */
	size_t cap;
};

struct run {
	const struct cmp_pair *p;
	const struct cmp_opts *o;
	const struct chunk *ch;
	struct cmp_result *res;          /* per chunk */
	struct scratch *ws;              /* per worker */
};

/* The stored bytes of rows [r0, r1) when a and b are plain tensors of one dtype. */
static bool same_bytes(const struct vtensor *a, const struct vtensor *b, uint64_t r0, uint64_t r1)
{
	if (a->stored != b->stored || a->dtype != a->stored || b->dtype != b->stored || dt_bits(a->stored) % 8)
		return false;
	const uint8_t *pa = vtensor_bytes(a), *pb = vtensor_bytes(b);
	if (!pa || !pb)
		return false;
	uint64_t w = a->cols * (dt_bits(a->stored) / 8);
	return memcmp(pa + r0 * w, pb + r0 * w, (size_t)((r1 - r0) * w)) == 0;
}

/* v[0..n) rounded to dtype t in place; the switch outside the loops keeps them simple. */
static void round_to(enum dt t, float *v, size_t n)
{
	switch (t) {
	case DT_BF16:
		/* dt_f32_to_bf16 without its branch, so that the loop vectorises */
		for (size_t k = 0; k < n; k++) {
			uint32_t u = dt_f32_bits(v[k]);
			uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
			uint32_t nan = (u | 0x400000u) & 0xffff0000u;
			v[k] = dt_bits_f32((u & 0x7fffffffu) > 0x7f800000u ? nan : rne);
		}
		break;
	case DT_F16: case DT_F8_E4M3: case DT_F8_E5M2:
		for (size_t k = 0; k < n; k++)
			v[k] = cmp_round(t, v[k]);
		break;
	default:
		break;
	}
}

/* Values of t read as float32, rounded to its own value dtype, then to as: nothing to do
 * for stored values already in as (the common case), one rounding when as is t's dtype. */
static void round_all(const struct vtensor *t, enum dt as, float *v, size_t n)
{
	bool exact_in_own = t->dtype == t->stored;   /* not a dequantized product */
	if (!exact_in_own)
		round_to(t->dtype, v, n);
	if (as != t->dtype)
		round_to(as, v, n);
}

static void run_chunk(void *ctx, size_t i, unsigned worker)
{
	struct run *r = ctx;
	const struct chunk *c = &r->ch[i];
	const struct vtensor *a = r->p[c->pair].a, *b = r->p[c->pair].b;
	struct cmp_result *res = &r->res[i];
	size_t nv = (size_t)((c->r1 - c->r0) * a->cols);
	memset(res, 0, sizeof *res);
	res->identical = true;
	res->values = nv;
	res->first = UINT64_MAX;
	if (same_bytes(a, b, c->r0, c->r1))
		return;
	struct scratch *w = &r->ws[worker];
	bool aq, steps = cmp_by_steps(a, b, &aq);
	res->steps = steps;
	if (w->cap < nv) {
		free(w->x);
		free(w->y);
		free(w->c);
		free(w->s);
		w->x = xmalloc(nv * sizeof *w->x);
		w->y = xmalloc(nv * sizeof *w->y);
		w->c = w->s = NULL;
		w->cap = nv;
	}
	if (view_read_f32(a, c->r0, c->r1 - c->r0, w->x) || view_read_f32(b, c->r0, c->r1 - c->r0, w->y))
		abort(); /* rows and dtypes were checked before */
	/* the same values read the same way: equal before rounding, equal after */
	if (a->dtype == b->dtype && a->stored == b->stored && memcmp(w->x, w->y, nv * sizeof *w->x) == 0)
		return;
	if (steps) {
		/* each value's error in half-steps, from the float value before any rounding,
		 * into w->c (its code is not needed after) */
		const struct vtensor *q = aq ? a : b, *f = aq ? b : a;
		const float *fv = aq ? w->y : w->x;
		if (!w->c) {
			w->c = xmalloc(w->cap * sizeof *w->c);
			w->s = xmalloc(w->cap * sizeof *w->s);
		}
		if (view_read_rows(q, c->r0, c->r1 - c->r0, w->c, (size_t)q->cols, VIEW_CODES) ||
		    view_read_rows(q, c->r0, c->r1 - c->r0, w->s, (size_t)q->cols, VIEW_SCALES))
			abort();
		struct ladder l;
		ladder_of(q, &l);
		for (size_t k = 0; k < nv; k++)
			w->c[k] = (float)steps_err(&l, f->stored, fv[k], w->c[k], w->s[k]);
	}
	enum dt as = cmp_dtype(a->dtype, b->dtype);
	bool exact = r->o->exact;
	double atol = r->o->atol, rtol = r->o->rtol;
	round_all(a, as, w->x, nv);
	round_all(b, as, w->y, nv);
	for (size_t k = 0; k < nv; k++) {
		float x = w->x[k], y = w->y[k];
		bool xn = isnan(x), yn = isnan(y);
		if (xn || yn) {
			if (xn && yn)
				continue;
			res->identical = false;
			res->nan_one++;
			if (!res->mismatches++)
				res->first = c->r0 * a->cols + k, res->first_a = x, res->first_b = y,
				res->first_steps = INFINITY;
			continue;
		}
		if (dt_f32_bits(x) == dt_f32_bits(y))
			continue;
		res->identical = false;
		double d = fabs((double)x - (double)y), m = fmax(fabs((double)x), fabs((double)y));
		double rel = isinf(d) ? INFINITY : m > 0 ? d / m : 0;
		if (d > res->max_abs)
			res->max_abs = d;
		if (rel > res->max_rel)
			res->max_rel = rel;
		double e = steps ? w->c[k] : 0;
		if (e > res->max_steps || isnan(e))
			res->max_steps = isnan(e) ? INFINITY : e;
		/* an infinity against anything else is beyond every tolerance */
		bool bad = exact || isinf(d) || (steps ? !(e <= CMP_STEPS_LIMIT) : !(d <= atol + rtol * m));
		if (bad && !res->mismatches++)
			res->first = c->r0 * a->cols + k, res->first_a = x, res->first_b = y, res->first_steps = e;
	}
}

static void merge(struct cmp_result *t, const struct cmp_result *c)
{
	t->values += c->values;
	t->mismatches += c->mismatches;
	t->nan_one += c->nan_one;
	t->identical = t->identical && c->identical;
	if (c->first < t->first) {
		t->first = c->first;
		t->first_a = c->first_a;
		t->first_b = c->first_b;
		t->first_steps = c->first_steps;
	}
	if (c->max_steps > t->max_steps)
		t->max_steps = c->max_steps;
	if (c->max_abs > t->max_abs || isinf(c->max_abs))
		t->max_abs = c->max_abs;
	if (c->max_rel > t->max_rel || isinf(c->max_rel))
		t->max_rel = c->max_rel;
}

static void flush(struct run *r, size_t nc, struct pool *pool, struct cmp_result *out)
{
	pool_for(pool, nc, run_chunk, r);
	for (size_t k = 0; k < nc; k++)
		merge(&out[r->ch[k].pair], &r->res[k]);
}

void cmp_run(const struct cmp_pair *p, size_t n, const struct cmp_opts *o, struct pool *pool,
	     struct cmp_result *out)
{
	unsigned nw = pool_threads(pool);
	struct chunk *ch = xcalloc(BATCH, sizeof *ch);
	struct run r = {p, o, ch, xcalloc(BATCH, sizeof *r.res), xcalloc(nw, sizeof *r.ws)};
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].as = cmp_dtype(p[i].a->dtype, p[i].b->dtype);
		bool aq;
		out[i].steps = cmp_by_steps(p[i].a, p[i].b, &aq);
		out[i].identical = true;
		out[i].first = UINT64_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t cols = p[i].a->cols, rows = cols ? p[i].a->rows : 0; /* [huge, 0] holds nothing */
		uint64_t step = cols && CHUNK_VALUES / cols ? CHUNK_VALUES / cols : 1;
		for (uint64_t a = 0; a < rows; a += step) {
			ch[nc++] = (struct chunk){i, a, rows - a < step ? rows : a + step};
			if (nc == BATCH) {
				flush(&r, nc, pool, out);
				nc = 0;
			}
		}
	}
	flush(&r, nc, pool, out);
	for (unsigned w = 0; w < nw; w++) {
		free(r.ws[w].x);
		free(r.ws[w].y);
		free(r.ws[w].c);
		free(r.ws[w].s);
	}
	free(r.ws);
	free(r.res);
	free(ch);
}
