/* The model check: the canonical tensors of the target against the exact set a DeepSeek-V3
 * checkpoint of its config.json holds (formats/hf.h), shapes and dtypes, and the block
 * scale of every FP8 weight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "family.h"
#include "hf.h"
#include "model_check.h"
#include "out.h"
#include "dequant.h"
#include "verify.h"

struct model_check {
	struct rcheck *k;
	const struct hf_layout *L;
	bool *seen;              /* per entry of L */
	size_t extra, shape, dtype, missing, unreadable;
	/* The layout stores what an HF checkpoint stores (HF, model-parallel): dtypes and
	 * FP8 scales are checked.  Other layouts (MindSpore) store their own dtypes and no
	 * scales: names and shapes only. */
	bool hf_dtypes;
};

/* A stored tensor against its entry; true when both agree. */
static bool check_entry(struct model_check *m, const char *file, const char *name, unsigned ndim,
			const uint64_t *shape, enum dt dtype, const struct hf_entry *e)
{
	char a[ST_SHAPE_LEN], b[ST_SHAPE_LEN];
	bool ok = true;
	m->seen[e - m->L->e] = true;
	if (ndim != e->ndim || memcmp(shape, e->shape, ndim * sizeof *shape) != 0) {
		report_problem(m->k, file, name, "shape %s, config.json implies %s", st_shape_str(ndim, shape, a, sizeof a),
			       st_shape_str(e->ndim, e->shape, b, sizeof b));
		m->shape++;
		ok = false;
	}
	/* a block scale may be stored in any dtype the dequantization reads (some tools write
	 * BF16 or F8_E8M0 scales; DeepSeek's loaders cast them to float32) */
	bool scale_ok = (e->scale && quant_scale_dtype(dtype)) || (!e->scale && e->t->any_float && (dtype == DT_BF16 || dtype == DT_F16 || dtype == DT_F32)) ||
			/* 4-bit codes: I8 as DeepSeek writes them, U8, or safetensors' F4 */
			(!e->scale && e->t->packed4 && quant_packed4_dtype(dtype));
	if (m->hf_dtypes && dtype != e->dtype && !scale_ok) {
		report_problem(m->k, file, name, "dtype %s, config.json implies %s", dt_name(dtype), dt_name(e->dtype));
		m->dtype++;
		ok = false;
	}
	return ok;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp((*(const struct idx_entry *const *)a)->name, (*(const struct idx_entry *const *)b)->name);
}

/* The index's entries by name (NULL without an index). */
static const struct idx_entry **entries_by_name(const struct view *v)
{
	if (!v->index)
		return NULL;
	const struct idx_entry **e = xcalloc(v->index->n ? v->index->n : 1, sizeof *e);
	for (size_t i = 0; i < v->index->n; i++)
		e[i] = &v->index->e[i];
	qsort(e, v->index->n, sizeof *e, cmp_entry);
	return e;
}

/* Whether the index puts the tensor in a shard that could not be read. */
static bool in_unreadable_shard(const struct view *v, const struct idx_entry **byname, const char *name)
{
	if (!byname)
		return false;
	struct idx_entry key = {name, NULL};
	const struct idx_entry *kp = &key, **e = bsearch(&kp, byname, v->index->n, sizeof *byname, cmp_entry);
	for (size_t i = 0; e && i < v->nfiles; i++)
		if (strcmp(v->files[i].name, (*e)->file) == 0)
			return v->files[i].st == NULL;
	return false;
}

/* The stored tensor of that name in any file, even one the index does not map it to. */
static const struct st_tensor *in_some_shard(const struct view *v, const char *name, const char **path)
{
	for (size_t i = 0; i < v->nfiles; i++) {
		const struct st_tensor *t = v->files[i].st ? st_find(v->files[i].st, name) : NULL;
		if (t) {
			*path = v->files[i].path;
			return t;
		}
	}
	return NULL;
}

static bool dir_has_index(const char *dir)
{
	struct stat sb;
	char *p = path_join(dir, INDEX_NAME);
	bool yes = stat(p, &sb) == 0;
	free(p);
	return yes;
}

static bool any_unreadable(const struct view *v)
{
	for (size_t i = 0; i < v->nfiles; i++)
		if (!v->files[i].st)
			return true;
	return false;
}

static const char *file_of(const struct vpiece *p) { return p->f ? p->f->path : NULL; }

