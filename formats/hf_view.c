/* The HF layout seen as a view: each stored tensor is its own canonical tensor, except that
 * a block-quantized weight takes its scale along (found through the index, wherever it is
 * stored) and the scale is not a tensor of its own.  The scale is named as the schemes of
 * the checkpoint's family say (formats/qscheme.h): "<name>_scale_inv" for the DeepSeek-V3
 * generation (and a checkpoint of no known family); "X.scale" beside "X.weight" for
 * DeepSeek-V4, whose FP4 experts (I8 or F4 codes with 1 x 32 groups) are then tensors of
 * codes, [out, in] (lib/checkpoint/view.h vpiece.codes4).  The directory is read
 * by ckpt.h (shards, index, config.json, also out of an archive's files), which only this
 * layout and the MindSpore layouts use: everything else reads the view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_in.h"
#include "ckpt.h"
#include "err.h"
#include "family.h"
#include "layout.h"
#include "dequant.h"
#include "names.h"
#include "qscheme.h"

static void close_ckpt(void *c) { ckpt_close(c); }

static bool hf_detect(const char *path)
{
	(void)path;
	return true;
}

/* How a weight and its scale pair: the scheme's block (or the config's) and codes table. */
struct pairing {
	uint64_t bm, bn;
	const float *codes4;
};

/* Whether dtype holds what scheme s quantizes: FP8 codes, or 4-bit codes two a byte. */
static bool holds(const struct qscheme *s, enum dt dtype)
{
	return s->codes4 ? quant_packed4_dtype(dtype) : quant_weight_dtype(dtype);
}

/* The scale of weight t when t is block-quantized and has one, else NULL; *pr: how. */
static const struct ckpt_tensor *scale_of(const struct ckpt *c, const struct ckpt_tensor *t,
					  const struct qscheme *const *sch, uint64_t bm, uint64_t bn, struct pairing *pr)
{
	size_t size = strlen(t->name) + 16;
	char *sname = xmalloc(size);
	const struct ckpt_tensor *s = NULL;
	for (; *sch && !s; sch++) {
		if (!holds(*sch, t->t->dtype) || !qscheme_scale_name(*sch, t->name, sname, size))
			continue;
		if ((s = ckpt_find(c, sname)))
			*pr = (struct pairing){(*sch)->block[0] ? (*sch)->block[0] : bm,
					       (*sch)->block[1] ? (*sch)->block[1] : bn, (*sch)->codes4};
	}
	free(sname);
	return s;
}

/* Whether s, t's scale, fits it as pr says; the message is the last error. */
static bool fits(const struct ckpt_tensor *t, const struct ckpt_tensor *s, const struct pairing *pr)
{
	struct quant q;
	int rc = pr->codes4 ? quant_init_packed4(&q, t->name, t->t, NULL, s->t, NULL, pr->bm, pr->bn, pr->codes4)
			    : quant_init(&q, t->name, t->t, NULL, s->t, NULL, pr->bm, pr->bn);
	if (rc == 0)
		return true;
	err_prefix("%s: ", t->shard->path);
	return false;
}

/* Whether t is the scale of a weight it fits (then it is that weight's, not a tensor). */
static bool consumed(const struct ckpt *c, const struct ckpt_tensor *t, const struct qscheme *const *sch,
		     uint64_t bm, uint64_t bn)
{
	size_t size = strlen(t->name) + 16;
	char *w = xmalloc(size);
	bool yes = false;
	for (const struct qscheme *const *k = sch; *k && !yes; k++) {
		size_t n = strlen(t->name), ks = strlen((*k)->scale_suffix);
		if (n <= ks || strcmp(t->name + n - ks, (*k)->scale_suffix) != 0)
			continue;
		snprintf(w, size, "%.*s%s", (int)(n - ks), t->name, (*k)->weight_suffix);
		const struct ckpt_tensor *wt = ckpt_find(c, w);
		struct pairing pr;
		yes = wt && scale_of(c, wt, sch, bm, bn, &pr) == t && fits(wt, t, &pr);
		err_clear();
	}
	free(w);
	return yes;
}

