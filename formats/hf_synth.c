#include "hf_synth.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "family.h"
#include "json_edit.h"
#include "index.h"
#include "jsonw.h"
#include "out.h"
#include "convert.h"
#include "quantize.h"
#include "readfile.h"
#include "rng.h"
#include "st.h"

/* refgen.py's base config, spelled as Python's json.dump writes it. */
static const char base_config[] =
	"{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\", \"hidden_act\": \"silu\","
	" \"max_position_embeddings\": 163840, \"initializer_range\": 0.02, \"rms_norm_eps\": 1e-06,"
	" \"use_cache\": true, \"rope_theta\": 10000, \"rope_scaling\": {\"beta_fast\": 32, \"beta_slow\": 1,"
	" \"factor\": 40, \"mscale\": 1.0, \"mscale_all_dim\": 1.0, \"original_max_position_embeddings\": 4096,"
	" \"type\": \"yarn\"}, \"attention_bias\": false, \"attention_dropout\": 0.0, \"tie_word_embeddings\": false,"
	" \"torch_dtype\": \"bfloat16\", \"bos_token_id\": 0, \"eos_token_id\": 1, \"topk_method\": \"noaux_tc\","
	" \"moe_layer_freq\": 1, \"norm_topk_prob\": true, \"scoring_func\": \"sigmoid\", \"ep_size\": 1,"
	" \"quantization_config\": {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\", \"quant_method\": \"fp8\","
	" \"weight_block_size\": [128, 128]}}";

static const char *const gen_keys[] = {
	"seed", "shards", "shard_size", "scale_dtype", "norm_dtype", "values", "nan_codes", "experts_only",
	"scale_in_other_shard", "drop_scale", "mp", "extends", "fp4_extreme_scales", "nan_scale",
};

static bool is_gen_key(const char *k)
{
	if (k[0] == '_')
		return true;
	for (size_t i = 0; i < sizeof gen_keys / sizeof *gen_keys; i++)
		if (strcmp(k, gen_keys[i]) == 0)
			return true;
	return false;
}

/* ---- the spec ---- */

static int emit(struct jw *w, const struct json *v, int depth, const char *path)
{
	if (depth > 32)
		return err_set("%s: values nested too deeply", path);
	switch (v->type) {
	case JSON_NULL: jw_null(w); break;
	case JSON_FALSE: jw_bool(w, false); break;
	case JSON_TRUE: jw_bool(w, true); break;
	case JSON_NUMBER: jw_raw(w, json_str(v), v->len); break;
	case JSON_STRING: jw_strn(w, json_str(v), v->len); break;
	case JSON_ARRAY:
		jw_arr(w);
		for (const struct json *k = json_kid(v); k; k = json_next(k))
			if (emit(w, k, depth + 1, path))
				return -1;
		jw_arr_end(w);
		break;
	case JSON_OBJECT:
		jw_obj(w);
		for (const struct json *k = json_kid(v); k; k = json_next(k)) {
			jw_keyn(w, json_key(k), k->key_len);
			if (emit(w, k, depth + 1, path))
				return -1;
		}
		jw_obj_end(w);
		break;
	}
	return 0;
}

/* config.json: the base with the spec's config keys over it, then the spec's new keys. */
static int render_config(struct buf *out, const struct json *spec, const char *path)
{
	struct json_doc *bd;
	if (json_parse(&bd, base_config, strlen(base_config), 0))
		return err_prefix("internal: base config: ");
	struct jw w;
	int rc = 0;
	jw_init(&w, out, 2, true);
	jw_obj(&w);
	for (const struct json *k = json_kid(json_root(bd)); k && !rc; k = json_next(k)) {
		const struct json *v = json_get(spec, json_key(k));
		if (v && v->type == JSON_NULL)
			continue;
		jw_keyn(&w, json_key(k), k->key_len);
		rc = emit(&w, v ? v : k, 1, path);
	}
	for (const struct json *k = json_kid(spec); k && !rc; k = json_next(k)) {
		if (is_gen_key(json_key(k)) || json_get(json_root(bd), json_key(k)))
			continue;
		jw_keyn(&w, json_key(k), k->key_len);
		rc = emit(&w, k, 1, path);
	}
	jw_obj_end(&w);
	json_free(bd);
	return rc;
}

static int get_bool(const struct json *spec, const char *path, const char *key, bool *out)
{
	const struct json *v = json_get(spec, key);
	if (!v)
		return 0;
	if (v->type != JSON_TRUE && v->type != JSON_FALSE)
		return err_set("%s: \"%s\" is not true or false", path, key);
	*out = v->type == JSON_TRUE;
	return 0;
}

