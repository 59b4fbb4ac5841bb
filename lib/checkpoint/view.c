#include "view.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dequant.h"
#include "err.h"
#include "simd.h"
#include "names.h"

struct view *view_new(enum view_layout layout, const char *layout_name, const char *path)
{
	struct view *v = xcalloc(1, sizeof *v);
	v->layout = layout;
	v->layout_name = layout_name;
	v->path = xstrdup(path);
	return v;
}

/* Stored tensors are folded to 2-D: all leading dimensions become rows. */
static void fold(unsigned ndim, const uint64_t *shape, uint64_t *rows, uint64_t *cols)
{
	*rows = 1;
	*cols = ndim ? shape[ndim - 1] : 1;
	for (unsigned i = 0; i + 1 < ndim; i++)
		*rows *= shape[i];
}

/* A piece's stored tensor folded to 2-D in elements: codes, for packed 4-bit codes. */
static void piece_fold(const struct vpiece *p, uint64_t *rows, uint64_t *cols)
{
	fold(p->t->ndim, p->t->shape, rows, cols);
	if (p->codes4)
		*cols = quant_packed4_codes(p->t->dtype, *cols);
}

static unsigned piece_bits(const struct vpiece *p) { return p->codes4 ? 4 : dt_bits(p->t->dtype); }

void view_add_file(struct view *v, const char *name, const char *path, const struct st_file *st)
{
	v->files = xgrow(v->files, v->nfiles, sizeof *v->files);
	v->files[v->nfiles++] = (struct vfile){xstrdup(name), xstrdup(path), st};
}

struct vtensor *view_add(struct view *v, const char *name, unsigned ndim, const uint64_t *shape)
{
	v->t = xgrow(v->t, v->n, sizeof *v->t);
	struct vtensor *t = &v->t[v->n++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	/* shapes come from the reader, which refuses more: every dimension is kept */
	if (ndim > ST_MAX_DIMS)
		abort();
	t->ndim = ndim;
	memcpy(t->shape, shape, ndim * sizeof *shape);
	fold(t->ndim, t->shape, &t->rows, &t->cols);
	return t;
}

struct vpiece *vtensor_add_piece(struct vtensor *t)
{
	t->p = xgrow(t->p, t->npieces, sizeof *t->p);
	memset(&t->p[t->npieces], 0, sizeof *t->p);
	return &t->p[t->npieces++];
}

struct vpiece *vtensor_add_replica(struct vtensor *t)
{
	t->replica = xgrow(t->replica, t->nreplicas, sizeof *t->replica);
	memset(&t->replica[t->nreplicas], 0, sizeof *t->replica);
	return &t->replica[t->nreplicas++];
}

struct vtensor *view_add_whole(struct view *v, const char *name, const struct st_file *f,
			       const struct st_tensor *t, const struct st_file *sf,
			       const struct st_tensor *s, uint64_t bm, uint64_t bn)
{
	struct vtensor *vt = view_add(v, name, t->ndim, t->shape);
	struct vpiece *p = vtensor_add_piece(vt);
	*p = (struct vpiece){.f = f, .t = t, .sf = s ? sf : NULL, .s = s, .bm = bm, .bn = bn,
			     .nr = vt->rows, .nc = vt->cols};
	return vt;
}

void view_problem(struct view *v, const char *fmt, ...)
{
	va_list ap;
	char msg[ERR_MAX];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	v->problems = xgrow(v->problems, v->nproblems, sizeof *v->problems);
	v->problems[v->nproblems++] = xstrdup(msg);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct vtensor *)a)->name, ((const struct vtensor *)b)->name);
}

static bool overlaps(const struct vpiece *a, const struct vpiece *b)
{
	return a->dr < b->dr + b->nr && b->dr < a->dr + a->nr && a->dc < b->dc + b->nc && b->dc < a->dc + a->nc;
}

