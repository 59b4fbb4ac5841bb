#include "fp8quant.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ds_config.h"
#include "fp8cast.h"
#include "err.h"
#include "index.h"
#include "json_edit.h"
#include "jsonw.h"
#include "model_check.h"
#include "names.h"
#include "quantize.h"

/* slime's exclusions: a name holding any of these is copied */
static const char *const kept_words[] = {
	"layernorm", "embed", "router", "mlp.gate.", "norm", "lm_head", "eh_proj", "weights_proj",
	"conv1d", "A_log", "dt_bias", "in_proj_a", "in_proj_b",
};

bool fp8quant_by_name(const char *name)
{
	if (!strstr(name, "weight"))
		return false;
	for (size_t i = 0; i < sizeof kept_words / sizeof *kept_words; i++)
		if (strstr(name, kept_words[i]))
			return false;
	return true;
}

/* What the fill functions of one weight read. */
struct qw {
	const uint8_t *src;
	enum dt in;
	uint64_t rows, cols, bm, nsc;   /* nsc: scales a block row */
	struct qblock q;
	const char *name, *path;
};

static size_t tmp_bytes(const struct qw *w) { return (size_t)(w->bm * w->q.bn * sizeof(float)); }
static size_t scale_row_bytes(const struct qw *w) { return (size_t)(w->nsc * (dt_bits(w->q.sdt) / 8)); }

static int quantize(const struct qw *w, uint64_t r, uint8_t *codes, void *scales, void *scratch)
{
	uint64_t nr = w->rows - r < w->bm ? w->rows - r : w->bm, bad;
	const uint8_t *src = w->src + r * w->cols * (dt_bits(w->in) / 8);
	if (!quantize_rows(src, w->in, nr, w->cols, &w->q, codes, scales, scratch, &bad))
		return 0;
	float x;
	dt_to_f32(w->in, src, bad, 1, &x);
	char q[ERR_QUOTE];
	return err_set("%s: %s holds %s at [%" PRIu64 ", %" PRIu64 "]: FP8 has no code for it", w->path,
		       err_quote(w->name, q), x != x ? "NaN" : x > 0 ? "+inf" : "-inf", r + bad / w->cols,
		       bad % w->cols);
}

/* Bytes [off, off + n) of the codes: whole block rows. */
static int fill_codes(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct qw *w = arg;
	uint8_t *sc = (uint8_t *)scratch + tmp_bytes(w);
	for (uint64_t r = off / w->cols; r < (off + n) / w->cols; r += w->bm)
		if (quantize(w, r, dst + (r * w->cols - off), sc, scratch))
			return -1;
	return 0;
}

/* Bytes [off, off + n) of the scales: whole rows of them, each a block row of the weight. */
static int fill_scales(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct qw *w = arg;
	uint64_t row = scale_row_bytes(w);
	for (uint64_t b = off / row; b < (off + n) / row; b++)
		if (quantize(w, b * w->bm, NULL, dst + (b * row - off), scratch))
			return -1;
	return 0;
}

struct ctx {
	struct fp8quant *p;
	const struct view *v;
	const struct fp8quant_opts *o;
	uint64_t bm, bn;
	struct hf_layout *L;           /* FP8Q_SELECT_MODEL: the model's FP8 inventory */
	struct buf modules;            /* names, NUL-separated */
	size_t nmodules;
};

/* Whether the weight is quantized, and then its scale's name (caller frees) and dtype. */
static int selected(struct ctx *x, const char *path, const struct st_tensor *t, char **sname, enum dt *sdt)
{
	char q[ERR_QUOTE];
	*sname = NULL;
	*sdt = DT_F32;
	if (x->L) {
		const struct hf_entry *e = hf_find(x->L, t->name);
		if (!e || e->scale || !e->t->quantized)
			return 0;
		if (e->t->packed4)
			return err_set("%s: %s is stored as 4-bit codes in this model's releases: ckpt-bf16-to-fp8 "
				       "makes FP8 only", path, err_quote(t->name, q));
		*sname = xstrdup(e->t->scale.name);
		*sdt = e->t->scale.dtype;
		return 1;
	}
	if (!fp8quant_by_name(t->name))
		return 0;
	const char *w = strstr(t->name, ".weight");
	if (!w || strcmp(w, ".weight") != 0)
		return err_set("%s: %s would be quantized by slime's name rule, but its name does not end in "
			       "\".weight\" once, so its scale has no name (use --select model)", path,
			       err_quote(t->name, q));
	*sname = xasprintf("%s_scale_inv", t->name);
	return 1;
}

/* slime's name of an unquantized module: the tensor's with every ".weight" taken out. */
static void add_module(struct ctx *x, const char *name)
{
	for (const char *s = name; *s;) {
		if (strncmp(s, ".weight", 7) == 0) {
			s += 7;
			continue;
		}
		buf_add(&x->modules, s++, 1);
	}
	buf_add(&x->modules, "", 1);
	x->nmodules++;
}

