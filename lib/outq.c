#include "outq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct outq {
	struct out *o;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *buf[2];
	size_t cap[2], len[2];
	bool full[2];
	unsigned fill;           /* the buffer the caller fills next */
	bool quit, failed;
	char msg[ERR_MAX];       /* the writer thread's error, handed to the caller's thread */
};

static void *writer(void *arg)
{
	struct outq *q = arg;
	unsigned k = 0;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->full[k] && !q->quit)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->full[k])
			break;
		bool skip = q->failed;
		pthread_mutex_unlock(&q->mu);
		int rc = skip ? 0 : out_write(q->o, q->buf[k], q->len[k]);
		pthread_mutex_lock(&q->mu);
		if (rc) {
			q->failed = true;
			snprintf(q->msg, sizeof q->msg, "%s", err_last());
		}
		q->full[k] = false;
		pthread_cond_broadcast(&q->cv);
		k ^= 1;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int outq_new(struct outq **out, struct out *o)
{
	struct outq *q = xcalloc(1, sizeof *q);
	q->o = o;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	int e = pthread_create(&q->th, NULL, writer, q);
	if (e) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q);
		*out = NULL;
		return err_set("%s: cannot start a writer thread: %s", out_path(o), strerror(e));
	}
	*out = q;
	return 0;
}

uint8_t *outq_buf(struct outq *q, size_t n)
{
	unsigned k = q->fill;
	pthread_mutex_lock(&q->mu);
	while (q->full[k])
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	if (q->cap[k] < n) {
		free(q->buf[k]);
		q->buf[k] = xmalloc(n ? n : 1);
		q->cap[k] = n;
	}
	return q->buf[k];
}

int outq_put(struct outq *q, size_t n)
{
	pthread_mutex_lock(&q->mu);
	q->len[q->fill] = n;
	q->full[q->fill] = true;
	q->fill ^= 1;
	pthread_cond_broadcast(&q->cv);
	bool failed = q->failed;
	pthread_mutex_unlock(&q->mu);
	return failed ? err_set("%s", q->msg) : 0;
}

int outq_finish(struct outq *q)
{
	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	q->quit = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	int rc = q->failed ? err_set("%s", q->msg) : 0;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->buf[0]);
	free(q->buf[1]);
	free(q);
	return rc;
}
