/* The MindSpore layouts: names, the rope row order, and views of the golden training and
 * inference checkpoints that equal the HF source (dequantized, rounded to bf16) bit for
 * bit, tensor by tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "hf_synth.h"
#include "err.h"
#include "layout.h"
#include "mindspore.h"
#include "out.h"
#include "t.h"

static char *tmpdir;

static void test_names(void)
{
	struct ms_name n;
	CHECK(ms_parse("model.layers.12.attention.l2q_pe_proj.weight", MS_TRAIN, &n) == 0 && n.role == HF_Q_B_PROJ &&
		      n.part == MS_ROPE && n.layer == 12 && n.mtp == -1,
	      "l2q_pe_proj is q_b_proj's rope rows");
	CHECK(ms_parse("model.layers.12.attention.l2q_pe_proj.weight", MS_INFER, &n) == -1,
	      "the inference layout has no l2q_pe_proj");
	CHECK(ms_parse("model.layers.3.attention.kv2l.weight", MS_INFER, &n) == 0 && n.role == HF_KV_A_PROJ &&
		      n.part == MS_ROPE_INPLACE,
	      "kv2l is kv_a_proj_with_mqa with its rope rows in MindSpore order");
	CHECK(ms_parse("model.mtp_hidden_fusers.0.norm_emb.weight", MS_TRAIN, &n) == 0 && n.role == HF_MTP_ENORM &&
		      n.mtp == 0 && n.layer == -1,
	      "an MTP fuser");
	CHECK(ms_parse("model.layers.1.feed_forward.routed_experts.router.e_score_correction_bias", MS_INFER, &n) == 0 &&
		      n.role == HF_ROUTER_BIAS &&
		      ms_parse("model.layers.1.feed_forward.routed_experts.router.router.topk_bias", MS_INFER, &n) == 0 &&
		      n.role == HF_ROUTER_BIAS,
	      "both spellings of the router bias in the inference layout");
	CHECK(ms_parse("model.layers.01.ffn_norm.weight", MS_TRAIN, &n) == -1 &&
		      ms_parse("adam_m.model.layers.1.ffn_norm.weight", MS_TRAIN, &n) == -1 &&
		      ms_parse("model.layers.1.ffn_norm.weight.x", MS_TRAIN, &n) == -1,
	      "names that are not the layout's");
	CHECK(ms_layer_of("adam_m.model.layers.17.wo") == 17 && ms_layer_of("model.norm_out.weight") == -1 &&
		      ms_layer_of("xlayers.x.layers.007.a") == 7 && ms_layer_of("model.mtp_hidden_fusers.0.dense.weight") == -1,
	      "layers.N as train2infer finds it");
	const uint32_t *p = ms_rope_perm(8);
	/* stored order: HF rows 0 2 4 6 1 3 5 7 */
	CHECK(p && p[0] == 0 && p[1] == 4 && p[2] == 1 && p[3] == 5 && p[6] == 3 && p[7] == 7 && ms_rope_row(5, 8) == 3 &&
		      ms_rope_perm(8) == p && ms_rope_perm(7) == NULL,
	      "the rope de-interleave: canonical row i is stored at perm[i]");
}

/* Every tensor of `ms` equals the tensor of the same name in `hf`, the latter's values
 * rounded to bf16 where its dtype is BF16 (upstream's dequantization). */
static void compare_views(const struct view *ms, const struct view *hf, size_t want, const char *what)
{
	size_t same = 0, missing = 0;
	char first_bad[256] = "";
	for (size_t i = 0; i < ms->n; i++) {
		const struct vtensor *x = &ms->t[i], *y = view_find(hf, x->name);
		if (!y || x->rows != y->rows || x->cols != y->cols || x->ndim != y->ndim ||
		    memcmp(x->shape, y->shape, x->ndim * sizeof *x->shape)) {
			missing++;
			if (!*first_bad)
				snprintf(first_bad, sizeof first_bad, "%s (not in the HF view, or another shape)", x->name);
			continue;
		}
		float *fx = malloc(x->rows * x->cols * sizeof *fx), *fy = malloc(x->rows * x->cols * sizeof *fy);
		int r = view_read_f32(x, 0, x->rows, fx) | view_read_f32(y, 0, y->rows, fy);
		size_t bad = r != 0;
		for (uint64_t k = 0; !r && k < x->rows * x->cols; k++) {
			float v = y->dtype == DT_BF16 ? dt_bf16_to_f32(dt_f32_to_bf16(fy[k])) : fy[k];
			bad += dt_f32_bits(v) != dt_f32_bits(fx[k]);
		}
		if (bad && !*first_bad)
			snprintf(first_bad, sizeof first_bad, "%s (%zu values differ)", x->name, bad);
		same += bad == 0;
		free(fx);
		free(fy);
	}
	size_t omitted = 0;
	for (size_t i = 0; i < hf->n; i++)
		if (!view_find(ms, hf->t[i].name)) {
			if (ms->omits && ms->omits(ms, hf->t[i].name))
				omitted++;
			else if (!*first_bad)
				snprintf(first_bad, sizeof first_bad, "%s missing from the MindSpore view", hf->t[i].name);
		}
	CHECK(same == ms->n && ms->n == want && missing == 0 && ms->n + omitted == hf->n,
	      "%s: %zu of %zu tensors equal the HF source bit for bit, %zu omitted by design%s%s", what, same, ms->n,
	      omitted, *first_bad ? "; first problem: " : "", first_bad);
}

