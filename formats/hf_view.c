/* The HF layout seen as a view: each stored tensor is its own canonical tensor, except that
 * a block-quantized weight takes its "<name>_scale_inv" along (found through the index,
 * wherever it is stored) and the scale is not a tensor of its own.  The directory is read
 * by ckpt.h (shards, index, config.json, also out of an archive's files), which only this
 * layout and the MindSpore layouts use: everything else reads the view. */
#include <stdlib.h>
#include <string.h>

#include "archive_in.h"
#include "ckpt.h"
#include "err.h"
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

/* The scale of weight t when t is block-quantized and has one, else NULL. */
static const struct ckpt_tensor *scale_of(const struct ckpt *c, const struct ckpt_tensor *t)
{
	return quant_weight_dtype(t->t->dtype) ? ckpt_scale_of(c, t->name) : NULL;
}

/* Whether s, t's scale, fits it (blocks of bm x bn); the message is the last error. */
static bool fits(const struct ckpt_tensor *t, const struct ckpt_tensor *s, uint64_t bm, uint64_t bn)
{
	struct quant q;
	if (quant_init(&q, t->name, t->t, NULL, s->t, NULL, bm, bn) == 0)
		return true;
	err_prefix("%s: ", t->shard->path);
	return false;
}

/* The view of c, which it takes over (closed with the view, or here on failure). */
static int view_of(struct view **out, struct ckpt *c, const char *path, int flags)
{
	*out = NULL;
	struct view *v = view_new(LAYOUT_HF, "hf", path);
	v->scale_name = qscheme_hf_scale_name;
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
	uint64_t bm = v->cfg ? (uint64_t)v->cfg->quant.block[0] : 128;
	uint64_t bn = v->cfg ? (uint64_t)v->cfg->quant.block[1] : 128;
	for (size_t i = 0; i < c->n; i++) {
		const struct ckpt_tensor *t = &c->t[i];
		char *w = xmalloc(strlen(t->name) + 16);
		if (qscheme_of_scale(t->name, w, strlen(t->name) + 16) == QSCHEME_HF) {
			/* consumed by its weight, unless there is none or it does not fit */
			const struct ckpt_tensor *wt = ckpt_find(c, w);
			free(w);
			if (wt && scale_of(c, wt) == t && fits(wt, t, bm, bn))
				continue;
			err_clear();
		} else {
			free(w);
		}
		const struct ckpt_tensor *s = scale_of(c, t);
		if (s && !fits(t, s, bm, bn)) {
			if (!(flags & (VIEW_LENIENT | VIEW_SCALE_PROBLEMS)))
				goto fail;
			/* the weight unscaled, the scale a tensor of its own */
			view_problem(v, "%s", err_last());
			s = NULL;
		}
		view_add_whole(v, t->name, t->shard->st, t->t, s ? s->shard->st : NULL, s ? s->t : NULL, bm, bn);
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