static int get_u64(const struct json *spec, const char *path, const char *key, uint64_t *out, uint64_t max)
{
	const struct json *v = json_get(spec, key);
	if (!v)
		return 0;
	if (json_u64(v, out) || *out > max)
		return err_set("%s: \"%s\" is not an integer from 0 to %" PRIu64, path, key, max);
	return 0;
}

static int get_str(const struct json *spec, const char *path, const char *key, const char **out)
{
	const struct json *v = json_get(spec, key);
	if (!v)
		return 0;
	if (v->type != JSON_STRING)
		return err_set("%s: \"%s\" is not a string", path, key);
	*out = json_str(v);
	return 0;
}

/* true/false, a weight name, or a list of them. */
static int get_names(const struct json *spec, const char *path, const char *key, bool *first, char ***names,
		     size_t *n)
{
	const struct json *v = json_get(spec, key);
	if (!v)
		return 0;
	if (v->type == JSON_TRUE || v->type == JSON_FALSE) {
		*first = v->type == JSON_TRUE;
		return 0;
	}
	const struct json *one = v->type == JSON_STRING ? v : NULL;
	if (!one && v->type != JSON_ARRAY)
		return err_set("%s: \"%s\" is not true, false, a tensor name or a list of them", path, key);
	for (const struct json *k = one ? one : json_kid(v); k; k = one ? NULL : json_next(k)) {
		if (k->type != JSON_STRING)
			return err_set("%s: \"%s\" lists something that is not a tensor name", path, key);
		*names = xreallocarray(*names, *n + 1, sizeof **names);
		(*names)[(*n)++] = xstrdup(json_str(k));
	}
	return 0;
}

int hf_synth_load(struct hf_synth **out, const char *text, size_t len, const char *path)
{
	struct hf_synth *s = xcalloc(1, sizeof *s);
	struct json_doc *d = NULL, *cd = NULL;
	struct ds_config cfg;
	*out = NULL;
	s->path = path;
	s->scale_dtype = DT_F32;
	if (json_parse(&d, text, len, 0)) {
		err_prefix("%s: ", path);
		goto fail;
	}
	const struct json *spec = json_root(d);
	if (spec->type != JSON_OBJECT) {
		err_set("%s: a spec is a JSON object", path);
		goto fail;
	}
	if (render_config(&s->config, spec, path) || json_parse(&cd, s->config.p, s->config.len, 0) ||
	    ds_config_read(&cfg, json_root(cd), path) ||
	    (cfg.family ? cfg.family->expected : hf_expected)(&s->L, &cfg, path))
		goto fail;
	if (cfg.vocab_size > (1 << 24)) {
		err_set("%s: \"vocab_size\" %" PRId64 " is beyond what the tokenizer stand-in is made for", path,
			cfg.vocab_size);
		goto fail;
	}
	s->pow2 = strcmp(cfg.quant.scale_fmt, "ue8m0") == 0;

	uint64_t shards = 0;
	const char *sdt = NULL, *ndt = NULL, *values = NULL;
	if (get_u64(spec, path, "seed", &s->seed, UINT64_MAX) || get_u64(spec, path, "shards", &shards, 99999) ||
	    get_u64(spec, path, "shard_size", &s->shard_size, UINT64_MAX) ||
	    get_str(spec, path, "scale_dtype", &sdt) || get_str(spec, path, "norm_dtype", &ndt) || get_str(spec, path, "values", &values) ||
	    get_bool(spec, path, "nan_codes", &s->nan_codes) || get_bool(spec, path, "experts_only", &s->experts_only) ||
	    get_names(spec, path, "scale_in_other_shard", &s->move_first, &s->move, &s->nmove) ||
	    get_names(spec, path, "drop_scale", &s->drop_first, &s->drop, &s->ndrop) ||
	    get_bool(spec, path, "fp4_extreme_scales", &s->fp4_extreme) ||
	    get_names(spec, path, "nan_scale", &s->nan_first, &s->nan, &s->nnan))
		goto fail;
	/* the scale dtype of the config's inventory when the spec gives none (DeepSeek-V4's
	 * F8_E8M0); FP4 scales are always its own */
	for (size_t i = 0; !sdt && i < s->L->n; i++)
		if (s->L->t[i].quantized) {
			s->scale_dtype = s->L->t[i].scale.dtype;
			break;
		}
	for (size_t i = 0; i < s->nnan; i++) {
		const struct hf_entry *e = hf_find(s->L, s->nan[i]);
		char q[ERR_QUOTE];
		if (!e || !e->t->packed4 || !e->t->quantized) {
			err_set("%s: \"nan_scale\" names %s, which is not an FP4 weight of this config", path,
				err_quote(s->nan[i], q));
			goto fail;
		}
	}
	s->shards = (unsigned)shards;
	if (json_get(spec, "shards") && shards == 0) {
		err_set("%s: \"shards\" must be at least 1", path);
		goto fail;
	}
	if (json_get(spec, "shard_size") && s->shard_size == 0) {
		err_set("%s: \"shard_size\" must be positive", path);
		goto fail;
	}
	if (s->shards && s->shard_size) {
		err_set("%s: give \"shards\" or \"shard_size\", not both", path);
		goto fail;
	}
	if (!s->shards && !s->shard_size)
		s->shards = 1;
	if (sdt && (dt_parse(sdt, strlen(sdt), &s->scale_dtype) || !quantize_scale_dtype(s->scale_dtype))) {
		err_set("%s: \"scale_dtype\" is \"%s\", not F32, BF16 or F8_E8M0", path, sdt);
		goto fail;
	}
	if (ndt && (dt_parse(ndt, strlen(ndt), &s->norm_dtype) ||
		    (s->norm_dtype != DT_F32 && s->norm_dtype != DT_BF16 && s->norm_dtype != DT_F16))) {
		err_set("%s: \"norm_dtype\" is \"%s\", not F32, BF16 or F16", path, ndt);
		goto fail;
	}
	for (size_t i = 0; ndt && i < s->L->n && !s->norm_dtype_set; i++)
		s->norm_dtype_set = s->L->t[i].any_float;
	if (ndt && !s->norm_dtype_set) {
		err_set("%s: \"norm_dtype\" needs a model whose norms may be any float (DeepSeek-V3.2)", path);
		goto fail;
	}
	if (values && strcmp(values, "realistic") != 0 && strcmp(values, "cheap") != 0) {
		err_set("%s: \"values\" is \"%s\", not realistic or cheap", path, values);
		goto fail;
	}
	s->mode = values && strcmp(values, "cheap") == 0 ? SYNTH_CHEAP : SYNTH_REALISTIC;
	if (!cfg.quant.present && (sdt || s->move_first || s->nmove || s->drop_first || s->ndrop)) {
		err_set("%s: scale options need a quantization_config", path);
		goto fail;
	}
	if (s->experts_only) {
		/* routed experts alone are no whole model: a config.json that said how many layers
		 * and heads it has would imply tensors it lacks (and the converters refuse that), so
		 * it keeps only the quantization, which reading the tensors needs, and the model's
		 * name where the spec gives one, which says what the names mean (DeepSeek-V4's
		 * experts are not V3's) */
		static const char *const keep[] = {"model_type", "architectures", "quantization_config"};
		struct buf b = {0};
		const char *sep = "\n";
		buf_adds(&b, "{");
		for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
			const struct json *v = json_get(json_root(cd), keep[i]);
			if (!v || (i < 2 && !json_get(spec, keep[i])))
				continue;
			buf_printf(&b, "%s  \"%s\": ", sep, keep[i]);
			buf_add(&b, s->config.p + v->begin, v->end - v->begin);
			sep = ",\n";
		}
		if (*sep == ',')
			buf_adds(&b, "\n");
		buf_adds(&b, "}");
		buf_free(&s->config);
		s->config = b;
	}
	json_free(cd);
	json_free(d);
	*out = s;
	return 0;