static int plan_weight(struct ctx *x, const struct vfile *s, struct cv_file *f, const struct st_tensor *t,
		       char *sname, enum dt sdt)
{
	struct fp8quant *p = x->p;
	char q[ERR_QUOTE];
	if (t->ndim != 2 || !t->shape[0] || !t->shape[1])
		return err_set("%s: %s is %s: block quantization takes a 2-D weight with rows and columns", s->path,
			       err_quote(t->name, q), t->ndim == 2 ? "empty" : t->ndim == 1 ? "1-D" : "not 2-D");
	if (t->dtype != DT_BF16 && t->dtype != DT_F32 && t->dtype != DT_F16)
		return err_set("%s: %s is %s: only BF16, F16 and F32 weights are quantized", s->path,
			       err_quote(t->name, q), dt_name(t->dtype));
	if (view_find(x->v, sname))
		return err_set("%s: %s is already a tensor of the checkpoint: it cannot be %s's scale", s->path,
			       err_quote(sname, q), t->name);
	struct qw *w = xcalloc(1, sizeof *w);
	p->fills = xgrow(p->fills, p->nfills, sizeof *p->fills);
	p->fills[p->nfills++] = w;
	*w = (struct qw){st_bytes(s->st, t), t->dtype, t->shape[0], t->shape[1], x->bm,
			 (t->shape[1] + x->bn - 1) / x->bn,
			 {DT_F8_E4M3, sdt, x->o->pow2 || sdt == DT_F8_E8M0, true, quantize_floor(t->dtype), x->bn},
			 t->name, s->path};
	size_t scratch = tmp_bytes(w) + scale_row_bytes(w);
	uint64_t in_row = w->cols * (dt_bits(w->in) / 8);

	struct cv_tensor *ot = cv_add_tensor(f, t->name, DT_F8_E4M3, 2, t->shape);
	ot->fill = (struct cv_fill){fill_codes, w, w->bm * w->cols, scratch};
	ot->in = w->src;
	ot->in_len = st_nbytes(t);

	uint64_t sshape[2] = {(w->rows + w->bm - 1) / w->bm, w->nsc}, per = CV_CHUNK / (w->bm * in_row);
	ot = cv_add_tensor(f, sname, sdt, 2, sshape);
	/* a chunk of scales reads about CV_CHUNK of the weight */
	ot->fill = (struct cv_fill){fill_scales, w, scale_row_bytes(w), scratch};
	ot->chunk = scale_row_bytes(w) * (per ? per : 1);
	ot->in = w->src;
	ot->in_len = st_nbytes(t);
	p->nquantized++;
	return 0;
}

/* A checkpoint with a 1-byte float tensor is quantized already: refused before anything
 * else is said of it. */
static int not_quantized(const struct view *v)
{
	char q[ERR_QUOTE];
	for (size_t i = 0; i < v->nfiles; i++)
		for (size_t k = 0; k < v->files[i].st->n; k++) {
			const struct st_tensor *t = &v->files[i].st->t[k];
			if (dt_is_fp8(t->dtype))
				return err_set("%s: %s is %s: the checkpoint is quantized already (ckpt-fp8-to-bf16 "
					       "makes BF16 of it)", v->files[i].path, err_quote(t->name, q),
					       dt_name(t->dtype));
		}
	return 0;
}

static int plan_shard(struct ctx *x, const struct vfile *s, int group)
{
	struct fp8quant *p = x->p;
	struct cv_file *f = cv_add_file(&p->job, s->name, group);
	cv_set_meta(f, "format", "pt");
	for (size_t k = 0; k < s->st->n; k++) {
		const struct st_tensor *t = &s->st->t[k];
		char *sname;
		enum dt sdt;
		int sel = selected(x, s->path, t, &sname, &sdt);
		if (sel < 0)
			return -1;
		if (sel) {
			/* (the output tensors name sname: the job keeps it) */
			p->fills = xgrow(p->fills, p->nfills, sizeof *p->fills);
			p->fills[p->nfills++] = sname;
			if (plan_weight(x, s, f, t, sname, sdt))
				return -1;
			continue;
		}
		struct cv_tensor *ot = cv_add_tensor(f, t->name, t->dtype, t->ndim, t->shape);
		ot->copy = st_bytes(s->st, t);
		ot->in = ot->copy;
		ot->in_len = st_nbytes(t);
		add_module(x, t->name);
		p->ncopied++;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct idx_entry *)a)->name, ((const struct idx_entry *)b)->name);
}

