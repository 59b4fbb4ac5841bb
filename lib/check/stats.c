#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "family.h"

/* Elements per chunk of a plain tensor; per block of the two-pass summary. */
#define CHUNK_ELEMS (1u << 16)
#define BLOCK 1024
/* Dequantized chunks are whole rows, about this many values. */
#define QCHUNK_ELEMS (1u << 18)
/* Chunks summarised per parallel pass: bounds the per-chunk results held at once. */
#define BATCH 4096

void stats_acc_init(struct stats_acc *a)
{
	memset(a, 0, sizeof *a);
	a->min = INFINITY;
	a->max = -INFINITY;
}

/* A block's moments in two passes (its mean, then squared deviations from it), which keeps
 * the variance accurate where the textbook sum-of-squares formula cancels.  The sums run
 * in LANES independent accumulators, added up in a fixed order: the same result every
 * time, without one long chain of dependent additions. */
#define LANES 8

/* Any value not finite: counted one by one. */
static void add_slow(struct stats_acc *b, const double *x, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (isnan(v)) {
			b->nan++;
			continue;
		}
		if (isinf(v)) {
			b->inf++;
			continue;
		}
		b->n++;
		sum += v;
		if (v < b->min)
			b->min = v;
		if (v > b->max)
			b->max = v;
	}
	if (!b->n)
		return;
	b->mean = sum / (double)b->n;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i])) {
			double d = x[i] - b->mean;
			b->m2 += d * d;
		}
}

/* LANES running values of one kind, kept in registers. */
#define L8(x) double x##0, x##1, x##2, x##3, x##4, x##5, x##6, x##7
#define SET8(x, v) (x##0 = x##1 = x##2 = x##3 = x##4 = x##5 = x##6 = x##7 = (v))
#define SUM8(x) (((x##0 + x##1) + (x##2 + x##3)) + ((x##4 + x##5) + (x##6 + x##7)))
#define MIN(a, b) ((b) < (a) ? (b) : (a))
#define MAX(a, b) ((b) > (a) ? (b) : (a))

void stats_acc_add(struct stats_acc *a, const double *x, size_t n)
{
	struct stats_acc b;
	L8(s);
	L8(lo);
	L8(hi);
	stats_acc_init(&b);
	SET8(s, 0.0);
	SET8(lo, INFINITY);
	SET8(hi, -INFINITY);
	size_t i = 0, m = n - n % LANES;
	for (; i < m; i += LANES) {
#define STEP(k) s##k += x[i + k]; lo##k = MIN(lo##k, x[i + k]); hi##k = MAX(hi##k, x[i + k]);
		STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
#undef STEP
	}
	for (; i < n; i++) {
		s0 += x[i];
		lo0 = MIN(lo0, x[i]);
		hi0 = MAX(hi0, x[i]);
	}
	double sum = SUM8(s);
	if (!isfinite(sum)) {
		/* a NaN or an infinity is in the block (or the sum overflowed) */
		add_slow(&b, x, n);
	} else if (n) {
		b.n = n;
		b.mean = sum / (double)n;
		b.min = MIN(MIN(MIN(lo0, lo1), MIN(lo2, lo3)), MIN(MIN(lo4, lo5), MIN(lo6, lo7)));
		b.max = MAX(MAX(MAX(hi0, hi1), MAX(hi2, hi3)), MAX(MAX(hi4, hi5), MAX(hi6, hi7)));
		double mean = b.mean;
		SET8(s, 0.0);
		for (i = 0; i < m; i += LANES) {
#define STEP(k) s##k += (x[i + k] - mean) * (x[i + k] - mean);
			STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
#undef STEP
		}
		for (; i < n; i++)
			s0 += (x[i] - mean) * (x[i] - mean);
		b.m2 = SUM8(s);
	}
	if (b.n)
		b.absmax = fmax(fabs(b.min), fabs(b.max));
	stats_acc_merge(a, &b);
}

