/* Seconds on the monotonic clock: for timing work (progress, benchmarks, reports), never
 * for dates. */
#ifndef CKPT_CLOCK_H
#define CKPT_CLOCK_H

#include <time.h>

static inline double clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
