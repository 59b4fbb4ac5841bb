/* --against: two checkpoints hold the same model, canonical tensor by canonical tensor,
 * whatever their layouts and dtypes (lib/check/compare.h says how values are compared). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "err.h"
#include "hf.h"
#include "st.h"
#include "table.h"
#include "tensortab.h"
#include "verify.h"

struct row {
	char *name;
	enum dt da, db;
	struct cmp_result res;
};

struct against_details {
	char *other;
	struct cmp_opts o;
	size_t n;
	struct row *rows;
};

static void against_free(void *data)
{
	struct against_details *d = data;
	for (size_t i = 0; i < d->n; i++)
		free(d->rows[i].name);
	free(d->rows);
	free(d->other);
	free(d);
}

static void against_json(const void *data, struct jw *w)
{
	const struct against_details *d = data;
	jw_kv_str(w, "other", d->other);
	jw_kv_str(w, "mode", d->o.exact ? "exact" : "tolerance");
	jw_kv_double(w, "atol", d->o.exact ? 0 : d->o.atol);
	jw_kv_double(w, "rtol", d->o.exact ? 0 : d->o.rtol);
	jw_key(w, "tensors");
	jw_arr(w);
	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];
		jw_obj(w);
		jw_kv_str(w, "name", r->name);
		jw_kv_str(w, "dtype", dt_name(r->da));
		jw_kv_str(w, "other_dtype", dt_name(r->db));
		jw_kv_str(w, "compared_as", dt_name(r->res.as));
		jw_kv_u64(w, "values", r->res.values);
		jw_kv_bool(w, "identical", r->res.identical);
		jw_kv_u64(w, "mismatches", r->res.mismatches);
		jw_kv_double(w, "max_abs_error", r->res.max_abs);
		jw_kv_double(w, "max_rel_error", r->res.max_rel);
		/* a quantized weight against a float one (compare.h): its largest error in
		 * half quantization steps, null for other pairs */
		jw_kv_str(w, "judged_by", d->o.exact ? "exact" : r->res.steps ? "steps" : "tolerance");
		jw_key(w, "max_error_half_steps");
		if (r->res.steps)
			jw_double(w, r->res.max_steps);
		else
			jw_null(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void against_text(const void *data, struct buf *out)
{
	const struct against_details *d = data;
	if (!d->o.verbose || !d->n)
		return;
	struct table t;
	char a[32], b[32], c[32];
	bool steps = false;
	for (size_t i = 0; i < d->n; i++)
		steps = steps || d->rows[i].res.steps;
	/* the column of half-steps only where some tensor is judged by them */
	table_init(&t, steps ? "lllllrrrrr" : "lllllrrrr");
	table_add(&t, "NAME");
	table_add(&t, "DTYPE");
	table_add(&t, "OTHER");
	table_add(&t, "AS");
	table_add(&t, "IDENTICAL");
	table_add(&t, "VALUES");
	table_add(&t, "MISMATCHES");
	table_add(&t, "MAX_ABS");
	table_add(&t, "MAX_REL");
	if (steps)
		table_add(&t, "MAX_STEPS");
	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];
		table_add(&t, r->name);
		table_add(&t, dt_name(r->da));
		table_add(&t, dt_name(r->db));
		table_add(&t, dt_name(r->res.as));
		table_add(&t, r->res.identical ? "yes" : "no");
		table_addf(&t, "%" PRIu64, r->res.values);
		table_addf(&t, "%" PRIu64, r->res.mismatches);
		table_add(&t, stat_text(r->res.max_abs, a));
		table_add(&t, stat_text(r->res.max_rel, b));
		if (steps)
			table_add(&t, r->res.steps ? stat_text(r->res.max_steps, c) : "-");
	}
	table_render(&t, out, "  ");
	table_free(&t);
}

static const char *file_of(const struct vtensor *t) { return t->npieces && t->p[0].f ? t->p[0].f->path : NULL; }