void stats_acc_merge(struct stats_acc *a, const struct stats_acc *b)
{
	a->nan += b->nan;
	a->inf += b->inf;
	if (!b->n)
		return;
	if (!a->n) {
		a->n = b->n;
		a->mean = b->mean;
		a->m2 = b->m2;
		a->min = b->min;
		a->max = b->max;
		a->absmax = b->absmax;
		return;
	}
	double na = (double)a->n, nb = (double)b->n, n = na + nb;
	double d = b->mean - a->mean;
	a->mean += d * (nb / n);
	a->m2 += b->m2 + d * d * (na * nb / n);
	a->n += b->n;
	a->min = fmin(a->min, b->min);
	a->max = fmax(a->max, b->max);
	a->absmax = fmax(a->absmax, b->absmax);
}

void stats_finish(const struct stats_acc *a, struct tstats *out)
{
	out->valid = true;
	out->count = a->n + a->nan + a->inf;
	out->nan = a->nan;
	out->inf = a->inf;
	if (!a->n) {
		out->min = out->max = out->mean = out->std = out->absmax = NAN;
		return;
	}
	out->min = a->min;
	out->max = a->max;
	out->mean = a->mean;
	out->std = sqrt(a->m2 / (double)a->n);
	out->absmax = a->absmax;
}

/* ---- chunks over a pool ---- */

struct chunk {
	size_t src;
	uint64_t a, b;           /* elements, or rows of a tensor read as rows */
	bool last;               /* the tensor's last: its pages go once the batch is done */
};

struct scratch {
	float *f;                /* rows read as float32 */
	size_t fcap;
	uint8_t *e;              /* elements' stored bytes */
	size_t ecap;
};

struct run {
	const struct vtensor *const *v;
	bool raw;
	struct chunk *ch;
	struct stats_acc *res;
	struct scratch *ws;      /* per worker */
};

static uint64_t rows_per_chunk(uint64_t cols)
{
	uint64_t r = cols ? QCHUNK_ELEMS / cols : 1;
	return r ? r : 1;
}

/* Whether tensor i is summarised from its stored elements (the stored values: unscaled,
 * or raw), in chunks of elements; otherwise as float32 rows (view_read_f32): dequantized
 * values, and packed dtypes stored in parts. */
static bool by_elements(const struct run *r, size_t i)
{
	const struct vtensor *t = r->v[i];
	if (t->p[0].s && !r->raw)
		return false;
	return vtensor_byte_elems(t) || vtensor_bytes(t);
}

static void grow(void **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	free(*p);
	*p = xmalloc(need);
	*cap = need;
}

static void run_chunk(void *ctx, size_t i, unsigned worker)
{
	struct run *r = ctx;
	const struct chunk *c = &r->ch[i];
	const struct vtensor *v = r->v[c->src];
	struct scratch *w = &r->ws[worker];
	struct stats_acc *acc = &r->res[i];
	double x[BLOCK];
	stats_acc_init(acc);
	if (!by_elements(r, c->src)) {
		size_t nv = (size_t)((c->b - c->a) * v->cols);
		grow((void **)&w->f, &w->fcap, (nv ? nv : 1) * sizeof *w->f);
		if (view_read_f32(v, c->a, c->b - c->a, w->f))
			abort(); /* rows and dtype were checked when the chunks were made */
		for (size_t k = 0; k < nv; k += BLOCK) {
			size_t m = nv - k < BLOCK ? nv - k : BLOCK;
			for (size_t j = 0; j < m; j++)
				x[j] = w->f[k + j];
			stats_acc_add(acc, x, m);
		}
		return;
	}
	/* a whole stored tensor is read where it lies; one in parts is put together first */
	const uint8_t *data = vtensor_bytes(v);
	uint64_t first = 0;
	if (!data) {
		size_t es = dt_bits(v->stored) / 8;
		grow((void **)&w->e, &w->ecap, (size_t)(c->b - c->a) * es + 1);
		if (view_read_elems(v, c->a, c->b - c->a, w->e))
			abort();
		data = w->e;
		first = c->a;
	}
	for (uint64_t k = c->a; k < c->b; k += BLOCK) {
		size_t m = c->b - k < BLOCK ? (size_t)(c->b - k) : BLOCK;
		dt_to_f64(v->stored, data, k - first, m, x);
		stats_acc_add(acc, x, m);
	}
}

