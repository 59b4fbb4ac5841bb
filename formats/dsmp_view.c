/* A model-parallel directory seen as a view: each canonical HF tensor assembled from its
 * rank slices, a routed expert from the rank that owns it, a tensor every rank holds from
 * rank 0 with the other ranks' copies as replicas (so a check can prove them identical),
 * and FP8 weights paired with each rank's own slice of their scales. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pathguard.h"
#include "dsmp.h"
#include "err.h"
#include "layout.h"
#include "out.h"
#include "dequant.h"
#include "qscheme.h"

static void close_ranks(void *arg)
{
	struct dsmp_info *r = arg;
	for (unsigned i = 0; r && i < r->mp; i++)
		st_close(r->ranks[i]);
	if (r) {
		free(r->ranks);
		dsmp_record_free(&r->rec);
		json_free(r->config);
	}
	free(r);
}

const struct dsmp_info *dsmp_info(const struct view *v)
{
	return v->layout == LAYOUT_DSMP ? v->owner : NULL;
}

struct rank_name {
	unsigned rank, mp;
};

static int by_rank_name(const void *a, const void *b)
{
	const struct rank_name *x = a, *y = b;
	if (x->mp != y->mp)
		return x->mp < y->mp ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/* "rank 1 of 2 is missing (model1-mp2.safetensors)", "ranks 1, 2 of 4 are missing (...)":
 * the ranks below mp not in have[] (sorted), the first three named. */
static int missing_ranks(const char *dir, unsigned mp, const struct rank_name *have, size_t nhave)
{
	struct buf ranks = {0}, files = {0};
	unsigned nmissing = 0;
	size_t j = 0;
	for (unsigned r = 0; r < mp; r++) {
		if (j < nhave && have[j].rank == r) {
			j++;
			continue;
		}
		if (nmissing++ < 3) {
			char *f = dsmp_file_name(r, mp);
			buf_printf(&ranks, "%s%u", nmissing > 1 ? ", " : "", r);
			buf_printf(&files, "%s%s", nmissing > 1 ? ", " : "", f);
			free(f);
		}
	}
	if (nmissing > 3) {
		buf_printf(&ranks, " and %u more", nmissing - 3);
		buf_printf(&files, ", ...");
	}
	int rc = err_set("%s: rank%s %s of %u %s missing (%s)", dir, nmissing > 1 ? "s" : "", buf_str(&ranks), mp,
			 nmissing > 1 ? "are" : "is", buf_str(&files));
	buf_free(&ranks);
	buf_free(&files);
	return rc;
}

int dsmp_ranks(const char *dir, unsigned *mp)
{
	DIR *d = opendir(dir);
	*mp = 0;
	if (!d)
		return 0;
	struct rank_name *s = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct rank_name x;
		if (!dsmp_parse_file_name(e->d_name, &x.rank, &x.mp))
			continue;
		s = xgrow(s, n, sizeof *s);
		s[n++] = x;
	}
	closedir(d);
	if (n > 1)
		qsort(s, n, sizeof *s, by_rank_name);
	int rc = 0;
	if (n && s[0].mp != s[n - 1].mp) {
		/* (named by their first rank files, smallest parallelism first: the same line
		 * whatever order the directory lists them in) */
		size_t k = 0;
		while (s[k].mp == s[0].mp)
			k++;
		char *a = dsmp_file_name(s[0].rank, s[0].mp), *b = dsmp_file_name(s[k].rank, s[k].mp);
		rc = err_set("%s: holds rank files of model parallelism %u and %u (%s, %s): not one checkpoint", dir,
			     s[0].mp, s[k].mp, a, b);
		free(a);
		free(b);
	} else if (n) {
		*mp = s[0].mp;
		/* names are canonical (no leading zeros) and a directory's unique: n ranks of mp */
		if (n < *mp)
			rc = missing_ranks(dir, *mp, s, n) - 1;
	}
	free(s);
	return rc;
}

static bool dsmp_detect(const char *path)
{
	unsigned mp;
	return dsmp_ranks(path, &mp) != 0 || mp != 0;
}

