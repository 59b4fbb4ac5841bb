/* Comparisons of forward passes: two checkpoints on the same tokens, layer by layer on a
 * fixed hidden state, or one checkpoint against a reference file. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "forward.h"
#include "st.h"

const struct fwd_limits fwd_default_limits = {1e-3, 0.99999, 1.0};

/* (rows whose values are all finite only) */
static size_t argmax(const float *v, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

void fwd_compare(const float *a, const float *b, size_t rows, size_t cols, bool top1, const struct fwd_limits *lim,
		 struct fwd_cmp *c)
{
	const char *what = c->what;
	memset(c, 0, sizeof *c);
	c->what = what;
	c->rows = rows;
	c->use_top1 = top1;
	double ab = 0, aa = 0, bb = 0;
	for (size_t r = 0; r < rows; r++) {
		const float *x = a + r * cols, *y = b + r * cols;
		size_t bad = c->nonfinite[0] + c->nonfinite[1];
		for (size_t i = 0; i < cols; i++) {
			/* NaN compares false: a difference with one never beats the largest, so
			 * non-finite values are counted apart and fail the comparison below */
			if (!isfinite(x[i]) || !isfinite(y[i])) {
				c->nonfinite[0] += !isfinite(x[i]);
				c->nonfinite[1] += !isfinite(y[i]);
				continue;
			}
			double d = fabs((double)x[i] - y[i]);
			if (d > c->max_abs) {
				c->max_abs = d;
				c->max_row = r;
			}
			ab += (double)x[i] * y[i];
			aa += (double)x[i] * x[i];
			bb += (double)y[i] * y[i];
		}
		if (c->nonfinite[0] + c->nonfinite[1] > bad) {
			if (!bad)
				c->nonfinite_row = r;
			continue; /* no top-1 of a row holding NaN */
		}
		if (top1) {
			size_t ia = argmax(x, cols), ib = argmax(y, cols);
			double tie = 2 * lim->max_abs;
			if (ia == ib)
				c->top1_same++;
			else if ((double)x[ia] - x[ib] <= tie || (double)y[ib] - y[ia] <= tie)
				c->ties++;
		}
	}
	size_t n = rows * cols;
	c->cos = aa == 0 && bb == 0 ? 1.0 : aa == 0 || bb == 0 ? 0.0 : ab / sqrt(aa * bb);
	c->rms_a = n ? sqrt(aa / (double)n) : 0;
	c->rms_b = n ? sqrt(bb / (double)n) : 0;
	if (c->nonfinite[0] || c->nonfinite[1]) {
		/* nothing to measure: never "difference 0, cosine 1" */
		c->max_abs = INFINITY;
		c->max_row = c->nonfinite_row;
		c->cos = 0;
		c->pass = false;
		return;
	}
	c->pass = c->max_abs <= lim->max_abs && c->cos >= lim->min_cos &&
		  (!top1 || !rows || (double)(c->top1_same + c->ties) / (double)rows >= lim->min_top1);
}

void fwd_cmp_line(const struct fwd_cmp *c, struct buf *out)
{
	if (c->nonfinite[0] || c->nonfinite[1]) {
		buf_printf(out, "%s: non-finite values, %zu and %zu (first in row %zu): FAIL", c->what, c->nonfinite[0],
			   c->nonfinite[1], c->nonfinite_row);
		return;
	}
	buf_printf(out, "%s: max abs difference %.3g (row %zu), cosine %.7f", c->what, c->max_abs, c->max_row, c->cos);
	if (c->use_top1) {
		buf_printf(out, ", top-1 agreement %zu/%zu", c->top1_same, c->rows);
		if (c->ties)
			buf_printf(out, " (+%zu near ties)", c->ties);
	}
	buf_printf(out, ": %s", c->pass ? "pass" : "FAIL");
}

void fwd_cmp_json(const struct fwd_cmp *c, struct jw *w)
{
	jw_obj(w);
	jw_kv_str(w, "what", c->what);
	jw_kv_u64(w, "rows", c->rows);
	/* null where non-finite values left nothing to measure */
	bool bad = c->nonfinite[0] || c->nonfinite[1];
	jw_kv_double(w, "max_abs", bad ? NAN : c->max_abs);
	jw_kv_u64(w, "max_abs_row", c->max_row);
	jw_kv_double(w, "cosine", bad ? NAN : c->cos);
	jw_key(w, "nonfinite");
	jw_arr(w);
	jw_u64(w, c->nonfinite[0]);
	jw_u64(w, c->nonfinite[1]);
	jw_arr_end(w);
	jw_key(w, "rms");
	jw_arr(w);
	jw_double(w, c->rms_a);
	jw_double(w, c->rms_b);
	jw_arr_end(w);
	if (c->use_top1) {
		jw_kv_u64(w, "top1_agree", c->top1_same);
		jw_kv_u64(w, "top1_near_ties", c->ties);
	}
	jw_kv_bool(w, "pass", c->pass);
	jw_obj_end(w);
}

static void limits_json(const struct fwd_limits *l, struct jw *w)
{
	jw_key(w, "limits");
	jw_obj(w);
	jw_kv_double(w, "max_abs", l->max_abs);
	jw_kv_double(w, "min_cosine", l->min_cos);
	jw_kv_double(w, "min_top1", l->min_top1);
	jw_obj_end(w);
}

/* ---- two checkpoints, same tokens ---- */

static const char *const depth_names[] = {"logits", "MTP depth 1 logits", "MTP depth 2 logits",
					  "MTP depth 3 logits", "MTP depth 4 logits", "MTP depth 5 logits",
					  "MTP depth 6 logits", "MTP depth 7 logits", "MTP depth 8 logits"};

int fwd_against(struct fwd_model *a, struct fwd_model *b, const struct fwd_tokens *t, bool mtp,
		const struct fwd_limits *lim, struct fwd_against *r)
{
	memset(r, 0, sizeof *r);
	r->lim = *lim;
	if (a->cfg.vocab_size != b->cfg.vocab_size)
		return err_set("%s and %s: vocabularies differ (%" PRId64 " and %" PRId64 " tokens)", a->v->path,
			       b->v->path, a->cfg.vocab_size, b->cfg.vocab_size);
	if (fwd_forward(a, t, mtp, &r->a))
		return -1;
	if (fwd_forward(b, t, mtp, &r->b)) {
		fwd_run_free(&r->a);
		return -1;
	}
	size_t rows = t->B * t->T, V = r->a.V;
	r->cmp[0].what = depth_names[0];
	fwd_compare(r->a.logits, r->b.logits, rows, V, true, lim, &r->cmp[0]);
	r->n = 1;
	for (size_t d = 1; d <= r->a.nmtp && d <= r->b.nmtp && d < sizeof r->cmp / sizeof *r->cmp; d++) {
		r->cmp[d].what = depth_names[d];
		fwd_compare(r->a.mtp[d - 1], r->b.mtp[d - 1], t->B * (t->T - d), V, true, lim, &r->cmp[d]);
		r->n = d + 1;
	}
	return 0;
}

void fwd_against_free(struct fwd_against *r)
{
	fwd_run_free(&r->a);
	fwd_run_free(&r->b);
	memset(r, 0, sizeof *r);
}

bool fwd_against_pass(const struct fwd_against *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->cmp[i].pass)
			return false;
	return true;
}