fail:
	json_free(cd);
	json_free(d);
	hf_synth_free(s);
	return -1;
}

/* A spec file's text with "extends" resolved: the base spec's text with this file's
 * members put over it. */
static int resolve(const char *path, int depth, struct buf *out)
{
	struct buf text = {0};
	struct json_doc *d = NULL;
	int rc = -1;
	if (depth > 8)
		return err_set("%s: \"extends\" goes more than 8 deep", path);
	if (file_read(path, JSON_MAX_FILE, "a JSON file", &text))
		return -1;
	if (json_parse(&d, text.p, text.len, 0)) {
		err_prefix("%s: ", path);
		goto out;
	}
	const struct json *root = json_root(d), *ext = json_get(root, "extends");
	if (!ext) {
		buf_add(out, text.p, text.len);
		rc = 0;
		goto out;
	}
	if (ext->type != JSON_STRING || !json_str(ext)[0]) {
		err_set("%s: \"extends\" is not a file name", path);
		goto out;
	}
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash)
		slash[1] = 0;
	char *base_path = json_str(ext)[0] == '/' || !slash ? xstrdup(json_str(ext)) : xasprintf("%s%s", dir, json_str(ext));
	free(dir);
	struct buf base = {0};
	rc = resolve(base_path, depth + 1, &base);
	free(base_path);
	if (!rc) {
		struct json_edit *e = xcalloc(root->n ? root->n : 1, sizeof *e);
		char **vals = xcalloc(root->n ? root->n : 1, sizeof *vals);
		size_t n = 0;
		for (const struct json *k = json_kid(root); k; k = json_next(k)) {
			if (strcmp(json_key(k), "extends") == 0)
				continue;
			vals[n] = xstrndup(text.p + k->begin, k->end - k->begin);
			e[n] = (struct json_edit){json_key(k), vals[n]};
			n++;
		}
		rc = json_edit_text(out, base.p, base.len, e, n, path);
		for (size_t i = 0; i < n; i++)
			free(vals[i]);
		free(vals);
		free(e);
	}
	buf_free(&base);