/* The pieces must lie inside their stored tensors and tile the canonical matrix. */
static int check_tensor(struct vtensor *t)
{
	char q[ERR_QUOTE];
	uint64_t area = 0;
	err_quote(t->name, q);
	if (t->npieces == 0)
		return err_set("tensor %s: no stored data", q);
	for (size_t i = 0; i < t->npieces; i++) {
		const struct vpiece *p = &t->p[i];
		if (p->codes4 != t->p[0].codes4)
			return err_set("tensor %s: some pieces are packed 4-bit codes and some are not", q);
		if (p->codes4 && !quant_packed4_dtype(p->t->dtype))
			return err_set("tensor %s: %s cannot hold 4-bit codes", q, dt_name(p->t->dtype));
		uint64_t R, C, need_r = p->transposed ? p->nc : p->nr, need_c = p->transposed ? p->nr : p->nc;
		piece_fold(p, &R, &C);
		if (p->dr + p->nr > t->rows || p->dc + p->nc > t->cols)
			return err_set("tensor %s: a piece from %s lies outside the tensor", q, p->t->name);
		if (p->sr + need_r > R || p->sc + need_c > C)
			return err_set("tensor %s: a piece reads outside stored tensor %s", q, p->t->name);
		for (uint64_t k = 0; p->perm && k < p->nr; k++)
			if (p->sr + p->perm[k] >= R)
				return err_set("tensor %s: a row permutation reads outside %s", q, p->t->name);
		if (p->t->dtype != t->p[0].t->dtype)
			return err_set("tensor %s: pieces are stored as %s and %s", q, dt_name(t->p[0].t->dtype),
				       dt_name(p->t->dtype));
		if ((p->s != NULL) != (t->p[0].s != NULL))
			return err_set("tensor %s: some pieces have block scales and some do not", q);
		area += p->nr * p->nc;
		if (t->npieces <= 256)
			for (size_t k = 0; k < i; k++)
				if (overlaps(p, &t->p[k]))
					return err_set("tensor %s: pieces from %s and %s overlap", q, t->p[k].t->name,
						       p->t->name);
	}
	if (area != t->rows * t->cols)
		return err_set("tensor %s: its pieces cover %" PRIu64 " of %" PRIu64 " values", q, area,
			       t->rows * t->cols);
	t->stored = t->p[0].t->dtype;
	t->dtype = t->p[0].s ? DT_BF16 : t->p[0].codes4 ? DT_F4 : t->stored;
	return 0;
}

/* A piece that is its whole stored tensor, as it is stored. */
static bool whole_piece(const struct vpiece *p)
{
	uint64_t R, C;
	piece_fold(p, &R, &C);
	return !p->transposed && !p->perm && !p->sr && !p->sc && !p->dr && !p->dc && p->nr == R && p->nc == C;
}