void fwd_against_text(const void *p, struct buf *out)
{
	const struct fwd_against *r = p;
	buf_printf(out, "  %zu sequence(s) of %zu tokens; limits: max abs %g, cosine >= %g, top-1 >= %g\n",
		   r->a.tok->B, r->a.tok->T, r->lim.max_abs, r->lim.min_cos, r->lim.min_top1);
	for (size_t i = 0; i < r->n; i++) {
		buf_adds(out, "  ");
		fwd_cmp_line(&r->cmp[i], out);
		buf_addc(out, '\n');
	}
	if (r->a.nmtp != r->b.nmtp)
		buf_printf(out, "  MTP layers: %zu and %zu; compared where both have them\n", r->a.nmtp, r->b.nmtp);
}

void fwd_against_json(const void *p, struct jw *w)
{
	const struct fwd_against *r = p;
	limits_json(&r->lim, w);
	jw_key(w, "nonfinite");
	jw_arr(w);
	for (int k = 0; k < 2; k++) {
		const char *where = k ? r->b.nonfinite : r->a.nonfinite;
		if (where[0])
			jw_str(w, where);
		else
			jw_null(w);
	}
	jw_arr_end(w);
	jw_key(w, "comparisons");
	jw_arr(w);
	for (size_t i = 0; i < r->n; i++)
		fwd_cmp_json(&r->cmp[i], w);
	jw_arr_end(w);
	jw_key(w, "seconds");
	jw_arr(w);
	jw_double(w, r->a.seconds);
	jw_double(w, r->b.seconds);
	jw_arr_end(w);
}

/* ---- layer by layer ---- */

