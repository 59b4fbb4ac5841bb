/* Quantization schemes as data (formats/qscheme.h): the names of a weight's scale under each
 * scheme, and back; the scale found under the first scheme that has one. */
#include <string.h>

#include "err.h"
#include "qscheme.h"
#include "t.h"

static const char *const present[] = {"a.weight_scale_inv", "b.scale", "c.weight_scale_inv", "c.scale", NULL};

static const void *find(const void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; present[i]; i++)
		if (strcmp(present[i], name) == 0)
			return present[i];
	return NULL;
}

int main(void)
{
	err_init("test_qscheme");
	char out[64];
	CHECK(nqschemes == 2, "two schemes: fp8-scale-inv, fp8-scale");
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

	s = NULL;
	CHECK(qscheme_find_scale("a.weight", find, NULL, &s) == present[0] && s == qschemes[0],
	      "a.weight: a.weight_scale_inv (fp8-scale-inv)");
	CHECK(qscheme_find_scale("a", find, NULL, &s) == NULL, "a: neither a_scale_inv nor a scale of a .weight");
	CHECK(qscheme_find_scale("b.weight", find, NULL, &s) == present[1] && s == qschemes[1], "b.weight: b.scale (fp8-scale)");
	CHECK(qscheme_find_scale("c.weight", find, NULL, &s) == present[2] && s == qschemes[0],
	      "both present: the first scheme's (c.weight_scale_inv)");
	CHECK(qscheme_find_scale("d.weight", find, NULL, &s) == NULL, "none: NULL");
	return t_done();
}
