#include "linear.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kern.h"

void lin_init(struct lin *l, struct pool *pool, unsigned flags)
{
	memset(l, 0, sizeof *l);
	l->pool = pool;
	l->flags = flags;
	l->nbuf = pool_threads(pool);
	l->buf = xcalloc(l->nbuf, sizeof *l->buf);
	l->cap = xcalloc(l->nbuf, sizeof *l->cap);
}

void lin_fini(struct lin *l)
{
	for (unsigned i = 0; i < l->nbuf; i++)
		free(l->buf[i]);
	free(l->buf);
	free(l->cap);
	memset(l, 0, sizeof *l);
}

uint64_t vtensor_stored_bytes(const struct vtensor *t)
{
	uint64_t n = 0;
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		n += vpiece_nbytes(p);
		if (p->s)
			n += ((p->nr + p->bm - 1) / p->bm) * ((p->nc + p->bn - 1) / p->bn) * (dt_bits(p->s->dtype) / 8);
	}
	return n;
}

struct run {
	struct lin *l;
	const struct lin_job *jobs;
	size_t n;
	size_t *first;               /* first task of each job, n + 1 entries */
	size_t *rb;                  /* rows per task of each job */
	bool *bf16;                  /* read as BF16 (half the buffer, same values) */
};

/* Rows per task: a block of about 64 KiB of float32 weights (it stays in cache while every
 * token uses it), at least 4 rows, and small enough that every thread gets work. */
static size_t rows_per_task(size_t rows, size_t cols, unsigned threads)
{
	size_t rb = (size_t)16384 / (cols ? cols : 1);
	rb = rb < 4 ? 4 : rb > 64 ? 64 : rb & ~(size_t)3;
	while (rb > 4 && (rows + rb - 1) / rb < 4 * (size_t)threads)
		rb -= 4;
	return rb;
}

static void task(void *ctx, size_t i, unsigned worker)
{
	struct run *r = ctx;
	size_t j = 0;
	while (r->first[j + 1] <= i)
		j++;
	const struct lin_job *jb = &r->jobs[j];
	size_t K = (size_t)jb->w->cols, rows = jb->nr ? (size_t)jb->nr : (size_t)jb->w->rows;
	size_t rel = (i - r->first[j]) * r->rb[j], nr = rows - rel < r->rb[j] ? rows - rel : r->rb[j];
	size_t r0 = (size_t)jb->r0 + rel;
	float *y = jb->y + rel;
	struct lin *l = r->l;
	if (l->cap[worker] < nr * K) {
		free(l->buf[worker]);
		l->cap[worker] = nr * K;
		l->buf[worker] = xmalloc(l->cap[worker] * sizeof(float));
	}
	/* cannot fail: lin_run checked the rows and the dtype */
	if (r->bf16[j]) {
		const uint16_t *w = vtensor_bf16_direct(jb->w, r0);
		if (!w) {
			view_read_rows_bf16(jb->w, r0, nr, (uint16_t *)l->buf[worker], K);
			w = (const uint16_t *)l->buf[worker];
		}
		kern_dot_block_bf16(w, K, nr, jb->x, jb->ldx, jb->ntok, K, y, jb->ldy);
	} else {
		float *w = l->buf[worker];
		view_read_rows(jb->w, r0, nr, w, K, l->flags);
		kern_dot_block(w, K, nr, jb->x, jb->ldx, jb->ntok, K, y, jb->ldy);
	}
}

int lin_run(struct lin *l, const struct lin_job *jobs, size_t n)
{
	struct run r = {l, jobs, n, xcalloc(n + 1, sizeof(size_t)), xcalloc(n + 1, sizeof(size_t)),
			xcalloc(n + 1, sizeof(bool))};
	char q[ERR_QUOTE];
	int rc = 0;
	for (size_t j = 0; j < n; j++) {
		const struct vtensor *w = jobs[j].w;
		if (!dt_has_value(w->stored)) {
			rc = err_set("tensor %s: %s values cannot be read as numbers", err_quote(w->name, q),
				     dt_name(w->stored));
			goto out;
		}
		uint64_t rows = jobs[j].nr ? jobs[j].nr : w->rows;
		if (jobs[j].r0 > w->rows || rows > w->rows - jobs[j].r0) {
			rc = err_set("tensor %s: rows %" PRIu64 "..%" PRIu64 " of %" PRIu64, err_quote(w->name, q),
				     jobs[j].r0, jobs[j].r0 + rows, w->rows);
			goto out;
		}
		/* BF16 values (stored, or FP8 rounded as DeepSeek's dequantization does) */
		r.bf16[j] = (l->flags & VIEW_ROUND_BF16) && vtensor_bf16_readable(w);
		r.rb[j] = rows_per_task((size_t)rows, (size_t)w->cols, pool_threads(l->pool));
		r.first[j + 1] = r.first[j] + (jobs[j].ntok ? ((size_t)rows + r.rb[j] - 1) / r.rb[j] : 0);
		if (jobs[j].ntok)
			l->bytes += w->rows ? vtensor_stored_bytes(w) / w->rows * rows : 0;
		l->macs += rows * w->cols * jobs[j].ntok;
	}
	pool_for(l->pool, r.first[n], task, &r);
	for (size_t j = 0; l->release && j < n; j++)
		vtensor_release(jobs[j].w);
out:
	free(r.first);
	free(r.rb);
	free(r.bf16);
	return rc;
}