int fwd_parse_layers(const char *list, size_t limit, size_t **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	const char *s = list;
	while (*s) {
		char *end;
		errno = 0;
		unsigned long long lo = strtoull(s, &end, 10), hi;
		if (end == s || errno || *s == '-' || *s == '+')
			goto bad;
		hi = lo;
		if (*end == '-') {
			const char *h = end + 1;
			if (*h == '-' || *h == '+')
				goto bad;
			hi = strtoull(h, &end, 10);
			if (end == h || errno || hi < lo)
				goto bad;
		}
		if (*end && *end != ',')
			goto bad;
		if (hi >= limit) {
			free(*out);
			*out = NULL;
			return err_set("--layers: layer %llu does not exist (the model has %zu, MTP included)", hi, limit);
		}
		for (unsigned long long l = lo; l <= hi; l++) {
			if (*n == cap) {
				cap = cap ? 2 * cap : 16;
				*out = xreallocarray(*out, cap, sizeof **out);
			}
			(*out)[(*n)++] = (size_t)l;
		}
		s = *end ? end + 1 : end;
		if (*end && !*s)
			goto bad;
	}
	if (*n)
		return 0;
bad:
	free(*out);
	*out = NULL;
	*n = 0;
	return err_set("--layers: \"%s\" is not a list of layers like 0,3,5-7", list);
}

/* Standard normal values from a fixed seed (Box-Muller over splitmix64). */
static void random_state(float *h, size_t n)
{
	uint64_t s = 0x5eed5eedull;
	for (size_t i = 0; i < n; i += 2) {
		uint64_t z[2];
		for (int k = 0; k < 2; k++) {
			z[k] = (s += 0x9e3779b97f4a7c15ull);
			z[k] = (z[k] ^ (z[k] >> 30)) * 0xbf58476d1ce4e5b9ull;
			z[k] = (z[k] ^ (z[k] >> 27)) * 0x94d049bb133111ebull;
			z[k] ^= z[k] >> 31;
		}
		double u1 = ((double)(z[0] >> 11) + 1.0) * 0x1p-53, u2 = (double)(z[1] >> 11) * 0x1p-53;
		double r = sqrt(-2.0 * log(u1));
		h[i] = (float)(r * cos(2 * M_PI * u2));
		if (i + 1 < n)
			h[i + 1] = (float)(r * sin(2 * M_PI * u2));
	}
}

int fwd_layers(struct fwd_model *a, struct fwd_model *b, const size_t *layers, size_t n, size_t T,
	       const struct fwd_limits *lim, struct fwd_layers *r)
{
	memset(r, 0, sizeof *r);
	/* (a state: hidden_size values, or hc_mult streams of them) */
	size_t H = infer_state_dim(&a->m);
	if (b && infer_state_dim(&b->m) != H)
		return err_set("%s and %s: hidden sizes differ (%" PRId64 " and %" PRId64 ")", a->v->path, b->v->path,
			       a->cfg.hidden_size, b->cfg.hidden_size);
	r->lim = *lim;
	r->compared = b != NULL;
	r->layer = xmalloc(n * sizeof *r->layer);
	r->cmp = xcalloc(n, sizeof *r->cmp);
	r->rms = xcalloc(n, sizeof *r->rms);
	r->seconds = xcalloc(2 * n, sizeof *r->seconds);
	r->experts = xcalloc(n, sizeof *r->experts);
	r->nonfinite = xcalloc(2 * n, sizeof *r->nonfinite);
	float *h0 = xmalloc(T * H * sizeof *h0), *ha = xmalloc(T * H * sizeof *ha), *hb = xmalloc(T * H * sizeof *hb);
	random_state(h0, T * H);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t l = layers[i];
		r->layer[i] = l;
		memcpy(ha, h0, T * H * sizeof *ha);
		uint64_t e0 = a->m.experts_run;
		double t0 = clock_now();
		a->m.nonfinite[0] = 0;
		if ((rc = infer_layer(&a->m, l, ha, 1, T)))
			break;
		r->seconds[2 * i] = clock_now() - t0;
		memcpy(r->nonfinite[2 * i], a->m.nonfinite, sizeof *r->nonfinite);
		r->experts[i] = a->m.experts_run - e0;
		double ss = 0;
		for (size_t k = 0; k < T * H; k++)
			ss += (double)ha[k] * ha[k];
		r->rms[i] = sqrt(ss / (double)(T * H));
		if (b) {
			memcpy(hb, h0, T * H * sizeof *hb);
			t0 = clock_now();
			b->m.nonfinite[0] = 0;
			if ((rc = infer_layer(&b->m, l, hb, 1, T)))
				break;
			r->seconds[2 * i + 1] = clock_now() - t0;
			memcpy(r->nonfinite[2 * i + 1], b->m.nonfinite, sizeof *r->nonfinite);
			r->cmp[i].what = "layer";
			fwd_compare(ha, hb, T, H, false, lim, &r->cmp[i]);
		}
		r->n = i + 1;
	}
	free(h0);
	free(ha);
	free(hb);
	return rc;
}