static void test_golden_views(void)
{
	struct view *hf, *tr, *in;
	if (!t_golden("views of the golden MindSpore checkpoints equal the HF source"))
		return;
	int rh = layout_open(&hf, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0);
	int rt = layout_open(&tr, t_path("CKPT_GOLDEN", "tiny-v3.mstrain"), NULL, 0);
	CHECK(rt == 0 && tr->layout == LAYOUT_MS_TRAIN && strcmp(tr->layout_name, "mindspore-train") == 0,
	      "tiny-v3.mstrain is detected as the training layout (%s)", rt ? err_last() : tr->layout_name);
	int ri = layout_open(&in, t_path("CKPT_GOLDEN", "tiny-v3.mstrain.infer"), NULL, 0);
	CHECK(ri == 0 && in->layout == LAYOUT_MS_INFER, "tiny-v3.mstrain.infer is detected as the inference layout (%s)",
	      ri ? err_last() : in->layout_name);
	if (rh == 0 && rt == 0)
		compare_views(tr, hf, 132, "training layout");
	if (rh == 0 && ri == 0)
		compare_views(in, hf, 132, "inference layout");
	if (rt == 0)
		view_free(tr);
	if (ri == 0)
		view_free(in);
	if (rh == 0)
		view_free(hf);
}

/* The training layout written from the FP8 HF checkpoint (through its view) into dir. */
static int write_train(const char *dir, enum dt dtype)
{
	struct view *v;
	struct cv_job job = {0};
	struct ms_train_out *o = NULL;
	struct cv_opts co = {.outdir = dir, .threads = 2};
	if (layout_open(&v, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0))
		return -1;
	int rc = ms_train_plan(&o, &job, v, dtype) || cv_run(&job, &co) ? -1 : 0;
	cv_job_free(&job);
	ms_train_out_free(o);
	view_free(v);
	return rc;
}

static int write_infer(const char *in, const char *out, bool transpose)
{
	struct ms_t2i *p;
	struct ms_t2i_opts o = {{1, "test"}, {4, "test"}, {64, "test"}, {64, "test"}, transpose};
	struct cv_opts co = {.outdir = out, .threads = 2};
	if (ms_t2i_plan(&p, in, &o))
		return -1;
	int rc = cv_run(&p->job, &co);
	ms_t2i_free(p);
	return rc;
}

/* Same names, dtypes, shapes and bytes in both checkpoints (shards aside). */
static void same_tensors(const char *a, const char *b, const char *what)
{
	struct ckpt *x, *y;
	if (ckpt_open(&x, a, 0) || ckpt_open(&y, b, 0)) {
		CHECK(0, "%s: %s", what, err_last());
		return;
	}
	size_t same = 0;
	for (size_t i = 0; i < x->n && x->n == y->n; i++) {
		const struct ckpt_tensor *s = &x->t[i], *t = &y->t[i];
		same += strcmp(s->name, t->name) == 0 && s->t->dtype == t->t->dtype && s->t->ndim == t->t->ndim &&
			memcmp(s->t->shape, t->t->shape, s->t->ndim * sizeof *s->t->shape) == 0 &&
			st_nbytes(s->t) == st_nbytes(t->t) && memcmp(ckpt_bytes(s), ckpt_bytes(t), st_nbytes(s->t)) == 0;
	}
	CHECK(same == x->n && x->n == y->n && x->n > 0, "%s: %zu of %zu tensors the same (names, dtypes, shapes, bytes)",
	      what, same, y->n);
	ckpt_close(x);
	ckpt_close(y);
}

