/* MoE routing (lib/infer/route.h) on hand-computed cases: group-limited top-k with the
 * score correction bias, ties (lower index wins, for groups and experts), experts outside
 * the chosen groups never chosen, unbiased weights, normalisation, scaling, softmax
 * scoring, one-expert groups, NaN scores, and the configurations that cannot work. */
#include <math.h>
#include <string.h>

#include "err.h"
#include "infer/route.h"
#include "t.h"

static struct ds_config cfg(int64_t E, int64_t G, int64_t TG, int64_t K, enum score_func f, bool norm, double scale)
{
	struct ds_config c;
	memset(&c, 0, sizeof c);
	c.n_routed_experts = E;
	c.n_group = G;
	c.topk_group = TG;
	c.num_experts_per_tok = K;
	c.scoring_func = f;
	c.norm_topk_prob = norm;
	c.routed_scaling_factor = scale;
	return c;
}

static bool near(float a, double b) { return fabs((double)a - b) <= 1e-6 * (1 + fabs(b)); }

static void run(const char *name, struct ds_config c, const float *logits, const float *bias, const unsigned *want_idx,
		const double *want_w)
{
	struct route_cfg rc;
	unsigned idx[16];
	float w[16];
	if (route_cfg_init(&rc, &c)) {
		CHECK(0, "%s: configuration accepted (%s)", name, err_last());
		return;
	}
	route_token(&rc, logits, bias, idx, w);
	bool ok = true;
	for (unsigned k = 0; k < rc.top_k; k++)
		ok = ok && idx[k] == want_idx[k] && near(w[k], want_w[k]);
	CHECK(ok, "%s: experts %u,%u weights %.7g,%.7g", name, idx[0], idx[1], w[0], w[1]);
}

int main(void)
{
	err_init("test_route");
	const float zero8[8] = {0};
	const double ln3 = log(3.0);

	/* s = 0.5 everywhere; biased scores b = .625 .5 | .75 .375 | .5625 .5 | .6875 .625.
	 * Groups score 1.125, 1.125, 1.0625, 1.3125: group 3, then group 0 over group 1 (tie,
	 * lower index), so expert 2 (the best b) is out.  Among 0, 1, 6, 7: 6 (.6875), then 0
	 * and 7 tie at .625 and 0 wins.  Weights: .5 each, normalised to .5, times 2.5. */
	const float bias1[8] = {0.125f, 0, 0.25f, -0.125f, 0.0625f, 0, 0.1875f, 0.125f};
	run("sigmoid, 4 groups of 2, group and expert ties", cfg(8, 4, 2, 2, SCORE_SIGMOID, true, 2.5), zero8, bias1,
	    (unsigned[]){0, 6}, (double[]){1.25, 1.25});

	/* s = .75 .25 .5 .9; top 2: 3 and 0; weights unbiased s times 1.5, normalised or not. */
	const float lg2[4] = {(float)ln3, (float)-ln3, 0, (float)log(9.0)};
	run("sigmoid, one group, not normalised", cfg(4, 1, 1, 2, SCORE_SIGMOID, false, 1.5), lg2, NULL,
	    (unsigned[]){0, 3}, (double[]){0.75 * 1.5, 0.9 * 1.5});
	run("sigmoid, one group, normalised", cfg(4, 1, 1, 2, SCORE_SIGMOID, true, 1.5), lg2, NULL, (unsigned[]){0, 3},
	    (double[]){0.75 / 1.65 * 1.5, 0.9 / 1.65 * 1.5});

	/* The bias picks, the unbiased score weighs: b = .75+.5, .25, .5, .9-.5 -> 0 and 2. */
	const float bias3[4] = {0.5f, 0, 0, -0.5f};
	run("bias chooses, unbiased scores weigh", cfg(4, 1, 1, 2, SCORE_SIGMOID, false, 1.0), lg2, bias3,
	    (unsigned[]){0, 2}, (double[]){0.75, 0.5});

	/* softmax of 0, ln2, ln3, ln4 = .1 .2 .3 .4 */
	const float lg4[4] = {0, (float)log(2.0), (float)ln3, (float)log(4.0)};
	run("softmax, not normalised", cfg(4, 1, 1, 2, SCORE_SOFTMAX, false, 1.0), lg4, NULL, (unsigned[]){2, 3},
	    (double[]){0.3, 0.4});
	run("softmax, normalised, scaled", cfg(4, 1, 1, 2, SCORE_SOFTMAX, true, 2.0), lg4, NULL, (unsigned[]){2, 3},
	    (double[]){6.0 / 7, 8.0 / 7});

	/* b = .75 -.25 | -.5 -.5: group 0 wins; its second expert has a negative b but experts
	 * of the other group stay out (DeepSeek's -inf; transformers' 0.0 fill would pick 2). */
	const float bias5[4] = {0.25f, -0.75f, -1, -1};
	run("experts outside the chosen groups never chosen", cfg(4, 2, 1, 2, SCORE_SIGMOID, false, 1.0), zero8, bias5,
	    (unsigned[]){0, 1}, (double[]){0.5, 0.5});

	/* one expert per group: a group scores its one b */
	const float lg6[4] = {0, 3, 1, 2};
	run("groups of one expert", cfg(4, 4, 2, 2, SCORE_SIGMOID, false, 1.0), lg6, NULL, (unsigned[]){1, 3},
	    (double[]){1 / (1 + exp(-3.0)), 1 / (1 + exp(-2.0))});

	/* all equal: the lowest indices */
	run("all scores equal", cfg(8, 1, 1, 2, SCORE_SIGMOID, true, 1.0), zero8, NULL, (unsigned[]){0, 1},
	    (double[]){0.5, 0.5});

	/* NaN scores rank last */
	const float lg8[4] = {NAN, 0, 1, NAN};
	run("NaN scores rank last", cfg(4, 1, 1, 2, SCORE_SIGMOID, false, 1.0), lg8, NULL, (unsigned[]){1, 2},
	    (double[]){0.5, 1 / (1 + exp(-1.0))});

	struct route_cfg rc;
	struct ds_config c = cfg(8, 3, 1, 2, SCORE_SIGMOID, true, 1);
	CHECK(route_cfg_init(&rc, &c) == -1 && strstr(err_last(), "not a multiple of n_group"),
	      "experts not divisible into groups: %s", err_last());
	c = cfg(8, 2, 3, 2, SCORE_SIGMOID, true, 1);
	CHECK(route_cfg_init(&rc, &c) == -1 && strstr(err_last(), "topk_group 3 is more than n_group 2"),
	      "more chosen groups than groups: %s", err_last());
	c = cfg(8, 4, 1, 3, SCORE_SIGMOID, true, 1);
	CHECK(route_cfg_init(&rc, &c) == -1 && strstr(err_last(), "num_experts_per_tok 3"),
	      "more experts per token than the chosen groups hold: %s", err_last());
	return t_done();
}
