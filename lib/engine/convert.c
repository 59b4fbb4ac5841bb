#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tarstream.h"
#include "buf.h"
#include "pathguard.h"
#include "err.h"
#include "jsonw.h"
#include "out.h"
#include "pool.h"
#include "progress.h"
#include "readfile.h"
#include "runsums.h"

/* ---- building a job ---- */

struct cv_file *cv_add_file(struct cv_job *j, const char *name, int group)
{
	j->files = xgrow(j->files, j->nfiles, sizeof *j->files);
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
	/* shapes come from the reader, which refuses more */
	if (ndim > ST_MAX_DIMS)
		abort();
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
	j->side = xgrow(j->side, j->nside, sizeof *j->side);
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

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int side_tree(struct cv_job *j, const struct pathguard *conf, const char *dir, const char *rel,
		     int depth, bool (*keep)(const char *rel, void *arg), void *arg)
{
	if (depth > 32)
		return err_set("%s: directories nested too deep (a loop of symbolic links?)", dir);
	DIR *d = opendir(dir);
	if (!d)
		return err_errno(dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = xgrow(names, n, sizeof *names);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_name);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char *path = path_join(dir, names[i]);
		char *r = rel ? path_join(rel, names[i]) : xstrdup(names[i]);
		struct stat sb;
		if (!rc && stat(path, &sb) < 0)
			rc = err_errno(path);
		else if (!rc && S_ISDIR(sb.st_mode))
			rc = pathguard_check(conf, path) ? -1 : side_tree(j, conf, path, r, depth + 1, keep, arg);
		else if (!rc && (!keep || keep(r, arg)) && !(rc = pathguard_check(conf, path)) &&
			 !(rc = file_regular(path, &sb)))
			cv_add_side_copy(j, r, path);
		free(path);
		free(r);
		free(names[i]);
	}
	free(names);
	return rc;
}

