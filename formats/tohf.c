/* Any layout back to HF (tohf.h): which bytes make each output tensor, which file it goes
 * to, and what the output lacks.  Nothing is read here but headers and the like index; the
 * engine streams the bytes. */
#include "tohf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dequant.h"
#include "ds_config.h"
#include "dsmp.h"
#include "err.h"
#include "family.h"
#include "hf.h"
#include "json_edit.h"
#include "mindspore.h"
#include "names.h"
#include "out.h"
#include "pathguard.h"
#include "qscheme.h"

/* ---- the like checkpoint ---- */

struct like_ent {
	const char *name;
	size_t file;                     /* into tohf_like.files */
};

struct like_file {
	const char *name;
	struct st_file *st;              /* its header and bytes; NULL when the file is not there */
};

struct tohf_like {
	char *dir;
	char *what;                      /* the index's (or the single file's) path, for messages */
	struct idx *idx;                 /* NULL: a directory of one model.safetensors */
	size_t n;
	struct like_ent *e;              /* sorted by name */
	size_t nfiles;
	struct like_file *files;         /* sorted by name */
	char *single;                    /* "model.safetensors" when there is no index */
	size_t unordered;                /* files not in the writer's order */
};

static int by_ent_name(const void *a, const void *b)
{
	return strcmp(((const struct like_ent *)a)->name, ((const struct like_ent *)b)->name);
}

static void like_free(struct tohf_like *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nfiles; i++)
		st_close(l->files[i].st);
	free(l->files);
	free(l->e);
	idx_free(l->idx);
	free(l->single);
	free(l->dir);
	free(l->what);
	free(l);
}

static bool is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* Whether f's tensors are laid out as the safetensors writer lays them out (dtype, then
 * name), which is how the output's files are. */
static bool writer_order(const struct st_file *f)
{
	struct st_entry *e = xcalloc(f->n + 1, sizeof *e);
	for (size_t i = 0; i < f->n; i++)
		e[i] = (struct st_entry){f->t[i].name, f->t[i].dtype, f->t[i].ndim, f->t[i].shape};
	struct st_layout L;
	bool laid = st_layout(&L, e, f->n, NULL, 0) == 0, same = laid;
	for (size_t k = 0; same && k < f->n; k++)
		same = L.order[k] == k;
	if (laid)
		st_layout_free(&L);
	err_clear();
	free(e);
	return same;
}

/* The index (or, in a directory without one, the one model.safetensors) and the header of
 * every file it names that is there. */
static int like_load(struct tohf_like **out, const char *path)
{
	struct tohf_like *l = xcalloc(1, sizeof *l);
	struct pathguard g = {0};
	int rc = -1;
	*out = NULL;
	if (is_dir(path)) {
		l->dir = xstrdup(path);
		l->what = path_join(path, INDEX_NAME);
		if (!exists(l->what)) {
			free(l->what);
			l->what = path_join(path, "model.safetensors");
			if (!exists(l->what)) {
				err_set("%s: no %s and no model.safetensors: not an HF checkpoint to be --like", path,
					INDEX_NAME);
				goto out;
			}
			l->single = xstrdup("model.safetensors");
		}
	} else {
		const char *slash = strrchr(path, '/');
		l->dir = slash ? xstrndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
		l->what = xstrdup(path);
		if (!ends_with(path, ".json")) {
			err_set("%s: --like takes an HF checkpoint directory or its %s", path, INDEX_NAME);
			goto out;
		}
	}
	if (pathguard_init(&g, l->dir))
		goto out;
	if (!l->single && idx_load(&l->idx, l->what))
		goto out;
	const char *const *names = l->single ? (const char *const *)&l->single : l->idx->files;
	l->nfiles = l->single ? 1 : l->idx->nfiles;
	l->files = xcalloc(l->nfiles + 1, sizeof *l->files);
	for (size_t i = 0; i < l->nfiles; i++) {
		char *p = path_join(l->dir, names[i]);
		l->files[i].name = names[i];
		int bad = exists(p) && (pathguard_check(&g, p) || st_open(&l->files[i].st, p));
		free(p);
		if (bad)
			goto out;
	}
	if (l->single) {
		const struct st_file *f = l->files[0].st;
		l->n = f->n;
		l->e = xcalloc(f->n + 1, sizeof *l->e);
		for (size_t i = 0; i < f->n; i++)
			l->e[i] = (struct like_ent){f->t[i].name, 0};
	} else {
		l->n = l->idx->n;
		l->e = xcalloc(l->n + 1, sizeof *l->e);
		for (size_t i = 0; i < l->n; i++) {
			ptrdiff_t k = -1;
			for (size_t j = 0; j < l->nfiles && k < 0; j++)
				if (strcmp(l->files[j].name, l->idx->e[i].file) == 0)
					k = (ptrdiff_t)j;
			l->e[i] = (struct like_ent){l->idx->e[i].name, (size_t)k};
		}
	}
	qsort(l->e, l->n, sizeof *l->e, by_ent_name);
	for (size_t i = 0; i < l->nfiles; i++)
		l->unordered += l->files[i].st && !writer_order(l->files[i].st);
	rc = 0;
out:
	pathguard_free(&g);
	if (rc)
		like_free(l);
	else
		*out = l;
	return rc;
}