/* The highest layer number among the view's tensor names, -1 when none. */
static int64_t top_layer(const struct view *v)
{
	int64_t top = -1;
	struct hf_name n;
	for (size_t i = 0; i < v->n; i++)
		if (hf_parse(v->t[i].name, &n) == 0 && n.layer > top)
			top = n.layer;
	return top;
}

/* The model-parallel layout leaves the MTP layers out (as convert.py does): a tensor of
 * an MTP layer that only the other side holds is expected, not a difference.  MTP layers
 * are those from num_hidden_layers on (config.json of either side); with no config.json
 * anywhere, those above every layer the model-parallel side holds. */
static bool left_out(const struct view *without, const struct view *with, int64_t top, const char *name)
{
	const struct ds_config *cfg = without->cfg ? without->cfg : with->cfg;
	int64_t first = cfg && cfg->num_hidden_layers >= 0 ? cfg->num_hidden_layers : top + 1;
	struct hf_name n;
	return without->layout == LAYOUT_DSMP && hf_parse(name, &n) == 0 && n.layer >= 0 && n.layer >= first;
}

static bool same_shape(const struct vtensor *a, const struct vtensor *b)
{
	return a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof *a->shape) == 0;
}

void verify_against(const struct vtarget *ta, const struct vtarget *tb, const struct cmp_opts *o,
		    struct pool *pool, struct report *r)
{
	struct rcheck *k = report_check(r, "against");
	const struct view *a = ta->v, *b = tb->v;
	char sa[ST_SHAPE_LEN], sb[ST_SHAPE_LEN];
	if (!a || !b) {
		if (!b)
			report_problem(k, tb->path, NULL, "could not be read: %s", tb->error ? tb->error : "?");
		report_skip(k, "%s could not be read", !a ? ta->path : tb->path);
		return;
	}
	/* what is wrong with OTHER explains what is missing from it: said here, since no
	 * structure check reports on it */
	size_t nf;
	const char **files = vtarget_files(tb, &nf);
	for (size_t i = 0; i < b->nproblems; i++)
		report_problem_msg(k, b->problems[i], files, nf);
	free(files);
	int64_t top_a = top_layer(a), top_b = top_layer(b);
	struct cmp_pair *pairs = xcalloc(a->n + 1, sizeof *pairs);
	size_t np = 0, ia = 0, ib = 0, only_a = 0, only_b = 0, shapes = 0, unread = 0, mtp = 0, omitted = 0;
	while (ia < a->n || ib < b->n) {
		int c = ia == a->n ? 1 : ib == b->n ? -1 : strcmp(a->t[ia].name, b->t[ib].name);
		/* a tensor the other side's layout never stores (view.h: omits) is no difference */
		if (c < 0 && b->omits && b->omits(b, a->t[ia].name)) {
			omitted++, ia++;
			continue;
		}
		if (c > 0 && a->omits && a->omits(a, b->t[ib].name)) {
			omitted++, ib++;
			continue;
		}
		if (c < 0) {
			if (left_out(b, a, top_b, a->t[ia].name))
				mtp++;
			else
				report_problem(k, file_of(&a->t[ia]), a->t[ia].name, "not in %s", tb->path), only_a++;
			ia++;
			continue;
		}
		if (c > 0) {
			if (left_out(a, b, top_a, b->t[ib].name))
				mtp++;
			else
				report_problem(k, file_of(&b->t[ib]), b->t[ib].name, "only in %s, not in %s", tb->path,
					       ta->path), only_b++;
			ib++;
			continue;
		}
		const struct vtensor *x = &a->t[ia++], *y = &b->t[ib++];
		if (!same_shape(x, y)) {
			report_problem(k, file_of(x), x->name, "shape %s, but %s in %s",
				       st_shape_str(x->ndim, x->shape, sa, sizeof sa),
				       st_shape_str(y->ndim, y->shape, sb, sizeof sb), tb->path);
			shapes++;
			continue;
		}
		if (!dt_has_value(x->stored) || !dt_has_value(y->stored)) {
			unread++;
			continue;
		}
		pairs[np++] = (struct cmp_pair){x, y};
	}
	struct against_details *d = xcalloc(1, sizeof *d);
	d->other = xstrdup(tb->path);
	d->o = *o;
	d->n = np;
	d->rows = xcalloc(np ? np : 1, sizeof *d->rows);
	struct cmp_result *res = xcalloc(np ? np : 1, sizeof *res);
	cmp_run(pairs, np, o, pool, res);
	size_t same = 0, within = 0, beyond = 0;
	double max_abs = 0;
	for (size_t i = 0; i < np; i++) {
		const struct vtensor *x = pairs[i].a;
		/* stored dtypes: compared_as says what a dequantized FP8 weight became */
		d->rows[i] = (struct row){xstrdup(x->name), x->stored, pairs[i].b->stored, res[i]};
		if (res[i].max_abs > max_abs)
			max_abs = res[i].max_abs;
		if (res[i].identical) {
			same++;
		} else if (!res[i].mismatches) {
			within++;
		} else {
			beyond++;
			char e1[32], e2[32];
			if (o->exact)
				report_problem(k, file_of(x), x->name,
					       "not bit-identical as %s: %" PRIu64 " of %" PRIu64
					       " values differ (first at %" PRIu64 ", max abs error %s)",
					       dt_name(res[i].as), res[i].mismatches, res[i].values, res[i].first,
					       stat_text(res[i].max_abs, e1));
			else if (res[i].steps) {
				char v1[32], v2[32], e3[32];
				uint64_t cols = x->cols ? x->cols : 1;
				report_problem(k, file_of(x), x->name,
					       "%" PRIu64 " of %" PRIu64 " values not what rounding to the nearest code "
					       "gives (first at %" PRIu64 ", row %" PRIu64 " column %" PRIu64
					       ": %s against %s, %s half-steps; max %s half-steps)",
					       res[i].mismatches, res[i].values, res[i].first, res[i].first / cols,
					       res[i].first % cols, stat_text(res[i].first_a, v1),
					       stat_text(res[i].first_b, v2), stat_text(res[i].first_steps, e1),
					       stat_text(res[i].max_steps, e3));
			} else
				report_problem(k, file_of(x), x->name,
					       "%" PRIu64 " of %" PRIu64 " values beyond tolerance (first at %" PRIu64
					       ", max abs error %s, max rel error %s)",
					       res[i].mismatches, res[i].values, res[i].first, stat_text(res[i].max_abs, e1),
					       stat_text(res[i].max_rel, e2));
		}
	}
	struct buf s = {0};
	char e[32];
	buf_printf(&s, "%zu tensors compared with %s (layout %s, %s): %zu bit-identical", np, tb->path, tb->layout,
		   o->exact ? "exact" : "tolerance", same);
	if (!o->exact)
		buf_printf(&s, ", %zu within tolerance", within);
	if (beyond)
		buf_printf(&s, ", %zu %s", beyond, o->exact ? "differ" : "beyond tolerance");
	if (same != np)
		buf_printf(&s, "; max abs error %s", stat_text(max_abs, e));
	if (only_a || only_b)
		buf_printf(&s, "; %zu only here, %zu only there", only_a, only_b);
	if (shapes)
		buf_printf(&s, "; %zu of different shapes", shapes);
	if (mtp)
		buf_printf(&s, "; %zu of MTP layers, which the model-parallel layout leaves out, not compared", mtp);
	if (omitted)
		buf_printf(&s, "; %zu that the %s layout does not store, not compared", omitted,
			   a->omits ? ta->layout : tb->layout);
	if (unread)
		buf_printf(&s, "; %zu of dtypes without numeric values not compared", unread);
	report_summary(k, "%s", buf_str(&s));
	buf_free(&s);
	report_details(k, &(struct rdetails){d, against_text, against_json, against_free});
	free(res);
	free(pairs);
}