int cv_add_side_tree(struct cv_job *j, const char *dir, bool (*keep)(const char *rel, void *arg),
		     void *arg)
{
	struct pathguard conf;
	if (pathguard_init(&conf, dir))
		return -1;
	int rc = side_tree(j, &conf, dir, NULL, 0, keep, arg);
	pathguard_free(&conf);
	return rc;
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

/* A file is kept only when it is a regular file of the directory: a symbolic link there
 * (to a file elsewhere that happens to hold the right bytes) is not ours, and is replaced. */
bool cv_file_complete(const struct cv_file *f, const char *path)
{
	struct stat sb;
	int fd = file_open(path, O_NOFOLLOW, &sb);
	if (fd < 0) {
		err_clear();
		return false;
	}
	if ((uint64_t)sb.st_size != f->L.file_size) {
		close(fd);
		return false;
	}
	uint8_t *h = xmalloc(f->L.header_size);
	bool same = pread(fd, h, f->L.header_size, 0) == (ssize_t)f->L.header_size &&
		    memcmp(h, f->L.header, f->L.header_size) == 0;
	free(h);
	close(fd);
	return same;
}

static int side_size(const struct cv_side *s, uint64_t *n);

/* Whether the directory's own regular file path holds exactly the side file's bytes (a
 * link to one elsewhere does not: it is replaced, as a complete file's link is). */
static bool side_complete(const struct cv_side *s, const char *path)
{
	struct stat sb;
	uint64_t size = 0;
	if (side_size(s, &size)) {
		err_clear();
		return false;
	}
	int fd = file_open(path, O_NOFOLLOW, &sb), src = -1;
	bool same = fd >= 0 && (uint64_t)sb.st_size == size;
	if (same && s->src && (src = file_open(s->src, 0, NULL)) < 0)
		same = false;
	enum { B = 1 << 16 };
	uint8_t *a = xmalloc(2 * B), *b = a + B;
	for (uint64_t off = 0; same && off < size;) {
		size_t n = size - off < B ? (size_t)(size - off) : B;
		same = pread(fd, a, n, (off_t)off) == (ssize_t)n &&
		       (s->src ? pread(src, b, n, (off_t)off) == (ssize_t)n && memcmp(a, b, n) == 0
			       : memcmp(a, s->bytes + off, n) == 0);
		off += n;
	}
	free(a);
	if (src >= 0)
		close(src);
	if (fd >= 0)
		close(fd);
	err_clear();
	return same;
}

static int side_size(const struct cv_side *s, uint64_t *n)
{
	struct stat sb;
	if (!s->src) {
		*n = s->len;
		return 0;
	}
	if (stat(s->src, &sb) < 0)
		return err_errno(s->src);
	*n = (uint64_t)sb.st_size;
	return 0;
}

uint64_t cv_side_bytes(const struct cv_side *s)
{
	uint64_t n = 0;
	if (side_size(s, &n))
		err_clear();
	return n;
}

uint64_t cv_job_bytes(const struct cv_job *j)
{
	uint64_t n = 0, k = 0;
	for (size_t i = 0; i < j->nfiles; i++)
		n += j->files[i].L.file_size;
	for (size_t i = 0; i < j->nside; i++)
		if (side_size(&j->side[i], &k) == 0)
			n += k;
	return n;
}

/* ---- where bytes go: a file in the output directory, or an entry of the tar stream ---- */

struct run {
	const struct cv_opts *o;
	struct tar *tar;
	struct pool *pool;
	uint64_t done, total;        /* data bytes, for progress */
	bool sums;                   /* hash what goes out, for CV_SUMS */
	/* the side files written, and their sums, recorded together at the end */
	const char **side_names;
	uint8_t (*side_sha)[SHA256_LEN];
	size_t nside;
};

struct dst {
	struct out *out;
	bool hashing;
	struct sha256 h;
	uint8_t sha[SHA256_LEN];     /* once committed */
};

static int dst_open(struct run *r, struct dst *d, const char *name, uint64_t size)
{
	d->out = NULL;
	d->hashing = false;
	if (r->tar)
		return tar_begin(r->tar, name, size);
	char *path = path_join(r->o->outdir, name);
	int rc = out_open(&d->out, path);
	free(path);
	if (rc == 0 && r->sums) {
		sha256_init(&d->h);
		d->hashing = true;
	}
	return rc;
}

/* Without hashing: the writer thread's, whose chunks a thread of their own hashes. */
static int dst_put(struct run *r, struct dst *d, const void *p, size_t n)
{
	return r->tar ? tar_write(r->tar, p, n) : out_write(d->out, p, n);
}

static int dst_write(struct run *r, struct dst *d, const void *p, size_t n)
{
	if (d->hashing)
		sha256_update(&d->h, p, n);
	return dst_put(r, d, p, n);
}

static int dst_commit(struct run *r, struct dst *d)
{
	if (r->tar)
		return tar_end(r->tar);
	if (d->hashing) {
		sha256_final(&d->h, d->sha);
		d->hashing = false;
	}
	struct out *o = d->out;
	d->out = NULL;
	return out_commit(o);
}

/* A tar entry cannot be taken back: the stream is abandoned as a whole (tar_free). */
static void dst_abort(struct dst *d)
{
	if (d->hashing) {
		uint8_t sha[SHA256_LEN];
		sha256_final(&d->h, sha);
		d->hashing = false;
	}
	out_abort(d->out);
	d->out = NULL;
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
	struct run *r;
	struct cv_file **files;
	struct dst *outs;
	size_t nfiles;
	struct chunk *c;
	size_t nc;
	size_t *fill_chunks;         /* chunk index of each fill chunk, in order */
	size_t nfill;
	struct slot *slots;
	size_t nslots;
	void **scratch;              /* one per worker */
	/* Hashing (r->sums): a thread of its own follows the writer, so that the files' sums
	 * cost no time of the writer's; a chunk's slot is free, and its input pages dropped,
	 * once it is both written and hashed. */
	bool hashing;
	size_t written;              /* chunks written, for the hasher */
	size_t hashed;               /* chunks hashed, for the writer, which stays at most
					HASH_LEAD chunks ahead: a copied chunk needs no slot, so
					without it a slow hasher would keep the input's pages of
					every copied chunk resident until it caught up */
	pthread_mutex_t mu;
	pthread_cond_t cond_ready, cond_free, cond_written, cond_hashed;
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
	pthread_cond_broadcast(&g->cond_written);
	pthread_cond_broadcast(&g->cond_hashed);
	pthread_mutex_unlock(&g->mu);
}

enum { HASH_LEAD = 4 };

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

/* Chunk ci is done with: its slot taken by the next fill chunk, its input pages dropped. */
static void chunk_done(struct group_run *g, size_t ci)
{
	const struct chunk *c = &g->c[ci];
	if (!c->t->copy) {
		struct slot *s = &g->slots[c->seq % g->nslots];
		pthread_mutex_lock(&g->mu);
		s->chunk = -1;
		s->ready = false;
		s->next += g->nslots;
		pthread_cond_broadcast(&g->cond_free);
		pthread_mutex_unlock(&g->mu);
	}
	chunk_inputs(c, CV_IN_DONE, drop_pages);
}

static void *hasher(void *arg)
{
	struct group_run *g = arg;
	for (size_t ci = 0; ci < g->nc; ci++) {
		pthread_mutex_lock(&g->mu);
		while (g->written <= ci && !atomic_load(&g->abort))
			pthread_cond_wait(&g->cond_written, &g->mu);
		pthread_mutex_unlock(&g->mu);
		if (atomic_load(&g->abort))
			break;
		const struct chunk *c = &g->c[ci];
		const uint8_t *p = c->t->copy ? c->t->copy + c->off : g->slots[c->seq % g->nslots].buf;
		sha256_update(&g->outs[c->file].h, p, c->n);
		chunk_done(g, ci);
		pthread_mutex_lock(&g->mu);
		g->hashed = ci + 1;
		pthread_cond_broadcast(&g->cond_hashed);
		pthread_mutex_unlock(&g->mu);
	}
	return NULL;
}

static void *writer(void *arg)
{
	struct group_run *g = arg;
	for (size_t ci = 0; ci < g->nc && !atomic_load(&g->abort); ci++) {
		const struct chunk *c = &g->c[ci];
		struct dst *o = &g->outs[c->file];
		if (g->hashing) {
			pthread_mutex_lock(&g->mu);
			while (ci >= g->hashed + HASH_LEAD && !atomic_load(&g->abort))
				pthread_cond_wait(&g->cond_hashed, &g->mu);
			pthread_mutex_unlock(&g->mu);
			if (atomic_load(&g->abort))
				break;
		}
		if (ci + 4 < g->nc)
			chunk_inputs(&g->c[ci + 4], CV_IN_READ, read_ahead);
		const uint8_t *p = c->t->copy ? c->t->copy + c->off : NULL;
		if (!p) {
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
			p = s->buf;
		}
		if (dst_put(g->r, o, p, c->n)) {
			fail(g, err_last());
			break;
		}
		if (g->hashing) {
			pthread_mutex_lock(&g->mu);
			g->written = ci + 1;
			pthread_cond_broadcast(&g->cond_written);
			pthread_mutex_unlock(&g->mu);
		} else {
			chunk_done(g, ci);
		}
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
				g->fill_chunks = xgrow(g->fill_chunks, g->nfill, sizeof *g->fill_chunks);
				g->fill_chunks[g->nfill++] = g->nc - 1;
			}
		}
	}
	free(ord);
}

