/* Throughput of per-tensor statistics (lib/check/stats.c) against reading the same bytes.
 *
 *   bench_stats [MIB] [THREADS]     default 256 MiB of FP8 weights, all cores
 *
 * Baseline: one pass that sums the bytes of the same buffer on the same threads (what
 * reading the data costs at least).  Printed: medians of 5 runs and the ratio
 * stats / baseline, for FP8 dequantized with 128x128 scales, FP8 raw, and BF16, each read
 * through a view (lib/checkpoint/view.h) as ckpt-inspect --stats reads them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "clock.h"
#include "err.h"
#include "pool.h"
#include "stats.h"

struct sum_ctx {
	const uint8_t *p;
	size_t n, parts;
	uint64_t *out;
};

static void sum_part(void *ctx, size_t i, unsigned w)
{
	(void)w;
	struct sum_ctx *c = ctx;
	size_t a = c->n / c->parts * i, b = i + 1 == c->parts ? c->n : c->n / c->parts * (i + 1);
	const uint64_t *q = (const uint64_t *)(c->p + a);
	uint64_t s = 0;
	for (size_t k = 0; k < (b - a) / 8; k++)
		s += q[k];
	c->out[i] = s;
}

static double baseline(struct pool *p, const uint8_t *buf, size_t n)
{
	uint64_t out[256];
	struct sum_ctx c = {buf, n, 256, out};
	double t = clock_now();
	pool_for(p, 256, sum_part, &c);
	t = clock_now() - t;
	uint64_t s = 0;
	for (int i = 0; i < 256; i++)
		s += out[i];
	if (s == 42)
		puts(""); /* keep the sum alive */
	return t;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
	err_init(argv[0]);
	uint64_t cols = 7168, rows = (uint64_t)mib * 1048576 / cols;
	rows -= rows % 128;
	size_t n = (size_t)(rows * cols);
	uint8_t *w = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		w[i] = (uint8_t)(i * 2654435761u >> 13) & 0x7e; /* no NaN codes */
	uint64_t sr = rows / 128, sc = cols / 128;
	float *s = xmalloc(sr * sc * sizeof *s);
	for (uint64_t i = 0; i < sr * sc; i++)
		s[i] = 1.0f / (float)(1 + i % 7);
	/* the buffer seen as the tensors of a view: the weight with its scale, and as BF16 */
	uint64_t ws[2] = {rows, cols}, ss[2] = {sr, sc}, bs[2] = {rows, cols / 2};
	struct st_tensor wt = {"w", DT_F8_E4M3, 2, ws, n, 0, n};
	struct st_tensor st = {"w_scale_inv", DT_F32, 2, ss, sr * sc, 0, sr * sc * 4};
	struct st_tensor bt = {"x", DT_BF16, 2, bs, n / 2, 0, n};
	struct st_file wf = {.data = w}, sf = {.data = (const uint8_t *)s};
	struct view *v = view_new(LAYOUT_HF, "hf", "bench");
	view_add_whole(v, "w", &wf, &wt, &sf, &st, 128, 128);
	view_add_whole(v, "x", &wf, &bt, NULL, NULL, 0, 0);
	if (view_finish(v)) {
		err_print();
		return 2;
	}
	struct pool *p = pool_new(threads);
	struct {
		const char *what;
		const struct vtensor *t;
		bool raw;
		size_t bytes;
	} cases[] = {
		{"fp8 dequantized", view_find(v, "w"), false, n},
		{"fp8 raw", view_find(v, "w"), true, n},
		{"bf16", view_find(v, "x"), false, n},
	};
	printf("%zu MiB, %u threads, medians of 5 runs\n", n >> 20, pool_threads(p));
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		double tb[5], ts[5];
		struct tstats r;
		for (int i = 0; i < 5; i++) {
			tb[i] = baseline(p, w, cases[k].bytes);
			double t = clock_now();
			stats_views(&cases[k].t, 1, cases[k].raw, p, &r);
			ts[i] = clock_now() - t;
		}
		double b = median(tb, 5), t = median(ts, 5);
		printf("%-16s stats %7.1f MB/s %7.1f Melem/s   baseline %8.1f MB/s   stats/baseline time %.1fx\n",
		       cases[k].what, (double)cases[k].bytes / t / 1e6,
		       (double)(cases[k].t->rows * cases[k].t->cols) / t / 1e6,
		       (double)cases[k].bytes / b / 1e6, t / b);
	}
	pool_free(p);
	view_free(v);
	free(w);
	free(s);
	return 0;
}
