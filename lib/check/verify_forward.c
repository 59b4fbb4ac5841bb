/* --forward: run the model (lib/infer) and report on it, inside a verification report. */
#include "verify_forward.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

enum kind { K_RUN, K_AGAINST, K_LAYERS, K_REFERENCE };

struct details {
	enum kind kind;
	char *other;
	struct fwd_tokens tok;
	struct fwd_run run;
	struct fwd_against ag;
	struct fwd_layers ly;
	struct fwd_reference ref;
};

static void details_text(const void *data, struct buf *out)
{
	const struct details *d = data;
	switch (d->kind) {
	case K_RUN: fwd_run_text(&d->run, out); break;
	case K_AGAINST: fwd_against_text(&d->ag, out); break;
	case K_LAYERS: fwd_layers_text(&d->ly, out); break;
	case K_REFERENCE: fwd_reference_text(&d->ref, out); break;
	}
}

static void details_json(const void *data, struct jw *w)
{
	const struct details *d = data;
	static const char *const kinds[] = {"run", "against", "layers", "reference"};
	jw_kv_str(w, "mode", kinds[d->kind]);
	if (d->other) {
		jw_kv_str(w, "other", d->other);
	}
	switch (d->kind) {
	case K_RUN: fwd_run_json(&d->run, w); break;
	case K_AGAINST: fwd_against_json(&d->ag, w); break;
	case K_LAYERS: fwd_layers_json(&d->ly, w); break;
	case K_REFERENCE: fwd_reference_json(&d->ref, w); break;
	}
}

static void details_free(void *data)
{
	struct details *d = data;
	fwd_run_free(&d->run);
	fwd_against_free(&d->ag);
	fwd_layers_free(&d->ly);
	fwd_reference_free(&d->ref);
	fwd_tokens_free(&d->tok);
	free(d->other);
	free(d);
}

/* A failed comparison as a problem: what, how far, against which limit; or the non-finite
 * values that left nothing to compare (sides: what the two arrays are, for the message). */
static void cmp_problems(struct rcheck *k, const struct fwd_cmp *c, const struct fwd_limits *lim, const char *what,
			 const char *side_a, const char *side_b)
{
	if (c->pass)
		return;
	if (c->nonfinite[0] || c->nonfinite[1]) {
		report_problem(k, NULL, NULL, "%s: not compared: %zu non-finite values in %s, %zu in %s (first in row %zu)",
			       what, c->nonfinite[0], side_a, c->nonfinite[1], side_b, c->nonfinite_row);
		return;
	}
	if (c->max_abs > lim->max_abs)
		report_problem(k, NULL, NULL, "%s: max abs difference %.3g (row %zu) is more than %g", what, c->max_abs,
			       c->max_row, lim->max_abs);
	if (c->cos < lim->min_cos)
		report_problem(k, NULL, NULL, "%s: cosine similarity %.7f is below %g", what, c->cos, lim->min_cos);
	if (c->use_top1 && c->rows && (double)(c->top1_same + c->ties) / (double)c->rows < lim->min_top1)
		report_problem(k, NULL, NULL, "%s: top-1 agreement %zu of %zu (%zu near ties) is below %g", what,
			       c->top1_same, c->rows, c->ties, lim->min_top1);
}

/* Where a run met NaN or infinity, as a problem; who: the checkpoint's path when two run. */
static void nonfinite_problem(struct rcheck *k, const char *who, const char *where)
{
	if (!where[0])
		return;
	if (who)
		report_problem(k, NULL, NULL, "%s: non-finite values first appear in %s", who, where);
	else
		report_problem(k, NULL, NULL, "non-finite values first appear in %s", where);
}

static int tokens(const struct vforward_opts *o, const struct fwd_model *f, struct fwd_tokens *t)
{
	if (o->tokens ? fwd_tokens_list(t, o->tokens) : o->tokens_file ? fwd_tokens_file(t, o->tokens_file) : 0)
		return -1;
	if (!t->ids)
		fwd_tokens_default(t, f->cfg.vocab_size, o->positions ? o->positions : 16);
	if (fwd_tokens_check(t, f)) {
		fwd_tokens_free(t);
		return -1;
	}
	return 0;
}