out:
	json_free(d);
	buf_free(&text);
	return rc;
}

int hf_synth_load_file(struct hf_synth **out, const char *path, const struct json_edit *sets, size_t nsets)
{
	struct buf text = {0}, edited = {0};
	*out = NULL;
	int rc = resolve(path, 0, &text);
	if (!rc && nsets)
		rc = json_edit_text(&edited, text.p, text.len, sets, nsets, path);
	if (!rc)
		rc = nsets ? hf_synth_load(out, edited.p, edited.len, path) : hf_synth_load(out, text.p, text.len, path);
	buf_free(&text);
	buf_free(&edited);
	return rc;
}

void hf_synth_free(struct hf_synth *s)
{
	if (!s)
		return;
	buf_free(&s->config);
	hf_free(s->L);
	for (size_t i = 0; i < s->nmove; i++)
		free(s->move[i]);
	for (size_t i = 0; i < s->ndrop; i++)
		free(s->drop[i]);
	for (size_t i = 0; i < s->nnan; i++)
		free(s->nan[i]);
	free(s->move);
	free(s->drop);
	free(s->nan);
	free(s);
}

enum dt hf_synth_dtype(const struct hf_synth *s, const struct hf_tensor *t)
{
	return t->any_float && s->norm_dtype_set ? s->norm_dtype : t->dtype;
}

/* Spreads roughly as refgen.py draws them: projections N(0, 1/sqrt(in)) with outliers,
 * norms 1 + N(0, 0.1), the main embedding N(0, 1), the router N(0, 0.05), the bias
 * N(0, 0.01), everything else N(0, 0.02). */
void hf_synth_tensor(const struct hf_synth *s, const struct hf_tensor *t, struct synth *o)
{
	memset(o, 0, sizeof *o);
	o->seed = rng_mix(s->seed, rng_hash_str(t->name));
	o->mode = s->mode;
	o->rows = t->ndim == 2 ? t->shape[0] : 1;
	o->cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
	o->dtype = hf_synth_dtype(s, t);
	o->dist = SYNTH_GAUSS;
	o->std = 0.02f;
	if (t->role >= HF_OWN) {
		/* a family's own names (DeepSeek-V4): by what it stores; norms are its only
		 * BF16 vectors, embed.weight its only N(0, 1) matrix */
		if (t->ndim == 1 && t->dtype == DT_BF16)
			o->dist = SYNTH_NEAR_ONE, o->std = 0.1f;
		else if (strcmp(t->name, "embed.weight") == 0)
			o->std = 1.0f;
		else if (t->ndim == 2 && t->dtype != DT_F32)
			o->std = 1.0f / sqrtf((float)o->cols), o->outliers = t->quantized, o->specials = t->quantized && s->nan_codes;
	} else switch (t->role) {
	case HF_NORM: case HF_INPUT_NORM: case HF_POST_NORM: case HF_Q_A_NORM: case HF_KV_A_NORM:
	case HF_MTP_ENORM: case HF_MTP_HNORM: case HF_MTP_HEAD_NORM:
		o->dist = SYNTH_NEAR_ONE;
		o->std = 0.1f;
		break;
	case HF_EMBED: o->std = 1.0f; break;
	case HF_LM_HEAD: o->std = 1.0f / sqrtf((float)o->cols); break;
	case HF_ROUTER: o->std = 0.05f; break;
	case HF_ROUTER_BIAS: o->std = 0.01f; break;
	case HF_MTP_EH_PROJ: o->std = 1.0f / sqrtf((float)o->cols); break;
	default:
		if (hf_role_quantized(t->role)) {
			o->std = 1.0f / sqrtf((float)o->cols);
			o->outliers = true;
			o->specials = s->nan_codes;
		}
		break;
	}
	if (t->quantized) {
		o->sdtype = s->scale_dtype;
		o->bm = s->L->block[0];
		o->bn = s->L->block[1];
		o->pow2 = s->pow2;
	}
}

/* ---- planning ---- */

/* A stored tensor to write: the layout's entry, with the spec's scale dtype. */
struct gen {
	struct hf_entry e;
	unsigned shard;
	uint64_t bytes;
};

struct plan {
	size_t n;
	struct gen *g;
	uint64_t (*shapes)[2];           /* the stored shapes of 4-bit codes, per tensor */
	unsigned nshards;
	char **files;
};