/* A stored tensor under its canonical name. */
struct ent {
	char *hf;                        /* the weight's HF name (a scale's weight) */
	unsigned rank;
	bool scale;
	const struct st_tensor *t;
};

static int by_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int r = strcmp(x->hf, y->hf);
	if (r)
		return r;
	if (x->scale != y->scale)
		return x->scale ? 1 : -1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

struct ctx {
	struct view *v;
	const struct family *family;     /* config.json's, whose cut it is; NULL: any known */
	struct dsmp_info *rk;
	uint64_t n_experts;
	uint64_t bm, bn;
	int flags;
	const struct pathguard *conf;   /* the directory its files must stay in */
};

/* In lenient mode the problem is recorded (and the tensor left out); otherwise it fails.
 * The message is the last error, prefixed with the directory when `where` is set. */
static int problem_last(struct ctx *x, bool where)
{
	if (where)
		err_prefix("%s: ", x->v->path);
	if (!(x->flags & VIEW_LENIENT))
		return -1;
	view_problem(x->v, "%s", err_last());
	return 0;
}

static int problem(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int problem(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_setv(fmt, ap);
	va_end(ap);
	return problem_last(x, true);
}

static bool same_shape(const struct st_tensor *a, const struct st_tensor *b)
{
	return a->dtype == b->dtype && a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof *a->shape) == 0;
}

/* The scheme of the family's that stores 4-bit codes (DeepSeek-V4's FP4 experts), NULL
 * when it has none: a weight of codes pairs with its scale by that scheme's block. */
static const struct qscheme *codes4_scheme(const struct ctx *x)
{
	for (const struct qscheme *const *s = x->family ? x->family->schemes : NULL; s && *s; s++)
		if ((*s)->codes4)
			return *s;
	return NULL;
}

/* How weight w pairs with a scale: the block, and the codes' table for packed 4-bit codes
 * (whose canonical columns are codes). */
static void pairing(const struct ctx *x, const struct st_tensor *w, uint64_t *bm, uint64_t *bn, const float **codes4)
{
	const struct qscheme *q4 = codes4_scheme(x);
	*bm = x->bm;
	*bn = x->bn;
	*codes4 = NULL;
	if (q4 && quant_packed4_dtype(w->dtype)) {
		*bm = q4->block[0];
		*bn = q4->block[1];
		*codes4 = q4->codes4;
	}
}

static void set_piece(struct ctx *x, struct vpiece *p, unsigned r, const struct st_tensor *w,
		      const struct st_tensor *s)
{
	uint64_t rows = 1, cols = w->ndim ? w->shape[w->ndim - 1] : 1, bm, bn;
	const float *codes4;
	pairing(x, w, &bm, &bn, &codes4);
	if (!s)
		codes4 = NULL;
	if (codes4)
		cols = quant_packed4_codes(w->dtype, cols);
	for (unsigned i = 0; i + 1 < w->ndim; i++)
		rows *= w->shape[i];
	*p = (struct vpiece){.f = x->rk->ranks[r], .t = w, .sf = s ? x->rk->ranks[r] : NULL, .s = s, .bm = bm,
			     .bn = bn, .nr = rows, .nc = cols, .codes4 = codes4};
}

/* The canonical shape of w: the stored one, a packed weight's last dimension in codes. */
static const uint64_t *canon_shape(const struct ctx *x, const struct st_tensor *w, const struct st_tensor *s,
				   uint64_t *shape)
{
	uint64_t bm, bn;
	const float *codes4;
	pairing(x, w, &bm, &bn, &codes4);
	memcpy(shape, w->shape, w->ndim * sizeof *shape);
	if (codes4 && s && w->ndim)
		shape[w->ndim - 1] = quant_packed4_codes(w->dtype, shape[w->ndim - 1]);
	return shape;
}

