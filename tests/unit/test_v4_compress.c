/* DeepSeek-V4's compressed attention (lib/infer/v4_compress.h) piece by piece, on cases
 * worked by hand: the gated pooling of r-token windows (HCA) and of overlapping 2r-slot
 * windows (CSA: which token's which series goes to which entry, ape per slot and series,
 * entry 0 without a previous window), large gates, which entries a query sees at a window's
 * end, and the indexer's picks: torch's topk order on ties (lib/infer/topk_torch.h), checked
 * against a row of the V4 fixture's indexer (and against torch itself where
 * fixtures/ref/topk-torch/picks.txt, scripts/ref/topkref.py's output, is there), invisible entries never picked, -1 past what a query sees. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "infer/topk_torch.h"
#include "infer/v4_compress.h"
#include "t.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-6 * (1 + fabs(b));
}

static void test_pool_hca(void)
{
	/* r = 2, hd = 1, two windows; weights exp(gate + ape) normalised per window */
	float kv[] = {1, 3, 5, 7}, gate[] = {0, (float)log(3.0), 0, 0}, ape0[] = {0, 0}, out[2];
	v4c_pool(kv, gate, ape0, 2, 2, 1, false, out);
	CHECK(near(out[0], 2.5) && near(out[1], 6), "HCA pooling: softmax of the gates weighs each window's tokens (%g %g)",
	      out[0], out[1]);
	float ape[] = {(float)log(3.0), 0};
	v4c_pool(kv, gate, ape, 2, 2, 1, false, out);
	CHECK(near(out[0], 2) && near(out[1], 5.5), "HCA pooling: ape is added per slot of the window (%g %g)", out[0],
	      out[1]);
	/* gates far beyond exp's range: the softmax still weighs them (max subtracted) */
	float big[] = {1000, 1000, -1000, 1000};
	v4c_pool(kv, big, ape0, 2, 2, 1, false, out);
	CHECK(near(out[0], 2) && near(out[1], 7), "HCA pooling: gates of +-1000 stay finite (%g %g)", out[0], out[1]);
	/* hd = 2: each channel has its own softmax */
	float kv2[] = {1, 10, 3, 30}, g2[] = {0, 0, (float)log(3.0), 0}, a2[] = {0, 0, 0, 0}, o2[2];
	v4c_pool(kv2, g2, a2, 1, 2, 2, false, o2);
	CHECK(near(o2[0], 2.5) && near(o2[1], 20), "HCA pooling: one softmax per channel (%g %g)", o2[0], o2[1]);
}

static void test_pool_csa(void)
{
	/* r = 2, hd = 1: token t's kv row is {a_t, b_t}: a_t goes to the next window's entry,
	 * b_t to its own.  Tokens 0..5: three entries; entry 0 = pool(b0, b1), entry 1 =
	 * pool(a0, a1, b2, b3), entry 2 = pool(a2, a3, b4, b5); a4, a5 are never used. */
	float kv[] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}, gate[12] = {0}, ape[4] = {0}, out[3];
	v4c_pool(kv, gate, ape, 3, 2, 1, true, out);
	CHECK(near(out[0], 15) && near(out[1], 18.25) && near(out[2], 29.25),
	      "CSA pooling: entry w = window w-1's first series and window w's second (%g %g %g)", out[0], out[1],
	      out[2]);
	/* ape [r][2 hd]: slot j's first-series bias is ape[j][0], its second-series ape[j][1] */
	float l3 = (float)log(3.0), ape2[] = {l3, 0, 0, l3};
	v4c_pool(kv, gate, ape2, 2, 2, 1, true, out);
	CHECK(near(out[0], 17.5) && near(out[1], 155.0 / 8),
	      "CSA pooling: ape per slot and series, entry 0 without a previous window (%g %g)", out[0], out[1]);
	/* the gates come with their tokens: token 1's second series weighed 3 */
	float g2[12] = {0, 0, 0, l3};
	v4c_pool(kv, g2, ape, 1, 2, 1, true, out);
	CHECK(near(out[0], 17.5), "CSA pooling: a token's gate row weighs its own series (%g)", out[0]);
	/* a4/a5 changing changes nothing (they would pool into entry 3, which T = 6 lacks) */
	float kv3[12], o3[3];
	memcpy(kv3, kv, sizeof kv);
	kv3[8] = 1e6f;
	kv3[10] = -1e6f;
	v4c_pool(kv3, gate, ape, 3, 2, 1, true, o3);
	CHECK(near(o3[0], 15) && near(o3[1], 18.25) && near(o3[2], 29.25),
	      "CSA pooling: the last window's first series goes nowhere (%g %g %g)", o3[0], o3[1], o3[2]);
}

static void test_visible(void)
{
	/* an entry is visible once its window is complete: at t = w*r + r - 1 */
	CHECK(v4c_visible(0, 4, 40) == 0 && v4c_visible(2, 4, 40) == 0 && v4c_visible(3, 4, 40) == 1 &&
		      v4c_visible(6, 4, 40) == 1 && v4c_visible(7, 4, 40) == 2 && v4c_visible(159, 4, 40) == 40,
	      "visibility at ratio 4: entry w from t = 4w + 3 on");
	CHECK(v4c_visible(126, 128, 1) == 0 && v4c_visible(127, 128, 1) == 1 && v4c_visible(159, 128, 1) == 1,
	      "visibility at ratio 128: the first entry from t = 127");
	CHECK(v4c_visible(1000, 4, 3) == 3, "visibility: never more than the entries there are");
}

