#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "out.h"
#include "pool.h"

/* ---- building a job ---- */

struct cv_file *cv_add_file(struct cv_job *j, const char *name, int group)
{
	j->files = xreallocarray(j->files, j->nfiles + 1, sizeof *j->files);
	struct cv_file *f = &j->files[j->nfiles++];
	memset(f, 0, sizeof *f);
	f->name = xstrdup(name);
	f->group = group;
	return f;
}

struct cv_tensor *cv_add_tensor(struct cv_file *f, const char *name, enum dt dtype, unsigned ndim,
				const uint64_t *shape)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->t = xreallocarray(f->t, f->cap, sizeof *f->t);
	}
	struct cv_tensor *t = &f->t[f->n++];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->dtype = dtype;
	t->ndim = ndim;
	memcpy(t->shape, shape, ndim * sizeof *shape);
	return t;
}

void cv_set_meta(struct cv_file *f, const char *key, const char *value)
{
	f->has_meta = true;
	f->meta[f->nmeta++] = (struct st_meta){key, value};
}

static struct cv_side *add_side(struct cv_job *j, const char *name)
{
	j->side = xreallocarray(j->side, j->nside + 1, sizeof *j->side);
	struct cv_side *s = &j->side[j->nside++];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	return s;
}

void cv_add_side_bytes(struct cv_job *j, const char *name, const void *bytes, size_t len)
{
	struct cv_side *s = add_side(j, name);
	s->bytes = xmalloc(len + 1);
	memcpy(s->bytes, bytes, len);
	s->len = len;
}

void cv_add_side_copy(struct cv_job *j, const char *name, const char *src)
{
	add_side(j, name)->src = xstrdup(src);
}

void cv_job_free(struct cv_job *j)
{
	for (size_t i = 0; i < j->nfiles; i++) {
		free(j->files[i].name);
		free(j->files[i].t);
		st_layout_free(&j->files[i].L);
	}
	for (size_t i = 0; i < j->nside; i++) {
		free(j->side[i].name);
		free(j->side[i].src);
		free(j->side[i].bytes);
	}
	free(j->files);
	free(j->side);
	memset(j, 0, sizeof *j);
}

/* ---- planning ---- */

int cv_plan(struct cv_job *j)
{
	for (size_t i = 0; i < j->nfiles; i++) {
		struct cv_file *f = &j->files[i];
		if (f->L.header)
			continue;
		struct st_entry *e = xcalloc(f->n + 1, sizeof *e);
		for (size_t k = 0; k < f->n; k++)
			e[k] = (struct st_entry){f->t[k].name, f->t[k].dtype, f->t[k].ndim, f->t[k].shape};
		int rc = st_layout(&f->L, e, f->n, f->has_meta ? f->meta : NULL, f->nmeta);
		free(e);
		if (rc)
			return err_prefix("%s: ", f->name);
	}
	return 0;
}

bool cv_file_complete(const struct cv_file *f, const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != f->L.file_size)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	uint8_t *h = xmalloc(f->L.header_size);
	bool same = pread(fd, h, f->L.header_size, 0) == (ssize_t)f->L.header_size &&
		    memcmp(h, f->L.header, f->L.header_size) == 0;
	free(h);
	close(fd);
	return same;
}

/* ---- writing one group ---- */

struct chunk {
	size_t file;                 /* index into the group's files */
	const struct cv_tensor *t;
	uint64_t off, n;             /* bytes of the tensor */
	uint64_t tensor_bytes;
	size_t seq;                  /* among fill chunks: picks the ring slot */
};

struct slot {
	long chunk;                  /* the chunk it holds, -1 when free */
	size_t next;                 /* the fill chunk (seq) it takes next: slot k serves seqs
					k, k + nslots, ... strictly in turn, else a later seq
					could take a freed slot before the one the writer
					waits for, and both would wait forever */
	bool ready;
	int rc;
	char err[ERR_MAX];
	uint8_t *buf;
};