static const struct like_ent *like_find(const struct tohf_like *l, const char *name)
{
	ptrdiff_t i = NAME_FIND(l->e, l->n, name, name);
	return i < 0 ? NULL : &l->e[i];
}

/* ---- replicated tensors ---- */

/* "rank R" for a model-parallel rank file, else the file's name. */
static void copy_name(struct buf *b, const struct view *v, const struct vpiece *p)
{
	const struct vfile *f = view_file_of(v, p->f);
	const char *name = f ? f->name : p->f->path;
	unsigned r, mp;
	if (dsmp_parse_file_name(name, &r, &mp))
		buf_printf(b, "%u", r);
	else
		buf_adds(b, name);
}

static bool whole_plain(const struct vpiece *p)
{
	return !p->transposed && !p->perm && !p->codes4 && p->sr == 0 && p->sc == 0 &&
	       vpiece_nbytes(p) == st_nbytes(p->t);
}

/* The first byte at which piece b differs from piece a (same size), or UINT64_MAX. */
static int piece_differs(const struct vpiece *a, const struct vpiece *b, uint64_t *at)
{
	*at = UINT64_MAX;
	if (whole_plain(a) && whole_plain(b)) {
		const uint8_t *x = st_bytes(a->f, a->t), *y = st_bytes(b->f, b->t);
		uint64_t n = st_nbytes(a->t);
		for (uint64_t off = 0; off < n; off += CV_CHUNK) {
			uint64_t k = n - off < CV_CHUNK ? n - off : CV_CHUNK;
			if (memcmp(x + off, y + off, k) == 0)
				continue;
			for (uint64_t i = 0; i < k; i++)
				if (x[off + i] != y[off + i]) {
					*at = off + i;
					return 0;
				}
		}
		return 0;
	}
	uint64_t row = vpiece_nbytes(a) / (a->nr ? a->nr : 1);
	uint8_t *x = xmalloc(row ? row : 1), *y = xmalloc(row ? row : 1);
	int rc = 0;
	for (uint64_t i = 0; i < a->nr && *at == UINT64_MAX; i++) {
		if ((rc = vpiece_read_bytes(a, i, 1, x)) || (rc = vpiece_read_bytes(b, i, 1, y)))
			break;
		for (uint64_t j = 0; j < row; j++)
			if (x[j] != y[j]) {
				*at = i * row + j;
				break;
			}
	}
	free(x);
	free(y);
	return rc;
}

