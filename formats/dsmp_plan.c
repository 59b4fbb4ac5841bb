/* HF -> DeepSeek model-parallel: every input tensor placed by the layout's rules onto the
 * rank files of one conversion job.  A cut along dim 0 is a contiguous byte range of the
 * input (a copy); a cut along a later dim is a strided gather done by the engine's workers.
 * Nothing is read here: the engine streams the bytes. */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pathguard.h"
#include "dsmp.h"
#include "err.h"
#include "names.h"
#include "out.h"
#include "dequant.h"
#include "fp4fp8.h"
#include "readfile.h"
#include "sidefiles.h"

/* One rank's slice of a tensor cut along a dim > 0: `outer` runs of `row` bytes, `stride`
 * apart, starting `start` bytes into each stride. */
struct gather {
	const uint8_t *src;
	uint64_t stride, start, row;
};

static int gather_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct gather *g = arg;
	(void)scratch;
	while (n) {
		uint64_t r = off / g->row, w = off % g->row, k = g->row - w;
		if (k > n)
			k = n;
		memcpy(dst, g->src + r * g->stride + g->start + w, k);
		dst += k;
		off += k;
		n -= k;
	}
	return 0;
}

struct named {
	const char *mp, *hf;
};

static int by_mp_name(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->mp, ((const struct named *)b)->mp);
}

static char *keep_name(struct dsmp_plan *p, char *name)
{
	p->names = xgrow(p->names, p->nnames, sizeof *p->names);
	return p->names[p->nnames++] = name;
}

static void add_layer_left_out(struct dsmp_record *r, uint64_t layer)
{
	size_t i = 0;
	while (i < r->nlayers_left_out && r->layers_left_out[i] < layer)
		i++;
	if (i < r->nlayers_left_out && r->layers_left_out[i] == layer)
		return;
	r->layers_left_out = xreallocarray(r->layers_left_out, r->nlayers_left_out + 1, sizeof *r->layers_left_out);
	memmove(r->layers_left_out + i + 1, r->layers_left_out + i, (r->nlayers_left_out - i) * sizeof *r->layers_left_out);
	r->layers_left_out[i] = layer;
	r->nlayers_left_out++;
}

/* A stored tensor of the HF checkpoint, as its view gives it: the one piece of a
 * canonical tensor or of a block scale (the HF layout stores each whole, in one file). */
struct src {
	const char *name;
	const char *path;                /* its file, for messages */
	const struct st_tensor *t;
	const uint8_t *bytes;
	const struct vtensor *v;
};

static struct src src_of(const struct view *v, const struct vtensor *t)
{
	const struct vpiece *p = &t->p[0];
	const struct vfile *f = view_file_of(v, p->f);
	return (struct src){t->name, f ? f->path : p->f->path, p->t, st_bytes(p->f, p->t), t};
}

static void add_whole(struct dsmp_plan *p, size_t fi, const char *name, const struct src *t)
{
	struct cv_tensor *o = cv_add_tensor(&p->job.files[fi], name, t->t->dtype, t->t->ndim, t->t->shape);
	o->copy = t->bytes;
	o->in = o->copy;
	o->in_len = st_nbytes(t->t);
}

/* An FP8 weight may be cut only on its scale blocks (those of the config the cut follows),
 * or its slices get the wrong scales. */
static int check_blocks(const struct src *t, int dim, unsigned mp, const uint64_t block[2])
{
	char q[ERR_QUOTE];
	const struct vpiece *w = &t->v->p[0];
	if (mp == 1 || !w->s)
		return 0;
	struct quant qt;
	if (quant_init(&qt, t->name, t->t, NULL, w->s, NULL, block[0], block[1]))
		return err_prefix("%s: ", t->path);
	uint64_t b = dim == 0 ? block[0] : block[1], slice = t->t->shape[dim] / mp;
	if (slice % b == 0)
		return 0;
	return err_set("%s: tensor %s: cutting dim %d (%" PRIu64 ") into %u slices of %" PRIu64
		       " does not fall on its %" PRIu64 "-wide FP8 scale blocks, so the slices would be paired "
		       "with the wrong scales; convert it to BF16 first (ckpt-fp8-to-bf16)",
		       t->path, err_quote(t->name, q), dim, t->t->shape[dim], mp, slice, b);
}

