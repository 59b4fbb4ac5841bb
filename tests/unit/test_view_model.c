/* The view as the one model of a checkpoint: an HF checkpoint's files, index, config and
 * stored tensors (weights and block scales as tensors) as its reader (ckpt.h) sees them;
 * a model-parallel directory's tensors and scales, put together from the ranks, equal to
 * the HF checkpoint's stored bytes over any range of elements; a scale that does not fit
 * its weight kept, leniently, as a tensor of its own. */
#include <sys/stat.h>

#include "ckpt.h"
#include "err.h"
#include "layout.h"
#include "names.h"
#include "out.h"
#include "t.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The stored bytes of t: elements [e0, e0 + n), read through the view. */
static uint8_t *elems(const struct vtensor *t, uint64_t e0, uint64_t n)
{
	uint8_t *b = malloc(n * (dt_bits(t->stored) / 8) + 1);
	if (view_read_elems(t, e0, n, b)) {
		free(b);
		return NULL;
	}
	return b;
}

static void test_hf(void)
{
	const char *dir = t_path("CKPT_ROOT", "fixtures/tiny-v3");
	struct view *v;
	struct ckpt *c;
	if (layout_open(&v, dir, NULL, 0) || ckpt_open(&c, dir, 0)) {
		CHECK(0, "tiny-v3 opens (%s)", err_last());
		return;
	}
	CHECK(v->nfiles == c->nshards && v->nfiles == 3 && strcmp(v->files[1].name, c->shards[1].name) == 0 &&
	      v->files[1].st && v->files[1].st->n == 84 && strcmp(v->dir, dir) == 0,
	      "the view's files are the shards, in order");
	CHECK(v->index && v->index->n == 239 && v->index_path && strcmp(v->index_path, c->index_path) == 0 &&
	      v->config && v->config_path && strcmp(v->config_path, c->config_path) == 0 && v->nstray == 0,
	      "the view has the index and config.json");
	size_t n;
	const struct vtensor **s = view_stored(v, &n);
	size_t same = 0, scales = 0;
	for (size_t i = 0; i < n && i < c->n; i++) {
		const struct vtensor *t = s[i];
		uint8_t *b = elems(t, 0, t->rows * t->cols);
		same += strcmp(t->name, c->t[i].name) == 0 && t->stored == c->t[i].t->dtype && b &&
			memcmp(b, ckpt_bytes(&c->t[i]), st_nbytes(c->t[i].t)) == 0 &&
			view_file_of(v, t->p[0].f) == &v->files[c->t[i].shard - c->shards];
		scales += ends_with(t->name, "_scale_inv");
		free(b);
	}
	CHECK(n == 239 && same == n && scales == 104 && v->n == 135,
	      "the stored tensors are the checkpoint's, in order, bytes and files (%zu of %zu, %zu scales)", same, n,
	      scales);
	const struct vtensor *w = view_find(v, "model.layers.1.mlp.experts.0.down_proj.weight");
	CHECK(w && w->scale && w->scale->p[0].t == w->p[0].s && w->scale->npieces == 1 &&
	      view_file_of(v, w->scale->p[0].f) != view_file_of(v, w->p[0].f),
	      "a scale in another shard than its weight is its own tensor, read from its shard");
	free(s);
	ckpt_close(c);
	view_free(v);
}

/* Upstream's model-parallel 2 output against the HF checkpoint: every stored tensor of the
 * former (block scales too) equals the latter's over random ranges of elements. */
static void test_dsmp(void)
{
	if (!t_golden("model-parallel stored tensors against HF"))
		return;
	struct view *mp, *hf;
	if (layout_open(&mp, t_path("CKPT_GOLDEN", "tiny-v3.convert-mp2"), NULL, 0) ||
	    layout_open(&hf, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0)) {
		CHECK(0, "views open (%s)", err_last());
		return;
	}
	size_t n, nh, same = 0, scales = 0, ranges = 0, good = 0;
	const struct vtensor **s = view_stored(mp, &n), **h = view_stored(hf, &nh);
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *x = s[i], *y = NULL;
		for (size_t k = 0; k < nh && !y; k++)
			y = strcmp(h[k]->name, x->name) == 0 ? h[k] : NULL;
		if (!y || x->rows != y->rows || x->cols != y->cols || x->stored != y->stored)
			continue;
		uint64_t all = x->rows * x->cols, es = dt_bits(x->stored) / 8;
		uint8_t *a = elems(x, 0, all), *b = elems(y, 0, all);
		same += a && b && memcmp(a, b, all * es) == 0;
		scales += ends_with(x->name, "_scale_inv");
		for (int r = 0; r < 4 && a && b; r++, ranges++) {
			uint64_t e0 = next() % all, m = next() % (all - e0) + 1;
			uint8_t *p = elems(x, e0, m);
			good += p && memcmp(p, b + e0 * es, m * es) == 0;
			free(p);
		}
		free(a);
		free(b);
	}
	CHECK(n == 163 && same == n && scales == 72, "every stored tensor of mp2 (%zu, %zu scales) equals HF's (%zu)",
	      n, scales, same);
	CHECK(ranges == 4 * n && good == ranges, "and so do %zu random ranges of elements (%zu)", ranges, good);
	const struct vtensor *wo = view_find(mp, "model.layers.0.self_attn.o_proj.weight");
	CHECK(wo && wo->scale && wo->scale->npieces == 2 && wo->scale->p[1].dc == 1 && wo->scale->shape[1] == 2,
	      "o_proj's scale joins from the ranks' two column blocks");
	uint8_t one;
	CHECK(view_read_elems(wo, wo->rows * wo->cols, 1, &one) == -1 && strstr(err_last(), "outside"),
	      "a range past the end is refused: %s", err_last());
	free(s);
	free(h);
	view_free(mp);
	view_free(hf);
}

/* Leniently, a scale of the wrong shape stays a tensor of its own beside its unscaled
 * weight, and the problem says which. */
static void test_misfit(void)
{
	uint64_t ws[2] = {256, 128}, ss[2] = {1, 1};
	struct st_entry e[2] = {{"w.weight", DT_F8_E4M3, 2, ws}, {"w.weight_scale_inv", DT_F32, 2, ss}};
	struct st_layout L;
	mkdir("misfit", 0777);
	if (st_layout(&L, e, 2, NULL, 0))
		return;
	uint8_t *b = calloc(1, L.file_size);
	memcpy(b, L.header, L.header_size);
	out_write_file("misfit/model.safetensors", b, L.file_size);
	free(b);
	st_layout_free(&L);
	struct view *v;
	int rc = layout_open(&v, "misfit", NULL, 0);
	CHECK(rc == -1 && strcmp(err_last(), "misfit/model.safetensors: \"w.weight\": scale has shape [1, 1], expected "
					     "[2, 1] for blocks of 128x128") == 0,
	      "strictly, refused naming the shard: %s", err_last());
	rc = layout_open(&v, "misfit", NULL, VIEW_LENIENT);
	size_t n = 0;
	const struct vtensor **s = rc ? NULL : view_stored(v, &n);
	CHECK(rc == 0 && v->n == 2 && n == 2 && v->nproblems == 1 && !view_find(v, "w.weight")->p[0].s &&
	      view_find(v, "w.weight_scale_inv") && strstr(v->problems[0], "scale has shape [1, 1]"),
	      "leniently: the weight unscaled, the scale its own tensor, one problem (%s)", rc ? err_last() : "");
	free(s);
	if (!rc)
		view_free(v);
}

int main(void)
{
	err_init("test_view_model");
	test_hf();
	test_dsmp();
	test_misfit();
	return t_done();
}