static int write_group(struct run *r, struct cv_file **files, size_t nfiles)
{
	struct group_run g = {.r = r, .files = files, .nfiles = nfiles, .o = r->o};
	struct pool *pool = r->pool;
	pthread_t wt, ht;
	int rc = -1;
	unsigned nt = pool_threads(pool);
	g.outs = xcalloc(nfiles, sizeof *g.outs);
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cond_ready, NULL);
	pthread_cond_init(&g.cond_free, NULL);
	pthread_cond_init(&g.cond_written, NULL);
	pthread_cond_init(&g.cond_hashed, NULL);
	g.hashing = r->sums;
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
	g.done = r->done;
	g.total = r->total;
	for (size_t i = 0; i < nfiles; i++)
		if (dst_open(r, &g.outs[i], files[i]->name, files[i]->L.file_size) ||
		    dst_write(r, &g.outs[i], files[i]->L.header, files[i]->L.header_size))
			goto out;
	if (g.hashing && pthread_create(&ht, NULL, hasher, &g) != 0) {
		err_set("cannot start the hashing thread");
		goto out;
	}
	if (pthread_create(&wt, NULL, writer, &g) != 0) {
		fail(&g, "cannot start the writer thread");
		if (g.hashing)
			pthread_join(ht, NULL);
		err_set("%s", g.err);
		goto out;
	}
	pool_for(pool, g.nfill, fill_one, &g);
	pthread_join(wt, NULL);
	if (g.hashing)
		pthread_join(ht, NULL);
	if (g.rc) {
		err_set("%s", g.err);
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++)
		if (dst_commit(r, &g.outs[i]))
			goto out;
	if (r->sums) {
		const char **names = xcalloc(nfiles, sizeof *names);
		uint8_t (*sha)[SHA256_LEN] = xcalloc(nfiles, sizeof *sha);
		for (size_t i = 0; i < nfiles; i++) {
			names[i] = files[i]->name;
			memcpy(sha[i], g.outs[i].sha, SHA256_LEN);
		}
		int bad = runsums_record(r->o->outdir, names, sha, nfiles);
		free(names);
		free(sha);
		if (bad)
			goto out;
	}
	r->done = g.done;
	rc = 0;