/* t's stored shape, I8 [rows, cols / 2], kept in p. */
static const uint64_t *p4shape(struct plan *p, const struct hf_tensor *t)
{
	uint64_t *sh = p->shapes[p->n];
	sh[0] = t->shape[0];
	sh[1] = t->shape[1] / 2;
	return sh;
}

static void plan_free(struct plan *p)
{
	free(p->shapes);
	for (unsigned i = 0; p->files && i < p->nshards; i++)
		free(p->files[i]);
	free(p->files);
	free(p->g);
}

static uint64_t nbytes(enum dt t, unsigned ndim, const uint64_t *shape)
{
	uint64_t n = 1, b = 0;
	for (unsigned d = 0; d < ndim; d++)
		n *= shape[d];
	dt_nbytes(t, n, &b);
	return b;
}

/* The tensor a spec names, by its weight's or its scale's name: must be quantized. */
static int named_tensor(const struct hf_synth *s, const char *key, const char *name, const struct hf_tensor **t)
{
	char q[ERR_QUOTE];
	const struct hf_entry *e = hf_find(s->L, name);
	if (!e)
		return err_set("%s: \"%s\" names %s, which this config has not", s->path, key, err_quote(name, q));
	if (!e->t->quantized)
		return err_set("%s: \"%s\" names %s, which is not a quantized weight", s->path, key, err_quote(name, q));
	*t = e->t;
	return 0;
}

static int make_plan(const struct hf_synth *s, struct plan *p, struct buf *notes)
{
	const struct hf_layout *L = s->L;
	bool *dropped = xcalloc(L->n, 1), *moved = xcalloc(L->n, 1), *kept = xcalloc(L->n, 1);
	int rc = -1;
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < L->n; i++)
		kept[i] = !s->experts_only || L->t[i].expert >= 0;
	for (size_t i = 0; i < s->ndrop; i++) {
		const struct hf_tensor *t;
		if (named_tensor(s, "drop_scale", s->drop[i], &t))
			goto out;
		dropped[t - L->t] = true;
	}
	for (size_t i = 0; s->drop_first && i < L->n; i++)
		if (kept[i] && L->t[i].quantized) {
			dropped[i] = true;
			break;
		}
	for (size_t i = 0; i < s->nmove; i++) {
		const struct hf_tensor *t;
		if (named_tensor(s, "scale_in_other_shard", s->move[i], &t))
			goto out;
		moved[t - L->t] = true;
	}
	if (s->move_first) {
		size_t pick = L->n;
		for (size_t i = 0; i < L->n && pick == L->n; i++)
			if (kept[i] && !dropped[i] && L->t[i].role == HF_EXPERT_DOWN)
				pick = i;
		for (size_t i = 0; i < L->n && pick == L->n; i++)
			if (kept[i] && !dropped[i] && L->t[i].quantized)
				pick = i;
		if (pick < L->n)
			moved[pick] = true;
	}
	for (size_t i = 0; i < L->n; i++) {
		char q[ERR_QUOTE];
		if (moved[i] && (dropped[i] || !kept[i])) {
			err_set("%s: the scale of %s cannot move: it is %s", s->path, err_quote(L->t[i].name, q),
				dropped[i] ? "dropped" : "not written");
			goto out;
		}
	}

	/* the tensors in canonical order, each weight followed by its scale */
	p->g = xcalloc(L->nentries, sizeof *p->g);
	p->shapes = xcalloc(L->nentries, sizeof *p->shapes);
	uint64_t total = 0;
	for (size_t i = 0; i < L->n; i++) {
		const struct hf_tensor *t = &L->t[i];
		if (!kept[i])
			continue;
		/* (4-bit codes are written I8, two a byte: their stored shape) */
		p->g[p->n++] = (struct gen){{t->name, hf_synth_dtype(s, t), t->ndim, t->packed4 ? p4shape(p, t) : t->shape, t, false}, 0, 0};
		if (t->quantized && !dropped[i])
			p->g[p->n++] = (struct gen){{t->scale.name, s->scale_dtype, 2, t->scale.shape, t, true}, 0, 0};
	}
	for (size_t i = 0; i < p->n; i++) {
		p->g[i].bytes = nbytes(p->g[i].e.dtype, p->g[i].e.ndim, p->g[i].e.shape);
		total += p->g[i].bytes;
	}
	if (p->n == 0) {
		err_set("%s: no tensors to write", s->path);
		goto out;
	}

	/* shards: a weight and its scale count as one */
	unsigned k = 0;
	uint64_t acc = 0, cur = 0;
	for (size_t i = 0; i < p->n;) {
		size_t j = i + 1 < p->n && p->g[i + 1].e.scale ? i + 2 : i + 1;
		uint64_t b = 0;
		for (size_t m = i; m < j; m++)
			b += p->g[m].bytes;
		if (s->shard_size) {
			if (cur && cur + b > s->shard_size)
				k++, cur = 0;
			cur += b;
		} else {
			unsigned __int128 x = (unsigned __int128)acc * s->shards / (total ? total : 1);
			k = x < s->shards - 1 ? (unsigned)x : s->shards - 1;
		}
		for (size_t m = i; m < j; m++)
			p->g[m].shard = k;
		acc += b;
		i = j;
	}
	/* number the shards that got something */
	unsigned top = 0;
	for (size_t i = 0; i < p->n; i++)
		top = p->g[i].shard > top ? p->g[i].shard : top;
	unsigned *renum = xcalloc(top + 1, sizeof *renum);
	for (size_t i = 0; i < p->n; i++)
		renum[p->g[i].shard] = 1;
	for (unsigned i = 0; i <= top; i++)
		renum[i] = renum[i] ? ++p->nshards : 0;
	for (size_t i = 0; i < p->n; i++)
		p->g[i].shard = renum[p->g[i].shard] - 1;
	free(renum);
	if (p->nshards > 99999) {
		err_set("%s: %u shards are more than file names of 5 digits can number", s->path, p->nshards);
		goto out;
	}
	p->files = xcalloc(p->nshards, sizeof *p->files);
	for (unsigned i = 0; i < p->nshards; i++)
		p->files[i] = xasprintf("model-%05u-of-%05u.safetensors", i + 1, p->nshards);

	for (size_t i = 0; i < p->n; i++) {
		const struct gen *g = &p->g[i];
		size_t ti = (size_t)(g->e.t - L->t);
		if (g->e.scale && moved[ti]) {
			if (p->nshards < 2) {
				err_set("%s: \"scale_in_other_shard\" needs at least 2 shards", s->path);
				goto out;
			}
			p->g[i].shard = (p->g[i - 1].shard + 1) % p->nshards;
			buf_printf(notes, "moved %s to %s (its weight is in %s)\n", g->e.name, p->files[p->g[i].shard],
				   p->files[p->g[i - 1].shard]);
		}
		if (!g->e.scale && dropped[ti])
			buf_printf(notes, "dropped %s\n", g->e.t->scale.name);
	}
	rc = 0;