static int place_cut(struct dsmp_plan *p, const struct src *t, const char *name, int dim, const int *fidx,
		     const struct dsmp_opts *o)
{
	char q[ERR_QUOTE];
	const struct st_tensor *st = t->t;
	if ((unsigned)dim >= st->ndim)
		return err_set("%s: tensor %s: has %u dimension%s, so it cannot be cut along dim %d", t->path,
			       err_quote(t->name, q), st->ndim, st->ndim == 1 ? "" : "s", dim);
	if (st->shape[dim] % o->mp)
		return err_set("%s: tensor %s: dim %d (%" PRIu64 ") does not divide into %u ranks", t->path,
			       err_quote(t->name, q), dim, st->shape[dim], o->mp);
	if (check_blocks(t, dim, o->mp, o->block))
		return -1;
	uint64_t outer = 1, inner = 1, cut = st->shape[dim] / o->mp, row, stride;
	for (int i = 0; i < dim; i++)
		outer *= st->shape[i];
	for (unsigned i = (unsigned)dim + 1; i < st->ndim; i++)
		inner *= st->shape[i];
	if (dt_nbytes(st->dtype, cut * inner, &row) || dt_nbytes(st->dtype, st->shape[dim] * inner, &stride))
		return err_set("%s: tensor %s: %s slices do not fill whole bytes", t->path,
			       err_quote(t->name, q), dt_name(st->dtype));
	uint64_t shape[ST_MAX_DIMS];
	memcpy(shape, st->shape, st->ndim * sizeof *shape);
	shape[dim] = cut;
	for (unsigned r = 0; r < o->mp; r++) {
		if (fidx[r] < 0)
			continue;
		struct cv_tensor *ot = cv_add_tensor(&p->job.files[fidx[r]], name, st->dtype, st->ndim, shape);
		const uint8_t *src = t->bytes;
		if (outer == 1) {
			ot->copy = src + r * row;
			ot->in = ot->copy;
			ot->in_len = row;
			continue;
		}
		struct gather *g = xmalloc(sizeof *g);
		*g = (struct gather){src, stride, r * row, row};
		p->gathers = xgrow(p->gathers, p->ngathers, sizeof *p->gathers);
		p->gathers[p->ngathers++] = g;
		ot->fill = (struct cv_fill){gather_fill, g, row, 0};
		/* a chunk spans mp times its size of input: keep that about CV_CHUNK */
		ot->chunk = CV_CHUNK / o->mp;
		/* every rank's gather reads the whole tensor, front to back */
		ot->in = src;
		ot->in_len = st_nbytes(st);
	}
	return 0;
}

/* ---- the cut's transforms (DeepSeek-V4's convert.py) ---- */

/* An FP4 weight of packed codes (the view pairs it with its 1 x 32 scales): a routed expert
 * convert.py writes as F4 or re-encodes to FP8. */
static bool is_fp4(const struct vtensor *t)
{
	return t->npieces == 1 && t->p[0].codes4 && t->p[0].s && t->ndim == 2;
}

/* An FP8 weight the cut writes dequantized to BF16. */
static bool is_bf16_dequant(const struct mp_cut *cut, const char *mp_name, const struct vtensor *t)
{
	return cut && cut->bf16_suffix && ends_with(mp_name, cut->bf16_suffix) && t->npieces == 1 && t->p[0].s &&
	       !t->p[0].codes4 && quant_weight_dtype(t->stored);
}

/* An expert's FP4 codes re-encoded to FP8 (fp4fp8.h), a block row of 128 rows at a time:
 * the codes, or (scale) the scales alone. */
struct reenc {
	const uint8_t *codes, *scales;
	uint64_t rows, cols;             /* codes */
	const float *codes4;
	uint64_t *lost;                  /* the plan's count, added to atomically */
	bool scale;
};

static uint64_t reenc_unit(const struct reenc *e)
{
	return e->scale ? e->cols / FP4FP8_BLOCK : FP4FP8_BLOCK * e->cols;
}

