/* A forward pass (lib/infer) against the memory roofline.
 *
 *   bench_forward MODEL [TOKENS...]      default: 1 and 16 tokens; -j N threads, -r N runs
 *
 * MODEL is a DeepSeek-shaped checkpoint (bench/forward-model.json makes a 1.5 GB one with
 * ckpt-synth).  Baselines, measured in the same run on the same threads:
 *  - memory: a streaming read of a 1 GiB buffer (bytes per second).  The memory roofline
 *    of a pass is the bytes of the weights it touches (every attention and dense weight,
 *    the routed experts its tokens go to, the head) over that bandwidth;
 *  - compute: the dot-product kernel alone on BF16 rows that stay in cache (multiply-adds
 *    per second).  The compute floor of a pass is its multiply-adds over that rate: with
 *    many tokens per weight a pass is bound by arithmetic, not memory.
 * Printed: the median and the best of the runs (after one warm-up pass that maps the
 * pages), the bytes, both floors, and the ratios best time / memory roofline and best time /
 * max(both floors).  Baselines and ratios use best times: on a shared machine they are
 * the least disturbed measure of what the code and the machine can do. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "clock.h"
#include "err.h"
#include "forward.h"
#include "infer/kern.h"
#include "pool.h"

struct sum_ctx {
	const uint64_t *p;
	size_t n, parts;
	uint64_t out[1024];
};

static void sum_part(void *ctx, size_t i, unsigned w)
{
	(void)w;
	struct sum_ctx *c = ctx;
	size_t a = c->n / c->parts * i, b = i + 1 == c->parts ? c->n : c->n / c->parts * (i + 1);
	uint64_t s[8] = {0};
	for (size_t k = a; k + 8 <= b; k += 8)
		for (int l = 0; l < 8; l++)
			s[l] += c->p[k + l];
	c->out[i] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

/* Bytes per second of a streaming read over the pool's threads. */
static double bandwidth(struct pool *p, int runs)
{
	size_t bytes = (size_t)1 << 30, n = bytes / 8;
	uint64_t *buf = xmalloc(bytes);
	for (size_t i = 0; i < n; i++)
		buf[i] = i;
	struct sum_ctx *c = xcalloc(1, sizeof *c);
	c->p = buf;
	c->n = n;
	c->parts = 1024;
	double t[32];
	uint64_t keep = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = clock_now();
		pool_for(p, c->parts, sum_part, c);
		t[r] = clock_now() - t0;
		for (size_t i = 0; i < c->parts; i++)
			keep += c->out[i];
	}
	if (keep == 42)
		puts("");
	free(buf);
	free(c);
	return (double)bytes / best(t, runs);
}

struct mac_ctx {
	uint16_t *w[256];
	float *x[256], *y[256];
	size_t rows, cols, tok, reps;
};

static void mac_part(void *ctx, size_t i, unsigned worker)
{
	(void)i;
	struct mac_ctx *c = ctx;
	for (size_t r = 0; r < c->reps; r++)
		kern_dot_block_bf16(c->w[worker], c->cols, c->rows, c->x[worker], c->cols, c->tok, c->cols, c->y[worker],
				    c->rows);
}

/* Multiply-adds per second of the BF16 dot kernel on cached rows, tok tokens at a time. */
static double mac_rate(struct pool *p, size_t tok, int runs)
{
	struct mac_ctx c = {.rows = 16, .cols = 2048, .tok = tok, .reps = 25};
	unsigned n = pool_threads(p);
	for (unsigned i = 0; i < n; i++) {
		c.w[i] = xcalloc(c.rows * c.cols, 2);
		c.x[i] = xcalloc(tok * c.cols, sizeof(float));
		c.y[i] = xcalloc(tok * c.rows, sizeof(float));
		for (size_t k = 0; k < c.rows * c.cols; k++)
			c.w[i][k] = 0x3f80;
	}
	double t[32];
	for (int r = 0; r < runs; r++) {
		double t0 = clock_now();
		pool_for(p, 16 * n, mac_part, &c);
		t[r] = clock_now() - t0;
	}
	for (unsigned i = 0; i < n; i++) {
		free(c.w[i]);
		free(c.x[i]);
		free(c.y[i]);
	}
	return 16.0 * n * c.reps * c.rows * c.cols * tok / best(t, runs);
}

/* The 1-minute load average: other processes on the machine distort every figure. */
static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

int main(int argc, char **argv)
{
	unsigned threads = 0;
	int runs = 5, opt;
	err_init(argv[0]);
	while ((opt = getopt(argc, argv, "j:r:")) != -1) {
		if (opt == 'j')
			threads = (unsigned)atoi(optarg);
		else if (opt == 'r')
			runs = atoi(optarg);
		else
			return EXIT_USAGE;
	}
	if (optind >= argc || runs < 1 || runs > 32) {
		fprintf(stderr, "usage: bench_forward [-j N] [-r RUNS] MODEL [TOKENS...]\n");
		return EXIT_USAGE;
	}
	struct pool *p = pool_new(threads);
	struct fwd_model m;
	if (fwd_open(&m, argv[optind], NULL, NULL, p, 0)) {
		err_print();
		return EXIT_USAGE;
	}
	size_t counts[16] = {1, 16}, nc = 2;
	if (optind + 1 < argc) {
		nc = 0;
		for (int i = optind + 1; i < argc && nc < 16; i++)
			counts[nc++] = strtoul(argv[i], NULL, 10);
	}
	double bw = bandwidth(p, runs);
	printf("model %s: hidden %lld, %lld layers, %lld experts (top %lld), %u threads\n", argv[optind],
	       (long long)m.cfg.hidden_size, (long long)m.cfg.num_hidden_layers, (long long)m.cfg.n_routed_experts,
	       (long long)m.cfg.num_experts_per_tok, pool_threads(p));
	printf("memory bandwidth (streaming read of 1 GiB, best of %d): %.2f GB/s; load average %.2f\n", runs, bw / 1e9,
	       loadavg());
	printf("%7s %11s %9s %9s %11s %11s %7s %10s %9s\n", "tokens", "weights GB", "median s", "best s", "mem roof s",
	       "compute s", "ratio", "ratio max", "tokens/s");
	for (size_t k = 0; k < nc; k++) {
		struct fwd_tokens t;
		fwd_tokens_default(&t, m.cfg.vocab_size, counts[k] ? counts[k] : 1);
		double tt[32];
		uint64_t bytes = 0, macs = 0;
		for (int r = -1; r < runs; r++) {
			struct fwd_run run;
			if (fwd_forward(&m, &t, false, &run)) {
				err_print();
				return EXIT_USAGE;
			}
			if (r >= 0)
				tt[r] = run.seconds;
			bytes = run.weight_bytes;
			macs = run.macs;
			fwd_run_free(&run);
		}
		double bt = best(tt, runs), med = median(tt, runs), roof = (double)bytes / bw;
		double comp = (double)macs / mac_rate(p, t.T < 4 ? t.T : 4, runs);
		printf("%7zu %11.3f %9.4f %9.4f %11.4f %11.4f %7.2f %10.2f %9.1f\n", t.T, bytes / 1e9, med, bt, roof, comp,
		       bt / roof, bt / (roof > comp ? roof : comp), t.T / bt);
		fwd_tokens_free(&t);
	}
	printf("load average at the end: %.2f\n", loadavg());
	fwd_close(&m);
	pool_free(p);
	return 0;
}