static void test_written(void)
{
	struct view *hf, *v;
	if (!t_golden("the training layout written from HF equals the golden one"))
		return;
	char *f32 = path_join(tmpdir, "train-f32"), *bf = path_join(tmpdir, "train-bf16");
	char *inf = path_join(tmpdir, "infer-bf16"), *inft = path_join(tmpdir, "infer-bf16-t");
	int r1 = write_train(f32, DT_F32);
	CHECK(r1 == 0, "training layout, float32, from the FP8 checkpoint (%s)", r1 ? err_last() : "");
	if (r1 == 0)
		same_tensors(f32, t_path("CKPT_GOLDEN", "tiny-v3.mstrain"), "float32 training layout vs the golden one");
	int r2 = write_train(bf, DT_BF16);
	CHECK(r2 == 0, "training layout, bf16 (%s)", r2 ? err_last() : "");
	struct ckpt *c;
	if (r2 == 0 && ckpt_open(&c, bf, 0) == 0) {
		size_t right = 0;
		for (size_t i = 0; i < c->n; i++) {
			const char *n = c->t[i].name;
			bool f = strstr(n, "norm") || strstr(n, "router.dense") || strstr(n, "topk_bias");
			right += c->t[i].t->dtype == (f ? DT_F32 : DT_BF16);
		}
		CHECK(right == c->n && c->n == 81, "bf16 training layout: norms, router and bias F32, the rest BF16 (%zu of %zu)",
		      right, c->n);
		ckpt_close(c);
	}
	if (layout_open(&hf, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0))
		return;
	if (r2 == 0 && layout_open(&v, bf, NULL, 0) == 0) {
		compare_views(v, hf, 132, "bf16 training layout");
		view_free(v);
	}
	int r3 = r2 ? -1 : write_infer(bf, inf, false);
	CHECK(r3 == 0, "bf16 training -> inference (%s)", r3 ? err_last() : "");
	if (r3 == 0 && layout_open(&v, inf, NULL, 0) == 0) {
		compare_views(v, hf, 132, "bf16 inference layout");
		view_free(v);
	}
	int r4 = r2 ? -1 : write_infer(bf, inft, true);
	CHECK(r4 == 0, "bf16 training -> inference, experts transposed (%s)", r4 ? err_last() : "");
	if (r4 == 0 && layout_open(&v, inft, NULL, 0) == 0) {
		compare_views(v, hf, 132, "bf16 inference layout, experts transposed (marked)");
		view_free(v);
	}
	if (r4 == 0 && layout_open(&v, inft, "mindspore-infer-transposed", 0) == 0) {
		compare_views(v, hf, 132, "the same as mindspore-infer-transposed");
		view_free(v);
	}
	/* the training layout without config.json: the sizes come from the shapes */
	char *nc = path_join(tmpdir, "noconfig");
	mkdir(nc, 0777);
	const char *files[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "param_name_map.json"};
	for (int i = 0; i < 3; i++) {
		char *l = path_join(nc, files[i]), *src = xstrdup(t_path("CKPT_GOLDEN", "tiny-v3.mstrain"));
		char *t = path_join(src, files[i]);
		if (t_link_or_copy(t, l))
			CHECK(0, "copy %s", l);
		free(l);
		free(t);
		free(src);
	}
	if (layout_open(&v, nc, NULL, 0) == 0) {
		CHECK(!v->cfg, "the copy has no config.json");
		compare_views(v, hf, 132, "training layout without config.json");
		view_free(v);
	} else {
		CHECK(0, "view of the training layout without config.json (%s)", err_last());
	}
	view_free(hf);
	free(nc);
	free(f32);
	free(bf);
	free(inf);
	free(inft);
}

/* A one-tensor safetensors file in dir. */
static int write_one(const char *dir, const char *name, unsigned ndim, const uint64_t *shape)
{
	struct st_layout L;
	struct st_entry e = {name, DT_F32, ndim, shape};
	if (st_layout(&L, &e, 1, NULL, 0))
		return -1;
	char *p = path_join(dir, "one.safetensors");
	FILE *f = fopen(p, "wb");
	uint8_t *zero = xcalloc(L.data_size + 1, 1);
	int rc = f && fwrite(L.header, 1, L.header_size, f) == L.header_size &&
			 fwrite(zero, 1, L.data_size, f) == L.data_size
		 ? 0
		 : -1;
	if (f)
		fclose(f);
	free(zero);
	free(p);
	st_layout_free(&L);
	return rc;
}

