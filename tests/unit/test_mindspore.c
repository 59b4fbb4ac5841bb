/* The MindSpore layouts: names, the rope row order, and views of the golden training and
 * inference checkpoints that equal the HF source (dequantized, rounded to bf16) bit for
 * bit, tensor by tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "layout.h"
#include "mindspore.h"
#include "t.h"

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

int main(void)
{
	err_init("test_mindspore");
	test_names();
	test_golden_views();
	return t_done();
}