static int same(const int32_t *a, const int32_t *b, size_t k)
{
	return memcmp(a, b, k * sizeof *a) == 0;
}

static void test_pick(void)
{
	struct topk_elem q[64];
	int32_t p[8];
	float s1[] = {0.1f, 0.5f, 0.3f, 0.9f, 0.2f};
	v4c_pick(s1, 5, 5, 3, p, q);
	CHECK(same(p, (int32_t[]){3, 1, 2}, 3), "picks: the best first (%d %d %d)", p[0], p[1], p[2]);
	/* query sees 2 of the 5: the best invisible one (0.9) is not picked, the rest -1 */
	v4c_pick(s1, 5, 2, 3, p, q);
	CHECK(same(p, (int32_t[]){1, 0, -1}, 3), "picks: only visible entries, -1 after (%d %d %d)", p[0], p[1], p[2]);
	v4c_pick(s1, 5, 0, 3, p, q);
	CHECK(same(p, (int32_t[]){-1, -1, -1}, 3), "picks: none visible, all -1");
	/* NaN ranks above every number in torch's comparator */
	float s2[] = {1, NAN, 2};
	v4c_pick(s2, 3, 3, 2, p, q);
	CHECK(same(p, (int32_t[]){1, 2}, 2), "picks: NaN first, as torch.topk (%d %d)", p[0], p[1]);
	/* a row of the V4 fixture (layer 1, sequence 0, query 159): 14 scores are exactly 0 and
	 * the best; torch chose 8 of them in this order */
	static const float row[40] = {
		-0.87512982f, -0.17899258f, -1.3631459f, -0.51800770f, -0.94029081f, -2.5184546f, 0, 0,
		-1.4634551f,  0,            -2.2731047f, 0,            0,            0,            -1.3146830f, -0.40027583f,
		-0.86325866f, 0,            -1.2754843f, 0,            0,            -1.2647581f,  -1.8738911f, 0,
		-0.67382169f, 0,            -0.47651476f, -0.31458193f, -1.2086942f, 0,            -0.44647580f, -1.0377631f,
		-2.6194384f,  -2.1422002f,  0,            0,            -1.1972513f, 0,            -0.54196471f, -0.19475190f};
	v4c_pick(row, 40, 40, 8, p, q);
	CHECK(same(p, (int32_t[]){12, 9, 20, 11, 19, 17, 23, 13}, 8),
	      "picks: ties at 0 in torch's order (fixture row: %d %d %d %d %d %d %d %d)", p[0], p[1], p[2], p[3], p[4],
	      p[5], p[6], p[7]);
}

/* Every case torch answered (scripts/ref/topkref.py): the same indices in the same order. */
static void test_topk_torch(void)
{
	char path[4096];
	const char *root = getenv("CKPT_ROOT");
	snprintf(path, sizeof path, "%s/fixtures/ref/topk-torch/picks.txt", root ? root : ".");
	FILE *f = fopen(path, "r");
	if (!f) {
		/* made by scripts/ref/topkref.py where torch is (the GPU machine), not made yet */
		printf("ok - topk_torch against torch's own orders # SKIP no %s\n", path);
		return;
	}
	char line[65536];
	size_t cases = 0, bad = 0, partial = 0;
	struct topk_elem *q = malloc(4096 * sizeof *q);
	int32_t got[128], want[128];
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#')
			continue;
		size_t n, k, nvals, vis;
		unsigned long long seed;
		char dt[8];
		int off;
		if (sscanf(line, "%zu %zu %zu %zu %llu %7s : %n", &n, &k, &nvals, &vis, &seed, dt, &off) != 6 || n > 4096 ||
		    k > 128) {
			bad++;
			continue;
		}
		char *s = line + off;
		for (size_t j = 0; j < k; j++) {
			int used;
			if (sscanf(s, "%d%n", &want[j], &used) != 1)
				bad++;
			s += used;
		}
		uint64_t x = seed;
		for (size_t j = 0; j < n; j++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			q[j] = (struct topk_elem){j < vis ? (double)((x >> 33) % nvals) - 1.0 : -HUGE_VAL, (int64_t)j};
		}
		topk_torch(q, n, k, got);
		cases++;
		if (!same(got, want, k)) {
			if (!bad)
				printf("# first mismatch: %s", line);
			bad++;
		}
		partial += k * 64 <= n;
	}
	fclose(f);
	free(q);
	CHECK(cases > 1000 && partial > 100 && bad == 0,
	      "topk_torch: %zu rows of ties as torch orders them (%zu by its partial_sort path), %zu differ", cases,
	      partial, bad);
}

int main(void)
{
	test_pool_hca();
	test_pool_csa();
	test_visible();
	test_pick();
	test_topk_torch();
	return t_done();
}
