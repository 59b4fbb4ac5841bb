#include "summary.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "dequant.h"
#include "table.h"
#include "family.h"

/* The config.json keys worth a glance, in the order shown. */
static const char *const config_keys[] = {
	"model_type", "architectures", "torch_dtype", "vocab_size", "hidden_size",
	"num_hidden_layers", "num_nextn_predict_layers", "num_attention_heads",
	"n_routed_experts", "n_shared_experts", "num_experts_per_tok", "first_k_dense_replace",
	"quantization_config",
};

/* N of a name "model.layers.N.<rest>", N a decimal number without leading zeros; in a
 * family whose names are its own (DeepSeek-V4), the layer its parse gives (MTP layers
 * numbered on after the others, as here). */
static bool layer_of(const struct ds_config *c, const char *name, uint64_t *n)
{
	static const char prefix[] = "model.layers.";
	struct hf_name hn;
	if (c->family && c->family->parse) {
		if (family_parse(c, name, &hn) || hn.layer < 0)
			return false;
		*n = (uint64_t)hn.layer;
		return true;
	}
	if (strncmp(name, prefix, sizeof prefix - 1) != 0)
		return false;
	const char *p = name + sizeof prefix - 1, *d = p;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9' && p - d < 9)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p == d || *p != '.' || (*d == '0' && p - d > 1))
		return false;
	*n = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

uint64_t summary_tensor_bytes(const struct vtensor *t)
{
	uint64_t b = 0;
	for (size_t k = 0; k < t->npieces; k++)
		b += vpiece_nbytes(&t->p[k]);
	return b;
}

static uint64_t replica_bytes(const struct vtensor *t)
{
	uint64_t b = 0;
	for (size_t k = 0; k < t->nreplicas; k++)
		b += vpiece_nbytes(&t->replica[k]);
	return b;
}

int summary_build(struct summary *s, const struct view *v, const char *path)
{
	memset(s, 0, sizeof *s);
	s->v = v;
	s->path = path;
	if (v->cfg) {
		s->cfg = *v->cfg;
		s->has_config = true;
	} else {
		/* the defaults: no config.json says nothing about layers; 128x128 blocks */
		struct json_doc *d;
		if (json_parse(&d, "{}", 2, 0))
			return -1;
		ds_config_read(&s->cfg, json_root(d), "config.json");
		json_free(d);
	}
	s->t = view_stored(v, &s->n);
	s->shard_tensors = xcalloc(v->nfiles ? v->nfiles : 1, sizeof *s->shard_tensors);
	for (size_t i = 0; i < v->nfiles; i++) {
		const struct st_file *f = v->files[i].st;
		s->file_bytes += f ? f->size : 0;
		s->shard_tensors[i] = f ? f->n : 0;
	}

	uint64_t per[DT_COUNT][3] = {{0}};
	size_t nl = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct vtensor *t = s->t[i];
		uint64_t nelem = t->rows * t->cols, bytes = summary_tensor_bytes(t);
		per[t->stored][0]++;
		per[t->stored][1] += nelem;
		per[t->stored][2] += bytes;
		s->params += nelem;
		s->bytes += bytes;
		s->copy_bytes += replica_bytes(t);
		s->ncopied += t->nreplicas > 0;
		if (quant_weight_dtype(t->stored)) {
			if (t->p[0].s) {
				s->fp8_scaled++;
			} else {
				s->unscaled = xgrow(s->unscaled, s->fp8_unscaled, sizeof *s->unscaled);
				s->unscaled[s->fp8_unscaled++] = t->name;
			}
		}
		s->fp4_scaled += t->npieces && t->p[0].codes4 && t->p[0].s;
		uint64_t L;
		if (layer_of(&s->cfg, t->name, &L)) {
			s->layers = xgrow(s->layers, nl, sizeof *s->layers);
			s->layers[nl++] = L;
		}
	}
	for (int d = 0; d < DT_COUNT; d++)
		if (per[d][0])
			s->dtypes[s->ndtypes++] = (struct summary_dtype){(enum dt)d, per[d][0], per[d][1], per[d][2]};
	if (nl) /* qsort of NULL is undefined even for no elements */
		qsort(s->layers, nl, sizeof *s->layers, cmp_u64);
	size_t w = 0;
	for (size_t i = 0; i < nl; i++)
		if (!w || s->layers[w - 1] != s->layers[i])
			s->layers[w++] = s->layers[i];
	s->nlayers = w;
	if (s->cfg.num_hidden_layers >= 0)
		while (s->nlayers && s->layers[s->nlayers - 1] >= (uint64_t)s->cfg.num_hidden_layers) {
			s->nlayers--;
			s->nmtp++;
		}
	return 0;
}

