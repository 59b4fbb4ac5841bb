#include "viewtab.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static uint64_t piece_bytes(const struct vpiece *p)
{
	return p->nr * p->nc * dt_bits(p->t->dtype) / 8;
}

void viewsum_rows(const struct view *v, struct table *t)
{
	uint64_t params = 0, stored = 0, copies = 0, ncopied = 0;
	char h[32];
	for (size_t i = 0; i < v->n; i++) {
		const struct vtensor *x = &v->t[i];
		params += x->rows * x->cols;
		for (size_t k = 0; k < x->npieces; k++)
			stored += piece_bytes(&x->p[k]);
		for (size_t k = 0; k < x->nreplicas; k++)
			copies += piece_bytes(&x->replica[k]);
		ncopied += x->nreplicas > 0;
	}
	table_add(t, "checkpoint");
	table_add(t, v->path);
	table_add(t, "layout");
	table_add(t, v->layout_name);
	table_add(t, "tensors");
	table_addf(t, "%zu, under their HF names", v->n);
	table_add(t, "parameters");
	table_addf(t, "%" PRIu64 " (%s)", params, human_count(params, h));
	table_add(t, "tensor bytes");
	table_addf(t, "%" PRIu64 " (%s)", stored, human_bytes(stored, h));
	if (ncopied) {
		table_add(t, "copies");
		table_addf(t, "%" PRIu64 " tensors stored again elsewhere, %" PRIu64 " bytes (%s)", ncopied, copies,
			   human_bytes(copies, h));
	}
	for (size_t i = 0; i < v->nproblems; i++) {
		table_add(t, i ? "" : "problems");
		table_add(t, v->problems[i]);
	}
}

void viewsum_json(const struct view *v, struct jw *w)
{
	uint64_t params = 0, stored = 0, copies = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct vtensor *x = &v->t[i];
		params += x->rows * x->cols;
		for (size_t k = 0; k < x->npieces; k++)
			stored += piece_bytes(&x->p[k]);
		for (size_t k = 0; k < x->nreplicas; k++)
			copies += piece_bytes(&x->replica[k]);
	}
	jw_kv_str(w, "path", v->path);
	jw_kv_str(w, "layout", v->layout_name);
	jw_kv_u64(w, "tensor_count", v->n);
	jw_kv_u64(w, "parameters", params);
	jw_kv_u64(w, "tensor_bytes", stored);
	jw_kv_u64(w, "copy_bytes", copies);
	jw_key(w, "problems");
	jw_arr(w);
	for (size_t i = 0; i < v->nproblems; i++)
		jw_str(w, v->problems[i]);
	jw_arr_end(w);
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
static size_t files_of(const struct vtensor *t, const struct st_file **f, size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < t->npieces + t->nreplicas; k++) {
		const struct st_file *x = k < t->npieces ? t->p[k].f : t->replica[k - t->npieces].f;
		bool seen = false;
		for (size_t i = 0; i < n; i++)
			seen |= f[i] == x;
		if (!seen && n < max)
			f[n++] = x;
	}
	return n;
}

static void files_text(const struct vtensor *t, struct buf *b)
{
	const struct st_file *f[3];
	size_t n = files_of(t, f, 3);
	if (n <= 2) {
		for (size_t i = 0; i < n; i++)
			buf_printf(b, "%s%s", i ? ", " : "", base_name(f[i]->path));
		return;
	}
	size_t all = t->npieces + t->nreplicas;
	const struct st_file *last = t->nreplicas ? t->replica[t->nreplicas - 1].f : t->p[t->npieces - 1].f;
	buf_printf(b, "%s .. %s (%zu)", base_name(f[0]->path), base_name(last->path), all);
}

void viewtab_text(const struct vtensor *const *ts, size_t n, struct buf *out)
{
	struct table t;
	struct buf b = {0};
	char sh[ST_SHAPE_LEN];
	table_init(&t, "lllll");
	table_add(&t, "NAME");
	table_add(&t, "DTYPE");
	table_add(&t, "SHAPE");
	table_add(&t, "STORED AS");
	table_add(&t, "FILES");
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *x = ts[i];
		table_add(&t, x->name);
		table_addf(&t, "%s%s", dt_name(x->stored), x->p[0].s ? " scaled" : "");
		table_add(&t, st_shape_str(x->ndim, x->shape, sh, sizeof sh));
		buf_clear(&b);
		join_text(x, &b);
		table_add(&t, b.p);
		buf_clear(&b);
		files_text(x, &b);
		table_add(&t, b.p ? b.p : "");
	}
	table_render(&t, out, "");
	table_free(&t);
	buf_free(&b);
}

static void range(struct jw *w, const char *key, uint64_t a, uint64_t n)
{
	jw_key(w, key);
	jw_arr(w);
	jw_u64(w, a);
	jw_u64(w, a + n);
	jw_arr_end(w);
}

void viewtab_json(const struct vtensor *const *ts, size_t n, struct jw *w)
{
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *x = ts[i];
		jw_obj(w);
		jw_kv_str(w, "name", x->name);
		jw_kv_str(w, "dtype", dt_name(x->stored));
		jw_kv_bool(w, "scaled", x->p[0].s != NULL);
		jw_key(w, "shape");
		jw_arr(w);
		for (unsigned d = 0; d < x->ndim; d++)
			jw_u64(w, x->shape[d]);
		jw_arr_end(w);
		jw_kv_u64(w, "parameters", x->rows * x->cols);
		jw_key(w, "pieces");
		jw_arr(w);
		for (size_t k = 0; k < x->npieces; k++) {
			const struct vpiece *p = &x->p[k];
			jw_obj(w);
			jw_kv_str(w, "file", base_name(p->f->path));
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
			jw_kv_str(w, "file", base_name(x->replica[k].f->path));
			jw_kv_str(w, "tensor", x->replica[k].t->name);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}