static void vtensor_free(struct vtensor *t)
{
	free(t->name);
	free(t->p);
	free(t->replica);
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* The piece of the block-scale grid that weight piece p's scale covers: false when its
 * blocks are not the grid's (a cut inside a block, a transposed or permuted piece). */
static bool scale_piece(const struct vtensor *t, const struct vpiece *p, struct vpiece *out)
{
	uint64_t R, C, bm = p->bm, bn = p->bn;
	piece_fold(p, &R, &C);
	if (!bm || !bn || bm != t->p[0].bm || bn != t->p[0].bn || p->transposed || p->perm)
		return false;
	/* edges on block boundaries, or where both the stored tensor and the tensor end */
	bool rows_ok = p->sr % bm == 0 && p->dr % bm == 0 &&
		       (p->nr % bm == 0 || (p->sr + p->nr == R && p->dr + p->nr == t->rows));
	bool cols_ok = p->sc % bn == 0 && p->dc % bn == 0 &&
		       (p->nc % bn == 0 || (p->sc + p->nc == C && p->dc + p->nc == t->cols));
	if (!rows_ok || !cols_ok || p->s->ndim != 2 || p->s->shape[0] != ceil_div(R, bm) ||
	    p->s->shape[1] != ceil_div(C, bn))
		return false;
	*out = (struct vpiece){.f = p->sf, .t = p->s, .sr = p->sr / bm, .sc = p->sc / bn, .dr = p->dr / bm,
			       .dc = p->dc / bn, .nr = ceil_div(p->nr, bm), .nc = ceil_div(p->nc, bn)};
	return true;
}

/* t's block scale as a tensor (vtensor.scale), or NULL. */
static struct vtensor *scale_tensor(const struct view *v, const struct vtensor *t)
{
	const struct vpiece *p0 = &t->p[0];
	char *name = v->scale_name ? v->scale_name(t->name) : NULL;
	if (!name)
		return NULL;
	struct vtensor *s = xcalloc(1, sizeof *s);
	s->name = name;
	if (t->npieces == 1 && whole_piece(p0)) {
		/* one stored weight: its scale as stored (a per-tensor scale may have any shape) */
		s->ndim = p0->s->ndim;
		memcpy(s->shape, p0->s->shape, s->ndim * sizeof *s->shape);
	} else {
		s->ndim = 2;
		s->shape[0] = ceil_div(t->rows, p0->bm);
		s->shape[1] = ceil_div(t->cols, p0->bn);
	}
	fold(s->ndim, s->shape, &s->rows, &s->cols);
	bool ok = true;
	for (size_t k = 0; k < t->npieces + t->nreplicas && ok; k++) {
		const struct vpiece *p = k < t->npieces ? &t->p[k] : &t->replica[k - t->npieces];
		struct vpiece sp;
		if (!p->s)
			ok = false;
		else if (t->npieces == 1 && whole_piece(p0) && whole_piece(p))
			sp = (struct vpiece){.f = p->sf, .t = p->s, .nr = s->rows, .nc = s->cols};
		else
			ok = scale_piece(t, p, &sp);
		if (!ok)
			break;
		*(k < t->npieces ? vtensor_add_piece(s) : vtensor_add_replica(s)) = sp;
	}
	if (ok && check_tensor(s) == 0)
		return s;
	err_clear();
	vtensor_free(s);
	free(s);
	return NULL;
}

static int by_st(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)(*(const struct vfile *const *)a)->st;
	uintptr_t y = (uintptr_t)(*(const struct vfile *const *)b)->st;
	return (x > y) - (x < y);
}

int view_finish(struct view *v)
{
	if (v->n > 1) /* v->t is NULL when there are none */
		qsort(v->t, v->n, sizeof *v->t, by_name);
	for (size_t i = 0; i < v->n; i++) {
		if (i && strcmp(v->t[i - 1].name, v->t[i].name) == 0) {
			char q[ERR_QUOTE];
			return err_set("%s: tensor %s appears twice", v->path, err_quote(v->t[i].name, q));
		}
		if (check_tensor(&v->t[i]))
			return err_prefix("%s: ", v->path);
	}
	for (size_t i = 0; i < v->n; i++)
		if (v->t[i].p[0].s)
			v->t[i].scale = scale_tensor(v, &v->t[i]);
	v->by_st = xcalloc(v->nfiles + 1, sizeof *v->by_st);
	for (size_t i = 0; i < v->nfiles; i++)
		v->by_st[i] = &v->files[i];
	if (v->nfiles > 1)
		qsort(v->by_st, v->nfiles, sizeof *v->by_st, by_st);
	return 0;
}

void view_free(struct view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		if (v->t[i].scale) {
			vtensor_free(v->t[i].scale);
			free(v->t[i].scale);
		}
		vtensor_free(&v->t[i]);
	}
	for (size_t i = 0; i < v->nproblems; i++)
		free(v->problems[i]);
	for (size_t i = 0; i < v->nfiles; i++) {
		free(v->files[i].name);
		free(v->files[i].path);
	}
	free(v->files);
	free(v->by_st);
	free(v->problems);
	free(v->t);
	if (v->free_owner)
		v->free_owner(v->owner);
	free(v->cfg);
	free(v->config_path);
	free(v->index_path);
	free(v->dir);
	free(v->path);
	free(v);
}