out:
	free(dropped);
	free(moved);
	free(kept);
	if (rc)
		plan_free(p);
	return rc;
}

/* ---- writing: the shards as a job for the conversion engine ---- */

/* How one stored tensor's bytes are made: rows (scale rows for a scale) from synth.c, a
 * piece of rows at a time, so the bytes never depend on how the engine chunks them. */
struct gen_fill {
	struct synth sy;
	bool scale;
	uint64_t row_bytes, piece;
	/* what synth.c does not make: 4-bit codes, their E8M0 scales (extreme ones, a NaN),
	 * token-to-expert tables (I64); synth.c otherwise */
	enum { FILL_SYNTH, FILL_CODES4, FILL_E8M0, FILL_IDS } kind;
	bool extreme, nan;
	uint64_t experts, per_token;
};

/* Row r of a tensor synth.c does not make: random code bytes; E8M0 bytes 2^-11 .. 2^-6
 * (the extreme ones first in rows 0, 1 and 2, the NaN last in row 0); per_token distinct
 * experts. */
static void own_row(const struct gen_fill *f, uint64_t r, uint8_t *out)
{
	struct rng g;
	rng_seed(&g, rng_mix(f->sy.seed, r));
	if (f->kind == FILL_CODES4) {
		for (uint64_t j = 0; j < f->row_bytes; j++)
			out[j] = (uint8_t)(rng_next(&g) >> 56);
	} else if (f->kind == FILL_E8M0) {
		static const uint8_t extreme[] = {0, 1, 252};
		for (uint64_t j = 0; j < f->row_bytes; j++)
			out[j] = (uint8_t)(116 + (rng_next(&g) >> 32) % 6);
		if (f->extreme && r < sizeof extreme)
			out[0] = extreme[r];
		if (r == 0 && f->nan)
			out[f->row_bytes - 1] = 0xff;
	} else {
		uint64_t first = rng_next(&g) % f->experts;
		for (uint64_t j = 0; j < f->per_token; j++) {
			uint64_t e = (first + j) % f->experts;
			for (int k = 0; k < 8; k++)
				out[8 * j + k] = (uint8_t)(e >> (8 * k));
		}
	}
}