struct group_run {
	struct cv_file **files;
	struct out **outs;
	size_t nfiles;
	struct chunk *c;
	size_t nc;
	size_t *fill_chunks;         /* chunk index of each fill chunk, in order */
	size_t nfill;
	struct slot *slots;
	size_t nslots;
	void **scratch;              /* one per worker */
	pthread_mutex_t mu;
	pthread_cond_t cond_ready, cond_free;
	atomic_bool abort;
	int rc;
	char err[ERR_MAX];
	uint64_t done, total;
	const struct cv_opts *o;
};

static void fail(struct group_run *g, const char *msg)
{
	pthread_mutex_lock(&g->mu);
	if (!g->rc) {
		g->rc = -1;
		snprintf(g->err, sizeof g->err, "%s", msg);
	}
	atomic_store(&g->abort, true);
	pthread_cond_broadcast(&g->cond_ready);
	pthread_cond_broadcast(&g->cond_free);
	pthread_mutex_unlock(&g->mu);
}

static void fill_one(void *arg, size_t k, unsigned worker)
{
	struct group_run *g = arg;
	size_t ci = g->fill_chunks[k];
	struct slot *s = &g->slots[k % g->nslots];
	const struct chunk *c = &g->c[ci];
	pthread_mutex_lock(&g->mu);
	while ((s->chunk != -1 || s->next != k) && !atomic_load(&g->abort))
		pthread_cond_wait(&g->cond_free, &g->mu);
	if (atomic_load(&g->abort)) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	s->chunk = (long)ci;
	s->ready = false;
	pthread_mutex_unlock(&g->mu);
	int rc = c->t->fill.fn(c->t->fill.arg, c->off, c->n, s->buf, g->scratch[worker]);
	pthread_mutex_lock(&g->mu);
	s->rc = rc;
	if (rc)
		snprintf(s->err, sizeof s->err, "%s", err_last());
	s->ready = true;
	pthread_cond_broadcast(&g->cond_ready);
	pthread_mutex_unlock(&g->mu);
}

