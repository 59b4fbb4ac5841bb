#include "fp8cast.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ds_config.h"
#include "json_edit.h"
#include "family.h"
#include "err.h"
#include "index.h"
#include "model_check.h"
#include "dequant.h"
#include "readfile.h"
#include "names.h"
#include "qscheme.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code writes host-order bf16"
#endif

bool fp8cast_is_mtp(const char *name, int64_t nlayers)
{
	static const char pre[] = "model.layers.";
	if (strncmp(name, pre, sizeof pre - 1) != 0)
		return false;
	const char *p = name + sizeof pre - 1;
	if (*p < '0' || *p > '9')
		return false;
	int64_t n = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if (n < INT64_MAX / 10)
			n = n * 10 + (*p - '0');
	return *p == '.' && n >= nlayers;
}

struct ctx {
	struct fp8cast *p;
	const struct view *v;
	const struct fp8cast_opts *o;
	bool drop;                   /* MTP layers are left out */
	int64_t nlayers;
	/* the schemes that pair the checkpoint's weights and scales (its family's; DeepSeek-V3's
	 * fp8-scale-inv, as fp8_cast_bf16.py knows, for a model ckpt does not know) */
	const struct qscheme *const *schemes;
};

/* The scheme under which name is a scale, and its weight's name (allocated); NULL when it
 * is none of x's schemes' scale names. */
static const struct qscheme *scale_scheme(const struct ctx *x, const char *name, char **weight)
{
	size_t n = strlen(name);
	for (const struct qscheme *const *s = x->schemes; *s; s++) {
		size_t k = strlen((*s)->scale_suffix);
		if (n > k && ends_with(name, (*s)->scale_suffix)) {
			if (weight)
				*weight = xasprintf("%.*s%s", (int)(n - k), name, (*s)->weight_suffix);
			return *s;
		}
	}
	return NULL;
}

static bool is_scale(const struct ctx *x, const char *name) { return scale_scheme(x, name, NULL) != NULL; }

