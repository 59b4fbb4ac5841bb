#include "tensortab.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "table.h"

const char *stat_text(double v, char out[32])
{
	if (isnan(v))
		snprintf(out, 32, "-");
	else
		snprintf(out, 32, "%.6g", v);
	return out;
}

/* The HF layout stores every tensor whole in one shard: the table names it. */
static bool by_shard(const struct view *v) { return v->layout == LAYOUT_HF; }

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The file piece p reads, by its name in the checkpoint. */
static const char *file_name(const struct view *v, const struct vpiece *p)
{
	const struct vfile *f = view_file_of(v, p->f);
	return f ? f->name : base_name(p->f->path);
}

/* "whole", "part of one", "2 row blocks", "4 column blocks", "3 pieces", with
 * ", transposed", ", rows reordered" and ", 1 copy" appended. */
static void join_text(const struct vtensor *t, struct buf *b)
{
	bool rows = true, cols = true, transposed = false, perm = false;
	for (size_t k = 0; k < t->npieces; k++) {
		rows &= t->p[k].dc == 0 && t->p[k].nc == t->cols;
		cols &= t->p[k].dr == 0 && t->p[k].nr == t->rows;
		transposed |= t->p[k].transposed;
		perm |= t->p[k].perm != NULL;
	}
	if (t->npieces == 1) {
		const struct vpiece *p = &t->p[0];
		buf_adds(b, p->sr == 0 && p->sc == 0 && p->nr * p->nc == p->t->nelem ? "whole" : "part of one");
	} else {
		buf_printf(b, "%zu %s", t->npieces, rows ? "row blocks" : cols ? "column blocks" : "pieces");
	}
	if (transposed)
		buf_adds(b, ", transposed");
	if (perm)
		buf_adds(b, ", rows reordered");
	if (t->nreplicas)
		buf_printf(b, ", %zu cop%s", t->nreplicas, t->nreplicas == 1 ? "y" : "ies");
}

/* The distinct files of the pieces, then of the copies, in that order. */
static size_t files_of(const struct vtensor *t, const struct vpiece **f, size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < t->npieces + t->nreplicas; k++) {
		const struct vpiece *x = k < t->npieces ? &t->p[k] : &t->replica[k - t->npieces];
		bool seen = false;
		for (size_t i = 0; i < n; i++)
			seen |= f[i]->f == x->f;
		if (!seen && n < max)
			f[n++] = x;
	}
	return n;
}

static void files_text(const struct view *v, const struct vtensor *t, struct buf *b)
{
	const struct vpiece *f[3];
	size_t n = files_of(t, f, 3);
	if (n <= 2) {
		for (size_t i = 0; i < n; i++)
			buf_printf(b, "%s%s", i ? ", " : "", file_name(v, f[i]));
		return;
	}
	size_t all = t->npieces + t->nreplicas;
	const struct vpiece *last = t->nreplicas ? &t->replica[t->nreplicas - 1] : &t->p[t->npieces - 1];
	buf_printf(b, "%s .. %s (%zu)", file_name(v, f[0]), file_name(v, last), all);
}

void tensortab_text(const struct view *v, const struct vtensor *const *ts, size_t n, const struct tstats *st,
		    struct buf *out)
{
	struct table t;
	struct buf b = {0};
	char sh[ST_SHAPE_LEN], x[32];
	bool shard = by_shard(v);
	/* where the family means block scales to be powers of two, how many are not */
	struct pow2_count *p2 = st ? stats_pow2_scales(v, ts, n) : NULL;
	char align[16];
	snprintf(align, sizeof align, "lllr%s%s", st ? (p2 ? "lrrrrrrrr" : "lrrrrrrr") : "", shard ? "l" : "ll");
	table_init(&t, align);
	table_add(&t, "NAME");
	table_add(&t, "DTYPE");
	table_add(&t, "SHAPE");
	table_add(&t, "BYTES");
	if (st) {
		table_add(&t, "VALUES");
		table_add(&t, "MIN");
		table_add(&t, "MAX");
		table_add(&t, "MEAN");
		table_add(&t, "STD");
		table_add(&t, "ABSMAX");
		table_add(&t, "NAN");
		table_add(&t, "INF");
		if (p2)
			table_add(&t, "NOT POW2");
	}
	if (shard) {
		table_add(&t, "SHARD");
	} else {
		table_add(&t, "STORED AS");
		table_add(&t, "FILES");
	}
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *y = ts[i];
		table_add(&t, y->name);
		table_add(&t, dt_name(y->stored));
		table_add(&t, st_shape_str(y->ndim, y->shape, sh, sizeof sh));
		table_addf(&t, "%" PRIu64, summary_tensor_bytes(y));
		if (st) {
			const struct tstats *s = &st[i];
			table_add(&t, !s->valid ? "none" : s->dequantized ? "scaled" : "stored");
			table_add(&t, stat_text(s->min, x));
			table_add(&t, stat_text(s->max, x));
			table_add(&t, stat_text(s->mean, x));
			table_add(&t, stat_text(s->std, x));
			table_add(&t, stat_text(s->absmax, x));
			table_addf(&t, "%" PRIu64, s->nan);
			table_addf(&t, "%" PRIu64, s->inf);
			if (p2 && p2[i].checked)
				table_addf(&t, "%" PRIu64, p2[i].not_pow2);
			else if (p2)
				table_add(&t, "-");
		}
		if (shard) {
			table_add(&t, file_name(v, &y->p[0]));
			continue;
		}
		buf_clear(&b);
		join_text(y, &b);
		table_add(&t, b.p);
		buf_clear(&b);
		files_text(v, y, &b);
		table_add(&t, b.p ? b.p : "");
	}
	table_render(&t, out, "");
	table_free(&t);
	buf_free(&b);
	free(p2);
}