out:
	for (size_t i = 0; i < nfiles; i++)
		dst_abort(&g.outs[i]);
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
	pthread_cond_destroy(&g.cond_written);
	pthread_cond_destroy(&g.cond_hashed);
	return rc;
}

/* A side file complete: its sum kept for the record. */
static int side_done(struct run *r, const struct cv_side *s, struct dst *d)
{
	if (dst_commit(r, d)) {
		dst_abort(d);
		return -1;
	}
	if (r->sums) {
		r->side_names = xgrow(r->side_names, r->nside, sizeof *r->side_names);
		r->side_sha = xgrow(r->side_sha, r->nside, sizeof *r->side_sha);
		r->side_names[r->nside] = s->name;
		memcpy(r->side_sha[r->nside++], d->sha, SHA256_LEN);
	}
	return 0;
}

/* A side file kept as it was (already there with exactly its bytes): its sum is recorded
 * with the others' all the same. */
static int side_kept(struct run *r, const struct cv_side *s, const char *outdir)
{
	if (!r->sums)
		return 0;
	char *path = path_join(outdir, s->name);
	r->side_names = xgrow(r->side_names, r->nside, sizeof *r->side_names);
	r->side_sha = xgrow(r->side_sha, r->nside, sizeof *r->side_sha);
	int rc = sha256_file(path, r->side_sha[r->nside]);
	free(path);
	if (rc)
		return -1;
	r->side_names[r->nside++] = s->name;
	return 0;
}

static int write_side(struct run *r, const struct cv_side *s)
{
	struct dst d;
	uint64_t size = 0;
	if (side_size(s, &size))
		return -1;
	if (!s->src) {
		if (dst_open(r, &d, s->name, size) || dst_write(r, &d, s->bytes, s->len)) {
			dst_abort(&d);
			return -1;
		}
		return side_done(r, s, &d);
	}
	int fd = file_open(s->src, 0, NULL);
	if (fd < 0)
		return -1;
	if (dst_open(r, &d, s->name, size)) {
		close(fd);
		return -1;
	}
	char *b = xmalloc(1 << 20);
	uint64_t got = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, b, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_errno(s->src);
			break;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > size || (rc = dst_write(r, &d, b, (size_t)n)))
			break;
	}
	free(b);
	close(fd);
	if (!rc && got != size)
		rc = err_set("%s: changed while being copied", s->src);
	if (rc) {
		dst_abort(&d);
		return -1;
	}
	return side_done(r, s, &d);
}

static int ensure_parent(const char *outdir, const char *name)
{
	const char *slash = strrchr(name, '/');
	if (!slash)
		return 0;
	char *rel = xstrndup(name, (size_t)(slash - name));
	int rc = mkdir_inside(outdir, rel);
	free(rel);
	return rc;
}

/* ---- claiming the output directory ---- */

