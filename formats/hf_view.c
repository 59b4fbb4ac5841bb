/* The HF layout seen as a view: each stored tensor is its own canonical tensor, except that
 * a block-quantized weight takes its "<name>_scale_inv" along (found through the index,
 * wherever it is stored) and the scale is not a tensor of its own. */
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "err.h"
#include "layout.h"
#include "dequant.h"
#include "names.h"

static void close_ckpt(void *c) { ckpt_close(c); }

static bool hf_detect(const char *path)
{
	(void)path;
	return true;
}

/* The view of c; it owns c when own is c. */
static int view_of(struct view **out, const struct ckpt *c, const char *path, int flags, struct ckpt *own)
{
	char *scale_name = NULL;
	*out = NULL;
	struct view *v = view_new(LAYOUT_HF, "hf", path);
	if (own) {
		v->owner = own;
		v->free_owner = close_ckpt;
	}
	for (size_t i = 0; i < c->nproblems; i++)
		view_problem(v, "%s", c->problems[i]);
	if (c->config) {
		if ((v->cfg = ds_config_new(json_root(c->config), c->config_path)))
			;
		else if (flags & CKPT_LENIENT)
			view_problem(v, "%s", err_last());
		else
			goto fail;
	}
	uint64_t bm = v->cfg ? (uint64_t)v->cfg->quant.block[0] : 128;
	uint64_t bn = v->cfg ? (uint64_t)v->cfg->quant.block[1] : 128;
	for (size_t i = 0; i < c->n; i++) {
		const struct ckpt_tensor *t = &c->t[i];
		if (ends_with(t->name, "_scale_inv")) {
			/* consumed by its weight, unless there is none */
			size_t n = strlen(t->name) - strlen("_scale_inv");
			char *w = xstrndup(t->name, n);
			const struct ckpt_tensor *wt = ckpt_find(c, w);
			free(w);
			if (wt && quant_weight_dtype(wt->t->dtype))
				continue;
		}
		const struct ckpt_tensor *s = NULL;
		if (quant_weight_dtype(t->t->dtype)) {
			free(scale_name);
			scale_name = xasprintf("%s_scale_inv", t->name);
			s = ckpt_find(c, scale_name);
		}
		if (s) {
			struct quant q;
			if (quant_init(&q, t->name, t->t, NULL, s->t, NULL, bm, bn)) {
				if (!(flags & CKPT_LENIENT))
					goto fail;
				view_problem(v, "%s: %s", t->shard->path, err_last());
				s = NULL;
			}
		}
		view_add_whole(v, t->name, t->shard->st, t->t, s ? s->shard->st : NULL, s ? s->t : NULL, bm, bn);
	}
	free(scale_name);
	scale_name = NULL;
	if (view_finish(v))
		goto fail;
	*out = v;
	return 0;
fail:
	free(scale_name);
	view_free(v);
	return -1;
}

static int hf_open(struct view **out, const char *path, int flags)
{
	struct ckpt *c;
	*out = NULL;
	if (ckpt_open(&c, path, flags))
		return -1;
	return view_of(out, c, path, flags, c);
}

int layout_hf_view(struct view **out, const struct ckpt *c, const char *path, int flags)
{
	return view_of(out, c, path, flags, NULL);
}

const struct layout_ops layout_hf = {"hf", hf_detect, hf_open};