void summary_free(struct summary *s)
{
	free(s->t);
	free(s->shard_tensors);
	free(s->unscaled);
	free(s->layers);
	memset(s, 0, sizeof *s);
}

/* ---- text ---- */

static void config_value_text(const struct json *v, struct buf *out)
{
	if (v->type == JSON_STRING) {
		buf_add(out, json_str(v), v->len);
		return;
	}
	struct jw w;
	jw_init(&w, out, 0, true);
	jw_value(&w, v);
}

/* Whether v is in the HF layout: what a directory of safetensors is unless named otherwise,
 * shown without saying so. */
static bool is_hf(const struct view *v) { return v->layout == LAYOUT_HF; }

void summary_text(const struct summary *s, struct buf *out)
{
	const struct view *v = s->v;
	const struct idx *ix = v->index;
	char h[32], h2[32];
	struct table t;
	struct buf b = {0};
	table_init(&t, "ll");

	table_add(&t, "checkpoint");
	table_add(&t, s->path);
	if (!is_hf(v)) {
		table_add(&t, "layout");
		table_add(&t, v->layout_name);
	}
	if (is_hf(v) || v->index_path) {
		table_add(&t, "index");
		table_add(&t, v->index_path ? v->index_path : "none");
	}
	table_add(&t, "shards");
	table_addf(&t, "%zu file%s, %" PRIu64 " bytes (%s)", v->nfiles, v->nfiles == 1 ? "" : "s", s->file_bytes,
		   human_bytes(s->file_bytes, h));
	if (v->nstray) {
		buf_clear(&b);
		for (size_t i = 0; i < v->nstray; i++)
			buf_printf(&b, "%s%s", i ? ", " : "", v->stray[i]);
		table_add(&t, "not indexed");
		table_add(&t, b.p);
	}
	table_add(&t, "tensors");
	table_addf(&t, "%zu%s", s->n, is_hf(v) ? "" : ", under their HF names");
	table_add(&t, "parameters");
	table_addf(&t, "%" PRIu64 " (%s)", s->params, human_count(s->params, h));
	table_add(&t, "tensor bytes");
	table_addf(&t, "%" PRIu64 " (%s)", s->bytes, human_bytes(s->bytes, h));
	if (s->ncopied) {
		table_add(&t, "copies");
		table_addf(&t, "%zu tensors stored again elsewhere, %" PRIu64 " bytes (%s)", s->ncopied, s->copy_bytes,
			   human_bytes(s->copy_bytes, h));
	}
	if (ix) {
		table_add(&t, "total_size");
		if (!ix->has_total_size)
			table_add(&t, "not in the index");
		else if (ix->total_size == s->bytes)
			table_addf(&t, "%" PRIu64 ", equal to the tensor bytes", ix->total_size);
		else
			table_addf(&t, "%" PRIu64 ", NOT equal to the tensor bytes (%" PRIu64 ")", ix->total_size,
				   s->bytes);
	}

	struct table d;
	table_init(&d, "lrrrr");
	table_add(&d, "DTYPE");
	table_add(&d, "TENSORS");
	table_add(&d, "PARAMETERS");
	table_add(&d, "BYTES");
	table_add(&d, "");
	for (size_t i = 0; i < s->ndtypes; i++) {
		const struct summary_dtype *x = &s->dtypes[i];
		table_add(&d, dt_name(x->dtype));
		table_addf(&d, "%" PRIu64, x->tensors);
		table_addf(&d, "%" PRIu64, x->params);
		table_addf(&d, "%" PRIu64, x->bytes);
		table_add(&d, human_bytes(x->bytes, h2));
	}
	table_add_lines(&t, "dtypes", &d);
	table_free(&d);

	table_add(&t, "FP8 weights");
	buf_clear(&b);
	buf_printf(&b, "%zu with scales, %zu without", s->fp8_scaled, s->fp8_unscaled);
	for (size_t i = 0; i < s->fp8_unscaled && i < 3; i++)
		buf_printf(&b, "%s%s", i ? ", " : ": ", s->unscaled[i]);
	if (s->fp8_unscaled > 3)
		buf_adds(&b, ", ...");
	table_add(&t, b.p);
	if (s->fp4_scaled) {
		table_add(&t, "FP4 weights");
		buf_clear(&b);
		buf_printf(&b, "%zu with scales (4-bit codes, two a byte)", s->fp4_scaled);
		table_add(&t, b.p);
	}

	table_add(&t, "layers");
	buf_clear(&b);
	buf_printf(&b, "%zu", s->nlayers);
	if (s->nlayers) {
		buf_adds(&b, ": ");
		layer_ranges(s->layers, s->nlayers, &b);
	}
	table_add(&t, b.p);
	if (s->nmtp || s->cfg.num_nextn_predict_layers > 0) {
		table_add(&t, "MTP layers");
		buf_clear(&b);
		buf_printf(&b, "%zu", s->nmtp);
		if (s->nmtp) {
			buf_adds(&b, ": ");
			layer_ranges(s->layers + s->nlayers, s->nmtp, &b);
		}
		table_add(&t, b.p);
	}

	if (s->has_config) {
		table_add(&t, "model");
		buf_clear(&b);
		if (s->cfg.family)
			buf_printf(&b, "%s (family %s)", family_model_name(s->cfg.family, &s->cfg), s->cfg.family->name);
		else
			family_unknown_why(s->cfg.model_type, s->cfg.architecture, &b);
		table_add(&t, buf_str(&b));
	}
	if (!s->has_config || !v->config) {
		table_add(&t, "config");
		table_add(&t, "none");
	} else {
		struct table k;
		table_init(&k, "ll");
		for (size_t i = 0; i < sizeof config_keys / sizeof *config_keys; i++) {
			const struct json *x = json_get(json_root(v->config), config_keys[i]);
			if (!x)
				continue;
			buf_clear(&b);
			config_value_text(x, &b);
			table_add(&k, config_keys[i]);
			table_add(&k, b.p ? b.p : "");
		}
		if (table_rows(&k))
			table_add_lines(&t, "config", &k);
		table_free(&k);
	}
	for (size_t i = 0; i < v->nproblems; i++) {
		table_add(&t, i ? "" : "problems");
		table_add(&t, v->problems[i]);
	}
	if (v->describe_rows)
		v->describe_rows(v, &t);
	table_render(&t, out, "");
	table_free(&t);
	buf_free(&b);
}