void fwd_layers_free(struct fwd_layers *r)
{
	free(r->layer);
	free(r->cmp);
	free(r->rms);
	free(r->seconds);
	free(r->experts);
	free(r->nonfinite);
	memset(r, 0, sizeof *r);
}

bool fwd_layers_pass(const struct fwd_layers *r)
{
	for (size_t i = 0; i < r->n; i++)
		if ((r->compared && !r->cmp[i].pass) || r->nonfinite[2 * i][0] || r->nonfinite[2 * i + 1][0])
			return false;
	return true;
}

void fwd_layers_text(const void *p, struct buf *out)
{
	const struct fwd_layers *r = p;
	if (r->compared)
		buf_printf(out, "  limits: max abs %g, cosine >= %g\n", r->lim.max_abs, r->lim.min_cos);
	for (size_t i = 0; i < r->n; i++) {
		buf_printf(out, "  layer %zu: ", r->layer[i]);
		if (r->nonfinite[2 * i][0])
			buf_printf(out, "non-finite values from %s", r->nonfinite[2 * i]);
		else
			buf_printf(out, "output rms %.4f", r->rms[i]);
		buf_printf(out, ", %zu routed expert runs, %.2f s", (size_t)r->experts[i], r->seconds[2 * i]);
		if (r->compared && (r->cmp[i].nonfinite[0] || r->cmp[i].nonfinite[1]))
			buf_printf(out, "; non-finite values, %zu and %zu: FAIL", r->cmp[i].nonfinite[0],
				   r->cmp[i].nonfinite[1]);
		else if (r->compared)
			buf_printf(out, "; max abs difference %.3g, cosine %.7f: %s", r->cmp[i].max_abs, r->cmp[i].cos,
				   r->cmp[i].pass ? "pass" : "FAIL");
		buf_addc(out, '\n');
	}
}