/* A config.json that declares FP8 (quantization_config) over weights none of which is
 * stored in FP8, as DeepSeek's fp8_cast_bf16.py leaves it: one problem that says how to
 * fix it, and the rest of the check reads the config without it (else every weight is
 * "of a wrong dtype" and every scale "missing").  Only where dtypes are checked. */
static bool fp8_declared_over_bf16(const struct view *v, struct ds_config *cfg, const char *config,
				   struct rcheck *k)
{
	if (!cfg->quant.present || v->n == 0 || (v->layout != LAYOUT_HF && v->layout != LAYOUT_DSMP))
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (quant_weight_dtype(v->t[i].stored))
			return false;
	/* named by its path also where the layout's reader gives only its name */
	char *path = strchr(config, '/') ? xstrdup(config) : path_join(v->path, config);
	report_problem(k, path, NULL,
		       "declares FP8 weights (quantization_config) but none is stored in FP8: remove "
		       "quantization_config from it, as ckpt-fp8-to-bf16 writes it for BF16 weights");
	free(path);
	cfg->quant.present = false;
	return true;
}

void verify_model(const struct vtarget *t, struct report *r)
{
	struct rcheck *k = report_check(r, "model");
	const struct view *v = t->v;
	if (t->files_only) {
		report_skip(k, "a %s checkpoint in an archive: its tensors are only put together from the "
			    "extracted directory (extract it for this check)", t->layout);
		return;
	}
	if (!v) {
		report_skip(k, "the checkpoint could not be read");
		return;
	}
	if (t->single && dir_has_index(t->dir)) {
		report_skip(k, "%s is one shard of the checkpoint in %s (check the directory for the whole model)",
			    t->single, t->dir);
		return;
	}
	const char *config = v->config_path ? v->config_path : "config.json";
	if (!v->cfg) {
		if (v->config_path)
			report_skip(k, "%s could not be read (see structure)", config);
		else
			report_skip(k, "no config.json: nothing says which tensors the model has");
		return;
	}
	if (!v->cfg->family || v->cfg->family->no_inventory) {
		/* never "passed" for a model ckpt does not know, or knows without its tensors:
		 * the checks that need no family (structure, manifest, scan, --against) still run */
		struct buf why = {0};
		report_not_checked(k, "%s", v->cfg->family ? v->cfg->family->no_inventory
							: family_unknown_why(v->cfg->model_type, v->cfg->architecture, &why));
		buf_free(&why);
		return;
	}
	struct ds_config cfg = *v->cfg;
	/* as the layout stores it (the model-parallel layout of V3 leaves the MTP layers out) */
	model_check_as_stored(v, &cfg);
	/* a config implying far more tensors than the checkpoint holds (n_routed_experts 40000
	 * in a checkpoint of 8): when its layers or experts are not the checkpoint's, that one
	 * problem rather than every tensor it implies, which may be millions (a sound structure
	 * only: a shard that cannot be read hides layers that are there) */
	if (ds_config_require(&cfg, config) == 0 && hf_expected_bound(&cfg) > 4 * (uint64_t)v->n + 4096 &&
	    !v->nproblems && !any_unreadable(v) && model_check_counts(v, &cfg, config)) {
		report_problem_msg(k, err_last(), &config, 1);
		report_summary(k, "config.json does not describe this checkpoint: its layers or experts differ");
		return;
	}
	bool fp8_declared = fp8_declared_over_bf16(v, &cfg, config, k);
	struct hf_layout *L;
	if (cfg.family->expected(&L, &cfg, config)) {
		report_problem_msg(k, err_last(), &config, 1);
		report_summary(k, "config.json does not describe a %s model", cfg.family->title);
		return;
	}
	struct model_check m = {.k = k, .L = L, .seen = xcalloc(L->nentries ? L->nentries : 1, sizeof *m.seen)};
	const struct idx_entry **byname = entries_by_name(v);
	m.hf_dtypes = v->layout == LAYOUT_HF || v->layout == LAYOUT_DSMP;
	if (!m.hf_dtypes)
		for (size_t i = 0; i < L->nentries; i++)
			m.seen[i] = L->e[i].scale; /* no scales expected */
	for (size_t i = 0; i < v->n; i++) {
		const struct vtensor *vt = &v->t[i];
		const char *file = vt->npieces ? file_of(&vt->p[0]) : NULL;
		const struct hf_entry *e = hf_find(L, vt->name);
		if (!e) {
			report_problem(k, file, vt->name, "not a tensor of the model config.json describes");
			m.extra++;
			continue;
		}
		/* a scale stands alone when its weight is missing or not of a quantized dtype */
		check_entry(&m, file, vt->name, vt->ndim, vt->shape, vt->stored, e);
		const struct vpiece *p = vt->npieces ? &vt->p[0] : NULL;
		if (e->scale || !p || !p->s)
			continue;
		char *sname = v->scale_name ? v->scale_name(vt->name) : NULL;
		if (!sname)
			continue; /* (a scale the layout gives no name to is no tensor to expect) */
		const struct hf_entry *se = hf_find(L, sname);
		if (!se) {
			report_problem(k, p->sf ? p->sf->path : NULL, sname,
				       "a block scale config.json has no place for (no quantization_config?)");
			m.extra++;
		} else if (vt->npieces == 1) {
			/* stored whole: its own shape and dtype can be checked */
			check_entry(&m, p->sf ? p->sf->path : NULL, sname, p->s->ndim, p->s->shape, p->s->dtype, se);
		} else {
			/* assembled from slices (the layout checked that they fit the weight) */
			check_entry(&m, p->sf ? p->sf->path : NULL, sname, se->ndim, se->shape, p->s->dtype, se);
		}
		free(sname);
	}
	for (size_t i = 0; i < L->nentries; i++) {
		if (m.seen[i])
			continue;
		const struct hf_entry *e = &L->e[i];
		/* stored, but the view left it out: a scale the layout could not pair with its
		 * weight, or a tensor not where the index says (a structure problem) */
		const char *path = NULL;
		const struct st_tensor *st = in_some_shard(v, e->name, &path);
		if (st) {
			check_entry(&m, path, e->name, st->ndim, st->shape, st->dtype, e);
			continue;
		}
		if (v->omits && v->omits(v, e->name))
			continue; /* the layout never stores it (view.h) */
		if (in_unreadable_shard(v, byname, e->name)) {
			m.unreadable++;
			continue; /* its shard is a structure problem */
		}
		char s[ST_SHAPE_LEN], h[ST_SHAPE_LEN];
		if (!e->scale && e->t->packed4)
			report_problem(k, NULL, e->name, "missing (config.json implies FP4 codes %s: I8 %s or F4)",
				       st_shape_str(e->ndim, e->shape, s, sizeof s),
				       st_shape_str(2, (uint64_t[]){e->shape[0], e->shape[1] / 2}, h, sizeof h));
		else
			report_problem(k, NULL, e->name, "missing (config.json implies %s %s)", dt_name(e->dtype),
				       st_shape_str(e->ndim, e->shape, s, sizeof s));
		m.missing++;
	}
	if (m.unreadable)
		report_problem(k, NULL, NULL, "%zu tensors not checked: the index puts them in shards that cannot be read",
			       m.unreadable);
	size_t nq = 0, n4 = 0;
	for (size_t i = 0; i < L->n; i++) {
		nq += L->t[i].quantized && !L->t[i].packed4;
		n4 += L->t[i].quantized && L->t[i].packed4;
	}
	char fp4[64] = "";
	if (n4)
		snprintf(fp4, sizeof fp4, " and %zu FP4", n4);
	if (!k->nproblems && !m.hf_dtypes) {
		report_summary(k, "%s: %zu tensors as config.json implies: none missing, none extra, shapes right (dtypes are the %s layout's own)",
			       family_model_name(cfg.family, &cfg), L->n, t->layout);
	} else if (!k->nproblems) {
		report_summary(k, "%s: %zu tensors (%zu FP8%s weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right",
			       family_model_name(cfg.family, &cfg), L->nentries, nq, fp4);
	} else {
		struct buf b = {0};
		const char *sep = ": ";
		buf_printf(&b, "%zu tensors expected from config.json", m.hf_dtypes ? L->nentries : L->n);
		if (fp8_declared) {
			buf_printf(&b, "%sits quantization_config declares the BF16 weights FP8", sep);
			sep = ", ";
		}
		size_t counts[] = {m.missing, m.extra, m.shape, m.dtype, m.unreadable};
		const char *what[] = {"missing", "extra", "of a wrong shape", "of a wrong dtype", "in unreadable shards"};
		for (size_t i = 0; i < 5; i++)
			if (counts[i]) {
				buf_printf(&b, "%s%zu %s", sep, counts[i], what[i]);
				sep = ", ";
			}
		report_summary(k, "%s", buf_str(&b));
		buf_free(&b);
	}
	free(byname);
	free(m.seen);
	hf_free(L);
}