static int replicas_of(const struct view *v, const struct vtensor *t)
{
	char q[ERR_QUOTE];
	struct buf which = {0}, files = {0};
	uint64_t first = UINT64_MAX;
	size_t ndiff = 0;
	for (size_t r = 0; r < t->nreplicas; r++) {
		uint64_t at;
		if (vpiece_nbytes(&t->replica[r]) != vpiece_nbytes(&t->p[0])) {
			at = 0;
		} else if (piece_differs(&t->p[0], &t->replica[r], &at)) {
			buf_free(&which);
			buf_free(&files);
			return err_prefix("%s: ", v->path);
		}
		/* a copy compared is not read again: its pages leave the resident set, so that
		 * the comparison holds two copies at a time, not every rank's of every
		 * replicated tensor (150 MB at mp 8 with the 671B model's shapes) */
		vtensor_release(&(struct vtensor){.npieces = 1, .p = &t->replica[r]});
		if (at == UINT64_MAX)
			continue;
		if (at < first)
			first = at;
		buf_adds(&which, ndiff ? ", " : "");
		copy_name(&which, v, &t->replica[r]);
		const struct vfile *f = view_file_of(v, t->replica[r].f);
		buf_printf(&files, ", %s", f ? f->name : t->replica[r].f->path);
		ndiff++;
	}
	vtensor_release(t); /* read again when written, from the page cache */
	if (!ndiff)
		return 0;
	struct buf b = {0};
	copy_name(&b, v, &t->p[0]);
	const struct vfile *f0 = view_file_of(v, t->p[0].f);
	bool ranks = dsmp_info(v) != NULL;
	err_set("%s: tensor %s is replicated, but the cop%s of %s%s differ%s from %s%s's (%s%s), first at byte %" PRIu64,
		v->path, err_quote(t->name, q), ndiff == 1 ? "y" : "ies", ranks ? ndiff == 1 ? "rank " : "ranks " : "",
		buf_str(&which), ndiff == 1 ? "s" : "", ranks ? "rank " : "", buf_str(&b), f0 ? f0->name : "",
		buf_str(&files), first);
	buf_free(&b);
	buf_free(&which);
	buf_free(&files);
	return -1;
}

int tohf_replicas_agree(const struct view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct vtensor *t = &v->t[i];
		if (t->nreplicas && replicas_of(v, t))
			return -1;
		if (t->scale && t->scale->nreplicas && replicas_of(v, t->scale))
			return -1;
	}
	return 0;
}

/* ---- the bytes of a view's tensor ---- */

static int elems_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct vtensor *t = arg;
	uint64_t es = dt_bits(t->stored) / 8;
	(void)scratch;
	return view_read_elems(t, off / es, n / es, dst);
}

/* The stored bytes of the rows [r0, r1) of t that each piece holds (whole stored tensors
 * for transposed or permuted pieces). */
static void elems_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			 void (*each)(void *ctx, const uint8_t *p, uint64_t len), void *ctx)
{
	const struct vtensor *t = arg;
	uint64_t es = dt_bits(t->stored) / 8, rowb = t->cols * es, total = t->rows * rowb;
	if (!rowb)
		return;
	uint64_t r0 = off / rowb, r1 = (off + n + rowb - 1) / rowb;
	if (what == CV_IN_DONE && off + n < total)
		r1 = (off + n) / rowb; /* the rows this chunk completes */
	for (size_t k = 0; k < t->npieces; k++) {
		const struct vpiece *p = &t->p[k];
		const uint8_t *base = st_bytes(p->f, p->t);
		if (p->transposed || p->perm) {
			if (what == CV_IN_READ || off + n == total)
				each(ctx, base, st_nbytes(p->t));
			continue;
		}
		uint64_t lo = r0 > p->dr ? r0 : p->dr, hi = r1 < p->dr + p->nr ? r1 : p->dr + p->nr;
		if (lo >= hi)
			continue;
		uint64_t C = p->t->ndim ? p->t->shape[p->t->ndim - 1] : 1;
		uint64_t a = ((p->sr + lo - p->dr) * C + p->sc) * es, b = ((p->sr + hi - 1 - p->dr) * C + p->sc + p->nc) * es;
		each(ctx, base + a, b - a);
	}
}