static char *record_text(const char *input, const char *options)
{
	struct buf b = {0};
	struct jw w;
	jw_init(&w, &b, 0, false);
	jw_obj(&w);
	jw_kv_str(&w, "tool", err_prog());
	jw_kv_str(&w, "version", CKPT_VERSION);
	jw_kv_str(&w, "input", input);
	jw_kv_str(&w, "options", options ? options : "");
	jw_obj_end(&w);
	buf_addc(&b, '\n');
	return b.p;
}

static bool is_tmp_name(const char *name)
{
	size_t n = strlen(name), k = strlen(".ckpt-tmp");
	return name[0] == '.' && n > k && strcmp(name + n - k, ".ckpt-tmp") == 0;
}

/* Whether the directory's own regular file path holds text (a link to one elsewhere does not). */
static bool file_equals(const char *path, const char *text)
{
	struct buf b = {0};
	size_t n = strlen(text);
	int fd = file_open(path, O_NOFOLLOW, NULL);
	bool same = false;
	if (fd >= 0) {
		buf_reserve(&b, n + 1);
		ssize_t got = read(fd, b.p, n + 1);
		same = got == (ssize_t)n && memcmp(b.p, text, n) == 0;
		close(fd);
	}
	err_clear();
	buf_free(&b);
	return same;
}

/* The nearest directory of path that exists (for the free space of one to be made). */
static char *existing_ancestor(const char *path)
{
	char *p = path_resolve(path);
	struct stat sb;
	while (p && stat(p, &sb) < 0 && strcmp(p, "/") != 0) {
		char *slash = strrchr(p, '/');
		if (slash == p)
			slash[1] = 0;
		else
			*slash = 0;
	}
	return p;
}

/* dir: where the output goes (named in the message); at: the directory whose file system
 * it goes to. */
static int check_space(const char *dir, const char *at, uint64_t need)
{
	struct statvfs sv;
	if (need == 0 || statvfs(at, &sv) < 0)
		return 0; /* nothing to write, or no answer: the writes will tell */
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= need)
		return 0;
	char a[16], b[16];
	return err_set("%s: not enough free space: the output needs %s, %s are free", dir,
		       progress_bytes(need, a), progress_bytes(avail, b));
}

/* mkdir_p, refused in the words of the directory asked for when the system says no */
static int make_outdir(const char *dir)
{
	if (mkdir_p(dir) == 0)
		return 0;
	int e = errno;
	if (e == EACCES || e == EPERM || e == EROFS)
		return err_set("%s: cannot create it: %s", dir, strerror(e));
	return -1;
}

/* The output directory, made and claimed for this conversion when there is room for the
 * need bytes it will write: checked first on the file system it will be made on, so that
 * a refusal creates nothing, and again once stale temporaries are gone (they free room). */
static int claim_outdir(const struct cv_opts *o, uint64_t need)
{
	int rc = -1, dfd = -1;
	char *in = o->input ? path_resolve(o->input) : NULL, *out = path_resolve(o->outdir);
	char *rec = NULL, *recpath = path_join(o->outdir, CV_RECORD), *at = NULL;
	struct stat sb;
	if ((o->input && !in) || !out)
		goto done;
	if (in && strcmp(in, out) == 0) {
		err_set("%s: is the input directory; the output must go elsewhere", o->outdir);
		goto done;
	}
	if (in && path_within(out, in)) {
		err_set("%s: is inside the input directory %s; the output must go elsewhere", o->outdir, o->input);
		goto done;
	}
	bool existed = stat(o->outdir, &sb) == 0;
	if (!existed && (!(at = existing_ancestor(o->outdir)) || check_space(o->outdir, at, need)))
		goto done;
	if (make_outdir(o->outdir))
		goto done;
	if (!in) {
		rc = check_space(o->outdir, o->outdir, need);
		goto done;
	}
	/* one process at a time decides, so that processes sharing the directory agree */
	dfd = open(o->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		err_errno(o->outdir);
		goto done;
	}
	rec = record_text(in, o->options);
	bool same = file_equals(recpath, rec), foreign = false;
	DIR *d = opendir(o->outdir);
	if (!d) {
		err_errno(o->outdir);
		goto done;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, CV_RECORD) &&
		    strcmp(e->d_name, CV_SUMS) && !is_tmp_name(e->d_name))
			foreign = true;
	if (foreign && !same && !o->force) {
		closedir(d);
		err_set("%s: not empty, and not an earlier run of this conversion (%s); --force writes into it anyway",
			o->outdir, access(recpath, F_OK) == 0 ? "its " CV_RECORD " names another" : "no " CV_RECORD);
		goto done;
	}
	rewinddir(d);
	while ((e = readdir(d)))
		if (is_tmp_name(e->d_name)) {
			char *p = path_join(o->outdir, e->d_name);
			out_remove_stale(p); /* what stays is the business of the writer of that name */
			err_clear();
			free(p);
		}
	closedir(d);
	if (check_space(o->outdir, o->outdir, need)) {
		if (!existed)
			rmdir(o->outdir); /* made by this run, for nothing */
		goto done;
	}
	/* the sums of another conversion's files vouch for nothing here (gone before the new
	 * record names this conversion, so that no crash leaves them vouching for it) */
	if (!same && (runsums_forget(o->outdir) || out_write_file(recpath, rec, strlen(rec))))
		goto done;
	rc = 0;