static int reenc_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct reenc *e = arg;
	(void)scratch;
	uint64_t unit = reenc_unit(e), b0 = off / unit, b1 = (off + n) / unit, lost = 0;
	size_t cstride = e->cols / 2, sstride = e->cols / FP4FP8_GROUP;
	for (uint64_t b = b0; b < b1; b++) {
		const uint8_t *c = e->codes + b * FP4FP8_BLOCK * cstride, *sc = e->scales + b * FP4FP8_BLOCK * sstride;
		uint8_t *o = dst + (b - b0) * unit;
		lost += fp4fp8_block_row(c, cstride, sc, sstride, e->cols, e->codes4, e->scale ? NULL : o,
					 e->scale ? o : NULL);
	}
	if (lost)
		__atomic_fetch_add(e->lost, lost, __ATOMIC_RELAXED);
	return 0;
}

/* The codes and scales behind output bytes [off, off + n): read by this chunk alone. */
static void reenc_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			 void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	const struct reenc *e = arg;
	(void)what;
	uint64_t unit = reenc_unit(e), b0 = off / unit, b1 = (off + n + unit - 1) / unit, rb = FP4FP8_BLOCK;
	if (!e->scale)
		each(ctx, e->codes + b0 * rb * (e->cols / 2), (b1 - b0) * rb * (e->cols / 2));
	each(ctx, e->scales + b0 * rb * (e->cols / FP4FP8_GROUP), (b1 - b0) * rb * (e->cols / FP4FP8_GROUP));
}

static void *keep_fill_arg(struct dsmp_plan *p, void *arg)
{
	p->gathers = xgrow(p->gathers, p->ngathers, sizeof *p->gathers);
	return p->gathers[p->ngathers++] = arg;
}

/* A routed expert's FP4 weight on rank file fi: its codes as F4 (safetensors' float4_e2m1fn_x2:
 * the shape counts codes; the same bytes), its scale copied as it is (placed as any expert
 * tensor); or re-encoded to FP8, with its scale's new name and 128 x 128 scales. */
static int add_fp4(struct dsmp_plan *p, size_t fi, const char *name, const char *scale_name, const struct src *t,
		   bool fp8)
{
	char q[ERR_QUOTE];
	const struct vtensor *vt = t->v;
	uint64_t shape[2] = {vt->shape[0], vt->shape[1]};
	if (!fp8) {
		struct cv_tensor *o = cv_add_tensor(&p->job.files[fi], name, DT_F4, 2, shape);
		o->copy = t->bytes;
		o->in = o->copy;
		o->in_len = st_nbytes(t->t);
		p->as_f4++;
		return 0;
	}
	if (shape[0] % FP4FP8_BLOCK || shape[1] % FP4FP8_BLOCK || vt->p[0].bm != 1 || vt->p[0].bn != FP4FP8_GROUP)
		return err_set("%s: tensor %s: [%" PRIu64 ", %" PRIu64 "] FP4 codes in 1 x %" PRIu64
			       " groups are not whole 128 x 128 blocks of 1 x 32 groups, which convert.py's "
			       "re-encode to FP8 needs (it asserts)", t->path, err_quote(t->name, q), shape[0], shape[1],
			       vt->p[0].bn);
	const struct vpiece *pc = &vt->p[0];
	struct reenc *w = keep_fill_arg(p, xmalloc(sizeof *w)), *s = keep_fill_arg(p, xmalloc(sizeof *s));
	*w = (struct reenc){t->bytes, st_bytes(pc->sf, pc->s), shape[0], shape[1], pc->codes4, &p->lost, false};
	*s = *w;
	s->scale = true;
	struct cv_tensor *o = cv_add_tensor(&p->job.files[fi], name, DT_F8_E4M3, 2, shape);
	o->fill = (struct cv_fill){reenc_fill, w, reenc_unit(w), 0};
	o->inputs = reenc_inputs;
	o->inputs_arg = w;
	uint64_t sshape[2] = {shape[0] / FP4FP8_BLOCK, shape[1] / FP4FP8_BLOCK};
	o = cv_add_tensor(&p->job.files[fi], scale_name, DT_F8_E8M0, 2, sshape);
	o->fill = (struct cv_fill){reenc_fill, s, reenc_unit(s), 0};
	o->inputs = reenc_inputs;
	o->inputs_arg = s;
	p->reencoded++;
	return 0;
}

