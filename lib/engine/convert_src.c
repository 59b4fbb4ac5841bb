#include "convert_src.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- gather ---- */

void cv_gather_add(struct cv_gather *g, const uint8_t *p, uint64_t len)
{
	if (len == 0)
		return;
	if (g->n && g->run[g->n - 1].p + g->run[g->n - 1].len == p) {
		g->run[g->n - 1].len += len;
		g->len += len;
		return;
	}
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		g->run = xreallocarray(g->run, g->cap, sizeof *g->run);
	}
	g->run[g->n++] = (struct cv_span){p, len, g->len};
	g->len += len;
}

void cv_gather_free(struct cv_gather *g)
{
	free(g->run);
	memset(g, 0, sizeof *g);
}

/* The run holding output byte off. */
static size_t run_at(const struct cv_gather *g, uint64_t off)
{
	size_t lo = 0, hi = g->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (g->run[mid].at <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int gather_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)scratch;
	const struct cv_gather *g = arg;
	for (size_t k = run_at(g, off); n && k < g->n; k++) {
		const struct cv_span *r = &g->run[k];
		uint64_t skip = off - r->at, take = r->len - skip < n ? r->len - skip : n;
		memcpy(dst, r->p + skip, take);
		dst += take;
		off += take;
		n -= take;
	}
	return 0;
}

/* Every run is read by the chunks that cover it, in order: the part a chunk covers is
 * both what it reads and what nobody reads after it. */
static void gather_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			  void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	(void)what;
	const struct cv_gather *g = arg;
	if (g->n == 0)
		return;
	for (size_t k = run_at(g, off); n && k < g->n; k++) {
		const struct cv_span *r = &g->run[k];
		uint64_t skip = off - r->at, take = r->len - skip < n ? r->len - skip : n;
		each(ctx, r->p + skip, take);
		off += take;
		n -= take;
	}
}

void cv_tensor_gather(struct cv_tensor *t, const struct cv_gather *g)
{
	t->copy = NULL;
	t->fill = (struct cv_fill){gather_fill, g, 0, 0};
	t->inputs = gather_inputs;
	t->inputs_arg = g;
}

/* ---- transpose ---- */

#define TILE 32

/* Output rows [j0, j1) from input rows [i0, i1) of matrix m; element by element with
 * memcpy when the addresses are not aligned to the element size. */
static void tile_copy(const struct cv_transpose *x, bool aligned, const uint8_t *m, uint64_t j0, uint64_t j1,
		      uint64_t i0, uint64_t i1, uint8_t *out, uint64_t out_j0)
{
	/* out row j holds input column j: out[(j - out_j0) * rows + i] = m[i * cols + j] */
	const uint64_t R = x->rows, C = x->cols;
	switch (aligned ? x->esize : 0) {
	case 1:
		for (uint64_t j = j0; j < j1; j++)
			for (uint64_t i = i0; i < i1; i++)
				out[(j - out_j0) * R + i] = m[i * C + j];
		break;
	case 2: {
		const uint16_t *s = (const uint16_t *)(const void *)m;
		uint16_t *d = (uint16_t *)(void *)out;
		for (uint64_t j = j0; j < j1; j++)
			for (uint64_t i = i0; i < i1; i++)
				d[(j - out_j0) * R + i] = s[i * C + j];
		break;
	}
	case 4: {
		const uint32_t *s = (const uint32_t *)(const void *)m;
		uint32_t *d = (uint32_t *)(void *)out;
		for (uint64_t j = j0; j < j1; j++)
			for (uint64_t i = i0; i < i1; i++)
				d[(j - out_j0) * R + i] = s[i * C + j];
		break;
	}
	default:
		for (uint64_t j = j0; j < j1; j++)
			for (uint64_t i = i0; i < i1; i++)
				memcpy(out + ((j - out_j0) * R + i) * x->esize, m + (i * C + j) * x->esize, x->esize);
	}
}

/* Output rows are whole (the fill's unit is one output row). */
static int transpose_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)scratch;
	const struct cv_transpose *x = arg;
	uint64_t row_bytes = x->rows * x->esize, mat = x->rows * x->cols * x->esize;
	uint64_t r = off / row_bytes, end = r + n / row_bytes;
	bool aligned = ((uintptr_t)x->src | (uintptr_t)dst) % x->esize == 0;
	while (r < end) {
		uint64_t b = r / x->cols, j0 = r % x->cols, j1 = x->cols - j0 < end - r ? x->cols : j0 + (end - r);
		const uint8_t *m = x->src + b * mat;
		for (uint64_t jt = j0; jt < j1; jt += TILE)
			for (uint64_t it = 0; it < x->rows; it += TILE)
				tile_copy(x, aligned, m, jt, jt + TILE < j1 ? jt + TILE : j1, it,
					  it + TILE < x->rows ? it + TILE : x->rows, dst, j0);
		dst += (j1 - j0) * row_bytes;
		r += j1 - j0;
	}
	return 0;
}