static int gen_fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	const struct gen_fill *f = arg;
	uint64_t r0 = off / f->row_bytes, r1 = (off + n) / f->row_bytes;
	if (f->kind != FILL_SYNTH) {
		for (uint64_t r = r0; r < r1; r++)
			own_row(f, r, dst + (r - r0) * f->row_bytes);
		return 0;
	}
	for (uint64_t r = r0; r < r1; r += f->piece) {
		uint64_t e = r + f->piece < r1 ? r + f->piece : r1;
		uint8_t *out = dst + (r - r0) * f->row_bytes;
		if (f->scale)
			synth_scales(&f->sy, r, e, out, scratch);
		else
			synth_data(&f->sy, r, e, out, scratch);
	}
	return 0;
}

/* Whether the NaN scale goes to t's scale. */
static bool nan_scale_of(const struct hf_synth *s, const struct hf_tensor *t)
{
	for (size_t i = 0; i < s->nnan; i++)
		if (strcmp(s->nan[i], t->name) == 0)
			return true;
	if (!s->nan_first)
		return false;
	for (size_t i = 0; i < s->L->n; i++)
		if (s->L->t[i].packed4 && s->L->t[i].quantized)
			return &s->L->t[i] == t;
	return false;
}

static int plan_fill(const struct hf_synth *s, const struct gen *g, struct gen_fill *f)
{
	const struct hf_tensor *t = g->e.t;
	if ((t->packed4 && t->quantized) || t->dtype == DT_I64) {
		f->sy.seed = rng_mix(s->seed, rng_hash_str(g->e.name));
		f->kind = g->e.scale ? FILL_E8M0 : t->dtype == DT_I64 ? FILL_IDS : FILL_CODES4;
		if (f->kind == FILL_E8M0 && g->e.dtype != DT_F8_E8M0)
			return err_set("%s: FP4 scales are F8_E8M0, not %s (scale_dtype)", s->path, dt_name(g->e.dtype));
		/* (the codes' stored shape is I8 [rows, cols / 2]: a byte an element) */
		f->row_bytes = f->kind == FILL_IDS ? 8 * g->e.shape[1] : g->e.shape[1];
		f->piece = 1;
		f->extreme = s->fp4_extreme;
		f->nan = f->kind == FILL_E8M0 && nan_scale_of(s, t);
		f->experts = s->L->cfg.n_routed_experts > 0 ? (uint64_t)s->L->cfg.n_routed_experts : 1;
		f->per_token = g->e.shape[1];
		if (f->row_bytes * g->e.shape[0] != g->bytes)
			return err_set("%s: internal: %s has %" PRIu64 " bytes, not %" PRIu64, s->path, g->e.name,
				       f->row_bytes * g->e.shape[0], g->bytes);
		return 0;
	}
	hf_synth_tensor(s, g->e.t, &f->sy);
	if (synth_check(&f->sy))
		return err_prefix("%s: %s: ", s->path, g->e.name);
	uint64_t n;
	f->scale = g->e.scale;
	if (g->e.scale) {
		n = g->e.shape[0];
		f->row_bytes = g->e.shape[1] * (dt_bits(g->e.dtype) / 8);
		f->piece = f->sy.mode == SYNTH_CHEAP ? (1u << 20) / (f->row_bytes ? f->row_bytes : 1) + 1 : 1;
	} else {
		n = f->sy.rows;
		f->row_bytes = f->sy.cols * (dt_bits(g->e.dtype) / 8);
		f->piece = synth_piece_rows(&f->sy);
	}
	if (n * f->row_bytes != g->bytes)
		return err_set("%s: internal: %s has %" PRIu64 " bytes, not %" PRIu64, s->path, g->e.name,
			       n * f->row_bytes, g->bytes);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct idx_entry *)a)->name, ((const struct idx_entry *)b)->name);
}

static void add_side_buf(struct cv_job *j, const char *name, struct buf *b)
{
	cv_add_side_bytes(j, name, b->p ? b->p : "", b->len);
	buf_clear(b);
}

static void add_side_files(const struct hf_synth *s, const struct plan *p, uint64_t total, struct cv_job *j)
{
	struct idx_entry *e = xcalloc(p->n, sizeof *e);
	for (size_t i = 0; i < p->n; i++)
		e[i] = (struct idx_entry){p->g[i].e.name, p->files[p->g[i].shard]};
	qsort(e, p->n, sizeof *e, by_name);
	struct buf b = {0};
	idx_render(&b, e, p->n, &total);
	free(e);
	add_side_buf(j, INDEX_NAME, &b);
	cv_add_side_bytes(j, "config.json", s->config.p, s->config.len);
	/* what refgen.py writes beside its shards, spelled as Python's json.dump does */
	buf_adds(&b, "{\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 1,\n  \"do_sample\": true,\n  \"temperature\": 0.6\n}");
	add_side_buf(j, "generation_config.json", &b);
	buf_adds(&b, "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": [], "
		     "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"post_processor\": null, "
		     "\"decoder\": null, \"model\": {\"type\": \"WordLevel\", \"vocab\": {");
	for (int64_t i = 0; i < s->L->cfg.vocab_size; i++)
		buf_printf(&b, "%s\"t%" PRId64 "\": %" PRId64, i ? ", " : "", i, i);
	buf_adds(&b, "}, \"unk_token\": \"t2\"}}");
	add_side_buf(j, "tokenizer.json", &b);
	buf_adds(&b, "{\"bos_token\": \"t0\", \"eos_token\": \"t1\", \"unk_token\": \"t2\", "
		     "\"tokenizer_class\": \"PreTrainedTokenizerFast\"}");
	add_side_buf(j, "tokenizer_config.json", &b);
	buf_free(&b);
}