/* An FP8 weight cut along dim 0 and written dequantized to BF16, each rank its slice: as
 * convert.py computes it, bf16(float32(w) * float32(s)) in 128 x 128 blocks of the slice
 * (lib/engine/convert_src.h's rows of a view); its scale is not written. */
static int place_bf16(struct dsmp_plan *p, const struct src *t, const char *name, int dim, const int *fidx,
		      const struct dsmp_opts *o)
{
	char q[ERR_QUOTE];
	const struct vtensor *vt = t->v;
	const struct vpiece *pc = &vt->p[0];
	uint64_t rows = vt->shape[0], cols = vt->ndim == 2 ? vt->shape[1] : 0;
	if (dim != 0 || vt->ndim != 2)
		return err_set("%s: tensor %s: dequantized to BF16 by rank slices of dim 0 of a matrix, not dim %d of "
			       "%u dimensions", t->path, err_quote(t->name, q), dim, vt->ndim);
	if (rows % o->mp)
		return err_set("%s: tensor %s: dim 0 (%" PRIu64 ") does not divide into %u ranks", t->path,
			       err_quote(t->name, q), rows, o->mp);
	uint64_t slice = rows / o->mp;
	if (slice % 128 || cols % 128 || pc->bm != 128 || pc->bn != 128)
		return err_set("%s: tensor %s: rank slices of [%" PRIu64 ", %" PRIu64 "] with %" PRIu64 " x %" PRIu64
			       " scale blocks are not whole 128 x 128 blocks, which convert.py's dequantization to "
			       "BF16 needs (it fails on them)", t->path, err_quote(t->name, q), slice, cols, pc->bm,
			       pc->bn);
	uint64_t shape[2] = {slice, cols};
	for (unsigned r = 0; r < o->mp; r++) {
		if (fidx[r] < 0)
			continue;
		struct cv_rows *rw = xmalloc(sizeof *rw);
		p->rows = xgrow(p->rows, p->nrows, sizeof *p->rows);
		p->rows[p->nrows++] = rw;
		cv_rows_init(rw, cols, DT_BF16);
		cv_rows_add(rw, vt, r * slice, slice, NULL);
		cv_tensor_rows(cv_add_tensor(&p->job.files[fidx[r]], name, DT_BF16, 2, shape), rw);
	}
	p->dequantized++;
	return 0;
}

static int by_ptr(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;
	return (x > y) - (x < y);
}

/* Whether the expert dtype is one the cut offers (NULL: its default). */
static int expert_dtype_of(const struct dsmp_opts *o, const char **out)
{
	const struct mp_cut *cut = o->family ? o->family->mp_cut : NULL;
	*out = NULL;
	if (!cut || !cut->expert_dtypes) {
		if (o->expert_dtype && cut)
			return err_set("%s: --expert-dtype: %s writes the routed experts as they are stored (it has "
				       "no choice of expert dtype)", o->family->title, cut->what);
		if (o->expert_dtype)
			return err_set("--expert-dtype: no model family says the experts may be written otherwise");
		return 0;
	}
	if (!o->expert_dtype) {
		*out = cut->expert_dtypes[0];
		return 0;
	}
	struct buf b = {0};
	for (const char *const *d = cut->expert_dtypes; *d; d++) {
		if (strcmp(*d, o->expert_dtype) == 0) {
			*out = *d;
			buf_free(&b);
			return 0;
		}
		buf_printf(&b, "%s%s", d == cut->expert_dtypes ? "" : " or ", *d);
	}
	err_set("--expert-dtype: \"%s\" is not %s (%s)", o->expert_dtype, buf_str(&b), cut->what);
	buf_free(&b);
	return -1;
}

/* Whether any weight is stored in FP8 (else the checkpoint is BF16, whatever its config
 * says). */
static bool holds_fp8(const struct view *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (quant_weight_dtype(v->t[i].stored))
			return true;
	return false;
}

/* The auto_map of the config copied beside the ranks names Python files too. */
static void read_side_rules(struct sidefiles *sf, const char *dir, const struct dsmp_opts *o)
{
	struct json_doc *cfg = NULL;
	if (o->config_path && json_load(&cfg, o->config_path, 0))
		err_clear(); /* (read before: not reached) */
	sidefiles_read(sf, o->family, dir, cfg ? json_root(cfg) : NULL);
	json_free(cfg);
}