int verify_forward(const struct vtarget *t, const struct vforward_opts *o, struct pool *p, struct report *r)
{
	struct rcheck *k = report_check(r, "forward");
	struct details *d = xcalloc(1, sizeof *d);
	struct fwd_model a = {0}, b = {0};
	struct vtarget other = {0};
	bool other_open = false;
	size_t nfiles = 0;
	const char **files = NULL;
	int rc = 0;
	unsigned flags = o->layers ? INFER_RELEASE : 0;
	if (!t->v) {
		report_problem(k, NULL, NULL, "the model cannot run: %s", t->error ? t->error : "no tensors could be read");
		goto out;
	}
	files = vtarget_files(t, &nfiles);
	if (!t->v->cfg && !o->config && t->v->config_path) {
		/* there is one, but it is wrong (a structure problem says how) */
		report_problem(k, NULL, NULL, "the model cannot run: %s could not be read (see structure)", t->v->config_path);
		goto out;
	}
	if (!t->v->cfg && !o->config) {
		/* the model's sizes must come from somewhere: a usage matter, not a problem */
		rc = err_set("%s: no config.json to take the model's hyper-parameters from (give one with --config)",
			     t->path);
		goto out;
	}
	if (fwd_open_view(&a, t->v, o->config, p, flags)) {
		report_problem_msg(k, err_last(), files, nfiles);
		goto out;
	}
	if (o->against) {
		if (vtarget_open(&other, o->against, NULL, false, NULL)) {
			rc = -1;
			goto out;
		}
		other_open = true;
		if (other.archive) {
			rc = err_set("%s: --forward reads tensor values, which is not done inside an archive (extract it "
				     "first)", o->against);
			goto out;
		}
		if (!other.v) {
			rc = err_set("%s: %s", o->against, other.error ? other.error : "no tensors could be read");
			goto out;
		}
		if (!other.v->cfg && !o->config && other.v->config_path) {
			struct ds_config cfg;
			if (ds_config_load(&cfg, other.v->config_path))
				report_problem(k, NULL, NULL, "%s cannot run: %s", o->against, err_last());
			else
				report_problem(k, NULL, NULL, "%s cannot run: %s could not be read", o->against,
					       other.v->config_path);
			goto out;
		}
		if (!other.v->cfg && !o->config) {
			rc = err_set("%s: no config.json to take the model's hyper-parameters from (give one with --config)",
				     o->against);
			goto out;
		}
		if (fwd_open_view(&b, other.v, o->config, p, flags)) {
			report_problem(k, NULL, NULL, "%s", err_last());
			goto out;
		}
		d->other = xstrdup(o->against);
	}
	if (!o->layers && !o->reference && tokens(o, &a, &d->tok)) {
		rc = -1;
		goto out;
	}
	int e = 0;
	if (o->reference) {
		d->kind = K_REFERENCE;
		e = fwd_reference(&a, o->reference, o->ref_max_abs, &d->ref);
		if (e == 0) {
			double hid = 0;
			const struct fwd_limits lim = {o->ref_max_abs, -INFINITY, 0};
			nonfinite_problem(k, NULL, d->ref.nonfinite);
			for (size_t i = 0; i < d->ref.n; i++) {
				cmp_problems(k, &d->ref.cmp[i], &lim, d->ref.cmp[i].what, "the run", "the reference");
				if (i && d->ref.cmp[i].max_abs > hid)
					hid = d->ref.cmp[i].max_abs;
			}
			report_summary(k, "against %s: logits max abs difference %.3g, %zu hidden states at most %.3g (limit %g)",
				       o->reference, d->ref.n ? d->ref.cmp[0].max_abs : 0, d->ref.n ? d->ref.n - 1 : 0, hid,
				       o->ref_max_abs);
		}
	} else if (o->layers) {
		size_t *ls, n;
		d->kind = K_LAYERS;
		if (fwd_parse_layers(o->layers, a.m.nlayers + a.m.nmtp, &ls, &n)) {
			rc = -1;
			goto out;
		}
		e = fwd_layers(&a, o->against ? &b : NULL, ls, n, o->positions ? o->positions : 16, &o->lim, &d->ly);
		free(ls);
		if (e == 0) {
			double worst = 0;
			size_t at = 0;
			for (size_t i = 0; i < d->ly.n; i++) {
				nonfinite_problem(k, o->against ? t->path : NULL, d->ly.nonfinite[2 * i]);
				if (o->against)
					nonfinite_problem(k, o->against, d->ly.nonfinite[2 * i + 1]);
			}
			for (size_t i = 0; o->against && i < d->ly.n; i++) {
				char what[64];
				snprintf(what, sizeof what, "layer %zu", d->ly.layer[i]);
				cmp_problems(k, &d->ly.cmp[i], &o->lim, what, t->path, o->against);
				if (d->ly.cmp[i].max_abs >= worst) {
					worst = d->ly.cmp[i].max_abs;
					at = d->ly.layer[i];
				}
			}
			if (o->against)
				report_summary(k, "%zu layers on a fixed hidden state of %zu positions, against %s: largest "
					       "difference %.3g (layer %zu)", d->ly.n, o->positions ? o->positions : 16,
					       o->against, worst, at);
			else
				report_summary(k, "%zu layers ran on a fixed hidden state of %zu positions", d->ly.n,
					       o->positions ? o->positions : 16);
		}
	} else if (o->against) {
		d->kind = K_AGAINST;
		e = fwd_against(&a, &b, &d->tok, o->mtp, &o->lim, &d->ag);
		if (e == 0) {
			nonfinite_problem(k, t->path, d->ag.a.nonfinite);
			nonfinite_problem(k, o->against, d->ag.b.nonfinite);
			for (size_t i = 0; i < d->ag.n; i++)
				cmp_problems(k, &d->ag.cmp[i], &o->lim, d->ag.cmp[i].what, t->path, o->against);
			const struct fwd_cmp *c = &d->ag.cmp[0];
			if (c->nonfinite[0] || c->nonfinite[1])
				report_summary(k, "%zu x %zu tokens through both, against %s: logits not compared, non-finite "
					       "values (%zu and %zu)", d->tok.B, d->tok.T, o->against, c->nonfinite[0],
					       c->nonfinite[1]);
			else
				report_summary(k, "%zu x %zu tokens through both, against %s: logits max abs difference "
					       "%.3g, cosine %.7f, top-1 agreement %zu of %zu", d->tok.B, d->tok.T, o->against,
					       c->max_abs, c->cos, c->top1_same, c->rows);
		}
	} else {
		d->kind = K_RUN;
		e = fwd_forward(&a, &d->tok, o->mtp, &d->run);
		if (e == 0) {
			nonfinite_problem(k, NULL, d->run.nonfinite);
			if (o->logits_out && fwd_write_logits(&d->run, o->logits_out)) {
				rc = -1;
				goto out;
			}
			double gb = d->run.weight_bytes / 1e9;
			report_summary(k, "%zu x %zu tokens in %.3f s (%.3g %s of weights read)%s%s%s", d->tok.B, d->tok.T,
				       d->run.seconds, gb < 1 ? gb * 1e3 : gb, gb < 1 ? "MB" : "GB",
				       d->run.nmtp ? ", with the MTP layer" : d->run.no_mtp ? ", no MTP layer to run" : "",
				       o->logits_out ? "; logits written to " : "", o->logits_out ? o->logits_out : "");
		}
	}
	if (e) {
		/* the model could not run: a tensor missing, or not of the config's shape */
		report_problem_msg(k, err_last(), files, nfiles);
		goto out;
	}
	report_details(k, &(struct rdetails){d, details_text, details_json, details_free});
	d = NULL;
out:
	if (d)
		details_free(d);
	fwd_close(&a);
	fwd_close(&b);
	if (other_open)
		vtarget_close(&other);
	free(files);
	return rc;
}
