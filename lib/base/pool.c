#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "err.h"

struct pool {
	unsigned n;                 /* threads, the caller's included */
	pthread_t *tid;
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	unsigned long generation;   /* bumped for each loop */
	unsigned busy;              /* helper threads still in the current loop */
	bool quit;
	/* the current loop */
	void (*fn)(void *, size_t, unsigned);
	void *ctx;
	size_t items;
	atomic_size_t next;
};

struct worker_arg {
	struct pool *p;
	unsigned id;
};

unsigned cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	return 1;
}

static void run_items(struct pool *p, unsigned id)
{
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->items)
			break;
		p->fn(p->ctx, i, id);
	}
}

static void *worker(void *arg)
{
	struct worker_arg *w = arg;
	struct pool *p = w->p;
	unsigned id = w->id;
	unsigned long seen = 0;
	free(w);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && p->generation == seen)
			pthread_cond_wait(&p->start, &p->mu);
		if (p->quit)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		run_items(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pool *pool_new(unsigned n)
{
	struct pool *p = xcalloc(1, sizeof *p);
	p->n = n ? n : cpu_count();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	p->tid = xcalloc(p->n, sizeof *p->tid);
	for (unsigned i = 1; i < p->n; i++) {
		struct worker_arg *w = xmalloc(sizeof *w);
		w->p = p;
		w->id = i;
		if (pthread_create(&p->tid[i], NULL, worker, w) != 0) {
			err_say("cannot start thread %u of %u", i, p->n);
			exit(EXIT_USAGE);
		}
	}
	return p;
}

unsigned pool_threads(const struct pool *p) { return p->n; }

void pool_for(struct pool *p, size_t n, void (*fn)(void *, size_t, unsigned), void *ctx)
{
	if (p->n == 1 || n <= 1) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->items = n;
	atomic_store(&p->next, 0);
	p->busy = p->n - 1;
	p->generation++;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	run_items(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 1; i < p->n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->start);
	pthread_cond_destroy(&p->done);
	free(p->tid);
	free(p);
}