const struct vfile *view_file_of(const struct view *v, const struct st_file *st)
{
	size_t lo = 0, hi = v->by_st ? v->nfiles : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uintptr_t x = (uintptr_t)v->by_st[mid]->st;
		if (x == (uintptr_t)st)
			return v->by_st[mid];
		if (x < (uintptr_t)st)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int by_vname(const void *a, const void *b)
{
	return strcmp((*(const struct vtensor *const *)a)->name, (*(const struct vtensor *const *)b)->name);
}

const struct vtensor **view_stored(const struct view *v, size_t *n)
{
	const struct vtensor **s = xcalloc(2 * v->n + 1, sizeof *s);
	size_t k = 0;
	for (size_t i = 0; i < v->n; i++) {
		s[k++] = &v->t[i];
		if (v->t[i].scale)
			s[k++] = v->t[i].scale;
	}
	/* "w_scale_inv" sorts right after "w" only where no name lies between */
	if (k > 1)
		qsort(s, k, sizeof *s, by_vname);
	*n = k;
	return s;
}

const struct vtensor *view_find(const struct view *v, const char *name)
{
	ptrdiff_t i = NAME_FIND(v->t, v->n, name, name);
	return i < 0 ? NULL : &v->t[i];
}

static float scale_at(const struct vpiece *p, uint64_t r, uint64_t c)
{
	uint64_t R, C, scols;
	piece_fold(p, &R, &C);
	scols = (C + p->bn - 1) / p->bn;
	float s;
	dt_to_f32(p->s->dtype, st_bytes(p->sf, p->s), (r / p->bm) * scols + c / p->bn, 1, &s);
	return s;
}

/* e4m3fn codes times a scale, 16 at a time with integer and float arithmetic (no table):
 * the 7 magnitude bits placed at the top of a float32's exponent and mantissa give the
 * value times 2^-120, exactly, subnormals included; then one float32 multiply by the
 * scale, as lib/tensor/dequant.h does; then optionally the round to BF16 that DeepSeek's
 * dequantization stores. */
static inline uint32_t bf16_round_bits(uint32_t u) { return (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u; }

CKPT_CLONES static void e4m3_run(const uint8_t *w, size_t n, float s, bool rnd, float *out)
{
	size_t j = 0;
	for (; j + 16 <= n; j += 16) {
		v16u c;
		v16u_from_bytes(&c, w + j);
		v16u sign = (c & 0x80) << 24;
		v16f f = (v16f)((c & 0x7f) << 20) * 0x1p120f;
		f = (v16f)((v16u)f | sign) * s;
		v16u u = (v16u)f;
		if (rnd)
			u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
		v16u nan = (v16u)((c & 0x7f) == 0x7f);
		u = (u & ~nan) | (nan & (sign | 0x7fc00000u));
		memcpy(out + j, &u, sizeof u);
	}
	for (; j < n; j++) {
		uint32_t c = w[j], sign = (c & 0x80) << 24, u;
		float f = dt_bits_f32((c & 0x7f) << 20) * 0x1p120f;
		f = dt_bits_f32(dt_f32_bits(f) | sign) * s;
		u = rnd ? bf16_round_bits(dt_f32_bits(f)) : dt_f32_bits(f);
		if ((c & 0x7f) == 0x7f)
			u = sign | 0x7fc00000u;
		out[j] = dt_bits_f32(u);
	}
}

CKPT_CLONES static void bf16_run(const uint8_t *src, size_t n, float *out)
{
	size_t j = 0;
	for (; j + 16 <= n; j += 16) {
		v16u u;
		v16u_from_u16(&u, src + 2 * j);
		u <<= 16;
		memcpy(out + j, &u, sizeof u);
	}
	for (; j < n; j++) {
		uint16_t h;
		memcpy(&h, src + 2 * j, 2);
		out[j] = dt_bf16_to_f32(h);
	}
}

/* n values of stored row r from column c, into out. */
static void read_run(const struct vpiece *p, uint64_t C, uint64_t r, uint64_t c, uint64_t n, float *out,
		     unsigned flags)
{
	const uint8_t *base = st_bytes(p->f, p->t);
	bool rnd = (flags & VIEW_ROUND_BF16) != 0;
	const struct st_tensor *scale = flags & VIEW_CODES ? NULL : p->s;
	if (flags & VIEW_SCALES) {
		for (uint64_t j = 0; j < n;) {
			uint64_t end = p->s ? ((c + j) / p->bn + 1) * p->bn - c : n;
			float s = p->s ? scale_at(p, r, c + j) : 1.0f;
			for (end = end < n ? end : n; j < end; j++)
				out[j] = s;
		}
		return;
	}
	if (p->codes4) {
		for (uint64_t j = 0, e = r * C + c; j < n; j++, e++)
			out[j] = p->codes4[(base[e >> 1] >> ((e & 1) << 2)) & 15u];
	} else if (scale && p->t->dtype == DT_F8_E4M3) {
		for (uint64_t j = 0; j < n;) {
			uint64_t end = ((c + j) / p->bn + 1) * p->bn - c;
			if (end > n)
				end = n;
			e4m3_run(base + r * C + c + j, (size_t)(end - j), scale_at(p, r, c + j), rnd, out + j);
			j = end;
		}
		return;
	} else if (p->t->dtype == DT_BF16 && !p->s) {
		bf16_run(base + 2 * (r * C + c), (size_t)n, out);
		return;
	} else {
		dt_to_f32(p->t->dtype, base, r * C + c, (size_t)n, out);
	}
	if (!scale)
		return;
	/* one float32 multiply per value, block by block: the arithmetic of lib/tensor/dequant.h */
	for (uint64_t j = 0; j < n;) {
		uint64_t end = ((c + j) / p->bn + 1) * p->bn - c;
		if (end > n)
			end = n;
		float s = scale_at(p, r, c + j);
		for (; j < end; j++) {
			out[j] *= s;
			if (rnd)
				out[j] = dt_bf16_to_f32(dt_f32_to_bf16(out[j]));
		}
	}
}

int view_read_rows(const struct vtensor *t, uint64_t r0, uint64_t nr, float *out, size_t ld, unsigned flags)
{
	char q[ERR_QUOTE];
	if (r0 + nr > t->rows || r0 + nr < r0)
		return err_set("tensor %s: rows %" PRIu64 "..%" PRIu64 " are outside its %" PRIu64, err_quote(t->name, q),
			       r0, r0 + nr, t->rows);
	if (!dt_has_value(t->stored))
		return err_set("tensor %s: %s values cannot be read as numbers", err_quote(t->name, q),
			       dt_name(t->stored));
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		uint64_t lo = p->dr > r0 ? p->dr : r0, hi = p->dr + p->nr < r0 + nr ? p->dr + p->nr : r0 + nr;
		uint64_t R, C;
		piece_fold(p, &R, &C);
		(void)R;
		for (uint64_t d = lo; d < hi; d++) {
			uint64_t i = d - p->dr;
			float *o = out + (d - r0) * ld + p->dc;
			if (!p->transposed) {
				read_run(p, C, p->sr + (p->perm ? p->perm[i] : i), p->sc, p->nc, o, flags);
				continue;
			}
			/* canonical row i is stored column sc + i */
			for (uint64_t j = 0; j < p->nc; j++)
				read_run(p, C, p->sr + j, p->sc + i, 1, o + j, flags);
		}
	}
	return 0;
}

int view_read_f32(const struct vtensor *t, uint64_t r0, uint64_t nr, float *out)
{
	return view_read_rows(t, r0, nr, out, (size_t)t->cols, 0);
}

/* ---- rows as BF16 ---- */

/* Sign-magnitude FP8 codes (e4m3fn, e5m2): the code with the sign bit set is the exact
 * negative, and so is its scaled and rounded value (round to nearest even is symmetric).
 * So one table of 128 BF16 values per block, bf16(float32(code) * scale), and the sign bit
 * flipped in, gives DeepSeek's dequantization bit for bit. */
static bool sign_magnitude_fp8(enum dt t) { return t == DT_F8_E4M3 || t == DT_F8_E5M2; }

static void fp8_tab_scalar(const uint8_t *w, size_t n, const uint16_t *tab, uint16_t *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = (uint16_t)(tab[w[j] & 0x7f] ^ ((w[j] & 0x80) << 8));
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>

/* 32 codes at a time: two-table word permutes look the 128 entries up (an index picks
 * among 64 words, so bit 6 of the code picks the pair of tables), the sign bit goes on
 * after.  Intrinsics, not GCC's __builtin_shuffle: clang builds this too. */
__attribute__((target("avx512f,avx512bw"))) static void fp8_tab_avx512(const uint8_t *w, size_t n,
									const uint16_t *tab, uint16_t *out)
{
	const __m512i t0 = _mm512_loadu_si512(tab), t1 = _mm512_loadu_si512(tab + 32);
	const __m512i t2 = _mm512_loadu_si512(tab + 64), t3 = _mm512_loadu_si512(tab + 96);
	const __m512i bit6 = _mm512_set1_epi16(0x40), sign = _mm512_set1_epi16(0x80);
	size_t j = 0;
	for (; j + 32 <= n; j += 32) {
		/* the codes come from memory once: ask for them well ahead */
		__builtin_prefetch(w + j + 2048);
		__m512i c = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(w + j)));
		__m512i lo = _mm512_permutex2var_epi16(t0, c, t1), hi = _mm512_permutex2var_epi16(t2, c, t3);
		__m512i r = _mm512_mask_blend_epi16(_mm512_test_epi16_mask(c, bit6), lo, hi);
		r = _mm512_xor_si512(r, _mm512_slli_epi16(_mm512_and_si512(c, sign), 8));
		_mm512_storeu_si512(out + j, r);
	}
	fp8_tab_scalar(w + j, n - j, tab, out + j);
}

