/* A converter's precondition: the checkpoint holds what its config.json implies. */
#include "model_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "family.h"
#include "hf.h"
#include "layout.h"
#include "dequant.h"
#include "dsmp.h"

/* The layers the checkpoint's tensors name: each of 0..total-1 that has one, the highest
 * of all (-1: none) and the first holding an MTP layer's own tensor (enorm, eh_proj ...;
 * INT64_MAX: none); and the highest routed expert (-1: none). */
static void layers_present(const struct view *v, const struct ds_config *c, bool *has, int64_t total, int64_t *top,
			   int64_t *first_mtp, int64_t *top_expert)
{
	*top = *top_expert = -1;
	*first_mtp = INT64_MAX;
	for (size_t i = 0; i < v->n; i++) {
		struct hf_name n;
		if (family_parse(c, v->t[i].name, &n) || n.layer < 0)
			continue;
		*top = n.layer > *top ? n.layer : *top;
		*top_expert = n.expert > *top_expert ? n.expert : *top_expert;
		if (n.layer < total)
			has[n.layer] = true;
		if (((n.role >= HF_MTP_EMBED && n.role <= HF_MTP_HEAD) || n.role == HF_OWN_MTP) && n.layer < *first_mtp)
			*first_mtp = n.layer;
	}
}

static int check_counts(const struct view *v, const struct ds_config *c, const char *config_path)
{
	int64_t nl = c->num_hidden_layers, nmtp = c->num_nextn_predict_layers, total = nl + nmtp, top, mtp0, top_e;
	bool *has = xcalloc((size_t)total + 1, sizeof *has);
	layers_present(v, c, has, total, &top, &mtp0, &top_e);
	/* the checkpoint's own count: its layers up to the first MTP layer, then MTP layers */
	int64_t nmain = mtp0 <= top ? mtp0 : top + 1, extra = top + 1 - nmain;
	char have[96];
	if (top < 0)
		snprintf(have, sizeof have, "no layers");
	else if (nmain == 0)
		snprintf(have, sizeof have, "MTP layers 0..%" PRId64 " only", top);
	else
		snprintf(have, sizeof have, "layers 0..%" PRId64 "%s", nmain - 1,
			 extra == 0 ? "" : extra == 1 ? " and MTP layer" : " and MTP layers");
	if (extra == 1)
		snprintf(have + strlen(have), sizeof have - strlen(have), " %" PRId64, nmain);
	else if (extra > 1 && nmain > 0)
		snprintf(have + strlen(have), sizeof have - strlen(have), " %" PRId64 "..%" PRId64, nmain, top);
	int rc = 0;
	if (nmain != nl)
		rc = err_set("%s: num_hidden_layers is %" PRId64 " but the checkpoint has %s", config_path, nl, have);
	else if (extra != nmtp)
		rc = err_set("%s: num_nextn_predict_layers is %" PRId64 " but the checkpoint has %s%s", config_path, nmtp,
			     have, extra ? "" : " and no MTP layer");
	for (int64_t l = 0; l < total && !rc; l++)
		if (!has[l])
			rc = err_set("%s: layer %" PRId64 " is missing (%s says the model has layers 0..%" PRId64 ")", v->path, l,
				     config_path, total - 1);
	/* the experts multiply the tensors the config implies: their count is checked before
	 * those are listed (a config claiming 60000 would list millions) */
	bool moe = false;
	for (int64_t l = 0; l < total && !moe; l++)
		moe = family_layer_is_moe(c, l);
	if (!rc && moe && top_e + 1 != c->n_routed_experts) {
		if (top_e < 0)
			rc = err_set("%s: n_routed_experts is %" PRId64 " but the checkpoint has no routed expert", config_path,
				     c->n_routed_experts);
		else
			rc = err_set("%s: n_routed_experts is %" PRId64 " but the checkpoint has experts 0..%" PRId64,
				     config_path, c->n_routed_experts, top_e);
	}
	free(has);
	return rc;
}

static bool scaled(const struct vtensor *vt)
{
	for (size_t i = 0; i < vt->npieces; i++)
		if (!vt->p[i].s)
			return false;
	return vt->npieces > 0;
}