static void drop_pages(void *ctx, const uint8_t *p, uint64_t len)
{
	(void)ctx;
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(uintptr_t)(pg - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* The part of a tensor's input that chunk c consumed, assuming it is read front to back
 * in proportion (true of copies, dequantization and row-wise gathers). */
static void input_range(const struct chunk *c, const uint8_t **p, uint64_t *len)
{
	const struct cv_tensor *t = c->t;
	unsigned __int128 a = (unsigned __int128)c->off * t->in_len / c->tensor_bytes;
	unsigned __int128 b = (unsigned __int128)(c->off + c->n) * t->in_len / c->tensor_bytes;
	*p = t->in + (uint64_t)a;
	*len = (uint64_t)(b - a);
}

static void read_ahead(void *ctx, const uint8_t *p, uint64_t len)
{
	(void)ctx;
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
	madvise((void *)a, len + ((uintptr_t)p - a), MADV_WILLNEED);
}

static void chunk_inputs(const struct chunk *c, int what, void (*each)(void *, const uint8_t *, uint64_t))
{
	const struct cv_tensor *t = c->t;
	if (t->inputs) {
		t->inputs(t->inputs_arg, c->off, c->n, what, each, NULL);
	} else if (t->in) {
		const uint8_t *p;
		uint64_t len;
		input_range(c, &p, &len);
		each(NULL, p, len);
	}
}

static void *writer(void *arg)
{
	struct group_run *g = arg;
	for (size_t ci = 0; ci < g->nc && !atomic_load(&g->abort); ci++) {
		const struct chunk *c = &g->c[ci];
		struct out *o = g->outs[c->file];
		if (ci + 4 < g->nc)
			chunk_inputs(&g->c[ci + 4], CV_IN_READ, read_ahead);
		if (c->t->copy) {
			if (out_write(o, c->t->copy + c->off, c->n)) {
				fail(g, err_last());
				break;
			}
		} else {
			struct slot *s = &g->slots[c->seq % g->nslots];
			pthread_mutex_lock(&g->mu);
			while (!(s->chunk == (long)ci && s->ready) && !atomic_load(&g->abort))
				pthread_cond_wait(&g->cond_ready, &g->mu);
			pthread_mutex_unlock(&g->mu);
			if (atomic_load(&g->abort))
				break;
			if (s->rc) {
				fail(g, s->err);
				break;
			}
			int rc = out_write(o, s->buf, c->n);
			pthread_mutex_lock(&g->mu);
			s->chunk = -1;
			s->ready = false;
			s->next += g->nslots;
			pthread_cond_broadcast(&g->cond_free);
			pthread_mutex_unlock(&g->mu);
			if (rc) {
				fail(g, err_last());
				break;
			}
		}
		chunk_inputs(c, CV_IN_DONE, drop_pages);
		g->done += c->n;
		if (g->o->progress)
			g->o->progress(g->o->progress_arg, g->done, g->total, g->files[c->file]->name);
	}
	return NULL;
}

struct order {
	const struct cv_tensor *t;
	size_t file;
	uint64_t nbytes;
};

static int by_layout(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->t->dtype != y->t->dtype)
		return x->t->dtype > y->t->dtype ? -1 : 1;
	int r = strcmp(x->t->name, y->t->name);
	if (r)
		return r;
	return (x->file > y->file) - (x->file < y->file);
}

/* All files of the group in one pass: their tensors merged in layout order (each file's
 * own order is the merged order restricted to it). */
static void make_chunks(struct group_run *g)
{
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < g->nfiles; i++)
		n += g->files[i]->n;
	struct order *ord = xcalloc(n + 1, sizeof *ord);
	n = 0;
	for (size_t i = 0; i < g->nfiles; i++)
		for (size_t k = 0; k < g->files[i]->n; k++)
			ord[n++] = (struct order){&g->files[i]->t[k], i, g->files[i]->L.nbytes[k]};
	qsort(ord, n, sizeof *ord, by_layout);
	for (size_t k = 0; k < n; k++) {
		const struct cv_tensor *t = ord[k].t;
		uint64_t nb = ord[k].nbytes, step = CV_CHUNK;
		if (!t->copy && t->chunk)
			step = t->chunk;
		if (!t->copy && t->fill.unit) {
			step = step / t->fill.unit * t->fill.unit;
			if (step == 0)
				step = t->fill.unit;
		}
		for (uint64_t off = 0; off < nb; off += step) {
			if (g->nc == cap) {
				cap = cap ? 2 * cap : 256;
				g->c = xreallocarray(g->c, cap, sizeof *g->c);
			}
			struct chunk *c = &g->c[g->nc++];
			*c = (struct chunk){ord[k].file, t, off, nb - off < step ? nb - off : step, nb, 0};
			if (!t->copy) {
				c->seq = g->nfill;
				g->fill_chunks = xreallocarray(g->fill_chunks, g->nfill + 1, sizeof *g->fill_chunks);
				g->fill_chunks[g->nfill++] = g->nc - 1;
			}
		}
	}
	free(ord);
}