void fwd_layers_json(const void *p, struct jw *w)
{
	const struct fwd_layers *r = p;
	if (r->compared)
		limits_json(&r->lim, w);
	jw_key(w, "layers");
	jw_arr(w);
	for (size_t i = 0; i < r->n; i++) {
		jw_obj(w);
		jw_kv_u64(w, "layer", r->layer[i]);
		jw_kv_double(w, "rms", r->rms[i]);
		jw_kv_u64(w, "routed_expert_runs", r->experts[i]);
		jw_kv_double(w, "seconds", r->seconds[2 * i]);
		jw_key(w, "nonfinite");
		jw_arr(w);
		for (int k = 0; k < 1 + r->compared; k++)
			if (r->nonfinite[2 * i + k][0])
				jw_str(w, r->nonfinite[2 * i + k]);
			else
				jw_null(w);
		jw_arr_end(w);
		if (r->compared) {
			bool bad = r->cmp[i].nonfinite[0] || r->cmp[i].nonfinite[1];
			jw_kv_double(w, "max_abs", bad ? NAN : r->cmp[i].max_abs);
			jw_kv_double(w, "cosine", bad ? NAN : r->cmp[i].cos);
			jw_kv_bool(w, "pass", r->cmp[i].pass);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* ---- against a reference file ---- */

struct ref_ctx {
	const struct st_file *f;
	size_t nlayers;
	struct fwd_reference *r;
	double max_abs;
	char **names;
};

static const struct st_tensor *ref_tensor(const struct st_file *f, const char *name, size_t n)
{
	const struct st_tensor *t = st_find(f, name);
	return t && t->nelem == n && dt_has_value(t->dtype) ? t : NULL;
}

static void ref_add(struct ref_ctx *c, const char *name, const float *x, size_t rows, size_t cols)
{
	const struct st_tensor *t = ref_tensor(c->f, name, rows * cols);
	if (!t)
		return;
	float *ref = xmalloc(rows * cols * sizeof *ref);
	dt_to_f32(t->dtype, st_bytes(c->f, t), 0, rows * cols, ref);
	struct fwd_limits lim = {c->max_abs, -INFINITY, 0};
	struct fwd_reference *r = c->r;
	r->cmp = xreallocarray(r->cmp, r->n + 1, sizeof *r->cmp);
	c->names = xreallocarray(c->names, r->n + 1, sizeof *c->names);
	c->names[r->n] = xstrdup(name);
	r->cmp[r->n].what = c->names[r->n];
	fwd_compare(x, ref, rows, cols, false, &lim, &r->cmp[r->n]);
	r->n++;
	free(ref);
}

static void ref_hidden(void *ctx, size_t k, const float *h, size_t ntok, size_t dim)
{
	struct ref_ctx *c = ctx;
	char name[32];
	/* the reference's last hidden state is the final norm's output; the last layer's own
	 * output is not in it */
	if (k == c->nlayers)
		return;
	snprintf(name, sizeof name, "hidden.%zu", k > c->nlayers ? c->nlayers : k);
	ref_add(c, name, h, ntok, dim);
}

int fwd_reference(struct fwd_model *f, const char *ref_path, double max_abs, struct fwd_reference *r)
{
	struct fwd_tokens t;
	memset(r, 0, sizeof *r);
	r->max_abs = max_abs;
	if (fwd_tokens_file(&t, ref_path))
		return -1;
	struct st_file *sf;
	if (st_open(&sf, ref_path)) {
		fwd_tokens_free(&t);
		return -1;
	}
	size_t V = (size_t)f->cfg.vocab_size, N = t.B * t.T;
	int rc = -1;
	if (!ref_tensor(sf, "logits", N * V)) {
		err_set("%s: no float tensor \"logits\" of %zu x %zu x %zu values", ref_path, t.B, t.T, V);
		goto out;
	}
	struct ref_ctx c = {sf, f->m.nlayers, r, max_abs, NULL};
	float *logits = xmalloc(N * V * sizeof *logits);
	struct infer_hook hook = {ref_hidden, &c};
	f->m.nonfinite[0] = 0;
	rc = infer_forward(&f->m, t.ids, t.B, t.T, logits, NULL, &hook);
	memcpy(r->nonfinite, f->m.nonfinite, sizeof r->nonfinite);
	if (rc == 0) {
		/* logits first */
		ref_add(&c, "logits", logits, N, V);
		struct fwd_cmp last = r->cmp[r->n - 1];
		memmove(r->cmp + 1, r->cmp, (r->n - 1) * sizeof *r->cmp);
		r->cmp[0] = last;
		char *ln = c.names[r->n - 1];
		memmove(c.names + 1, c.names, (r->n - 1) * sizeof *c.names);
		c.names[0] = ln;
	}
	/* the names live as long as the result: keep them in one block after the comparisons */
	if (r->n) {
		size_t bytes = 0;
		for (size_t i = 0; i < r->n; i++)
			bytes += strlen(c.names[i]) + 1;
		r->cmp = xrealloc(r->cmp, r->n * sizeof *r->cmp + bytes);
		char *p = (char *)(r->cmp + r->n);
		for (size_t i = 0; i < r->n; i++) {
			size_t len = strlen(c.names[i]) + 1;
			memcpy(p, c.names[i], len);
			r->cmp[i].what = p;
			p += len;
			free(c.names[i]);
		}
	}
	free(c.names);
	free(logits);
out:
	st_close(sf);
	fwd_tokens_free(&t);
	return rc;
}

void fwd_reference_free(struct fwd_reference *r)
{
	free(r->cmp);
	memset(r, 0, sizeof *r);
}

bool fwd_reference_pass(const struct fwd_reference *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->cmp[i].pass)
			return false;
	return r->n > 0 && !r->nonfinite[0];
}

void fwd_reference_text(const void *p, struct buf *out)
{
	const struct fwd_reference *r = p;
	buf_printf(out, "  limit: max abs %g\n", r->max_abs);
	for (size_t i = 0; i < r->n; i++) {
		const struct fwd_cmp *c = &r->cmp[i];
		if (c->nonfinite[0] || c->nonfinite[1])
			buf_printf(out, "  %s: non-finite values, %zu in the run and %zu in the reference (first in row %zu): FAIL\n",
				   c->what, c->nonfinite[0], c->nonfinite[1], c->nonfinite_row);
		else
			buf_printf(out, "  %s: max abs difference %.3g (row %zu): %s\n", c->what, c->max_abs, c->max_row,
				   c->pass ? "pass" : "FAIL");
	}
}

void fwd_reference_json(const void *p, struct jw *w)
{
	const struct fwd_reference *r = p;
	jw_kv_double(w, "max_abs_limit", r->max_abs);
	jw_key(w, "nonfinite");
	if (r->nonfinite[0])
		jw_str(w, r->nonfinite);
	else
		jw_null(w);
	jw_key(w, "comparisons");
	jw_arr(w);
	for (size_t i = 0; i < r->n; i++)
		fwd_cmp_json(&r->cmp[i], w);
	jw_arr_end(w);
}
