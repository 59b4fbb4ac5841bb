/* What the C benchmarks share: the median and the best of a set of timings (sorted in
 * place). */
#ifndef CKPT_BENCH_H
#define CKPT_BENCH_H

#include <stdlib.h>

static inline int bench_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
	return v[n / 2];
}

static inline double best(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
	return v[0];
}

#endif