/* ---- JSON ---- */

static void u64_array(struct jw *w, const uint64_t *v, size_t n)
{
	jw_arr(w);
	for (size_t i = 0; i < n; i++)
		jw_u64(w, v[i]);
	jw_arr_end(w);
}

void summary_json(const struct summary *s, struct jw *w)
{
	const struct view *v = s->v;
	const struct idx *ix = v->index;
	jw_kv_str(w, "path", s->path);
	jw_kv_str(w, "layout", v->layout_name);
	jw_key(w, "index");
	v->index_path ? jw_str(w, v->index_path) : jw_null(w);
	jw_key(w, "files");
	jw_arr(w);
	for (size_t i = 0; i < v->nfiles; i++) {
		jw_obj(w);
		jw_kv_str(w, "name", v->files[i].name);
		jw_kv_u64(w, "bytes", v->files[i].st ? v->files[i].st->size : 0);
		jw_kv_u64(w, "tensors", s->shard_tensors[i]);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "unindexed_files");
	jw_arr(w);
	for (size_t i = 0; i < v->nstray; i++)
		jw_str(w, v->stray[i]);
	jw_arr_end(w);
	jw_kv_u64(w, "file_bytes", s->file_bytes);
	jw_kv_u64(w, "tensor_count", s->n);
	jw_kv_u64(w, "parameters", s->params);
	jw_kv_u64(w, "tensor_bytes", s->bytes);
	jw_key(w, "index_total_size");
	ix && ix->has_total_size ? jw_u64(w, ix->total_size) : jw_null(w);
	jw_key(w, "total_size_matches");
	ix && ix->has_total_size ? jw_bool(w, ix->total_size == s->bytes) : jw_null(w);
	jw_key(w, "dtypes");
	jw_arr(w);
	for (size_t i = 0; i < s->ndtypes; i++) {
		jw_obj(w);
		jw_kv_str(w, "dtype", dt_name(s->dtypes[i].dtype));
		jw_kv_u64(w, "tensors", s->dtypes[i].tensors);
		jw_kv_u64(w, "parameters", s->dtypes[i].params);
		jw_kv_u64(w, "bytes", s->dtypes[i].bytes);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "fp8_weights");
	jw_obj(w);
	jw_kv_u64(w, "with_scales", s->fp8_scaled);
	jw_kv_u64(w, "without_scales", s->fp8_unscaled);
	jw_key(w, "unscaled");
	jw_arr(w);
	for (size_t i = 0; i < s->fp8_unscaled; i++)
		jw_str(w, s->unscaled[i]);
	jw_arr_end(w);
	jw_obj_end(w);
	if (s->fp4_scaled) {
		jw_key(w, "fp4_weights");
		jw_obj(w);
		jw_kv_u64(w, "with_scales", s->fp4_scaled);
		jw_obj_end(w);
	}
	jw_key(w, "layers");
	u64_array(w, s->layers, s->nlayers);
	jw_key(w, "mtp_layers");
	u64_array(w, s->layers + s->nlayers, s->nmtp);
	/* the model family config.json names: {"family", "name"}, or {"family": null,
	 * "unknown": why}; null without a config.json */
	jw_key(w, "model");
	if (!s->has_config) {
		jw_null(w);
	} else {
		struct buf why = {0};
		jw_obj(w);
		jw_key(w, "family");
		if (s->cfg.family) {
			jw_str(w, s->cfg.family->name);
			jw_kv_str(w, "name", family_model_name(s->cfg.family, &s->cfg));
		} else {
			jw_null(w);
			jw_kv_str(w, "unknown", family_unknown_why(s->cfg.model_type, s->cfg.architecture, &why));
		}
		jw_obj_end(w);
		buf_free(&why);
	}
	jw_key(w, "config");
	if (!s->has_config || !v->config) {
		jw_null(w);
	} else {
		jw_obj(w);
		for (size_t i = 0; i < sizeof config_keys / sizeof *config_keys; i++) {
			const struct json *x = json_get(json_root(v->config), config_keys[i]);
			if (!x)
				continue;
			jw_key(w, config_keys[i]);
			jw_value(w, x);
		}
		jw_obj_end(w);
	}
	/* what only other layouts have (and an HF checkpoint shown with its problems) */
	if (!is_hf(v))
		jw_kv_u64(w, "copy_bytes", s->copy_bytes);
	if (!is_hf(v) || v->nproblems) {
		jw_key(w, "problems");
		jw_arr(w);
		for (size_t i = 0; i < v->nproblems; i++)
			jw_str(w, v->problems[i]);
		jw_arr_end(w);
	}
	if (v->describe_json)
		v->describe_json(v, w);
}
