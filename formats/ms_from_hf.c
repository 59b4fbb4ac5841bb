/* The MindSpore training layout written from any view of an HF DeepSeek-V3 model, as
 * mindformers' convert_weight.py (training path, without grouped-gemm names) writes it:
 * every output tensor is rows of canonical tensors (lib/engine/convert_src.h), so the source may be
 * FP8 (dequantized on the fly, rounded to bf16 as upstream) or any other layout with a view.
 * Which HF tensor becomes which MindSpore tensor is the rules table of mindspore.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_src.h"
#include "err.h"
#include "family.h"
#include "jsonw.h"
#include "mindspore.h"
#include "out.h"
#include "readfile.h"

struct ms_train_out {
	size_t nrows;
	struct cv_rows **rows;
	size_t nnames;
	char **names;
	struct buf map;
	struct jw w;
};

static struct cv_rows *new_rows(struct ms_train_out *o, uint64_t cols, enum dt out)
{
	struct cv_rows *r = xmalloc(sizeof *r);
	cv_rows_init(r, cols, out);
	o->rows = xgrow(o->rows, o->nrows, sizeof *o->rows);
	o->rows[o->nrows++] = r;
	return r;
}

/* upstream keeps these float32 whatever the chosen dtype */
static enum dt dtype_for(const char *name, enum dt want)
{
	return strstr(name, "norm") || strstr(name, "router.dense") || strstr(name, "topk_bias") ? DT_F32 : want;
}

struct layer_ctx {
	const struct view *src;
	struct ms_train_out *o;
	struct cv_file *f;
	enum dt dtype;
	struct ms_dims d;
	int64_t experts;
};

static const struct vtensor *need(const struct view *v, enum hf_role role, int layer, int expert)
{
	char name[256];
	struct hf_name n = {.role = role, .layer = layer, .expert = expert};
	int len = hf_format(name, sizeof name, &n);
	if (len < 0 || (size_t)len >= sizeof name)
		return NULL;
	const struct vtensor *t = view_find(v, name);
	if (!t)
		err_set("%s: tensor \"%s\" is missing", v->path, name);
	return t;
}

/* Add output tensor `name` of shape made of r's rows. */
static void emit(struct layer_ctx *x, char *name, struct cv_rows *r, unsigned ndim, const uint64_t *shape)
{
	x->o->names = xgrow(x->o->names, x->o->nnames, sizeof *x->o->names);
	x->o->names[x->o->nnames++] = name;
	cv_tensor_rows(cv_add_tensor(x->f, name, r->out, ndim, shape), r);
	jw_kv_str(&x->o->w, name, x->f->name);
}

/* The rows that stored tensor `part` of a split role takes from canonical tensor t. */
static int split_rows(struct layer_ctx *x, const struct vtensor *t, enum hf_role role, enum ms_part part,
		      struct cv_rows *r)
{
	const struct ms_dims *d = &x->d;
	const uint32_t *order = ms_rope_order(d->rope);
	uint64_t head = role == HF_Q_B_PROJ ? d->nope + d->rope : d->nope + d->v;
	uint64_t want = role == HF_KV_A_PROJ ? d->kv_rank + d->rope : d->heads * head;
	char s[ST_SHAPE_LEN];
	if (t->rows != want || !order)
		return err_set("%s: tensor \"%s\" %s does not fit config.json's attention sizes", x->src->path, t->name,
			       st_shape_str(t->ndim, t->shape, s, sizeof s));
	if (role == HF_KV_A_PROJ) {
		if (part == MS_LATENT)
			cv_rows_add(r, t, 0, d->kv_rank, NULL);
		else
			cv_rows_add(r, t, d->kv_rank, d->rope, order);
		return 0;
	}
	for (uint64_t h = 0; h < d->heads; h++) {
		if (part == MS_NOPE)
			cv_rows_add(r, t, h * head, d->nope, NULL);
		else if (part == MS_ROPE)
			cv_rows_add(r, t, h * head + d->nope, d->rope, order);
		else
			cv_rows_add(r, t, h * head + d->nope, d->v, NULL);
	}
	return 0;
}

/* One layer's tensors, in upstream's order. */
static int plan_layer(struct layer_ctx *x, int L)
{
	char name[256];
	for (size_t i = 0; i < ms_nrules; i++) {
		const struct ms_rule *ru = &ms_rules[i];
		if (!(ru->in & (1u << MS_TRAIN)))
			continue;
		struct hf_name hn = {.role = ru->role, .layer = L, .expert = hf_role_per_expert(ru->role) ? 0 : -1};
		int len = hf_format(name, sizeof name, &hn);
		if (len < 0 || (size_t)len >= sizeof name)
			continue;
		if (!view_find(x->src, name))
			continue; /* not in this layer (dense or MoE, with or without q LoRA) */
		char *out = xasprintf("model.layers.%d.%s", L, ru->suffix);
		enum dt dt = dtype_for(out, x->dtype);
		const struct vtensor *t = view_find(x->src, name);
		if (ru->part == MS_STACKED) {
			struct cv_rows *r = new_rows(x->o, t->cols, dt);
			for (int64_t e = 0; e < x->experts; e++) {
				const struct vtensor *te = need(x->src, ru->role, L, (int)e);
				if (!te || te->rows != t->rows || te->cols != t->cols) {
					if (te)
						err_set("%s: tensor \"%s\" differs in shape from expert 0's", x->src->path, te->name);
					free(out);
					return -1;
				}
				cv_rows_add(r, te, 0, te->rows, NULL);
			}
			uint64_t shape[3] = {(uint64_t)x->experts, t->rows, t->cols};
			emit(x, out, r, 3, shape);
			continue;
		}
		struct cv_rows *r = new_rows(x->o, t->cols, dt);
		if (ru->part == MS_WHOLE) {
			cv_rows_add(r, t, 0, t->rows, NULL);
			emit(x, out, r, t->ndim, t->shape);
			continue;
		}
		if (split_rows(x, t, ru->role, ru->part, r)) {
			free(out);
			return -1;
		}
		uint64_t shape[2] = {r->rows, t->cols};
		emit(x, out, r, 2, shape);
	}
	return 0;
}