done:
	if (dfd >= 0)
		close(dfd); /* drops the lock */
	free(rec);
	free(recpath);
	free(in);
	free(out);
	free(at);
	return rc;
}

/* ---- running a job ---- */

static int write_files(struct run *r, struct cv_job *j, const bool *want)
{
	int rc = 0;
	struct cv_file **grp = xcalloc(j->nfiles + 1, sizeof *grp);
	bool *done = xcalloc(j->nfiles + 1, sizeof *done);
	for (size_t i = 0; i < j->nfiles && !rc; i++) {
		if (done[i])
			continue;
		size_t n = 0;
		for (size_t k = i; k < j->nfiles; k++) {
			/* a tar stream takes one file at a time: a group is split */
			if (done[k] || j->files[k].group != j->files[i].group || (r->tar && k != i))
				continue;
			done[k] = true;
			if (want[k])
				grp[n++] = &j->files[k];
		}
		if (n)
			rc = write_group(r, grp, n);
	}
	free(done);
	free(grp);
	return rc;
}

/* Of the files that look complete (size and header), those whose bytes are not the ones
 * recorded when they were written: hashed in parallel (the one read of a kept file),
 * complete[i] cleared for each, with a warning. */
static void check_kept(struct run *r, struct cv_job *j, const struct manifest *sums, bool *complete)
{
	const struct cv_opts *o = r->o;
	struct mfile *f = xcalloc(j->nfiles + 1, sizeof *f);
	size_t *at = xcalloc(j->nfiles + 1, sizeof *at), n = 0;
	for (size_t i = 0; i < j->nfiles; i++)
		if (complete[i]) {
			f[n] = (struct mfile){.name = j->files[i].name, .size = j->files[i].L.file_size};
			at[n++] = i;
		}
	uint8_t (*sha)[SHA256_LEN] = xcalloc(n + 1, sizeof *sha);
	char **err = xcalloc(n + 1, sizeof *err);
	manifest_hash(o->outdir, f, n, r->pool, sha, err);
	for (size_t k = 0; k < n; k++) {
		const struct mentry *e = manifest_find(sums, f[k].name);
		if (!err[k] && memcmp(sha[k], e->sha, SHA256_LEN) == 0)
			continue;
		complete[at[k]] = false;
		if (!o->quiet && err[k])
			err_warn("%s: writing it again", err[k]);
		else if (!o->quiet)
			err_warn("%s/%s: changed since it was written (its SHA-256 is not the one recorded in "
				 CV_SUMS "): writing it again", o->outdir, f[k].name);
		free(err[k]);
	}
	free(err);
	free(sha);
	free(at);
	free(f);
}

