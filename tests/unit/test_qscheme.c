/* Quantization schemes as data (formats/qscheme.h): the names of a weight's scale under each
 * scheme, and back. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "qscheme.h"
#include "t.h"

int main(void)
{
	err_init("test_qscheme");
	char out[64];
	CHECK(nqschemes == 3, "three schemes: fp8-scale-inv, fp8-scale, fp4-scale");
	CHECK(QSCHEME_FP4_SCALE->codes4 == qscheme_e2m1_deepseek && QSCHEME_FP4_SCALE->block[0] == 1 &&
		      QSCHEME_FP4_SCALE->block[1] == 32 && !QSCHEME_FP8_SCALE->codes4 && !QSCHEME_FP8_SCALE->block[0],
	      "fp4-scale: DeepSeek's E2M1 table (code 8 = +0), 1 x 32 groups; fp8-scale: the config's blocks");
	CHECK(qschemes_dot_scale[0] == QSCHEME_FP8_SCALE && qschemes_dot_scale[1] == QSCHEME_FP4_SCALE &&
		      !qschemes_dot_scale[2], "DeepSeek-V4's schemes: fp8-scale, then fp4-scale");
	char *n = qscheme_dot_scale_name("layers.0.ffn.experts.3.w2.weight");
	CHECK(n && strcmp(n, "layers.0.ffn.experts.3.w2.scale") == 0, "X.weight's scale is X.scale (%s)", n ? n : "NULL");
	free(n);
	CHECK(!qscheme_dot_scale_name("layers.0.attn.attn_sink"), "a name not ending .weight has no scale");
	CHECK(qscheme_scale_name(qschemes[0], "m.q_proj.weight", out, sizeof out) &&
		      strcmp(out, "m.q_proj.weight_scale_inv") == 0,
	      "fp8-scale-inv: X.weight -> X.weight_scale_inv");
	CHECK(qscheme_scale_name(qschemes[1], "layers.0.attn.wq_a.weight", out, sizeof out) &&
		      strcmp(out, "layers.0.attn.wq_a.scale") == 0,
	      "fp8-scale: X.weight -> X.scale");
	CHECK(!qscheme_scale_name(qschemes[1], "x.bias", out, sizeof out), "fp8-scale: a name not ending .weight has none");
	CHECK(!qscheme_scale_name(qschemes[0], "m.q_proj.weight", out, 8), "a name that does not fit: false");

	const struct qscheme *s = qscheme_of_scale("m.w.weight_scale_inv", out, sizeof out);
	CHECK(s == qschemes[0] && strcmp(out, "m.w.weight") == 0, "a _scale_inv names its weight");
	s = qscheme_of_scale("layers.1.ffn.w1.scale", out, sizeof out);
	CHECK(s == qschemes[1] && strcmp(out, "layers.1.ffn.w1.weight") == 0, "a .scale names its .weight");
	CHECK(!qscheme_of_scale("_scale_inv", out, sizeof out) && !qscheme_of_scale(".scale", out, sizeof out),
	      "a bare suffix names no weight");
	CHECK(!qscheme_of_scale("m.norm.weight", out, sizeof out), "a weight is no scale");

	return t_done();
}