/* One canonical tensor from its entries: w[r] and s[r] per rank (NULL where absent). */
static int build(struct ctx *x, const char *hf, const struct st_tensor **w, const struct st_tensor **s)
{
	char q[ERR_QUOTE];
	unsigned mp = x->rk->mp;
	struct dsmp_place pl;
	err_quote(hf, q);
	if (dsmp_place(&pl, x->family, hf))
		return problem_last(x, true);
	dsmp_place_free(&pl);
	uint64_t cshape[ST_MAX_DIMS];
	for (unsigned r = 0; r < mp; r++) {
		struct quant qt;
		uint64_t bm, bn;
		const float *codes4;
		if (!w[r] || !s[r])
			continue;
		pairing(x, w[r], &bm, &bn, &codes4);
		if (codes4 ? quant_init_packed4(&qt, hf, w[r], NULL, s[r], NULL, bm, bn, codes4)
			   : quant_init(&qt, hf, w[r], NULL, s[r], NULL, bm, bn))
			return problem(x, "rank %u: %s", r, err_last());
	}
	if (pl.expert) {
		if (pl.expert_id >= x->n_experts)
			return problem(x, "tensor %s: expert %" PRIu64 ", but there are %" PRIu64 " experts", q,
				       pl.expert_id, x->n_experts);
		unsigned owner = dsmp_expert_owner(pl.expert_id, x->n_experts, mp);
		for (unsigned r = 0; r < mp; r++)
			if (w[r] && r != owner)
				return problem(x, "tensor %s: expert %" PRIu64 " is on rank %u, but belongs to rank %u", q,
					       pl.expert_id, r, owner);
		if (!w[owner])
			return problem(x, "tensor %s: rank %u, which owns expert %" PRIu64 ", does not hold it", q, owner,
				       pl.expert_id);
		struct vtensor *t = view_add(x->v, hf, w[owner]->ndim, canon_shape(x, w[owner], s[owner], cshape));
		set_piece(x, vtensor_add_piece(t), owner, w[owner], s[owner]);
		return 0;
	}
	for (unsigned r = 0; r < mp; r++) {
		if (!w[r])
			return problem(x, "tensor %s: rank %u does not hold it", q, r);
		if (!same_shape(w[r], w[0]))
			return problem(x, "tensor %s: rank %u holds it with another dtype or shape than rank 0", q, r);
	}
	if (pl.dim < 0) {
		struct vtensor *t = view_add(x->v, hf, w[0]->ndim, canon_shape(x, w[0], s[0], cshape));
		set_piece(x, vtensor_add_piece(t), 0, w[0], s[0]);
		for (unsigned r = 1; r < mp; r++)
			set_piece(x, vtensor_add_replica(t), r, w[r], s[r]);
		return 0;
	}
	unsigned d = (unsigned)pl.dim, nd = w[0]->ndim;
	if (d >= nd || (d != 0 && d + 1 != nd))
		return problem(x, "tensor %s: cut along dim %u of %u, which a 2-D view cannot join", q, d, nd);
	if (s[0] && mp > 1 && w[0]->shape[d] % (d == 0 ? x->bm : x->bn))
		return problem(x, "tensor %s: its rank slices (%" PRIu64 " along dim %u) do not fall on the FP8 "
			       "scale blocks, so their scales do not belong to them (convert.py does not check)",
			       q, w[0]->shape[d], d);
	uint64_t shape[ST_MAX_DIMS];
	memcpy(shape, w[0]->shape, nd * sizeof *shape);
	shape[d] *= mp;
	struct vtensor *t = view_add(x->v, hf, nd, shape);
	for (unsigned r = 0; r < mp; r++) {
		struct vpiece *p = vtensor_add_piece(t);
		set_piece(x, p, r, w[r], s[r]);
		if (d == 0 && nd > 1)
			p->dr = r * p->nr;
		else /* (a vector is one row: its dim 0 is the columns) */
			p->dc = r * p->nc;
	}
	return 0;
}

/* Whether name is a scale by the schemes of the family (fp8-scale-inv without one), its
 * weight's name into weight[size]. */
