/* The scan: every value of every tensor read (FP8 dequantized): NaN and infinities are
 * problems, all-zero tensors warnings; copies of a replicated tensor must be identical.
 * Where the model family means block scales to be powers of two, those that are not are
 * counted, per tensor, as information: no failure (a release may ship some). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "err.h"
#include "family.h"
#include "stats.h"
#include "verify.h"

struct scan_details {
	size_t n;
	const struct vtensor *const *t;  /* borrowed from the view */
	struct tstats *st;
	const char *pow2_why;            /* the family's reason, or NULL: no pow2 counts */
	struct pow2_count *p2;           /* of each tensor's block scale (where pow2_why) */
	uint64_t scales, nscaled;        /* block scales read, of so many tensors */
	uint64_t notp2, tnotp2;          /* those not powers of two, the tensors with some */
};

static bool all_zero(const struct tstats *s)
{
	return s->valid && s->count && !s->nan && !s->inf && s->min == 0 && s->max == 0;
}

static void scan_json(const void *data, struct jw *w)
{
	const struct scan_details *d = data;
	jw_key(w, "tensors");
	jw_arr(w);
	for (size_t i = 0; i < d->n; i++) {
		const struct tstats *s = &d->st[i];
		jw_obj(w);
		jw_kv_str(w, "name", d->t[i]->name);
		jw_kv_u64(w, "values", s->count);
		jw_kv_bool(w, "read", s->valid);
		jw_kv_bool(w, "dequantized", s->dequantized);
		jw_kv_u64(w, "nan", s->nan);
		jw_kv_u64(w, "inf", s->inf);
		jw_kv_bool(w, "all_zero", all_zero(s));
		if (d->p2 && d->p2[i].checked)
			jw_kv_u64(w, "scales_not_pow2", d->p2[i].not_pow2);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (!d->pow2_why)
		return;
	jw_key(w, "pow2_scales");
	jw_obj(w);
	jw_kv_str(w, "expected_by", d->pow2_why);
	jw_kv_u64(w, "scales", d->scales);
	jw_kv_u64(w, "not_pow2", d->notp2);
	jw_kv_u64(w, "tensors_not_pow2", d->tnotp2);
	jw_obj_end(w);
}

static const char *file_of(const struct vpiece *p) { return p->f ? p->f->path : NULL; }

/* One line per tensor whose block scales are not all powers of two. */
static void scan_text(const void *data, struct buf *out)
{
	const struct scan_details *d = data;
	for (size_t i = 0; d->p2 && i < d->n; i++) {
		const struct pow2_count *c = &d->p2[i];
		const struct vtensor *s = d->t[i]->scale;
		if (!c->checked || !c->not_pow2)
			continue;
		char q[ERR_QUOTE];
		buf_printf(out, "  note: %s: tensor %s: %" PRIu64 " of %" PRIu64 " block scales %s not %s of two (the first: "
			   "block [%" PRIu64 ", %" PRIu64 "], %.9g)\n",
			   file_of(&s->p[0]), err_quote(s->name, q), c->not_pow2, c->values, c->not_pow2 == 1 ? "is" : "are",
			   c->not_pow2 == 1 ? "a power" : "powers", c->first / s->cols, c->first % s->cols, c->first_value);
	}
}

static void scan_free(void *data)
{
	struct scan_details *d = data;
	free((void *)d->t);
	free(d->st);
	free(d->p2);
	free(d);
}

/* Every stored copy of a replicated tensor against the tensor itself: bit for bit. */
static size_t check_replicas(const struct view *v, struct pool *pool, struct rcheck *k, size_t *differ)
{
	size_t n = 0;
	for (size_t i = 0; i < v->n; i++)
		if (dt_has_value(v->t[i].stored))
			n += v->t[i].nreplicas;
	if (!n)
		return 0;
	struct vtensor *copies = xcalloc(n, sizeof *copies);
	struct cmp_pair *pairs = xcalloc(n, sizeof *pairs);
	struct cmp_result *res = xcalloc(n, sizeof *res);
	size_t m = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct vtensor *t = &v->t[i];
		if (!dt_has_value(t->stored))
			continue;
		for (size_t r = 0; r < t->nreplicas; r++, m++) {
			copies[m] = *t;
			copies[m].npieces = 1;
			copies[m].p = &t->replica[r];
			copies[m].nreplicas = 0;
			copies[m].replica = NULL;
			pairs[m] = (struct cmp_pair){t, &copies[m]};
		}
	}
	struct cmp_opts o = {.exact = true};
	cmp_run(pairs, n, &o, pool, res);
	for (size_t i = 0; i < n; i++)
		if (!res[i].identical) {
			char q[ERR_QUOTE];
			report_problem(k, file_of(&copies[i].p[0]), copies[i].name,
				       "this copy (%s) differs from the one in %s at %" PRIu64 " of %" PRIu64 " values",
				       err_quote(copies[i].p[0].t->name, q), file_of(&pairs[i].a->p[0]), res[i].mismatches,
				       res[i].values);
			(*differ)++;
		}
	free(res);
	free(pairs);
	free(copies);
	return n;
}