/* The view of c, which it takes over (closed with the view, or here on failure). */
static int view_of(struct view **out, struct ckpt *c, const char *path, int flags)
{
	*out = NULL;
	struct view *v = view_new(LAYOUT_HF, "hf", path);
	v->owner = c;
	v->free_owner = close_ckpt;
	ckpt_describe(c, v);
	if (c->config) {
		if ((v->cfg = ds_config_new(json_root(c->config), c->config_path)))
			;
		else if (flags & VIEW_LENIENT)
			view_problem(v, "%s", err_last());
		else
			goto fail;
	}
	v->scale_name = v->cfg && v->cfg->family && v->cfg->family->scale_name ? v->cfg->family->scale_name
										: qscheme_hf_scale_name;
	uint64_t bm = v->cfg ? (uint64_t)v->cfg->quant.block[0] : 128;
	uint64_t bn = v->cfg ? (uint64_t)v->cfg->quant.block[1] : 128;
	const struct qscheme *const *sch = family_schemes(v->cfg ? v->cfg->family : NULL);
	for (size_t i = 0; i < c->n; i++) {
		const struct ckpt_tensor *t = &c->t[i];
		if (consumed(c, t, sch, bm, bn))
			continue;
		struct pairing pr = {bm, bn, NULL};
		const struct ckpt_tensor *s = scale_of(c, t, sch, bm, bn, &pr);
		if (s && !fits(t, s, &pr)) {
			if (!(flags & (VIEW_LENIENT | VIEW_SCALE_PROBLEMS)))
				goto fail;
			/* the weight unscaled, the scale a tensor of its own */
			view_problem(v, "%s", err_last());
			s = NULL;
		}
		if (s && pr.codes4) {
			/* 4-bit codes: the canonical tensor counts codes (I8 [R, C] holds [R, 2C]) */
			uint64_t shape[2] = {t->t->shape[0], quant_packed4_codes(t->t->dtype, t->t->shape[1])};
			struct vtensor *vt = view_add(v, t->name, 2, shape);
			*vtensor_add_piece(vt) = (struct vpiece){.f = t->shard->st, .t = t->t, .sf = s->shard->st, .s = s->t,
								 .bm = pr.bm, .bn = pr.bn, .nr = shape[0],
								 .nc = shape[1], .codes4 = pr.codes4};
			continue;
		}
		view_add_whole(v, t->name, t->shard->st, t->t, s ? s->shard->st : NULL, s ? s->t : NULL, pr.bm, pr.bn);
	}
	if (view_finish(v))
		goto fail;
	*out = v;
	return 0;
fail:
	view_free(v);
	return -1;
}

static int hf_open(struct view **out, const char *path, int flags)
{
	struct ckpt *c;
	*out = NULL;
	if (ckpt_open(&c, path, flags & VIEW_LENIENT ? CKPT_LENIENT : 0))
		return -1;
	return view_of(out, c, path, flags);
}

int layout_hf_config(struct view **out, const char *path, const char *config, int flags)
{
	struct ckpt *c;
	*out = NULL;
	if (ckpt_open(&c, path, flags & VIEW_LENIENT ? CKPT_LENIENT : 0))
		return -1;
	if (ckpt_use_config(c, config)) {
		ckpt_close(c);
		return -1;
	}
	return view_of(out, c, path, flags);
}

int layout_hf_of(struct view **out, struct ckpt *c, const char *path, int flags)
{
	return view_of(out, c, path, flags);
}

int layout_hf_arc(struct view **out, struct arc *a, int flags)
{
	struct ckpt *c;
	*out = NULL;
	/* the checkpoint made of the archive's files, which takes their parsed headers over */
	struct ckpt_file *cf = xcalloc(a->n ? a->n : 1, sizeof *cf);
	for (size_t i = 0; i < a->n; i++) {
		cf[i] = (struct ckpt_file){a->f[i].name, a->f[i].st, a->f[i].error, a->f[i].text, a->f[i].len};
		a->f[i].st = NULL;
	}
	int rc = ckpt_open_files(&c, a->dir, cf, a->n, flags & VIEW_LENIENT ? CKPT_LENIENT : 0);
	free(cf);
	if (rc)
		return -1;
	return view_of(out, c, a->dir, flags);
}

const struct layout_ops layout_hf = {"hf", hf_detect, hf_open};