/* A chunk reads every input matrix it writes part of; the matrices it finishes are done. */
static void transpose_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			     void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	const struct cv_transpose *x = arg;
	uint64_t row_bytes = x->rows * x->esize, mat = x->rows * x->cols * x->esize;
	if (row_bytes == 0 || x->cols == 0)
		return;
	uint64_t r0 = off / row_bytes, r1 = (off + n + row_bytes - 1) / row_bytes;
	uint64_t b0 = r0 / x->cols, b1;
	if (what == CV_IN_READ)
		b1 = (r1 + x->cols - 1) / x->cols;
	else
		b1 = r1 / x->cols; /* the matrices whose last row is in the chunk */
	if (b1 > b0)
		each(ctx, x->src + b0 * mat, (b1 - b0) * mat);
}

void cv_tensor_transpose(struct cv_tensor *t, const struct cv_transpose *x)
{
	t->copy = NULL;
	t->fill = (struct cv_fill){transpose_fill, x, x->rows * x->esize, 0};
	t->inputs = transpose_inputs;
	t->inputs_arg = x;
}

/* ---- rows of a view ---- */

void cv_rows_init(struct cv_rows *r, uint64_t cols, enum dt out)
{
	memset(r, 0, sizeof *r);
	r->cols = cols;
	r->out = out;
}

void cv_rows_add(struct cv_rows *r, const struct vtensor *t, uint64_t r0, uint64_t nr, const uint32_t *perm)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->seg = xreallocarray(r->seg, r->cap, sizeof *r->seg);
	}
	r->seg[r->n++] = (struct cv_rowseg){t, r0, nr, perm, r->rows};
	r->rows += nr;
}

void cv_rows_free(struct cv_rows *r)
{
	free(r->seg);
	memset(r, 0, sizeof *r);
}

static size_t seg_at(const struct cv_rows *r, uint64_t row)
{
	size_t lo = 0, hi = r->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (r->seg[mid].at <= row)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int rows_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct cv_rows *r = arg;
	unsigned es = dt_bits(r->out) / 8;
	uint64_t row_bytes = r->cols * es, row = off / row_bytes, end = row + n / row_bytes;
	float *v = scratch;
	for (size_t k = seg_at(r, row); row < end && k < r->n; k++) {
		const struct cv_rowseg *s = &r->seg[k];
		for (; row < end && row < s->at + s->nr; row++) {
			uint64_t i = row - s->at;
			if (view_read_f32(s->t, s->r0 + (s->perm ? s->perm[i] : i), 1, v))
				return -1;
			bool round = s->t->dtype == DT_BF16;
			for (uint64_t c = 0; c < r->cols; c++) {
				float f = round ? dt_bf16_to_f32(dt_f32_to_bf16(v[c])) : v[c];
				if (r->out == DT_F32) {
					memcpy(dst, &f, 4);
				} else {
					uint16_t h = r->out == DT_BF16 ? dt_f32_to_bf16(f) : dt_f32_to_f16(f);
					memcpy(dst, &h, 2);
				}
				dst += es;
			}
		}
	}
	return 0;
}

/* The stored rows behind canonical rows [a, b) of t that are read whole and untransposed;
 * each is read by one output row only. */
static void piece_inputs(const struct vtensor *t, uint64_t a, uint64_t b,
			 void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		uint64_t lo = p->dr > a ? p->dr : a, hi = p->dr + p->nr < b ? p->dr + p->nr : b;
		if (lo >= hi || p->transposed || p->t->ndim == 0)
			continue;
		uint64_t C = p->t->shape[p->t->ndim - 1], first = UINT64_MAX, last = 0;
		for (uint64_t d = lo; d < hi; d++) {
			uint64_t s = p->sr + (p->perm ? p->perm[d - p->dr] : d - p->dr);
			first = s < first ? s : first;
			last = s > last ? s : last;
		}
		uint64_t rb = st_nbytes(p->t) / (p->t->nelem / C ? p->t->nelem / C : 1);
		each(ctx, st_bytes(p->f, p->t) + first * rb, (last + 1 - first) * rb);
	}
}

static void rows_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	(void)what;
	const struct cv_rows *r = arg;
	uint64_t row_bytes = r->cols * (dt_bits(r->out) / 8);
	if (r->n == 0 || row_bytes == 0)
		return;
	uint64_t row = off / row_bytes, end = (off + n) / row_bytes;
	for (size_t k = seg_at(r, row); row < end && k < r->n; k++) {
		const struct cv_rowseg *s = &r->seg[k];
		uint64_t stop = s->at + s->nr < end ? s->at + s->nr : end;
		if (row >= stop)
			continue;
		if (s->perm) {
			uint64_t lo = UINT64_MAX, hi = 0;
			for (uint64_t i = row - s->at; i < stop - s->at; i++) {
				lo = s->perm[i] < lo ? s->perm[i] : lo;
				hi = s->perm[i] > hi ? s->perm[i] : hi;
			}
			piece_inputs(s->t, s->r0 + lo, s->r0 + hi + 1, each, ctx);
		} else {
			piece_inputs(s->t, s->r0 + row - s->at, s->r0 + stop - s->at, each, ctx);
		}
		row = stop;
	}
}

void cv_tensor_rows(struct cv_tensor *t, const struct cv_rows *r)
{
	t->copy = NULL;
	t->fill = (struct cv_fill){rows_fill, r, r->cols * (dt_bits(r->out) / 8), r->cols * sizeof(float)};
	t->inputs = rows_inputs;
	t->inputs_arg = r;
}