static int check_tensors(const struct view *v, const struct ds_config *c, const char *config_path)
{
	struct hf_layout *L;
	if (c->family->expected(&L, c, config_path))
		return -1;
	/* only these layouts store DeepSeek's dtypes and block scales (as verify's model check) */
	bool hf_dtypes = v->layout == LAYOUT_HF || v->layout == LAYOUT_DSMP;
	char q[ERR_QUOTE], a[64], b[64];
	int rc = 0;
	for (size_t i = 0; i < L->n && !rc; i++) {
		const struct hf_tensor *t = &L->t[i];
		const struct vtensor *vt = view_find(v, t->name);
		if (!vt) {
			if (v->omits && v->omits(v, t->name))
				continue;
			st_shape_str(t->ndim, t->shape, b, sizeof b);
			rc = err_set("%s: tensor %s is missing (config.json implies %s%s%s)", v->path, err_quote(t->name, q),
				     hf_dtypes ? dt_name(t->dtype) : "", hf_dtypes ? " " : "", b);
		} else if (vt->ndim != t->ndim || memcmp(vt->shape, t->shape, t->ndim * sizeof *t->shape) != 0) {
			rc = err_set("%s: tensor %s has shape %s, config.json implies %s", v->path, err_quote(t->name, q),
				     st_shape_str(vt->ndim, vt->shape, a, sizeof a), st_shape_str(t->ndim, t->shape, b, sizeof b));
		} else if (hf_dtypes && t->quantized && (quant_weight_dtype(vt->stored) || t->packed4) && !scaled(vt)) {
			rc = err_set("%s: tensor %s is missing (config.json implies %s %s for the %s weight)", v->path,
				     err_quote(t->scale.name, q), dt_name(t->scale.dtype),
				     st_shape_str(2, t->scale.shape, b, sizeof b), dt_name(vt->stored));
		}
	}
	hf_free(L);
	return rc;
}

/* Whether the routed experts of a model-parallel view were re-encoded to FP8: its record
 * says so, else the first expert weight found is FP8. */
static bool experts_fp8(const struct view *v, const struct ds_config *c)
{
	const struct dsmp_info *in = dsmp_info(v);
	if (in && in->has_record && in->rec.expert_dtype)
		return strcmp(in->rec.expert_dtype, "fp8") == 0;
	for (size_t i = 0; i < v->n; i++) {
		struct hf_name n;
		if (family_parse(c, v->t[i].name, &n) == 0 && n.expert >= 0 && !n.scale)
			return quant_weight_dtype(v->t[i].stored);
	}
	return false;
}

void model_check_as_stored(const struct view *v, struct ds_config *c)
{
	if (v->layout != LAYOUT_DSMP || !c->family || !c->family->mp_cut)
		return;
	if (!c->family->mp_cut->keeps_mtp)
		c->num_nextn_predict_layers = 0; /* (V3's convert.py leaves the MTP layers out) */
	c->mp.on = true;
	c->mp.experts_fp8 = experts_fp8(v, c);
}

static struct ds_config as_stored(const struct view *v, const struct ds_config *cfg)
{
	struct ds_config c = *cfg;
	model_check_as_stored(v, &c);
	return c;
}

int model_check_counts(const struct view *v, const struct ds_config *cfg, const char *config_path)
{
	if (cfg->num_hidden_layers < 0)
		return 0;
	struct ds_config c = as_stored(v, cfg);
	return check_counts(v, &c, config_path);
}

int model_check_family(const struct ds_config *c, const char *config_path)
{
	if (c->family && c->family->no_inventory)
		return err_set("%s: %s", config_path, c->family->no_inventory);
	if (c->family)
		return 0;
	struct buf b = {0};
	err_set("%s: %s", config_path, family_unknown_why(c->model_type, c->architecture, &b));
	buf_free(&b);
	return -1;
}

int model_check(const struct view *v, const struct ds_config *cfg, const char *config_path)
{
	/* (a family known without its tensors first: its config may keep its keys elsewhere) */
	if (cfg->family && cfg->family->no_inventory)
		return model_check_family(cfg, config_path);
	if (cfg->num_hidden_layers < 0)
		return 0; /* it describes no model */
	if (model_check_family(cfg, config_path))
		return -1;
	struct ds_config c = as_stored(v, cfg);
	if (check_counts(v, &c, config_path))
		return -1;
	/* without every key a tensor shape needs, only the layers could be checked */
	if (ds_config_require(&c, config_path)) {
		err_clear();
		return 0;
	}
	return check_tensors(v, &c, config_path);
}

int model_check_dir(const char *dir, const char *layout, const struct ds_config *c, const char *config_path)
{
	struct view *v;
	if (c->num_hidden_layers < 0)
		return 0;
	if (layout_open(&v, dir, layout, VIEW_LENIENT))
		return -1;
	int rc = model_check(v, c, config_path);
	view_free(v);
	return rc;
}