/* An output tensor holding t's stored bytes. */
static int add_view_tensor(struct cv_file *f, const struct vtensor *t)
{
	char q[ERR_QUOTE];
	if (t->npieces == 1 && whole_plain(&t->p[0])) {
		/* one stored tensor as it is (packed 4-bit codes too) */
		const struct st_tensor *s = t->p[0].t;
		struct cv_tensor *o = cv_add_tensor(f, t->name, s->dtype, s->ndim, s->shape);
		o->copy = st_bytes(t->p[0].f, s);
		o->in = o->copy;
		o->in_len = st_nbytes(s);
		return 0;
	}
	if (!vtensor_byte_elems(t))
		return err_set("tensor %s: stored in pieces of %s, smaller than a byte: ckpt-to-hf cannot join them",
			       err_quote(t->name, q), dt_name(t->stored));
	for (size_t k = 0; k < t->npieces; k++)
		if (t->p[k].t->dtype != t->stored)
			return err_set("tensor %s: its pieces are stored as %s and %s", err_quote(t->name, q),
				       dt_name(t->stored), dt_name(t->p[k].t->dtype));
	struct cv_tensor *o = cv_add_tensor(f, t->name, t->stored, t->ndim, t->shape);
	uint64_t es = dt_bits(t->stored) / 8;
	o->fill = (struct cv_fill){elems_fill, t, es, 0};
	o->inputs = elems_inputs;
	o->inputs_arg = t;
	/* a chunk reads as much input as it writes, in as many pieces as t has */
	return 0;
}

/* ---- the plan ---- */

/* What goes out: a view tensor, or a like tensor (fill_from_like). */
struct item {
	const char *name;
	const struct vtensor *t;         /* NULL: from the like checkpoint */
	const struct like_file *lf;
	const struct st_tensor *lt;
	uint64_t bytes;
	bool out;                        /* written */
};

