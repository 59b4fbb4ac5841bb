/* Views: the FP8 tiny checkpoint, dequantized through its view and rounded to bf16, equals
 * upstream fp8_cast_bf16.py's output bit for bit, tensor by tensor. */
#include <math.h>

#include "ckpt.h"
#include "err.h"
#include "layout.h"
#include "t.h"

static void test_fp8_vs_upstream_bf16(void)
{
	struct view *a, *b;
	if (!t_golden("FP8 view equals upstream's BF16 output"))
		return;
	int ra = layout_open(&a, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0);
	CHECK(ra == 0, "view of the FP8 tiny checkpoint (%s)", ra ? err_last() : "");
	int rb = layout_open(&b, t_path("CKPT_GOLDEN", "tiny-v3.fp8_cast_bf16"), NULL, 0);
	CHECK(rb == 0, "view of upstream's BF16 output (%s)", rb ? err_last() : "");
	if (ra || rb)
		return;
	CHECK(a->n == b->n && a->n == 135, "both hold the same number of canonical tensors (%zu, %zu)", a->n, b->n);
	size_t fp8 = 0, same = 0, compared = 0;
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		const struct vtensor *x = &a->t[i], *y = view_find(b, x->name);
		if (!y || x->rows != y->rows || x->cols != y->cols)
			continue;
		compared++;
		fp8 += x->stored == DT_F8_E4M3;
		float *fx = malloc(x->rows * x->cols * sizeof *fx), *fy = malloc(x->rows * x->cols * sizeof *fy);
		view_read_f32(x, 0, x->rows, fx);
		view_read_f32(y, 0, y->rows, fy);
		size_t bad = 0;
		for (uint64_t k = 0; k < x->rows * x->cols; k++) {
			float r = x->dtype == DT_BF16 ? dt_bf16_to_f32(dt_f32_to_bf16(fx[k])) : fx[k];
			if (dt_f32_bits(r) != dt_f32_bits(fy[k]))
				bad++;
		}
		same += bad == 0;
		free(fx);
		free(fy);
	}
	CHECK(compared == a->n && same == compared && fp8 == 104,
	      "every tensor equal bit for bit after rounding to bf16 (%zu of %zu equal, %zu FP8)", same, compared, fp8);
	CHECK(vtensor_bytes(view_find(b, "lm_head.weight")) != NULL && vtensor_bytes(view_find(a, "model.layers.0.mlp.up_proj.weight")) == NULL,
	      "raw bytes are offered only for untransformed, unscaled tensors");
	view_free(a);
	view_free(b);
}

int main(void)
{
	err_init("test_view");
	test_fp8_vs_upstream_bf16();
	return t_done();
}