/* Files convert.py copies beside the ranks (tokenizer files) and those the family's loader
 * needs besides (Kimi-K2's tokenizer code, the model code auto_map names), then
 * config.json and the record. */
static int add_side_files(struct dsmp_plan *p, const struct view *v, const char *dir, const struct dsmp_opts *o)
{
	DIR *d = opendir(dir);
	if (!d)
		return err_errno(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	struct sidefiles sf;
	read_side_rules(&sf, dir, o);
	while ((e = readdir(d))) {
		if (!(dsmp_is_side_file(e->d_name) || sidefiles_match(&sf, e->d_name)) ||
		    strcmp(e->d_name, DSMP_RECORD) == 0 || strcmp(e->d_name, "config.json") == 0)
			continue;
		char *path = path_join(dir, e->d_name);
		struct stat sb;
		/* a directory is not copied (convert.py's copy would fail on it); a FIFO or a
		 * socket is refused below, not left out */
		if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
			names = xgrow(names, n, sizeof *names);
			names[n++] = xstrdup(e->d_name);
		}
		free(path);
	}
	closedir(d);
	sidefiles_free(&sf);
	struct pathguard conf;
	int rc = pathguard_init(&conf, dir);
	for (size_t i = 0; i < n; i++) {
		char *path = path_join(dir, names[i]);
		struct stat sb;
		if (!rc && !(rc = pathguard_check(&conf, path)) &&
		    !(rc = stat(path, &sb) < 0 ? err_errno(path) : file_regular(path, &sb)))
			cv_add_side_copy(&p->job, names[i], path);
		free(path);
		free(names[i]);
	}
	free(names);
	pathguard_free(&conf);
	if (rc)
		return -1;
	if (o->config_path && o->quant_declared && !holds_fp8(v)) {
		struct buf cfg = {0};
		if (config_text_unquantized(&cfg, o->config_path))
			return -1;
		cv_add_side_bytes(&p->job, "config.json", cfg.p, cfg.len);
		buf_free(&cfg);
		p->config_unquantized = true;
	} else if (o->config_path) {
		cv_add_side_copy(&p->job, "config.json", o->config_path);
	}
	struct buf b = {0};
	dsmp_record_render(&b, &p->rec);
	cv_add_side_bytes(&p->job, DSMP_RECORD, b.p, b.len);
	buf_free(&b);
	return 0;
}

int dsmp_opts_config(struct dsmp_opts *o, const struct ds_config *cfg, const char *cfg_path, uint64_t n_experts)
{
	if (!cfg->family) {
		struct buf b = {0};
		err_set("%s: %s", cfg_path, family_unknown_why(cfg->model_type, cfg->architecture, &b));
		buf_free(&b);
		return -1;
	}
	if (!cfg->family->mp_cut)
		return err_set("%s: %s: ckpt knows no model-parallel layout of it", cfg_path,
			       family_model_name(cfg->family, cfg));
	o->family = cfg->family;
	if (cfg->num_hidden_layers < 0)
		return err_set("%s: no num_hidden_layers: it says which layers are MTP layers to leave out", cfg_path);
	if (!n_experts) {
		if (cfg->n_routed_experts <= 0)
			return err_set("%s: no n_routed_experts: give --n-experts N", cfg_path);
		n_experts = (uint64_t)cfg->n_routed_experts;
	} else if (cfg->n_routed_experts > 0 && (uint64_t)cfg->n_routed_experts != n_experts) {
		return err_set("%s: n_routed_experts is %" PRId64 " but --n-experts is %" PRIu64
			       " (DeepSeek's model.py places experts by the former)", cfg_path, cfg->n_routed_experts,
			       n_experts);
	}
	if (n_experts % o->mp)
		return err_set("%" PRIu64 " experts do not divide into %u ranks (--model-parallel)", n_experts, o->mp);
	o->n_experts = n_experts;
	o->num_layers = cfg->num_hidden_layers;
	o->block[0] = (uint64_t)cfg->quant.block[0];
	o->block[1] = (uint64_t)cfg->quant.block[1];
	o->quant_declared = cfg->quant.present;
	return 0;
}