static int plan_whole(struct layer_ctx *x, enum hf_role role, int layer, const char *ms_name)
{
	const struct vtensor *t = need(x->src, role, layer, -1);
	if (!t)
		return -1;
	char *out = xstrdup(ms_name);
	struct cv_rows *r = new_rows(x->o, t->cols, dtype_for(out, x->dtype));
	cv_rows_add(r, t, 0, t->rows, NULL);
	emit(x, out, r, t->ndim, t->shape);
	return 0;
}

int ms_train_plan(struct ms_train_out **outp, struct cv_job *job, const struct view *src, enum dt dtype)
{
	struct ms_train_out *o = xcalloc(1, sizeof *o);
	const struct ds_config *c = src->cfg;
	*outp = NULL;
	jw_init(&o->w, &o->map, 2, true);
	jw_obj(&o->w);
	if (!src->cfg || ds_config_require(c, src->path)) {
		if (!src->cfg)
			err_set("%s: no config.json: the training layout needs the model's sizes", src->path);
		goto fail;
	}
	/* (the layout is built by roles: tensors of roles it has no names for would be left
	 * out, and a tool never does less than asked) */
	if (c->family && c->family->parse) {
		err_set("%s: %s has no names in MindSpore Transformers' training layout: not converted", src->path,
			family_model_name(c->family, c));
		goto fail;
	}
	if (c->index_n_heads > 0) {
		err_set("%s: DeepSeek-V3.2's indexer (config.json's index_n_heads) has no names in MindSpore "
			"Transformers' training layout: not converted", src->path);
		goto fail;
	}
	if (dtype != DT_BF16 && dtype != DT_F16 && dtype != DT_F32) {
		err_set("the training layout is written as BF16, F16 or F32, not %s", dt_name(dtype));
		goto fail;
	}
	int64_t N = c->num_hidden_layers, total = N + (c->num_nextn_predict_layers > 0 ? c->num_nextn_predict_layers : 0);
	struct layer_ctx x = {.src = src, .o = o, .dtype = dtype, .experts = c->n_routed_experts};
	x.d = (struct ms_dims){(uint64_t)c->num_attention_heads, (uint64_t)c->qk_nope_head_dim,
			       (uint64_t)c->qk_rope_head_dim, (uint64_t)c->v_head_dim, (uint64_t)c->kv_lora_rank};
	for (int64_t L = 0; L < total; L++) {
		char fname[96], mname[128];
		snprintf(fname, sizeof fname, "ms-model-%05" PRId64 "-of-%05" PRId64 ".safetensors", L + 1, total);
		x.f = cv_add_file(job, fname, (int)L);
		if (L == 0 && plan_whole(&x, HF_EMBED, -1, "model.tok_embeddings.embedding_weight"))
			goto fail;
		if (plan_layer(&x, (int)L))
			goto fail;
		if (L >= N) {
			static const struct {
				enum hf_role role;
				const char *suffix;
			} mtp[] = {{HF_MTP_ENORM, "norm_emb"}, {HF_MTP_HNORM, "norm"}, {HF_MTP_EH_PROJ, "dense"}};
			for (size_t i = 0; i < 3; i++) {
				snprintf(mname, sizeof mname, "model.mtp_hidden_fusers.%" PRId64 ".%s.weight", L - N, mtp[i].suffix);
				if (plan_whole(&x, mtp[i].role, (int)L, mname))
					goto fail;
			}
		}
		if (L == total - 1 &&
		    (plan_whole(&x, HF_NORM, -1, "model.norm_out.weight") ||
		     (!c->tie_word_embeddings && plan_whole(&x, HF_LM_HEAD, -1, "lm_head.weight"))))
			goto fail;
	}
	jw_obj_end(&o->w);
	cv_add_side_bytes(job, MS_MAP_NAME, o->map.p, o->map.len);
	char *cfg = path_join(src->path, "config.json");
	struct stat sb;
	bool have = stat(cfg, &sb) == 0;
	int bad = have ? file_regular(cfg, &sb) : 0;
	/* the weights are dequantized: the config no longer declares them FP8 */
	struct buf text = {0};
	if (have && !bad)
		bad = config_text_unquantized(&text, cfg);
	if (have && !bad)
		cv_add_side_bytes(job, "config.json", text.p, text.len);
	buf_free(&text);
	free(cfg);
	if (bad)
		goto fail;
	*outp = o;
	return 0;
fail:
	ms_train_out_free(o);
	return -1;
}

void ms_train_out_free(struct ms_train_out *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nrows; i++) {
		cv_rows_free(o->rows[i]);
		free(o->rows[i]);
	}
	for (size_t i = 0; i < o->nnames; i++)
		free(o->names[i]);
	free(o->rows);
	free(o->names);
	buf_free(&o->map);
	free(o);
}