/* What does not fit the layout is named. */
static void test_refusals(void)
{
	char *d = path_join(tmpdir, "half");
	mkdir(d, 0777);
	struct view *v;
	uint64_t shape[2] = {8, 4};
	if (write_one(d, "model.layers.0.attention.l2q_nope_proj.weight", 2, shape)) {
		CHECK(0, "cannot write a test file");
		return;
	}
	int r = layout_open(&v, d, "mindspore-train", 0);
	CHECK(r == -1 && strstr(err_last(), "one.safetensors: tensor \"model.layers.0.attention.l2q_nope_proj.weight\" has no "
					    "l2q_pe_proj beside it") != NULL,
	      "a split tensor without its other half is refused: %s", r ? err_last() : "opened");
	if (r == 0)
		view_free(v);
	r = layout_open(&v, d, "mindspore-train", CKPT_LENIENT);
	CHECK(r == 0 && v->nproblems == 1, "lenient: the same is a problem of the view (%zu)", r ? 0 : v->nproblems);
	if (r == 0)
		view_free(v);
	uint64_t stacked[2] = {8, 4};
	if (write_one(d, "model.layers.1.feed_forward.routed_experts.ffn.w1.weight", 2, stacked) == 0) {
		r = layout_open(&v, d, "mindspore-infer", 0);
		CHECK(r == -1 && strstr(err_last(), "[8, 4]: stacked experts need 3 dimensions") != NULL,
		      "stacked experts of 2 dimensions are refused: %s", r ? err_last() : "opened");
		if (r == 0)
			view_free(v);
	}
	free(d);
}

/* Synthetic models of other shapes (3 heads of 32 + 16 rope rows, partial FP8 blocks,
 * power-of-two scales; BF16): HF -> training (bf16) -> inference, each view equal to the
 * source's. */
static void test_synthetic(void)
{
	const char *specs[] = {"partial.json", "scales-e8m0.json", "bf16.json"};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "fixtures/specs/%s", specs[i]);
		char *hf = path_join(tmpdir, "s-hf"), *tr = path_join(tmpdir, "s-train"), *in = path_join(tmpdir, "s-infer");
		char *cmd = xasprintf("rm -rf '%s' '%s' '%s'", hf, tr, in);
		if (system(cmd) != 0)
			CHECK(0, "rm");
		struct hf_synth *hs = NULL;
		struct hf_synth_result r = {0};
		struct view *vh = NULL, *vt = NULL, *vi = NULL;
		struct cv_job job = {0};
		struct ms_train_out *o = NULL;
		struct cv_opts co = {.outdir = tr, .threads = 2};
		int rc = hf_synth_load_file(&hs, t_path("CKPT_ROOT", rel), NULL, 0) || hf_synth_write(hs, hf, 1, &r) ||
			 layout_open(&vh, hf, NULL, 0) || ms_train_plan(&o, &job, vh, DT_BF16) || cv_run(&job, &co);
		int64_t heads = vh ? vh->cfg->num_attention_heads : 0, nope = vh ? vh->cfg->qk_nope_head_dim : 0,
			rope = vh ? vh->cfg->qk_rope_head_dim : 0, firstk = vh ? vh->cfg->first_k_dense_replace : 0;
		struct ms_t2i *p = NULL;
		struct ms_t2i_opts to = {{firstk, "t"}, {heads, "t"}, {nope, "t"}, {rope, "t"}, i == 1};
		struct cv_opts ci = {.outdir = in, .threads = 2};
		rc = rc || ms_t2i_plan(&p, tr, &to) || cv_run(&p->job, &ci) || layout_open(&vt, tr, NULL, 0) ||
		     layout_open(&vi, in, NULL, 0);
		CHECK(rc == 0, "%s: synthesized, written in the training and inference layouts (%s)", specs[i],
		      rc ? err_last() : "");
		if (rc == 0) {
			char what[96];
			size_t want = vt->n;
			snprintf(what, sizeof what, "%s: training layout", specs[i]);
			compare_views(vt, vh, want, what);
			snprintf(what, sizeof what, "%s: inference layout%s", specs[i], i == 1 ? ", experts transposed" : "");
			compare_views(vi, vh, want, what);
		}
		ms_t2i_free(p);
		view_free(vi);
		view_free(vt);
		cv_job_free(&job);
		ms_train_out_free(o);
		view_free(vh);
		hf_synth_free(hs);
		buf_free(&r.notes);
		free(cmd);
		free(hf);
		free(tr);
		free(in);
	}
}

int main(void)
{
	err_init("test_mindspore");
	const char *t = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	tmpdir = xasprintf("%s/test_mindspore.%d", t, (int)getpid());
	mkdir(tmpdir, 0777);
	test_names();
	test_golden_views();
	test_written();
	test_refusals();
	test_synthetic();
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	free(cmd);
	free(tmpdir);
	return t_done();
}
