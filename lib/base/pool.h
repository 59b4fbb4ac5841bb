/* A fixed set of worker threads running parallel-for loops.  Each item is handled by
 * exactly one thread and writes only its own results, so output never depends on the
 * number of threads. */
#ifndef CKPT_POOL_H
#define CKPT_POOL_H

#include <stddef.h>

struct pool;

/* n == 0: one thread per online CPU this process may run on. */
struct pool *pool_new(unsigned n);
unsigned pool_threads(const struct pool *p);
/* fn(ctx, i, worker) for i in [0, n), spread over the pool; the caller's thread works too
 * (as worker 0).  Returns when every item is done. */
void pool_for(struct pool *p, size_t n, void (*fn)(void *ctx, size_t i, unsigned worker), void *ctx);
void pool_free(struct pool *p);

unsigned cpu_count(void);

#endif