/* How many of t's block scales are NaN (an F8_E8M0 scale byte 0xFF: DeepSeek-V4's FP4
 * groups), each making its whole block NaN: what a NaN in a dequantized weight comes from.
 * 0 when t has none or they cannot be read. */
static uint64_t nan_scales(const struct vtensor *t)
{
	const struct vtensor *s = t->scale;
	uint64_t n = 0;
	if (!s || !dt_has_value(s->stored) || !s->cols)
		return 0;
	float *row = xmalloc(s->cols * sizeof *row);
	for (uint64_t r = 0; r < s->rows; r++) {
		if (view_read_f32(s, r, 1, row)) {
			err_clear();
			n = 0;
			break;
		}
		for (uint64_t j = 0; j < s->cols; j++)
			n += isnan(row[j]) != 0;
	}
	free(row);
	return n;
}

void verify_scan(const struct vtarget *t, struct pool *pool, struct report *r)
{
	struct rcheck *k = report_check(r, "scan");
	const struct view *v = t->v;
	if (!v) {
		report_skip(k, "the checkpoint could not be read");
		return;
	}
	struct scan_details *d = xcalloc(1, sizeof *d);
	const struct vtensor **ts = xcalloc(v->n ? v->n : 1, sizeof *ts);
	d->n = v->n;
	d->st = xcalloc(v->n ? v->n : 1, sizeof *d->st);
	for (size_t i = 0; i < v->n; i++)
		ts[i] = &v->t[i];
	d->t = ts;
	stats_views(d->t, d->n, false, pool, d->st);
	uint64_t values = 0;
	size_t bad = 0, zero = 0, unread = 0, deq = 0, deq4 = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct tstats *s = &d->st[i];
		const char *f = file_of(&ts[i]->p[0]);
		if (!s->valid) {
			unread++;
			continue;
		}
		values += s->count;
		deq += s->dequantized && !ts[i]->p[0].codes4;
		deq4 += s->dequantized && ts[i]->p[0].codes4;
		if (s->nan || s->inf) {
			bad++;
			uint64_t ns = s->nan && s->dequantized ? nan_scales(ts[i]) : 0;
			char why[64] = "";
			if (ns)
				snprintf(why, sizeof why, "; %" PRIu64 " NaN block scale%s", ns, ns == 1 ? "" : "s");
			report_problem(k, f, ts[i]->name, "%" PRIu64 " NaN and %" PRIu64 " infinite of %" PRIu64 " values%s%s%s",
				       s->nan, s->inf, s->count, s->dequantized ? " (dequantized" : "", why,
				       s->dequantized ? ")" : "");
		} else if (all_zero(s)) {
			zero++;
			report_warning(k, f, ts[i]->name, "all %" PRIu64 " values are zero", s->count);
		}
	}
	size_t ndiff = 0, nrep = check_replicas(v, pool, k, &ndiff);
	if ((d->pow2_why = family_pow2_scales(v->cfg))) {
		d->p2 = xcalloc(v->n ? v->n : 1, sizeof *d->p2);
		for (size_t i = 0; i < v->n; i++) {
			const struct vtensor *s = ts[i]->scale;
			if (!s || !dt_has_value(s->stored))
				continue;
			if (stats_pow2(s, &d->p2[i])) {
				err_clear(); /* (its weight, read with it, is a problem of its own) */
				continue;
			}
			d->nscaled++;
			d->scales += d->p2[i].values;
			d->notp2 += d->p2[i].not_pow2;
			d->tnotp2 += d->p2[i].not_pow2 > 0;
		}
	}
	struct buf b = {0};
	buf_printf(&b, "%zu tensors, %" PRIu64 " values read (%zu FP8", v->n, values, deq);
	if (deq4)
		buf_printf(&b, " and %zu FP4", deq4);
	buf_adds(&b, " dequantized): ");
	if (bad)
		buf_printf(&b, "%zu with NaN or infinity", bad);
	else
		buf_adds(&b, "no NaN or infinity");
	if (zero)
		buf_printf(&b, ", %zu all zero", zero);
	if (unread)
		buf_printf(&b, "; %zu of dtypes without numeric values not read", unread);
	if (nrep)
		buf_printf(&b, "; %zu replicated copies compared%s", nrep, ndiff ? "" : ", all identical");
	if (ndiff)
		buf_printf(&b, ", %zu %s", ndiff, ndiff == 1 ? "differs" : "differ");
	if (d->pow2_why && !d->notp2)
		buf_printf(&b, "; %" PRIu64 " block scales of %" PRIu64 " tensors, all powers of two (%s)", d->scales,
			   d->nscaled, d->pow2_why);
	else if (d->pow2_why)
		buf_printf(&b, "; %" PRIu64 " of %" PRIu64 " block scales not powers of two, in %" PRIu64 " of %" PRIu64
			   " tensors (%s; information, not a failure)", d->notp2, d->scales, d->tnotp2, d->nscaled,
			   d->pow2_why);
	report_summary(k, "%s", buf_str(&b));
	buf_free(&b);
	report_details(k, &(struct rdetails){d, scan_text, scan_json, scan_free});
}