static bool is_scale_name(const struct ctx *x, const char *name, char *weight, size_t size)
{
	const struct qscheme *q = qscheme_of_scale(name, weight, size);
	if (!q)
		return false;
	if (!x->family || !x->family->schemes)
		return q == QSCHEME_HF;
	for (const struct qscheme *const *s = x->family->schemes; *s; s++)
		if (strcmp((*s)->scale_suffix, q->scale_suffix) == 0)
			return true;
	return false;
}

/* n_experts: from the record of the sharding, else config.json, else the largest expert
 * number found (+1). */
static int resolve_experts(struct ctx *x, const char *path, const struct ent *e, size_t n)
{
	char *rp = path_join(path, DSMP_RECORD);
	struct stat sb;
	int rc = 0;
	if (stat(rp, &sb) == 0) {
		struct dsmp_record *rec = &x->rk->rec;
		if (pathguard_check(x->conf, rp)) {
			rc = problem_last(x, false);
		} else if (dsmp_record_load(rec, rp) == 0) {
			x->rk->has_record = true;
			x->rk->experts_from = DSMP_RECORD;
			if (rec->mp != x->rk->mp)
				rc = problem(x, "%s says model parallelism %u, the files %u", DSMP_RECORD, rec->mp,
					     x->rk->mp);
			x->n_experts = rec->n_experts;
		} else {
			rc = problem_last(x, false);
		}
	}
	free(rp);
	if (rc || x->n_experts)
		return rc;
	if (x->v->cfg && x->v->cfg->n_routed_experts > 0) {
		x->n_experts = (uint64_t)x->v->cfg->n_routed_experts;
		x->rk->experts_from = "config.json";
		return 0;
	}
	x->rk->experts_from = "tensor names";
	for (size_t i = 0; i < n; i++) {
		struct dsmp_place pl;
		if (dsmp_place(&pl, x->family, e[i].hf) == 0) {
			if (pl.expert && pl.expert_id >= x->n_experts)
				x->n_experts = pl.expert_id + 1;
			dsmp_place_free(&pl);
		}
	}
	if (x->n_experts % x->rk->mp)
		x->n_experts += x->rk->mp - x->n_experts % x->rk->mp;
	return 0;
}