int cv_run(struct cv_job *j, const struct cv_opts *o)
{
	if (cv_plan(j))
		return -1;
	struct run r = {.o = o, .sums = !o->tar && o->input};
	bool *want = xcalloc(j->nfiles + 1, sizeof *want);
	bool *complete = xcalloc(j->nfiles + 1, sizeof *complete);
	struct manifest sums = {0};
	bool files = !o->only_side && !o->finalize, sides = !o->no_side && !o->only;
	int rc = -1;
	size_t only = 0;
	if (o->only) {
		while (only < j->nfiles && strcmp(j->files[only].name, o->only))
			only++;
		if (only == j->nfiles) {
			err_set("%s: not a file of this conversion", o->only);
			goto out;
		}
	}
	if (o->tar) {
		if (o->only || o->finalize) {
			err_set("one file at a time, or finalizing, needs an output directory, not a tar stream");
			goto out;
		}
		if (tar_open_fd(&r.tar, o->tar_fd, o->tar_what ? o->tar_what : "tar stream"))
			goto out;
		for (size_t i = 0; i < j->nfiles; i++)
			want[i] = files;
	} else {
		/* what is there and what is to be written, read before anything is created, so
		 * that a refusal (not enough space) leaves nothing behind */
		if (r.sums)
			runsums_load(o->outdir, &sums);
		uint64_t need = 0, k = 0;
		for (size_t i = 0; i < j->nfiles; i++) {
			struct cv_file *f = &j->files[i];
			if (o->only && i != only)
				continue;
			char *path = path_join(o->outdir, f->name);
			complete[i] = cv_file_complete(f, path);
			free(path);
			const struct mentry *e = r.sums ? manifest_find(&sums, f->name) : NULL;
			bool recorded = !r.sums || (e && e->has_sha);
			if (o->finalize && !(complete[i] && recorded)) {
				err_set(complete[i] ? "%s/%s: not recorded as written by this conversion (no SHA-256 in "
						      CV_SUMS "): write it again before finalizing"
						    : "%s/%s: missing or incomplete: every file must be written before finalizing",
					o->outdir, f->name);
				goto out;
			}
			/* a file this conversion did not record as written is not known to be its own */
			complete[i] = complete[i] && recorded && !o->force && files;
		}
		if (r.sums && !o->finalize) {
			r.pool = pool_new(o->threads);
			check_kept(&r, j, &sums, complete);
		}
		for (size_t i = 0; i < j->nfiles && files; i++) {
			struct cv_file *f = &j->files[i];
			if (o->only && i != only)
				continue;
			f->skip = complete[i];
			want[i] = !f->skip;
			need += want[i] ? f->L.file_size : 0;
		}
		for (size_t i = 0; i < j->nside && sides; i++) {
			struct cv_side *sd = &j->side[i];
			char *path = path_join(o->outdir, sd->name);
			sd->skip = !o->force && side_complete(sd, path);
			free(path);
			if (!sd->skip && side_size(sd, &k) == 0)
				need += k;
		}
		if (claim_outdir(o, need))
			goto out;
		/* a link planted where a file's directory goes is refused before any work */
		for (size_t i = 0; i < j->nfiles; i++)
			if (!(o->only && i != only) && ensure_parent(o->outdir, j->files[i].name))
				goto out;
		for (size_t i = 0; i < j->nside && sides; i++)
			if (ensure_parent(o->outdir, j->side[i].name))
				goto out;
	}
	for (size_t i = 0; i < j->nfiles; i++)
		if (want[i])
			r.total += j->files[i].L.file_size - j->files[i].L.header_size;
	if (!r.pool)
		r.pool = pool_new(o->threads);
	rc = write_files(&r, j, want);
	pool_free(r.pool);
	r.pool = NULL;
	for (size_t i = 0; i < j->nside && !rc && sides; i++)
		rc = j->side[i].skip ? side_kept(&r, &j->side[i], o->outdir) : write_side(&r, &j->side[i]);
	if (!rc && r.sums)
		rc = runsums_record(o->outdir, r.side_names, (const uint8_t(*)[SHA256_LEN])r.side_sha, r.nside);
	if (r.tar) {
		struct tar *t = r.tar;
		r.tar = NULL;
		if (rc)
			tar_free(t);
		else
			rc = tar_close(t);
	}
out:
	pool_free(r.pool);
	tar_free(r.tar);
	manifest_free(&sums);
	free(r.side_names);
	free(r.side_sha);
	free(complete);
	free(want);
	return rc;
}

void cv_opts_output(struct cv_opts *o, const char *out, bool tar, const char *input)
{
	o->outdir = out;
	o->tar = tar;
	o->tar_fd = STDOUT_FILENO;
	o->tar_what = "standard output";
	o->input = tar ? NULL : input;
}