static int by_item_name(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

struct ctx {
	struct tohf *p;
	const struct view *v;
	const struct tohf_opts *o;
	int64_t nlayers;                 /* num_hidden_layers, -1 unknown */
	size_t n;
	struct item *it;                 /* the view's stored tensors, sorted by name */
	size_t nord;
	const char **ord;                /* the expected names, in order (family's or like's) */
};

static struct item *item_find(struct ctx *x, const char *name)
{
	ptrdiff_t i = NAME_FIND(x->it, x->n, name, name);
	return i < 0 ? NULL : &x->it[i];
}

static void missing_add(struct tohf *p, const char *name)
{
	p->missing = xgrow(p->missing, p->nmissing, sizeof *p->missing);
	p->missing[p->nmissing++] = xstrdup(name);
}

static void mtp_add(struct tohf *p, uint64_t layer)
{
	for (size_t i = 0; i < p->nmtp; i++)
		if (p->mtp_left_out[i] == layer)
			return;
	size_t i = p->nmtp;
	p->mtp_left_out = xreallocarray(p->mtp_left_out, p->nmtp + 1, sizeof *p->mtp_left_out);
	while (i > 0 && p->mtp_left_out[i - 1] > layer) {
		p->mtp_left_out[i] = p->mtp_left_out[i - 1];
		i--;
	}
	p->mtp_left_out[i] = layer;
	p->nmtp++;
}

static bool is_mtp(const struct ctx *x, const char *name, uint64_t *layer)
{
	return dsmp_is_mtp(name, x->nlayers, layer);
}

/* The expected names: the like index's, or the family's inventory (weights; a weight's
 * scale follows it where the view stores one, and counts as missing where its weight is). */
static int expected_names(struct ctx *x, struct hf_layout **L)
{
	*L = NULL;
	if (x->p->like) {
		struct tohf_like *l = x->p->like;
		x->ord = xcalloc(l->n + 1, sizeof *x->ord);
		for (size_t i = 0; i < l->n; i++)
			x->ord[x->nord++] = l->e[i].name;
		return 0;
	}
	const struct ds_config *c = x->v->cfg;
	if (!c || !c->family)
		return 0;
	if (c->family->expected(L, c, x->o->config_path ? x->o->config_path : "config.json"))
		return -1;
	x->ord = xcalloc((*L)->nentries + 1, sizeof *x->ord);
	for (size_t i = 0; i < (*L)->nentries; i++)
		x->ord[x->nord++] = (*L)->e[i].name;
	return 0;
}

/* Whether expected name i is the block scale of a weight the view stores unscaled (a BF16
 * checkpoint of a quantized config, or --like an FP8 checkpoint): not expected. */
static bool scale_not_stored(struct ctx *x, size_t i)
{
	const char *name = x->ord[i];
	size_t n = strlen(name) + 1;
	char *weight = xmalloc(n);
	bool r = false;
	if (qscheme_of_scale(name, weight, n)) {
		const struct item *w = item_find(x, weight);
		r = w && w->t && !w->t->scale;
	}
	free(weight);
	return r;
}

/* What to write: every expected name the view has (or the like fills), then the view's
 * tensors nothing expected (refused with like); what is missing; the MTP layers left out. */
static int choose(struct ctx *x, struct item **outp, size_t *nout)
{
	char q[ERR_QUOTE];
	struct tohf *p = x->p;
	const struct tohf_opts *o = x->o;
	struct item *out = xcalloc(x->nord + x->n + 1, sizeof *out);
	size_t n = 0;
	bool mtp_gone = false;
	uint64_t layer;
	/* the MTP layers go whole: when any of their tensors is missing (and not filled) */
	for (size_t i = 0; i < x->nord && !o->drop_mtp; i++) {
		if (item_find(x, x->ord[i]) || scale_not_stored(x, i) || !is_mtp(x, x->ord[i], &layer))
			continue;
		if (o->fill_from_like)
			continue;
		mtp_gone = true;
	}
	for (size_t i = 0; i < x->nord; i++) {
		const char *name = x->ord[i];
		struct item *it = item_find(x, name);
		if (scale_not_stored(x, i))
			continue;
		if ((o->drop_mtp || mtp_gone) && is_mtp(x, name, &layer)) {
			mtp_add(p, layer);
			if (mtp_gone)
				missing_add(p, name);
			if (it)
				it->out = true; /* (left out, not extra) */
			continue;
		}
		if (it) {
			if (!it->out)
				out[n++] = *it;
			it->out = true;
			continue;
		}
		const struct like_ent *le = p->like ? like_find(p->like, name) : NULL;
		if (!o->fill_from_like || !le) {
			missing_add(p, name);
			continue;
		}
		const struct like_file *lf = &p->like->files[le->file];
		if (!lf->st) {
			char *path = path_join(p->like->dir, lf->name);
			err_set("%s: not there, and --fill-from-like takes tensor %s from it", path, err_quote(name, q));
			free(path);
			free(out);
			return -1;
		}
		const struct st_tensor *lt = st_find(lf->st, name);
		if (!lt) {
			err_set("%s: tensor %s is not in it, though %s says so", lf->st->path, err_quote(name, q),
				p->like->what);
			free(out);
			return -1;
		}
		out[n++] = (struct item){name, NULL, lf, lt, st_nbytes(lt), true};
		p->nfilled++;
	}
	/* the view's tensors nothing expected, by name */
	for (size_t i = 0; i < x->n; i++) {
		struct item *it = &x->it[i];
		if (it->out)
			continue;
		if (p->like) {
			err_set("tensor %s: %s does not name it, so --like has no file to put it in", err_quote(it->name, q),
				p->like->what);
			free(out);
			return -1;
		}
		if (o->drop_mtp && is_mtp(x, it->name, &layer)) {
			mtp_add(p, layer);
			continue;
		}
		out[n++] = *it;
	}
	*outp = out;
	*nout = n;
	return 0;
}

static int add_item(struct cv_file *f, const struct item *it)
{
	if (it->t)
		return add_view_tensor(f, it->t);
	struct cv_tensor *o = cv_add_tensor(f, it->name, it->lt->dtype, it->lt->ndim, it->lt->shape);
	o->copy = st_bytes(it->lf->st, it->lt);
	o->in = o->copy;
	o->in_len = st_nbytes(it->lt);
	return 0;
}

/* With like: each tensor into the file the index names, each file with its metadata. */
static int place_like(struct ctx *x, const struct item *it, size_t n)
{
	struct tohf *p = x->p;
	struct tohf_like *l = p->like;
	ptrdiff_t *fi = xcalloc(l->nfiles + 1, sizeof *fi);
	int rc = 0;
	for (size_t i = 0; i < l->nfiles; i++)
		fi[i] = -1;
	/* files in the index's order of names (model-00001-of-... first) */
	for (size_t i = 0; i < n && !rc; i++) {
		size_t k = like_find(l, it[i].name)->file;
		if (fi[k] < 0)
			fi[k] = 0;
	}
	size_t nf = 0;
	for (size_t k = 0; k < l->nfiles; k++) {
		if (fi[k] < 0)
			continue;
		fi[k] = (ptrdiff_t)nf++;
		struct cv_file *f = cv_add_file(&p->job, l->files[k].name, (int)fi[k]);
		const struct st_file *st = l->files[k].st;
		if (!st) {
			cv_set_meta(f, "format", "pt");
			continue;
		}
		if (st->nmeta > sizeof f->meta / sizeof *f->meta) {
			rc = err_set("%s: %zu __metadata__ entries, more than the %zu ckpt-to-hf writes", st->path,
				     st->nmeta, sizeof f->meta / sizeof *f->meta);
			break;
		}
		for (size_t m = 0; m < st->nmeta; m++)
			cv_set_meta(f, st->meta[m].key, st->meta[m].value);
		f->has_meta = st->has_meta;
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = add_item(&p->job.files[fi[like_find(l, it[i].name)->file]], &it[i]);
	free(fi);
	return rc;
}

/* Without like: shards of at most shard_size bytes, as huggingface_hub cuts them. */
static int place_sharded(struct ctx *x, const struct item *it, size_t n)
{
	struct tohf *p = x->p;
	uint64_t max = x->o->shard_size ? x->o->shard_size : TOHF_SHARD_SIZE, cur = 0;
	size_t *shard = xcalloc(n + 1, sizeof *shard), ns = 0;
	bool open = false;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = it[i].t ? 0 : it[i].bytes;
		if (it[i].t) {
			const struct vtensor *t = it[i].t;
			b = t->npieces == 1 && whole_plain(&t->p[0]) ? st_nbytes(t->p[0].t)
										   : t->rows * t->cols * (dt_bits(t->stored) / 8);
		}
		if (b > max) {
			shard[i] = ns++;
			open = false;
			cur = 0;
			continue;
		}
		if (!open || cur + b > max) {
			ns++;
			open = true;
			cur = 0;
		}
		shard[i] = ns - 1;
		cur += b;
	}
	if (ns == 0)
		ns = 1;
	if (ns > 99999) {
		free(shard);
		return err_set("%zu shards: more than the 99999 HF's names number (give a larger --shard-size)", ns);
	}
	for (size_t s = 0; s < ns; s++) {
		char *name = xasprintf("model-%05zu-of-%05zu.safetensors", s + 1, ns);
		struct cv_file *f = cv_add_file(&p->job, name, (int)s);
		free(name);
		cv_set_meta(f, "format", "pt");
	}
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = add_item(&p->job.files[shard[i]], &it[i]);
	free(shard);
	return rc;
}

static int by_idx_name(const void *a, const void *b)
{
	return strcmp(((const struct idx_entry *)a)->name, ((const struct idx_entry *)b)->name);
}

static void plan_index(struct tohf *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->job.nfiles; i++)
		n += p->job.files[i].n;
	struct idx_entry *e = xcalloc(n + 1, sizeof *e);
	n = 0;
	p->total_size = 0;
	for (size_t i = 0; i < p->job.nfiles; i++) {
		const struct cv_file *f = &p->job.files[i];
		for (size_t k = 0; k < f->n; k++) {
			e[n++] = (struct idx_entry){f->t[k].name, f->name};
			p->total_size += f->L.nbytes[k];
		}
	}
	qsort(e, n, sizeof *e, by_idx_name);
	struct buf b = {0};
	idx_render(&b, e, n, &p->total_size);
	cv_add_side_bytes(&p->job, INDEX_NAME, b.p, b.len);
	buf_free(&b);
	free(e);
	p->ntensors = n;
}