int dsmp_plan(struct dsmp_plan *p, const struct view *v, const struct dsmp_opts *o)
{
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	int rc = -1;
	memset(p, 0, sizeof *p);
	if (v->layout != LAYOUT_HF || v->nproblems)
		return err_set("%s: the model-parallel plan takes an HF checkpoint opened strictly", v->path);
	if (o->mp == 0 || o->n_experts % o->mp)
		return err_set("%" PRIu64 " experts do not divide into %u ranks", o->n_experts, o->mp);
	if (o->rank >= (int)o->mp)
		return err_set("rank %d is not below the model parallelism %u", o->rank, o->mp);
	if (v->nstray)
		return err_set("%s/%s: not named by %s, yet convert.py would read it (index it or move it away)",
			       v->dir, v->stray[0], v->index_path);
	const char *expert_dtype;
	if (expert_dtype_of(o, &expert_dtype))
		return -1;
	const struct mp_cut *cut = o->family ? o->family->mp_cut : NULL;
	bool fp8 = expert_dtype && strcmp(expert_dtype, "fp8") == 0;
	size_t n;
	const struct vtensor **ts = view_stored(v, &n);
	/* the scales a transform consumes: written with their weight, or not at all */
	const struct vtensor **consumed = xcalloc(n + 1, sizeof *consumed);
	size_t nconsumed = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vtensor *t = ts[i];
		if (!t->scale)
			continue;
		struct dsmp_place pl;
		if (dsmp_place(&pl, o->family, t->name) == 0) {
			if ((fp8 && pl.expert && is_fp4(t)) || is_bf16_dequant(cut, pl.name, t))
				consumed[nconsumed++] = t->scale;
			dsmp_place_free(&pl);
		}
		err_clear(); /* (said again below) */
	}
	qsort(consumed, nconsumed, sizeof *consumed, by_ptr);
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += st_nbytes(ts[i]->p[0].t);
	p->rec = (struct dsmp_record){.mp = o->mp, .n_experts = o->n_experts, .num_hidden_layers = o->num_layers,
				      .block = {o->block[0], o->block[1]}, .tool = xstrdup(o->tool ? o->tool : ""),
				      .source = xstrdup(o->source ? o->source : v->dir), .source_tensors = n,
				      .source_bytes = bytes, .expert_dtype = expert_dtype ? xstrdup(expert_dtype) : NULL};
	int *fidx = xcalloc(o->mp, sizeof *fidx);
	for (unsigned r = 0; r < o->mp; r++) {
		fidx[r] = -1;
		if (o->rank >= 0 && (unsigned)o->rank != r)
			continue;
		char *name = dsmp_file_name(r, o->mp);
		fidx[r] = (int)p->job.nfiles;
		cv_add_file(&p->job, name, 0);
		free(name);
	}
	struct named *all = xcalloc(2 * n + 1, sizeof *all);
	size_t nall = 0;
	for (size_t i = 0; i < n; i++) {
		const struct src ti = src_of(v, ts[i]), *t = &ti;
		uint64_t layer;
		if (bsearch(&ts[i], consumed, nconsumed, sizeof *consumed, by_ptr))
			continue;
		if (dsmp_is_mtp(t->name, o->num_layers, &layer)) {
			add_layer_left_out(&p->rec, layer);
			p->rec.tensors_left_out++;
			continue;
		}
		if (cut && cut->left_out && cut->left_out(t->name)) {
			p->rec.tensors_left_out++;
			continue;
		}
		struct dsmp_place pl;
		if (dsmp_place(&pl, o->family, t->name)) {
			err_prefix("%s: ", t->path);
			goto out;
		}
		const char *name = keep_name(p, pl.name);
		all[nall++] = (struct named){name, t->name};
		if (pl.expert) {
			if (pl.expert_id >= o->n_experts) {
				err_set("%s: tensor %s: expert %" PRIu64 ", but there are %" PRIu64 " experts (--n-experts)",
					t->path, err_quote(t->name, q), pl.expert_id, o->n_experts);
				goto out;
			}
			int fi = fidx[dsmp_expert_owner(pl.expert_id, o->n_experts, o->mp)];
			if (expert_dtype && is_fp4(t->v)) {
				char *sname = NULL;
				if (fp8) {
					struct dsmp_place sp;
					if (dsmp_place(&sp, o->family, t->v->scale->name))
						goto out;
					sname = keep_name(p, sp.name);
				}
				if (fi >= 0 && add_fp4(p, (size_t)fi, name, sname, t, fp8))
					goto out;
				if (sname)
					all[nall++] = (struct named){sname, t->v->scale->name};
			} else if (fi >= 0) {
				add_whole(p, (size_t)fi, name, t);
			}
		} else if (is_bf16_dequant(cut, name, t->v)) {
			if (place_bf16(p, t, name, pl.dim, fidx, o))
				goto out;
		} else if (pl.dim >= 0) {
			if (place_cut(p, t, name, pl.dim, fidx, o))
				goto out;
		} else {
			for (size_t fi = 0; fi < p->job.nfiles; fi++)
				add_whole(p, fi, name, t);
		}
	}
	qsort(all, nall, sizeof *all, by_mp_name);
	for (size_t i = 1; i < nall; i++)
		if (strcmp(all[i - 1].mp, all[i].mp) == 0) {
			char q3[ERR_QUOTE];
			err_set("%s: tensors %s and %s would both be %s in the model-parallel layout", v->dir,
				err_quote(all[i - 1].hf, q), err_quote(all[i].hf, q2), err_quote(all[i].mp, q3));
			goto out;
		}
	if (fp8 && !p->reencoded) {
		err_set("%s: --expert-dtype fp8: no routed expert is stored as FP4 codes, so there is nothing to "
			"re-encode", v->path);
		goto out;
	}
	if ((o->rank <= 0) && add_side_files(p, v, v->dir, o))
		goto out;
	rc = 0;