static int dsmp_open(struct view **out, const char *path, int flags)
{
	unsigned mp;
	*out = NULL;
	int whole = dsmp_ranks(path, &mp);
	if (whole == -1)
		return -1;
	if (mp == 0)
		return err_set("%s: no model{i}-mp{M}.safetensors files", path);
	struct view *v = view_new(LAYOUT_DSMP, "dsmp", path);
	v->scale_name = qscheme_hf_scale_name;
	struct dsmp_info *rk = xcalloc(1, sizeof *rk);
	rk->mp = mp;
	rk->ranks = xcalloc(mp, sizeof *rk->ranks);
	v->owner = rk;
	v->free_owner = close_ranks;
	v->describe_rows = dsmp_info_rows;
	v->describe_json = dsmp_info_json;
	struct pathguard conf = {0};
	struct ctx x = {v, NULL, rk, 0, 128, 128, flags, &conf};
	struct ent *e = NULL;
	size_t n = 0, cap = 0;
	if (pathguard_init(&conf, path))
		goto fail;
	v->dir = xstrdup(path);
	/* ranks missing: said once, in one line naming them (lenient: the others read) */
	if (whole && problem_last(&x, false))
		goto fail;
	for (unsigned r = 0; r < mp; r++) {
		char *name = dsmp_file_name(r, mp), *p = path_join(path, name);
		struct stat sb;
		int rc = whole && lstat(p, &sb) < 0 ? 0
			 : pathguard_check(&conf, p) ? -1 : st_open(&rk->ranks[r], p);
		view_add_file(v, name, p, rk->ranks[r]);
		free(name);
		free(p);
		if (rc && problem_last(&x, false))
			goto fail;
	}
	char *cp = path_join(path, "config.json");
	struct stat sb;
	if (stat(cp, &sb) == 0) {
		v->config_path = cp;
		if (pathguard_check(&conf, cp) == 0 && json_load(&rk->config, cp, 0) == 0 &&
		    (v->cfg = ds_config_new(json_root(rk->config), cp)))
			;
		else if (problem_last(&x, false))
			goto fail;
		v->config = rk->config;
	} else {
		free(cp);
	}
	if (v->cfg) {
		x.family = v->cfg->family;
		if (x.family && x.family->scale_name)
			v->scale_name = x.family->scale_name;
		x.bm = (uint64_t)v->cfg->quant.block[0];
		x.bn = (uint64_t)v->cfg->quant.block[1];
	}
	for (unsigned r = 0; !x.family && r < mp; r++)
		if (rk->ranks[r]) {
			/* (one rank holds every kind of name: the experts differ, not their names) */
			const struct st_file *f = rk->ranks[r];
			const char **names = xcalloc(f->n ? f->n : 1, sizeof *names);
			for (size_t k = 0; k < f->n; k++)
				names[k] = f->t[k].name;
			x.family = dsmp_family_by_names(names, f->n);
			free(names);
			break;
		}
	for (unsigned r = 0; r < mp; r++)
		for (size_t k = 0; rk->ranks[r] && k < rk->ranks[r]->n; k++) {
			const struct st_tensor *t = &rk->ranks[r]->t[k];
			char *hf = dsmp_hf_name(x.family, t->name);
			if (!hf) {
				char q[ERR_QUOTE];
				if (problem(&x, "rank %u: tensor %s is not a name convert.py writes", r, err_quote(t->name, q)))
					goto fail;
				continue;
			}
			/* (convert.py's names are the HF names' with weight_scale_inv -> scale) */
			/* (".scale" -> ".weight" is one longer) */
			size_t wsize = strlen(hf) + 8;
			char *weight = xmalloc(wsize);
			bool scale = is_scale_name(&x, hf, weight, wsize);
			if (scale) {
				free(hf);
				hf = weight;
			} else {
				free(weight);
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				e = xreallocarray(e, cap, sizeof *e);
			}
			e[n++] = (struct ent){hf, r, scale, t};
		}
	qsort(e, n, sizeof *e, by_ent);
	if (resolve_experts(&x, path, e, n))
		goto fail;
	rk->n_experts = x.n_experts;
	if (x.n_experts % mp && problem(&x, "%" PRIu64 " experts do not divide into %u ranks", x.n_experts, mp))
		goto fail;
	/* w: weights per rank, s: their scales, then mp NULLs (no scales) */
	const struct st_tensor **w = xcalloc(3 * (size_t)mp, sizeof *w), **s = w + mp;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		memset(w, 0, 3 * (size_t)mp * sizeof *w);
		bool fp8 = false, scales = false;
		for (; j < n && strcmp(e[j].hf, e[i].hf) == 0; j++) {
			(e[j].scale ? s : w)[e[j].rank] = e[j].t;
			fp8 |= !e[j].scale && (quant_weight_dtype(e[j].t->dtype) ||
					       (codes4_scheme(&x) && quant_packed4_dtype(e[j].t->dtype)));
			scales |= e[j].scale;
		}
		int rc = 0;
		if (scales && !fp8) {
			/* a scale with no FP8 (or FP4) weight is a tensor of its own, as in the HF view */
			char *sname = v->scale_name(e[i].hf);
			rc = build(&x, sname, s, w + 2 * (size_t)mp);
			free(sname);
			memset(s, 0, mp * sizeof *s);
		}
		bool weights = false;
		for (unsigned r = 0; r < mp; r++)
			weights |= w[r] != NULL;
		if (!rc && weights)
			rc = build(&x, e[i].hf, w, s);
		if (rc) {
			free(w);
			goto fail;
		}
		i = j;
	}
	free(w);
	for (size_t i = 0; i < n; i++)
		free(e[i].hf);
	free(e);
	e = NULL;
	n = 0;
	if (view_finish(v))
		goto fail;
	pathguard_free(&conf);
	*out = v;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(e[i].hf);
	free(e);
	pathguard_free(&conf);
	view_free(v);
	return -1;
}

const struct layout_ops layout_dsmp = {"dsmp", dsmp_detect, dsmp_open};