static bool writes_fp8(const struct tohf *p)
{
	for (size_t i = 0; i < p->job.nfiles; i++)
		for (size_t k = 0; k < p->job.files[i].n; k++)
			if (quant_weight_dtype(p->job.files[i].t[k].dtype))
				return true;
	return false;
}

static int plan_config(struct ctx *x)
{
	struct tohf *p = x->p;
	const char *path = x->o->config_path;
	if (!path)
		return 0;
	struct json_edit e[2];
	size_t ne = 0;
	if (p->nmtp)
		e[ne++] = (struct json_edit){"num_nextn_predict_layers", "0"};
	if (x->v->cfg && x->v->cfg->quant.present && !writes_fp8(p))
		e[ne++] = (struct json_edit){"quantization_config", NULL};
	if (!ne) {
		cv_add_side_copy(&p->job, "config.json", path);
		return 0;
	}
	struct buf out = {0};
	int rc = json_edit_file(&out, path, e, ne);
	if (!rc)
		cv_add_side_bytes(&p->job, "config.json", out.p, out.len);
	buf_free(&out);
	return rc;
}

/* The files beside the weights: not the shards, indexes, config.json or a layout's own
 * records. */
static bool keep_side(const char *rel, void *arg)
{
	(void)arg;
	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	return !ends_with(rel, ".safetensors") && !ends_with(base, ".safetensors.index.json") &&
	       strcmp(rel, "config.json") && strcmp(rel, DSMP_RECORD) && strcmp(rel, MS_MAP_NAME);
}