out:
	free(consumed);
	free(ts);
	free(all);
	free(fidx);
	if (rc)
		dsmp_plan_free(p);
	return rc;
}

void dsmp_plan_free(struct dsmp_plan *p)
{
	cv_job_free(&p->job);
	dsmp_record_free(&p->rec);
	for (size_t i = 0; i < p->nnames; i++)
		free(p->names[i]);
	for (size_t i = 0; i < p->ngathers; i++)
		free(p->gathers[i]);
	for (size_t i = 0; i < p->nrows; i++) {
		cv_rows_free(p->rows[i]);
		free(p->rows[i]);
	}
	free(p->rows);
	free(p->names);
	free(p->gathers);
	memset(p, 0, sizeof *p);
}

void dsmp_plan_note(struct dsmp_plan *p, const struct cv_job *ran, struct buf *note)
{
	const char *sep = note->len ? "; " : "";
	p->lost_partial = false;
	for (size_t i = 0; i < ran->nfiles && p->reencoded; i++)
		p->lost_partial |= ran->files[i].skip;
	if (p->reencoded) {
		buf_printf(note, "%s%" PRIu64 " FP4 expert weight%s re-encoded to FP8: ", sep, p->reencoded,
			   p->reencoded == 1 ? "" : "s");
		if (p->lost)
			buf_printf(note, "%" PRIu64 " value%s lost bits (a group too far below its block's largest "
				   "scale; convert.py keeps the same bytes)", p->lost, p->lost == 1 ? "" : "s");
		else
			buf_printf(note, "no value lost bits");
		if (p->lost_partial)
			buf_printf(note, " in the files written now");
		sep = "; ";
	} else if (p->as_f4) {
		buf_printf(note, "%s%" PRIu64 " FP4 expert weight%s written as F4", sep, p->as_f4, p->as_f4 == 1 ? "" : "s");
		sep = "; ";
	}
	if (p->dequantized)
		buf_printf(note, "%s%" PRIu64 " FP8 weight%s dequantized to BF16 by rank slices", sep, p->dequantized,
			   p->dequantized == 1 ? "" : "s");
}

void dsmp_plan_json(const struct dsmp_plan *p, struct jw *w)
{
	if (!p->rec.expert_dtype)
		return;
	jw_kv_str(w, "expert_dtype", p->rec.expert_dtype);
	jw_kv_u64(w, "experts_as_f4", p->as_f4);
	jw_kv_u64(w, "experts_reencoded", p->reencoded);
	jw_kv_u64(w, "values_lost", p->lost);
	jw_kv_bool(w, "values_lost_counted_in_every_file", !p->lost_partial);
	jw_kv_u64(w, "dequantized_bf16", p->dequantized);
}