static void flush(struct run *r, size_t n, struct pool *p, struct stats_acc *acc)
{
	pool_for(p, n, run_chunk, r);
	for (size_t i = 0; i < n; i++) {
		stats_acc_merge(&acc[r->ch[i].src], &r->res[i]);
		/* else every page read stays resident: a scan of 17 GB held 16 GB */
		if (r->ch[i].last)
			vtensor_release(r->v[r->ch[i].src]);
	}
}

void stats_views(const struct vtensor *const *v, size_t n, bool raw, struct pool *p, struct tstats *out)
{
	unsigned nw = pool_threads(p);
	struct run r = {
		.v = v,
		.raw = raw,
		.ch = xcalloc(BATCH, sizeof *r.ch),
		.res = xcalloc(BATCH, sizeof *r.res),
		.ws = xcalloc(nw, sizeof *r.ws),
	};
	struct stats_acc *acc = xcalloc(n ? n : 1, sizeof *acc);
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		stats_acc_init(&acc[i]);
		if (!dt_has_value(v[i]->stored))
			continue;
		uint64_t total, step;
		if (by_elements(&r, i)) {
			total = v[i]->rows * v[i]->cols;
			step = CHUNK_ELEMS;
		} else {
			/* [huge, 0]: no values, however many rows */
			total = v[i]->cols ? v[i]->rows : 0;
			step = rows_per_chunk(v[i]->cols);
		}
		for (uint64_t a = 0; a < total; a += step) {
			bool last = total - a <= step;
			r.ch[nc++] = (struct chunk){i, a, last ? total : a + step, last};
			if (nc == BATCH) {
				flush(&r, nc, p, acc);
				nc = 0;
			}
		}
	}
	flush(&r, nc, p, acc);
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof out[i]);
		if (!dt_has_value(v[i]->stored)) {
			out[i].count = v[i]->rows * v[i]->cols;
			out[i].min = out[i].max = out[i].mean = out[i].std = out[i].absmax = NAN;
			continue;
		}
		stats_finish(&acc[i], &out[i]);
		out[i].dequantized = v[i]->p[0].s && !raw;
	}
	for (unsigned w = 0; w < nw; w++) {
		free(r.ws[w].f);
		free(r.ws[w].e);
	}
	free(r.ws);
	free(r.res);
	free(r.ch);
	free(acc);
}

/* ---- block scales that should be powers of two ---- */

static bool pow2(float x)
{
	int e;
	return x > 0 && isfinite(x) && frexpf(x, &e) == 0.5f;
}

int stats_pow2(const struct vtensor *t, struct pow2_count *out)
{
	memset(out, 0, sizeof *out);
	uint64_t step = t->cols ? rows_per_chunk(t->cols) : 1;
	float *f = xmalloc((size_t)((t->rows < step ? t->rows : step) * t->cols + 1) * sizeof *f);
	for (uint64_t r = 0; t->cols && r < t->rows; r += step) {
		uint64_t nr = t->rows - r < step ? t->rows - r : step;
		if (view_read_f32(t, r, nr, f)) {
			free(f);
			return -1;
		}
		for (uint64_t k = 0; k < nr * t->cols; k++)
			if (!pow2(f[k]) && !out->not_pow2++) {
				out->first = r * t->cols + k;
				out->first_value = f[k];
			}
	}
	free(f);
	out->values = t->rows * t->cols;
	out->checked = true;
	return 0;
}

static int by_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const struct vtensor *const *)a, y = (uintptr_t) * (const struct vtensor *const *)b;
	return x < y ? -1 : x > y;
}

struct pow2_count *stats_pow2_scales(const struct view *v, const struct vtensor *const *ts, size_t n)
{
	if (!family_pow2_scales(v->cfg))
		return NULL;
	/* v's scales, by address: is ts[i] one of them */
	const struct vtensor **sc = xcalloc(v->n + 1, sizeof *sc);
	size_t ns = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->t[i].scale)
			sc[ns++] = v->t[i].scale;
	qsort(sc, ns, sizeof *sc, by_ptr);
	struct pow2_count *c = xcalloc(n ? n : 1, sizeof *c);
	for (size_t i = 0; i < n; i++)
		if (bsearch(&ts[i], sc, ns, sizeof *sc, by_ptr) && dt_has_value(ts[i]->stored) && stats_pow2(ts[i], &c[i]))
			err_clear();
	free(sc);
	return c;
}