/* ...and of a like directory, those the input lacks */
static bool keep_like_side(const char *rel, void *arg)
{
	const struct cv_job *j = arg;
	if (!keep_side(rel, NULL))
		return false;
	for (size_t i = 0; i < j->nside; i++)
		if (strcmp(j->side[i].name, rel) == 0)
			return false;
	return true;
}

int tohf_plan(struct tohf *p, const struct view *v, const struct tohf_opts *o)
{
	memset(p, 0, sizeof *p);
	struct ctx x = {p, v, o, v->cfg ? v->cfg->num_hidden_layers : -1, 0, NULL, 0, NULL};
	struct hf_layout *L = NULL;
	struct item *out = NULL;
	size_t nout = 0, ns;
	int rc = -1;
	if (o->like && like_load(&p->like, o->like))
		goto done;
	const struct vtensor **s = view_stored(v, &ns);
	x.it = xcalloc(ns + 1, sizeof *x.it);
	for (size_t i = 0; i < ns; i++)
		x.it[x.n++] = (struct item){s[i]->name, s[i], NULL, NULL, 0, false};
	free(s);
	qsort(x.it, x.n, sizeof *x.it, by_item_name);
	if (expected_names(&x, &L) || choose(&x, &out, &nout))
		goto done;
	if (p->like ? place_like(&x, out, nout) : place_sharded(&x, out, nout))
		goto done;
	if (cv_plan(&p->job))
		goto done;
	p->like_order_differs = p->like ? p->like->unordered : 0;
	plan_index(p);
	if (plan_config(&x) || (v->dir && cv_add_side_tree(&p->job, v->dir, keep_side, NULL)))
		goto done;
	if (p->like && is_dir(o->like) && cv_add_side_tree(&p->job, p->like->dir, keep_like_side, &p->job))
		goto done;
	rc = 0;
done:
	free(out);
	free(x.it);
	free(x.ord);
	hf_free(L);
	if (rc)
		tohf_free(p);
	return rc;
}

void tohf_free(struct tohf *p)
{
	cv_job_free(&p->job);
	for (size_t i = 0; i < p->nmissing; i++)
		free(p->missing[i]);
	free(p->missing);
	free(p->mtp_left_out);
	like_free(p->like);
	memset(p, 0, sizeof *p);
}