static void fp8_tab_run(const uint8_t *w, size_t n, const uint16_t *tab, uint16_t *out)
{
	if (__builtin_cpu_supports("avx512bw"))
		fp8_tab_avx512(w, n, tab, out);
	else
		fp8_tab_scalar(w, n, tab, out);
}
#else
#define fp8_tab_run fp8_tab_scalar
#endif

bool vtensor_bf16_readable(const struct vtensor *t)
{
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		if (p->transposed)
			return false;
		if (!(p->t->dtype == DT_BF16 && !p->s) && !(p->s && sign_magnitude_fp8(p->t->dtype)))
			return false;
	}
	return t->npieces > 0;
}

/* tab[m] = bf16(mag[m] * s) for the 128 magnitudes, rounded as dt_f32_to_bf16 does. */
CKPT_CLONES static void bf16_table(const float *mag, float s, uint16_t *tab)
{
	for (int i = 0; i < 128; i += 16) {
		v16f m;
		v16f_load(&m, mag + i);
		v16u u = (v16u)(m * s);
		v16u nan = (v16u)((u & 0x7fffffffu) > 0x7f800000u);
		v16u r = ((u | 0x400000u) & nan) | ((u + 0x7fffu + ((u >> 16) & 1)) & ~nan);
		v16s h = __builtin_convertvector(r >> 16, v16s);
		memcpy(tab + i, &h, sizeof h);
	}
}