/* The conversion job that writes the checkpoint (fills[i] behind the plan's i-th tensor). */
static int build_job(const struct hf_synth *s, struct plan *p, struct cv_job *j, struct gen_fill **fills,
		     struct hf_synth_result *r)
{
	memset(r, 0, sizeof *r);
	memset(j, 0, sizeof *j);
	*fills = NULL;
	if (make_plan(s, p, &r->notes)) {
		memset(p, 0, sizeof *p); /* (make_plan freed it) */
		return -1;
	}
	*fills = xcalloc(p->n + 1, sizeof **fills);
	/* every shard is a group of its own: written one after another */
	for (unsigned k = 0; k < p->nshards; k++)
		cv_set_meta(cv_add_file(j, p->files[k], (int)k), "format", "pt");
	for (size_t i = 0; i < p->n; i++) {
		const struct gen *g = &p->g[i];
		struct gen_fill *f = &(*fills)[i];
		if (plan_fill(s, g, f))
			return -1;
		struct cv_tensor *t = cv_add_tensor(&j->files[g->shard], g->e.name, g->e.dtype, g->e.ndim, g->e.shape);
		t->fill = (struct cv_fill){gen_fill, f, f->piece * f->row_bytes, synth_scratch_bytes(&f->sy)};
		r->tensor_bytes += g->bytes;
	}
	add_side_files(s, p, r->tensor_bytes, j);
	r->nshards = p->nshards;
	r->ntensors = p->n;
	return 0;
}

/* What build_job made, freed; rc passed on. */
static int job_done(int rc, struct cv_job *j, struct gen_fill *fills, struct plan *p)
{
	cv_job_free(j);
	free(fills);
	plan_free(p);
	return rc;
}

int hf_synth_write(const struct hf_synth *s, const char *dir, unsigned threads, struct hf_synth_result *r)
{
	struct plan p;
	struct cv_job j;
	struct gen_fill *fills;
	int rc = -1;
	if (build_job(s, &p, &j, &fills, r))
		goto out;
	/* the caller decides what may be overwritten; the engine rewrites everything */
	struct cv_opts o = {.outdir = dir, .threads = threads, .force = true};
	if (cv_run(&j, &o))
		goto out;
	for (size_t k = 0; k < j.nfiles; k++)
		r->file_bytes += j.files[k].L.file_size;
	rc = 0;
out:
	return job_done(rc, &j, fills, &p);
}

/* A shard of the right size whose data is a hole: its header, then ftruncate. */
static int write_sparse(const char *path, const struct st_layout *L)
{
	char *tmp = out_tmp_name(path);
	int rc = -1, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		err_errno(tmp);
		goto out;
	}
	size_t done = 0;
	while (done < L->header_size) {
		ssize_t w = write(fd, L->header + done, L->header_size - done);
		if (w <= 0) {
			err_errno(tmp);
			goto out;
		}
		done += (size_t)w;
	}
	if (ftruncate(fd, (off_t)L->file_size) || close(fd)) {
		fd = -1;
		err_errno(tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path)) {
		err_errno(path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

int hf_synth_write_sparse(const struct hf_synth *s, const char *dir, struct hf_synth_result *r)
{
	struct plan p;
	struct cv_job j;
	struct gen_fill *fills;
	int rc = -1;
	if (build_job(s, &p, &j, &fills, r) || cv_plan(&j) || mkdir_p(dir))
		goto out;
	for (size_t k = 0; k < j.nfiles; k++) {
		char *path = path_join(dir, j.files[k].name);
		int w = write_sparse(path, &j.files[k].L);
		free(path);
		if (w)
			goto out;
		r->file_bytes += j.files[k].L.file_size;
	}
	for (size_t k = 0; k < j.nside; k++) {
		char *path = path_join(dir, j.side[k].name);
		int w = out_write_file(path, j.side[k].bytes, j.side[k].len);
		free(path);
		if (w)
			goto out;
	}
	rc = 0;
out:
	return job_done(rc, &j, fills, &p);
}