/* A note, or with strict the error. */
static int note(struct ctx *x, const char *shard, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int note(struct ctx *x, const char *shard, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_setv(fmt, ap);
	va_end(ap);
	if (x->o->strict)
		return err_prefix("--strict: ");
	struct fp8cast *p = x->p;
	p->notes = xgrow(p->notes, p->nnotes, sizeof *p->notes);
	p->notes[p->nnotes++] = (struct fp8cast_note){shard, xstrdup(err_last())};
	return 0;
}

/* A converted weight's fill (its quant first: fill_bf16 reads it) and the input it reads:
 * the codes and the scales, both front to back in proportion to the output.  The scales
 * are dropped from memory as the codes are: FP4's, one byte a group of 32, are a sixteenth
 * of the codes, and kept they grew the process by that much over a whole checkpoint. */
struct wfill {
	struct quant q;
	const uint8_t *w, *s;
	uint64_t wlen, slen, out;
};

static uint64_t in_prop(uint64_t x, uint64_t len, uint64_t out)
{
	return (uint64_t)((unsigned __int128)x * len / (out ? out : 1));
}

static void weight_inputs(const void *arg, uint64_t off, uint64_t n, int what,
			  void (*each)(void *, const uint8_t *, uint64_t), void *ctx)
{
	const struct wfill *f = arg;
	(void)what;
	uint64_t a = in_prop(off, f->wlen, f->out), b = in_prop(off + n, f->wlen, f->out);
	each(ctx, f->w + a, b - a);
	a = in_prop(off, f->slen, f->out), b = in_prop(off + n, f->slen, f->out);
	each(ctx, f->s + a, b - a);
}

/* Bytes [off, off + n) of the BF16 tensor: whole rows, dequantized. */
static int fill_bf16(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct quant *q = arg;
	uint64_t row = q->cols * 2;
	quant_rows_bf16(q, off / row, (off + n) / row, (uint16_t *)dst, scratch);
	return 0;
}

/* With --drop-mtp, whether name is of an MTP layer: by its family's names where it has its
 * own (DeepSeek-V4's "mtp.K."), else DeepSeek-V3's "model.layers.N." */
static bool left_out(const struct ctx *x, const char *name)
{
	if (!x->drop)
		return false;
	const struct ds_config *c = x->v->cfg;
	struct hf_name hn;
	if (c && c->family && c->family->parse)
		return family_parse(c, name, &hn) == 0 && hn.layer >= x->nlayers;
	return fp8cast_is_mtp(name, x->nlayers);
}

/* The stored block scale of weight name and its file: the one its canonical tensor carries
 * (*pc: that piece, whose block and codes table the view paired them by), else a tensor of
 * the view's scale name of its own (a weight the view does not dequantize: a 1-byte
 * integer, or a dtype that has no scales).  *own: the latter's canonical tensor. */
static const struct st_tensor *scale_of(const struct ctx *x, const struct st_tensor *t, const struct st_file **sf,
					const struct vtensor **own, const struct vpiece **pc)
{
	const char *name = t->name;
	const struct vtensor *w = view_find(x->v, name);
	*own = NULL;
	*pc = NULL;
	if (w && w->p[0].s) {
		*pc = &w->p[0];
		*sf = w->p[0].sf;
		return w->p[0].s;
	}
	if (dt_bits(t->dtype) != 8)
		return NULL;
	char *sname = x->v->scale_name(name);
	*own = sname ? view_find(x->v, sname) : NULL;
	free(sname);
	if (!*own)
		return NULL;
	*sf = (*own)->p[0].f;
	return (*own)->p[0].t;
}

static int plan_shard(struct ctx *x, const struct vfile *s, int group, bool *used, uint64_t bm, uint64_t bn)
{
	struct fp8cast *p = x->p;
	char q[ERR_QUOTE];
	struct cv_file *f = cv_add_file(&p->job, s->name, group);
	cv_set_meta(f, "format", "pt");
	for (size_t k = 0; k < s->st->n; k++) {
		const struct st_tensor *t = &s->st->t[k];
		if (is_scale(x, t->name))
			continue;
		const struct family *fam = x->p->family;
		const char *why = fam && fam->unconvertible ? fam->unconvertible(t->name) : NULL;
		if (why)
			return err_set("%s: %s: %s", s->path, err_quote(t->name, q), why);
		if (left_out(x, t->name)) {
			p->ndropped++;
			continue;
		}
		struct cv_tensor *ot;
		const struct st_tensor *sc = NULL;
		const struct st_file *sf = NULL;
		const struct vtensor *own = NULL;
		const struct vpiece *pc = NULL;
		sc = scale_of(x, t, &sf, &own, &pc);
		if (!sc && dt_bits(t->dtype) == 8) {
			char *sname = x->v->scale_name(t->name);
			int rc = note(x, s->name, "%s: %s has no scale %s; copied unchanged", s->path,
				      err_quote(t->name, q), sname ? sname : "(none named)");
			free(sname);
			if (rc)
				return -1;
		}
		if (!sc) {
			ot = cv_add_tensor(f, t->name, t->dtype, t->ndim, t->shape);
			ot->copy = st_bytes(s->st, t);
			ot->in = ot->copy;
			ot->in_len = st_nbytes(t);
			p->ncopied++;
			continue;
		}
		if (!pc && !quant_weight_dtype(t->dtype) && !quant_int_weight_dtype(t->dtype))
			return err_set("%s: %s is %s and has a scale, but only FP8 and 1-byte integer weights can be dequantized",
				       s->path, err_quote(t->name, q), dt_name(t->dtype));
		struct wfill *wf = xcalloc(1, sizeof *wf);
		struct quant *qt = &wf->q;
		p->fills = xgrow(p->fills, p->nfills, sizeof *p->fills);
		p->fills[p->nfills++] = wf;
		/* the block and the codes' table the view paired weight and scale by (the
		 * scheme's own block, or config.json's); 4-bit codes through the table asked for */
		const float *codes4 = pc && pc->codes4 ? (x->o->codes4 ? x->o->codes4 : pc->codes4) : NULL;
		int rc = codes4 ? quant_init_packed4(qt, t->name, t, st_bytes(s->st, t), sc, st_bytes(sf, sc), pc->bm,
						     pc->bn, codes4)
				: quant_init(qt, t->name, t, st_bytes(s->st, t), sc, st_bytes(sf, sc),
					     pc ? pc->bm : bm, pc ? pc->bn : bn);
		if (rc)
			return err_prefix("%s: ", s->path);
		if (own)
			used[own - x->v->t] = true;
		/* (4-bit codes: the logical shape, two codes a stored I8 or U8) */
		uint64_t shape[2] = {qt->rows, qt->cols};
		ot = cv_add_tensor(f, t->name, DT_BF16, t->ndim, codes4 ? shape : t->shape);
		uint64_t row = qt->cols * 2;
		ot->fill = (struct cv_fill){fill_bf16, qt, row * (row * qt->bm <= CV_CHUNK ? qt->bm : 1),
					    quant_scratch_bytes(qt)};
		wf->w = st_bytes(s->st, t);
		wf->wlen = st_nbytes(t);
		wf->s = st_bytes(sf, sc);
		wf->slen = st_nbytes(sc);
		wf->out = qt->rows * qt->cols * 2;
		ot->inputs = weight_inputs;
		ot->inputs_arg = wf;
		p->nconverted++;
		p->nfp4 += codes4 != NULL;
	}
	return 0;
}

/* Scales that no converted weight took. */
static int plan_orphans(struct ctx *x, const bool *used)
{
	char q[ERR_QUOTE];
	for (size_t i = 0; i < x->v->n; i++) {
		const struct vtensor *t = &x->v->t[i];
		char *wname = NULL;
		if (used[i] || left_out(x, t->name) || !scale_scheme(x, t->name, &wname))
			continue;
		const struct vtensor *w = view_find(x->v, wname);
		const struct vfile *file = view_file_of(x->v, t->p[0].f);
		int rc = note(x, file->name, "%s: scale %s belongs to no FP8 weight (%s %s); left out", file->path,
			      err_quote(t->name, q), wname,
			      !w ? "is missing" : w->stored == DT_BF16 ? "is BF16" : "is not 1-byte");
		free(wname);
		if (rc)
			return -1;
	}
	return 0;
}

static int plan_index(struct ctx *x)
{
	struct fp8cast *p = x->p;
	const struct idx *ix = x->v->index;
	for (size_t i = 0; i < p->job.nfiles; i++)
		p->total_size += p->job.files[i].L.data_size;
	if (!ix)
		return 0;
	struct idx_entry *e = xcalloc(ix->n + 1, sizeof *e);
	size_t n = 0;
	for (size_t i = 0; i < ix->n; i++)
		if (!is_scale(x, ix->e[i].name) && !left_out(x, ix->e[i].name))
			e[n++] = ix->e[i];
	struct buf b = {0};
	idx_render(&b, e, n, &p->total_size);
	cv_add_side_bytes(&p->job, INDEX_NAME, b.p, b.len);
	buf_free(&b);
	free(e);
	return 0;
}

static int plan_config(struct ctx *x)
{
	if (!x->v->config_path)
		return 0;
	struct buf out = {0}, ratios = {0};
	/* expert_dtype: how DeepSeek-V4's experts are stored, which some tools add beside
	 * quantization_config; with --drop-mtp, DeepSeek-V4's compress_ratios (one a layer, the
	 * MTP layers' included) loses the MTP layers' entries */
	struct json_edit e[5] = {
		{"quantization_config", NULL},
		{"expert_dtype", NULL},
		{"torch_dtype", "\"bfloat16\""},
	};
	size_t n = 3;
	const struct ds_config *c = x->v->cfg;
	if (x->drop) {
		e[n++] = (struct json_edit){"num_nextn_predict_layers", "0"};
		if (c && c->ncompress > (size_t)x->nlayers) {
			for (int64_t i = 0; i < x->nlayers; i++)
				buf_printf(&ratios, "%s%u", i ? ", " : "[", (unsigned)c->compress_ratios[i]);
			buf_adds(&ratios, x->nlayers ? "]" : "[]");
			e[n++] = (struct json_edit){"compress_ratios", buf_str(&ratios)};
		}
	}
	int rc = json_edit_file(&out, x->v->config_path, e, n);
	if (!rc)
		cv_add_side_bytes(&x->p->job, "config.json", out.p, out.len);
	buf_free(&out);
	buf_free(&ratios);
	return rc;
}

bool fp8cast_side_file(const char *rel, void *arg)
{
	(void)arg;
	if (strchr(rel, '/'))
		return true;
	return !ends_with(rel, ".safetensors") && strcmp(rel, INDEX_NAME) && strcmp(rel, "config.json");
}

int fp8cast_nothing(const struct fp8cast *p, const struct view *v)
{
	if (p->nconverted)
		return 0;
	bool has[DT_COUNT] = {0}, one_byte = false;
	const struct qscheme *const *sch = family_schemes(v->cfg ? v->cfg->family : NULL);
	size_t n;
	const struct vtensor **ts = view_stored(v, &n);
	for (size_t i = 0; i < n; i++) {
		has[ts[i]->stored] = true;
		one_byte |= dt_bits(ts[i]->stored) == 8 && !ends_with(ts[i]->name, sch[0]->scale_suffix);
	}
	free(ts);
	if (one_byte)
		return err_set("%s: none of its 1-byte weights has a scale (NAME%s): nothing dequantized, "
			       "every tensor copied unchanged", v->dir, sch[0]->scale_suffix), 1;
	char types[128] = "";
	size_t o = 0;
	for (int d = 0; d < DT_COUNT && o < sizeof types; d++)
		if (has[d])
			o += (size_t)snprintf(types + o, sizeof types - o, "%s%s", o ? ", " : "", dt_name((enum dt)d));
	if (p->quant_declared)
		return err_set("%s: holds no FP8 weight (its tensors are %s), though its config.json declares FP8: every "
			       "tensor copied unchanged, config.json without quantization_config", v->dir, types), 1;
	return err_set("%s: holds no FP8 weight (its tensors are %s): nothing to dequantize, every tensor copied "
		       "unchanged", v->dir, types), 1;
}

int fp8cast_plan(struct fp8cast *p, const struct view *v, const struct fp8cast_opts *o)
{
	struct ctx x = {p, v, o, false, -1, family_schemes(v->cfg ? v->cfg->family : NULL)};
	uint64_t bm = 128, bn = 128;
	bool *used = NULL;
	memset(p, 0, sizeof *p);
	if (v->layout != LAYOUT_HF || v->nproblems)
		return err_set("%s: the FP8 -> BF16 plan takes an HF checkpoint opened strictly", v->path);
	if (v->cfg) {
		bm = (uint64_t)v->cfg->quant.block[0];
		bn = (uint64_t)v->cfg->quant.block[1];
		x.nlayers = v->cfg->num_hidden_layers;
		/* a tensor, a scale or a layer missing: refused, not converted into less */
		p->family = v->cfg->family;
		p->model = p->family ? family_model_name(p->family, v->cfg) : NULL;
		if (p->family && p->family->no_inventory) {
			/* its weights and scales pair as its family says; nothing to check them against */
			snprintf(p->model_text, sizeof p->model_text, "%s, whose tensors ckpt does not know: not checked "
				 "against a model", p->model);
			p->model = p->model_text;
		} else if (p->family && model_check(v, v->cfg, v->config_path)) {
			goto fail;
		}
	}
	if (o->drop_mtp) {
		if (p->family && p->family->no_inventory) {
			err_set("%s: --drop-mtp: %s: which tensors are its MTP layers is not known", v->dir,
				p->family->no_inventory);
			goto fail;
		}
		if (x.nlayers < 0) {
			err_set("%s: --drop-mtp needs num_hidden_layers from config.json%s", v->dir,
				v->config_path ? "" : ", and there is no config.json");
			goto fail;
		}
		x.drop = true;
	}
	for (size_t i = 0; i < v->nstray; i++)
		if (note(&x, NULL, "%s/%s: not named by the index; left out", v->dir, v->stray[i]))
			goto fail;
	used = xcalloc(v->n + 1, sizeof *used);
	for (size_t i = 0; i < v->nfiles; i++)
		if (plan_shard(&x, &v->files[i], (int)i, used, bm, bn))
			goto fail;
	p->quant_declared = v->cfg && v->cfg->quant.present;
	if (plan_orphans(&x, used) || cv_plan(&p->job) || plan_index(&x) || plan_config(&x) ||
	    cv_add_side_tree(&p->job, v->dir, fp8cast_side_file, NULL))
		goto fail;
	free(used);
	return 0;
fail:
	free(used);
	fp8cast_free(p);
	return -1;
}

void fp8cast_free(struct fp8cast *p)
{
	cv_job_free(&p->job);
	for (size_t i = 0; i < p->nnotes; i++)
		free(p->notes[i].text);
	free(p->notes);
	for (size_t i = 0; i < p->nfills; i++)
		free(p->fills[i]);
	free(p->fills);
	memset(p, 0, sizeof *p);
}