/* The tables of block row br for column blocks cb0 .. cb0 + nb - 1 of a piece. */
static void fp8_tables(const struct vpiece *p, const float *mag, uint64_t br, uint64_t cb0, uint64_t nb,
		       uint16_t *tab)
{
	for (uint64_t b = 0; b < nb; b++)
		bf16_table(mag, scale_at(p, br * p->bm, (cb0 + b) * p->bn), tab + b * 128);
}

int view_read_rows_bf16(const struct vtensor *t, uint64_t r0, uint64_t nr, uint16_t *out, size_t ld)
{
	char q[ERR_QUOTE];
	if (r0 + nr > t->rows || r0 + nr < r0)
		return err_set("tensor %s: rows %" PRIu64 "..%" PRIu64 " are outside its %" PRIu64, err_quote(t->name, q),
			       r0, r0 + nr, t->rows);
	if (!vtensor_bf16_readable(t))
		return err_set("tensor %s: its values are not BF16", err_quote(t->name, q));
	uint16_t *tab = NULL;
	size_t tab_cap = 0;
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		uint64_t lo = p->dr > r0 ? p->dr : r0, hi = p->dr + p->nr < r0 + nr ? p->dr + p->nr : r0 + nr;
		uint64_t R, C, cb0 = 0, nb = 0, cur = UINT64_MAX;
		piece_fold(p, &R, &C);
		(void)R;
		const uint8_t *base = st_bytes(p->f, p->t);
		float mag[128];
		if (p->s && lo < hi) {
			uint8_t codes[128];
			for (unsigned m = 0; m < 128; m++)
				codes[m] = (uint8_t)m;
			dt_to_f32(p->t->dtype, codes, 0, 128, mag);
			cb0 = p->sc / p->bn;
			nb = (p->sc + p->nc - 1) / p->bn - cb0 + 1;
			if (tab_cap < nb * 128) {
				free(tab);
				tab_cap = nb * 128;
				tab = xmalloc(tab_cap * sizeof *tab);
			}
		}
		for (uint64_t d = lo; d < hi; d++) {
			uint64_t i = d - p->dr, r = p->sr + (p->perm ? p->perm[i] : i);
			uint16_t *o = out + (d - r0) * ld + p->dc;
			if (!p->s) {
				memcpy(o, base + 2 * (r * C + p->sc), p->nc * 2);
				continue;
			}
			if (r / p->bm != cur) {
				cur = r / p->bm;
				fp8_tables(p, mag, cur, cb0, nb, tab);
			}
			const uint8_t *w = base + r * C;
			for (uint64_t j = p->sc; j < p->sc + p->nc;) {
				uint64_t end = (j / p->bn + 1) * p->bn;
				if (end > p->sc + p->nc)
					end = p->sc + p->nc;
				fp8_tab_run(w + j, (size_t)(end - j), tab + (j / p->bn - cb0) * 128, o + (j - p->sc));
				j = end;
			}
		}
	}
	free(tab);
	return 0;
}