static void range(struct jw *w, const char *key, uint64_t a, uint64_t n)
{
	jw_key(w, key);
	jw_arr(w);
	jw_u64(w, a);
	jw_u64(w, a + n);
	jw_arr_end(w);
}

/* How an assembled tensor is stored: its pieces and its copies. */
static void pieces_json(const struct view *v, const struct vtensor *x, struct jw *w)
{
	jw_key(w, "pieces");
	jw_arr(w);
	for (size_t k = 0; k < x->npieces; k++) {
		const struct vpiece *p = &x->p[k];
		jw_obj(w);
		jw_kv_str(w, "file", file_name(v, p));
		jw_kv_str(w, "tensor", p->t->name);
		range(w, "rows", p->dr, p->nr);
		range(w, "cols", p->dc, p->nc);
		jw_key(w, "scale");
		p->s ? jw_str(w, p->s->name) : jw_null(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "copies");
	jw_arr(w);
	for (size_t k = 0; k < x->nreplicas; k++) {
		jw_obj(w);
		jw_kv_str(w, "file", file_name(v, &x->replica[k]));
		jw_kv_str(w, "tensor", x->replica[k].t->name);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void tensortab_json(const struct view *v, const struct vtensor *const *ts, size_t n, const struct tstats *st,
		    struct jw *w)
{
	struct pow2_count *p2 = st ? stats_pow2_scales(v, ts, n) : NULL;
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *x = ts[i];
		jw_obj(w);
		jw_kv_str(w, "name", x->name);
		jw_kv_str(w, "dtype", dt_name(x->stored));
		if (!by_shard(v))
			jw_kv_bool(w, "scaled", x->p[0].s != NULL);
		jw_key(w, "shape");
		jw_arr(w);
		for (unsigned d = 0; d < x->ndim; d++)
			jw_u64(w, x->shape[d]);
		jw_arr_end(w);
		jw_kv_u64(w, "parameters", x->rows * x->cols);
		jw_kv_u64(w, "bytes", summary_tensor_bytes(x));
		if (by_shard(v)) {
			jw_kv_str(w, "shard", file_name(v, &x->p[0]));
			jw_key(w, "data_offsets");
			jw_arr(w);
			jw_u64(w, x->p[0].t->begin);
			jw_u64(w, x->p[0].t->end);
			jw_arr_end(w);
		} else {
			pieces_json(v, x, w);
		}
		if (st) {
			const struct tstats *s = &st[i];
			jw_key(w, "stats");
			if (!s->valid) {
				jw_null(w);
			} else {
				jw_obj(w);
				jw_kv_str(w, "values", s->dequantized ? "scaled" : "stored");
				jw_kv_u64(w, "count", s->count);
				jw_kv_double(w, "min", s->min);
				jw_kv_double(w, "max", s->max);
				jw_kv_double(w, "mean", s->mean);
				jw_kv_double(w, "std", s->std);
				jw_kv_double(w, "absmax", s->absmax);
				jw_kv_u64(w, "nan", s->nan);
				jw_kv_u64(w, "inf", s->inf);
				if (p2 && p2[i].checked)
					jw_kv_u64(w, "not_pow2", p2[i].not_pow2);
				jw_obj_end(w);
			}
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
	free(p2);
}