static int write_group(struct cv_file **files, size_t nfiles, struct pool *pool, const struct cv_opts *o)
{
	struct group_run g = {.files = files, .nfiles = nfiles, .o = o};
	pthread_t wt;
	int rc = -1;
	unsigned nt = pool_threads(pool);
	g.outs = xcalloc(nfiles, sizeof *g.outs);
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cond_ready, NULL);
	pthread_cond_init(&g.cond_free, NULL);
	make_chunks(&g);
	size_t buf = CV_CHUNK, scratch = 0;
	for (size_t i = 0; i < g.nc; i++) {
		if (!g.c[i].t->copy && g.c[i].n > buf)
			buf = g.c[i].n;
		if (!g.c[i].t->copy && g.c[i].t->fill.scratch > scratch)
			scratch = g.c[i].t->fill.scratch;
	}
	g.nslots = g.nfill ? 2 * (size_t)nt : 0;
	g.slots = xcalloc(g.nslots + 1, sizeof *g.slots);
	for (size_t i = 0; i < g.nslots; i++) {
		g.slots[i].chunk = -1;
		g.slots[i].next = i;
		g.slots[i].buf = xmalloc(buf);
	}
	g.scratch = xcalloc(nt, sizeof *g.scratch);
	for (unsigned i = 0; i < nt && scratch; i++)
		g.scratch[i] = xmalloc(scratch);
	for (size_t i = 0; i < nfiles; i++) {
		g.total += files[i]->L.file_size - files[i]->L.header_size;
		char *path = path_join(o->outdir, files[i]->name);
		int r = out_open(&g.outs[i], path);
		free(path);
		if (r || out_write(g.outs[i], files[i]->L.header, files[i]->L.header_size))
			goto out;
	}
	if (pthread_create(&wt, NULL, writer, &g) != 0) {
		err_set("cannot start the writer thread");
		goto out;
	}
	pool_for(pool, g.nfill, fill_one, &g);
	pthread_join(wt, NULL);
	if (g.rc) {
		err_set("%s", g.err);
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		struct out *out = g.outs[i];
		g.outs[i] = NULL;
		if (out_commit(out))
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < nfiles; i++)
		out_abort(g.outs[i]);
	for (size_t i = 0; i < g.nslots; i++)
		free(g.slots[i].buf);
	for (unsigned i = 0; i < nt; i++)
		free(g.scratch[i]);
	free(g.scratch);
	free(g.slots);
	free(g.c);
	free(g.fill_chunks);
	free(g.outs);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cond_ready);
	pthread_cond_destroy(&g.cond_free);
	return rc;
}

static int copy_file(const char *src, const char *dst)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(src);
	struct out *o;
	if (out_open(&o, dst)) {
		close(fd);
		return -1;
	}
	char *b = xmalloc(1 << 20);
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, b, 1 << 20);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_errno(src);
			break;
		}
		if (r == 0)
			break;
		if ((rc = out_write(o, b, (size_t)r)))
			break;
	}
	free(b);
	close(fd);
	if (rc) {
		out_abort(o);
		return -1;
	}
	return out_commit(o);
}

static int ensure_parent(const char *outdir, const char *name)
{
	const char *slash = strrchr(name, '/');
	if (!slash)
		return 0;
	char *rel = xstrndup(name, (size_t)(slash - name));
	char *dir = path_join(outdir, rel);
	int rc = mkdir_p(dir);
	free(rel);
	free(dir);
	return rc;
}

int cv_run(struct cv_job *j, const struct cv_opts *o)
{
	if (cv_plan(j) || mkdir_p(o->outdir))
		return -1;
	int rc = 0;
	if (!o->only_side) {
		for (size_t i = 0; i < j->nfiles; i++) {
			char *path = path_join(o->outdir, j->files[i].name);
			j->files[i].skip = !o->force && cv_file_complete(&j->files[i], path);
			free(path);
			if (ensure_parent(o->outdir, j->files[i].name))
				return -1;
		}
		struct pool *pool = pool_new(o->threads);
		struct cv_file **grp = xcalloc(j->nfiles + 1, sizeof *grp);
		bool *done = xcalloc(j->nfiles + 1, sizeof *done);
		for (size_t i = 0; i < j->nfiles && !rc; i++) {
			if (done[i])
				continue;
			size_t n = 0;
			for (size_t k = i; k < j->nfiles; k++)
				if (!done[k] && j->files[k].group == j->files[i].group) {
					done[k] = true;
					if (!j->files[k].skip)
						grp[n++] = &j->files[k];
				}
			if (n)
				rc = write_group(grp, n, pool, o);
		}
		free(done);
		free(grp);
		pool_free(pool);
	}
	for (size_t i = 0; i < j->nside && !rc && !o->no_side; i++) {
		const struct cv_side *s = &j->side[i];
		char *path = path_join(o->outdir, s->name);
		rc = ensure_parent(o->outdir, s->name);
		if (!rc)
			rc = s->src ? copy_file(s->src, path) : out_write_file(path, s->bytes, s->len);
		free(path);
	}
	return rc;
}