const uint16_t *vtensor_bf16_direct(const struct vtensor *t, uint64_t r0)
{
	if (t->npieces != 1)
		return NULL;
	const struct vpiece *p = &t->p[0];
	uint64_t R, C;
	piece_fold(p, &R, &C);
	if (p->t->dtype != DT_BF16 || p->s || p->transposed || p->perm || p->sc || p->nc != C || p->dr || p->dc ||
	    r0 >= t->rows)
		return NULL;
	return (const uint16_t *)(const void *)st_bytes(p->f, p->t) + (p->sr + r0) * C;
}

/* Drop the resident pages of bytes [from, to) of a read-only mapping; pages shared with
 * neighbouring tensors go too (they are read back from the file when touched). */
static void drop_range(const uint8_t *from, const uint8_t *to)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)from & ~(page - 1), b = ((uintptr_t)to + page - 1) & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

void vtensor_release(const struct vtensor *t)
{
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		uint64_t R, C, bits = piece_bits(p);
		piece_fold(p, &R, &C);
		/* only pages of a file's mapping are read back when touched; bytes held in
		 * memory (a view built over buffers) would be lost */
		if (!p->f || !p->f->map)
			continue;
		const uint8_t *base = st_bytes(p->f, p->t);
		if (!p->transposed && !p->perm && p->nr)
			drop_range(base + (p->sr * C + p->sc) * bits / 8,
				   base + (((p->sr + p->nr - 1) * C + p->sc + p->nc) * bits + 7) / 8);
		else
			drop_range(base, base + st_nbytes(p->t));
		if (p->s && p->sf && p->sf->map)
			drop_range(st_bytes(p->sf, p->s), st_bytes(p->sf, p->s) + st_nbytes(p->s));
	}
}

