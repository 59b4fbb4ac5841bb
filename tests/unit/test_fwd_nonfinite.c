/* NaN and infinity in forward-pass comparisons (lib/check/forward_compare.c) and the scan that
 * finds where they first appear (kern_first_nonfinite): a comparison over non-finite
 * values never passes and never reports "difference 0, cosine 1", whichever side holds
 * them, wherever in a row they are. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "forward.h"
#include "infer/kern.h"
#include "t.h"

static const struct fwd_limits lim = {1e-3, 0.99999, 1.0};

static void cmp(const float *a, const float *b, size_t rows, size_t cols, bool top1, struct fwd_cmp *c)
{
	c->what = "logits";
	fwd_compare(a, b, rows, cols, top1, &lim, c);
}

static void scan(void)
{
	float x[300];
	for (size_t i = 0; i < 300; i++)
		x[i] = (float)i - 150.0f;
	CHECK(kern_first_nonfinite(x, 300) == 300, "scan: all finite: n");
	x[7] = 0x1p-149f;
	x[8] = -0.0f;
	x[9] = 3.4028235e38f;
	CHECK(kern_first_nonfinite(x, 300) == 300, "scan: a subnormal, -0 and FLT_MAX are finite");
	const size_t at[] = {0, 5, 63, 64, 127, 128, 250, 299};
	const float bad[] = {NAN, INFINITY, -INFINITY, -NAN};
	bool ok = true;
	for (size_t i = 0; i < sizeof at / sizeof *at; i++)
		for (size_t k = 0; k < 4; k++) {
			float keep = x[at[i]];
			x[at[i]] = bad[k];
			ok = ok && kern_first_nonfinite(x, 300) == at[i] && kern_first_nonfinite(x, at[i]) == at[i];
			x[at[i]] = keep;
		}
	CHECK(ok, "scan: NaN, -NaN, +inf, -inf found at any position, inside and after a 64-value block");
	uint32_t payload = 0x7f800001u; /* a signalling NaN */
	memcpy(&x[70], &payload, sizeof payload);
	x[200] = NAN;
	CHECK(kern_first_nonfinite(x, 300) == 70, "scan: the first of two, a signalling NaN");
	CHECK(kern_first_nonfinite(x, 0) == 0, "scan: nothing to scan: 0");
}

static void compare(void)
{
	enum { R = 4, C = 8 };
	float a[R * C], b[R * C];
	struct fwd_cmp c;
	for (size_t i = 0; i < R * C; i++)
		a[i] = b[i] = (float)(i % C) * 0.5f;

	cmp(a, b, R, C, true, &c);
	CHECK(c.pass && c.max_abs == 0 && c.cos == 1 && c.top1_same == R && !c.nonfinite[0] && !c.nonfinite[1],
	      "equal finite arrays pass: difference 0, cosine 1, top-1 %zu/%d", c.top1_same, R);

	/* both entirely NaN: the old comparison said difference 0, cosine 1, top-1 4/4 */
	float na[R * C], nb[R * C];
	for (size_t i = 0; i < R * C; i++)
		na[i] = nb[i] = NAN;
	cmp(na, nb, R, C, true, &c);
	CHECK(!c.pass && c.nonfinite[0] == R * C && c.nonfinite[1] == R * C && c.nonfinite_row == 0 &&
		      isinf(c.max_abs) && c.cos == 0 && c.top1_same == 0,
	      "both sides NaN: fails, %zu and %zu non-finite, no top-1 agreement, max abs inf, cosine 0", c.nonfinite[0],
	      c.nonfinite[1]);

	/* one side: a single NaN, a single infinity, in a later row */
	float x[R * C];
	memcpy(x, a, sizeof x);
	x[2 * C + 5] = NAN;
	cmp(x, b, R, C, true, &c);
	CHECK(!c.pass && c.nonfinite[0] == 1 && c.nonfinite[1] == 0 && c.nonfinite_row == 2 && c.max_row == 2 &&
		      c.top1_same == R - 1,
	      "one NaN on the first side: fails, counted, row 2, its row not counted as agreeing");
	cmp(b, x, R, C, false, &c);
	CHECK(!c.pass && c.nonfinite[0] == 0 && c.nonfinite[1] == 1, "one NaN on the second side: fails");
	x[2 * C + 5] = INFINITY;
	cmp(x, x, R, C, true, &c);
	CHECK(!c.pass && c.nonfinite[0] == 1 && c.nonfinite[1] == 1, "the same infinity on both sides: fails");
	x[2 * C + 5] = -INFINITY;
	cmp(a, x, R, C, false, &c);
	CHECK(!c.pass, "-inf against a finite value: fails");

	/* the line and the JSON say what happened, not 0 and 1 */
	struct buf line = {0};
	cmp(na, nb, R, C, true, &c);
	fwd_cmp_line(&c, &line);
	CHECK(strcmp(buf_str(&line), "logits: non-finite values, 32 and 32 (first in row 0): FAIL") == 0, "line: %s",
	      buf_str(&line));
	buf_free(&line);
	struct buf js = {0};
	struct jw w;
	jw_init(&w, &js, 0, false);
	fwd_cmp_json(&c, &w);
	CHECK(strstr(buf_str(&js), "\"max_abs\":null") && strstr(buf_str(&js), "\"cosine\":null") &&
		      strstr(buf_str(&js), "\"nonfinite\":[32,32]") && strstr(buf_str(&js), "\"pass\":false"),
	      "JSON: max_abs and cosine null, the counts, pass false: %s", buf_str(&js));
	buf_free(&js);

	/* finite but huge values: no overflow into NaN in the cosine */
	float h[C], g[C];
	for (size_t i = 0; i < C; i++)
		h[i] = g[i] = 3e38f;
	cmp(h, g, 1, C, true, &c);
	CHECK(c.pass && c.cos > 0.99999 && c.cos <= 1.0000001, "huge finite values: cosine %.7f, passes", c.cos);
}

int main(void)
{
	scan();
	compare();
	return t_done();
}