static void plan_index(struct ctx *x)
{
	struct fp8quant *p = x->p;
	size_t n = 0;
	for (size_t i = 0; i < p->job.nfiles; i++)
		n += p->job.files[i].n;
	struct idx_entry *e = xcalloc(n + 1, sizeof *e);
	n = 0;
	for (size_t i = 0; i < p->job.nfiles; i++) {
		const struct cv_file *f = &p->job.files[i];
		p->total_size += f->L.data_size;
		for (size_t k = 0; k < f->n; k++)
			e[n++] = (struct idx_entry){f->t[k].name, f->name};
	}
	qsort(e, n, sizeof *e, cmp_name);
	struct buf b = {0};
	idx_render(&b, e, n, &p->total_size);
	cv_add_side_bytes(&p->job, INDEX_NAME, b.p, b.len);
	buf_free(&b);
	free(e);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* config.json's quantization_config, spelt as slime's json.dump(indent=2) nests it. */
static int plan_config(struct ctx *x)
{
	if (!x->v->config_path)
		return 0;
	const char **m = xcalloc(x->nmodules + 1, sizeof *m);
	size_t n = 0;
	for (size_t off = 0, i = 0; i < x->nmodules; i++, off += strlen(x->modules.p + off) + 1)
		m[n++] = x->modules.p + off;
	qsort(m, n, sizeof *m, cmp_str);
	struct buf b = {0};
	struct jw w;
	jw_init(&w, &b, 2, true);
	jw_obj(&w);
	jw_kv_str(&w, "activation_scheme", "dynamic");
	jw_kv_str(&w, "fmt", "e4m3");
	jw_kv_str(&w, "quant_method", "fp8");
	jw_key(&w, "weight_block_size");
	jw_arr(&w);
	jw_u64(&w, x->bm);
	jw_u64(&w, x->bn);
	jw_arr_end(&w);
	if (x->o->pow2)
		jw_kv_str(&w, "scale_fmt", "ue8m0");
	if (n) {
		jw_key(&w, "modules_to_not_convert");
		jw_arr(&w);
		for (size_t i = 0; i < n; i++)
			if (!i || strcmp(m[i], m[i - 1]))
				jw_str(&w, m[i]);
		jw_arr_end(&w);
	}
	jw_obj_end(&w);
	free(m);
	struct buf nested = {0};
	for (size_t i = 0; i < b.len; i++)
		buf_add(&nested, b.p[i] == '\n' ? "\n  " : b.p + i, b.p[i] == '\n' ? 3 : 1);
	buf_add(&nested, "", 1);
	buf_free(&b);
	struct buf out = {0};
	struct json_edit e = {"quantization_config", nested.p};
	int rc = json_edit_file(&out, x->v->config_path, &e, 1);
	if (!rc)
		cv_add_side_bytes(&x->p->job, "config.json", out.p, out.len);
	buf_free(&out);
	buf_free(&nested);
	return rc;
}

/* FP8Q_SELECT_MODEL: the inventory of the model's FP8 checkpoints (its config with a
 * quantization_config of these blocks). */
static int model_inventory(struct ctx *x)
{
	const struct view *v = x->v;
	if (!v->cfg)
		return err_set("%s: --select model needs config.json, and there is none", v->dir);
	if (!v->cfg->family)
		return err_set("%s: --select model needs a model ckpt knows (%s names none)", v->dir, v->config_path);
	struct ds_config c = *v->cfg;
	c.quant.present = true;
	snprintf(c.quant.method, sizeof c.quant.method, "fp8");
	snprintf(c.quant.fmt, sizeof c.quant.fmt, "e4m3");
	c.quant.block[0] = (int64_t)x->bm;
	c.quant.block[1] = (int64_t)x->bn;
	return c.family->expected(&x->L, &c, v->config_path);
}

int fp8quant_plan(struct fp8quant *p, const struct view *v, const struct fp8quant_opts *o)
{
	struct ctx x = {p, v, o, o->block[0] ? o->block[0] : 128, o->block[1] ? o->block[1] : 128, NULL, {0}, 0};
	memset(p, 0, sizeof *p);
	if (v->layout != LAYOUT_HF || v->nproblems)
		return err_set("%s: the BF16 -> FP8 plan takes an HF checkpoint opened strictly", v->path);
	if (v->cfg) {
		p->family = v->cfg->family;
		p->model = p->family ? family_model_name(p->family, v->cfg) : NULL;
		/* a tensor or a layer missing: refused, not converted into less */
		if (p->family && model_check(v, v->cfg, v->config_path))
			goto fail;
	}
	if (not_quantized(v) || (o->select == FP8Q_SELECT_MODEL && model_inventory(&x)))
		goto fail;
	for (size_t i = 0; i < v->nstray; i++) {
		p->notes = xgrow(p->notes, p->nnotes, sizeof *p->notes);
		p->notes[p->nnotes++] = xasprintf("%s/%s: not named by the index; left out", v->dir, v->stray[i]);
	}
	for (size_t i = 0; i < v->nfiles; i++)
		if (plan_shard(&x, &v->files[i], (int)i))
			goto fail;
	if (cv_plan(&p->job))
		goto fail;
	plan_index(&x);
	if (plan_config(&x) || cv_add_side_tree(&p->job, v->dir, fp8cast_side_file, NULL))
		goto fail;
	hf_free(x.L);
	buf_free(&x.modules);
	return 0;
fail:
	hf_free(x.L);
	buf_free(&x.modules);
	fp8quant_free(p);
	return -1;
}

void fp8quant_free(struct fp8quant *p)
{
	cv_job_free(&p->job);
	for (size_t i = 0; i < p->nnotes; i++)
		free(p->notes[i]);
	free(p->notes);
	for (size_t i = 0; i < p->nfills; i++)
		free(p->fills[i]);
	free(p->fills);
	memset(p, 0, sizeof *p);
}