/* Columns [j0, j1) of piece row i as stored bytes (es bytes an element). */
static void piece_row_bytes(const struct vpiece *p, uint64_t C, uint64_t es, uint64_t i, uint64_t j0, uint64_t j1,
			    uint8_t *out)
{
	const uint8_t *base = st_bytes(p->f, p->t);
	if (!p->transposed) {
		uint64_t r = p->sr + (p->perm ? p->perm[i] : i);
		memcpy(out, base + (r * C + p->sc + j0) * es, (j1 - j0) * es);
		return;
	}
	/* canonical (i, j) is stored (sr + j, sc + i) */
	for (uint64_t j = j0; j < j1; j++)
		memcpy(out + (j - j0) * es, base + ((p->sr + j) * C + p->sc + i) * es, es);
}

int vpiece_read_bytes(const struct vpiece *p, uint64_t i0, uint64_t n, uint8_t *out)
{
	char q[ERR_QUOTE];
	unsigned bits = piece_bits(p);
	if (bits % 8)
		return err_set("tensor %s: elements smaller than a byte", err_quote(p->t->name, q));
	if (i0 + n > p->nr)
		return err_set("tensor %s: rows outside the piece", err_quote(p->t->name, q));
	uint64_t R, C, es = bits / 8;
	piece_fold(p, &R, &C);
	(void)R;
	for (uint64_t i = i0; i < i0 + n; i++, out += p->nc * es)
		piece_row_bytes(p, C, es, i, 0, p->nc, out);
	return 0;
}

int view_read_elems(const struct vtensor *t, uint64_t e0, uint64_t n, uint8_t *out)
{
	char q[ERR_QUOTE];
	uint64_t total = t->rows * t->cols, es = dt_bits(t->stored) / 8;
	if (e0 > total || n > total - e0)
		return err_set("tensor %s: elements %" PRIu64 "..%" PRIu64 " are outside its %" PRIu64,
			       err_quote(t->name, q), e0, e0 + n, total);
	if (!vtensor_byte_elems(t))
		return err_set("tensor %s: elements smaller than a byte", err_quote(t->name, q));
	if (!n)
		return 0;
	uint64_t r0 = e0 / t->cols, r1 = (e0 + n - 1) / t->cols, end = e0 + n;
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		uint64_t lo = p->dr > r0 ? p->dr : r0, hi = p->dr + p->nr < r1 + 1 ? p->dr + p->nr : r1 + 1;
		uint64_t R, C;
		piece_fold(p, &R, &C);
		(void)R;
		for (uint64_t d = lo; d < hi; d++) {
			/* this row's columns within [e0, end), then within the piece */
			uint64_t c0 = d == r0 ? e0 % t->cols : 0, c1 = d == r1 ? end - d * t->cols : t->cols;
			uint64_t j0 = c0 > p->dc ? c0 : p->dc, j1 = c1 < p->dc + p->nc ? c1 : p->dc + p->nc;
			if (j0 < j1)
				piece_row_bytes(p, C, es, d - p->dr, j0 - p->dc, j1 - p->dc,
						out + (d * t->cols + j0 - e0) * es);
		}
	}
	return 0;
}

bool vtensor_byte_elems(const struct vtensor *t)
{
	return dt_bits(t->stored) % 8 == 0 && !(t->npieces && t->p[0].codes4);
}

const uint8_t *vtensor_bytes(const struct vtensor *t)
{
	if (t->npieces != 1)
		return NULL;
	const struct vpiece *p = &t->p[0];
	uint64_t R, C;
	piece_fold(p, &R, &C);
	if (p->s || p->codes4 || p->transposed || p->perm || p->sr || p->sc || p->nr != R || p->nc != C)
		return NULL;
	return st_bytes(p->f, p->t);
}

uint64_t vpiece_nbytes(const struct vpiece *p)
{
	uint64_t R, C;
	piece_fold(p, &R, &C);
	return p->nr * p->nc == R * C ? st_nbytes(p->t) : (p->nr * p->nc * piece_bits(p) + 7) / 8;
}
