#include "ds_config.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "family.h"
#include "json_edit.h"

static int get_int(const struct json *root, const char *path, const char *key, int64_t *out,
		   bool null_is_zero)
{
	const struct json *v = json_get(root, key);
	if (!v)
		return 0;
	if (v->type == JSON_NULL && null_is_zero) {
		*out = 0;
		return 0;
	}
	if (json_i64(v, out) || *out < 0)
		return err_set("%s: \"%s\" is not a non-negative integer", path, key);
	return 0;
}

static int get_num(const struct json *root, const char *path, const char *key, double *out)
{
	const struct json *v = json_get(root, key);
	if (!v)
		return 0;
	if (json_double(v, out))
		return err_set("%s: \"%s\" is not a number", path, key);
	return 0;
}

static int get_bool(const struct json *root, const char *path, const char *key, bool *out)
{
	const struct json *v = json_get(root, key);
	if (!v)
		return 0;
	if (v->type != JSON_TRUE && v->type != JSON_FALSE)
		return err_set("%s: \"%s\" is not true or false", path, key);
	*out = v->type == JSON_TRUE;
	return 0;
}

/* v (a string, or NULL: absent) into out[n]; what: the member's description. */
static int copy_str(const struct json *v, const char *path, const char *key, const char *what, char *out, size_t n)
{
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_STRING)
		return err_set("%s: \"%s\" is not %s", path, key, what);
	if (v->len >= n)
		return err_set("%s: \"%s\" is too long", path, key);
	memcpy(out, json_str(v), v->len + 1);
	return 0;
}

static int get_str(const struct json *root, const char *path, const char *key, char *out, size_t n)
{
	return copy_str(json_get(root, key), path, key, "a string", out, n);
}

/* The first string of an array of strings (architectures). */
static int get_first_str(const struct json *root, const char *path, const char *key, char *out, size_t n)
{
	const struct json *v = json_get(root, key);
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_ARRAY)
		return err_set("%s: \"%s\" is not an array", path, key);
	return copy_str(json_kid(v), path, key, "an array of strings", out, n);
}

/* A number given (or its default) must be finite and in [lo, hi], or above lo when
 * open; what: the range in words for the message. */
static int num_in(const char *path, const char *key, double v, double lo, bool open, double hi, const char *what)
{
	if (isfinite(v) && (open ? v > lo : v >= lo) && v <= hi)
		return 0;
	return err_set("%s: %s %g is not %s", path, key, v, what);
}

/* The integer keys, with what a config that leaves them out means (-1: unknown) and the
 * range of a value it gives.  0 is allowed where it means "none" (no q LoRA, no shared
 * experts, no MTP layer, no dense layer, no expert where there is no MoE layer). */
static const struct {
	const char *key;
	size_t off;
	int64_t dflt, min, max;
} int_keys[] = {
#define I(k, d, lo, hi) {#k, offsetof(struct ds_config, k), d, lo, hi}
	I(vocab_size, -1, 1, CFG_MAX_VOCAB), I(hidden_size, -1, 1, CFG_MAX_DIM),
	I(intermediate_size, -1, 1, CFG_MAX_DIM), I(moe_intermediate_size, -1, 1, CFG_MAX_DIM),
	I(num_hidden_layers, -1, 1, CFG_MAX_LAYERS), I(num_nextn_predict_layers, 0, 0, CFG_MAX_LAYERS),
	I(num_attention_heads, -1, 1, CFG_MAX_HEADS), I(q_lora_rank, -1, 0, CFG_MAX_DIM),
	I(kv_lora_rank, -1, 1, CFG_MAX_DIM), I(qk_nope_head_dim, -1, 0, CFG_MAX_HEADS),
	I(qk_rope_head_dim, -1, 2, CFG_MAX_HEADS), I(v_head_dim, -1, 1, CFG_MAX_HEADS),
	I(n_routed_experts, -1, 0, CFG_MAX_HEADS), I(n_shared_experts, 0, 0, CFG_MAX_HEADS),
	I(num_experts_per_tok, -1, 0, CFG_MAX_HEADS), I(n_group, 1, 1, CFG_MAX_HEADS),
	I(topk_group, 1, 1, CFG_MAX_HEADS), I(first_k_dense_replace, 0, 0, CFG_MAX_LAYERS),
	I(moe_layer_freq, 1, 1, CFG_MAX_LAYERS), I(index_n_heads, -1, 1, CFG_MAX_HEADS),
	I(index_head_dim, -1, 1, CFG_MAX_HEADS), I(index_topk, -1, 1, CFG_MAX_POSITIONS),
	I(head_dim, -1, 1, CFG_MAX_HEADS), I(o_groups, -1, 1, CFG_MAX_HEADS), I(o_lora_rank, -1, 1, CFG_MAX_DIM),
	I(hc_mult, -1, 1, CFG_MAX_HEADS), I(num_hash_layers, 0, 0, CFG_MAX_LAYERS),
	I(sliding_window, -1, 1, CFG_MAX_POSITIONS), I(hc_sinkhorn_iters, 20, 1, CFG_MAX_LAYERS),
#undef I
};

/* compress_ratios (DeepSeek-V4): an array of integers from 0 to CFG_MAX_RATIO. */
static int read_compress_ratios(struct ds_config *c, const struct json *root, const char *path)
{
	const struct json *v = json_get(root, "compress_ratios");
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_ARRAY)
		return err_set("%s: \"compress_ratios\" is not an array", path);
	if (v->n > CFG_MAX_COMPRESS)
		return err_set("%s: compress_ratios has %zu entries, over the limit %d", path, (size_t)v->n,
			       CFG_MAX_COMPRESS);
	size_t i = 0;
	for (const struct json *k = json_kid(v); k; k = json_next(k), i++) {
		int64_t r;
		if (json_i64(k, &r) || r < 0)
			return err_set("%s: compress_ratios[%zu] is not a non-negative integer", path, i);
		if (r > CFG_MAX_RATIO)
			return err_set("%s: compress_ratios[%zu] %" PRId64 " is over the limit %d", path, i, r,
				       CFG_MAX_RATIO);
		c->compress_ratios[i] = (uint16_t)r;
	}
	c->ncompress = i;
	return 0;
}

#define INT_FIELD(c, i) ((int64_t *)((char *)(c) + int_keys[i].off))

int ds_config_check_routing(const struct ds_config *c, const char *path)
{
	int64_t E = c->n_routed_experts, G = c->n_group, TG = c->topk_group, K = c->num_experts_per_tok;
	if (G < 1 || TG < 1)
		return err_set("%s: n_group %" PRId64 " and topk_group %" PRId64 " must be at least 1", path, G, TG);
	if (TG > G)
		return err_set("%s: topk_group %" PRId64 " is more than n_group %" PRId64, path, TG, G);
	if (E <= 0)
		return 0;
	if (E % G)
		return err_set("%s: n_routed_experts %" PRId64 " is not a multiple of n_group %" PRId64, path, E, G);
	if (K > E)
		return err_set("%s: num_experts_per_tok %" PRId64 " is more than n_routed_experts %" PRId64, path, K, E);
	if (K > TG * (E / G))
		return err_set("%s: num_experts_per_tok %" PRId64 " is more than the %" PRId64 " experts of topk_group %" PRId64
			       " groups of %" PRId64, path, K, TG * (E / G), TG, E / G);
	return 0;
}

/* Values that each are in range but do not fit together. */
static int check_fit(const struct ds_config *c, const char *path)
{
	if (c->qk_rope_head_dim > 0 && c->qk_rope_head_dim % 2)
		return err_set("%s: qk_rope_head_dim %" PRId64 " is odd (rotary dimensions come in pairs)", path,
			       c->qk_rope_head_dim);
	if (ds_config_check_routing(c, path))
		return -1;
	/* the layers from first_k_dense_replace on, every moe_layer_freq-th, are MoE layers: they
	 * need experts to route to */
	if (c->num_hidden_layers < 0)
		return 0;
	int64_t f = c->moe_layer_freq, total = c->num_hidden_layers + c->num_nextn_predict_layers;
	int64_t first = (c->first_k_dense_replace + f - 1) / f * f;
	if (first >= total)
		return 0;
	if (c->n_routed_experts == 0)
		return err_set("%s: n_routed_experts is 0, but layer %" PRId64 " is a MoE layer (first_k_dense_replace %" PRId64
			       ")", path, first, c->first_k_dense_replace);
	if (c->num_experts_per_tok == 0 && c->n_routed_experts > 0)
		return err_set("%s: num_experts_per_tok is 0, but layer %" PRId64 " is a MoE layer (first_k_dense_replace %" PRId64
			       ")", path, first, c->first_k_dense_replace);
	return 0;
}

int ds_config_read(struct ds_config *c, const struct json *root, const char *path)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++)
		*INT_FIELD(c, i) = int_keys[i].dflt;
	c->routed_scaling_factor = 1.0;
	c->rms_norm_eps = 1e-6;
	c->rope_theta = 10000.0;
	/* DeepSeek-V4's, as transformers' DeepseekV4Config defaults them */
	c->compress_rope_theta = 160000.0;
	c->swiglu_limit = 10.0;
	c->hc_eps = 1e-6;
	c->scoring_func = SCORE_SOFTMAX;
	c->rope_interleave = true;
	c->quant.block[0] = c->quant.block[1] = 128;
	if (root->type != JSON_OBJECT)
		return err_set("%s: not a JSON object", path);
	for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++) {
		int64_t *v = INT_FIELD(c, i);
		if (get_int(root, path, int_keys[i].key, v, int_keys[i].off == offsetof(struct ds_config, q_lora_rank)))
			return -1;
		if (*v == int_keys[i].dflt)
			continue; /* not given (or given as the default, which is in range) */
		if (*v > int_keys[i].max)
			return err_set("%s: %s %" PRId64 " is over the limit %" PRId64, path, int_keys[i].key, *v,
				       int_keys[i].max);
		/* (q_lora_rank null reads as 0: no LoRA) */
		if (*v < int_keys[i].min)
			return err_set("%s: %s %" PRId64 " is below the minimum %" PRId64, path, int_keys[i].key, *v,
				       int_keys[i].min);
	}
	if (get_num(root, path, "routed_scaling_factor", &c->routed_scaling_factor) ||
	    get_num(root, path, "rms_norm_eps", &c->rms_norm_eps) ||
	    get_num(root, path, "rope_theta", &c->rope_theta) ||
	    num_in(path, "routed_scaling_factor", c->routed_scaling_factor, 0, false, HUGE_VAL,
		   "a finite number of at least 0") ||
	    num_in(path, "rms_norm_eps", c->rms_norm_eps, 0, false, 1, "a number from 0 to 1") ||
	    /* a base of 1 or less has no decaying frequencies, and YaRN divides by its log */
	    num_in(path, "rope_theta", c->rope_theta, 1, true, HUGE_VAL, "a finite number above 1") ||
	    get_num(root, path, "compress_rope_theta", &c->compress_rope_theta) ||
	    num_in(path, "compress_rope_theta", c->compress_rope_theta, 1, true, HUGE_VAL, "a finite number above 1") ||
	    get_num(root, path, "swiglu_limit", &c->swiglu_limit) ||
	    num_in(path, "swiglu_limit", c->swiglu_limit, 0, false, HUGE_VAL, "a finite number of at least 0") ||
	    get_num(root, path, "hc_eps", &c->hc_eps) ||
	    num_in(path, "hc_eps", c->hc_eps, 0, false, 1, "a number from 0 to 1") ||
	    get_bool(root, path, "norm_topk_prob", &c->norm_topk_prob) ||
	    get_bool(root, path, "tie_word_embeddings", &c->tie_word_embeddings) ||
	    get_bool(root, path, "rope_interleave", &c->rope_interleave) ||
	    get_str(root, path, "model_type", c->model_type, sizeof c->model_type) ||
	    get_str(root, path, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype) ||
	    get_first_str(root, path, "architectures", c->architecture, sizeof c->architecture))
		return -1;
	c->family = family_find(c->model_type, c->architecture);
	char score[16] = "softmax";
	if (get_str(root, path, "scoring_func", score, sizeof score))
		return -1;
	if (strcmp(score, "sigmoid") == 0)
		c->scoring_func = SCORE_SIGMOID;
	else if (strcmp(score, "softmax") == 0)
		c->scoring_func = SCORE_SOFTMAX;
	else if (strcmp(score, "sqrtsoftplus") == 0 && c->family &&
		 (c->family->no_forward || c->family->forward == FAMILY_FORWARD_HC))
		c->scoring_func = SCORE_SQRTSOFTPLUS;
	else
		return err_set("%s: \"scoring_func\" is \"%s\", not \"sigmoid\" or \"softmax\"", path, score);

	if (read_compress_ratios(c, root, path))
		return -1;

	const struct json *rs = json_get(root, "rope_scaling");
	if (rs && rs->type == JSON_OBJECT) {
		char type[32] = "";
		if (get_str(rs, path, "type", type, sizeof type) ||
		    (!type[0] && get_str(rs, path, "rope_type", type, sizeof type)))
			return -1;
		if (strcmp(type, "yarn") == 0) {
			c->rope.yarn = true;
			c->rope.factor = 1;
			c->rope.beta_fast = 32;
			c->rope.beta_slow = 1;
			c->rope.mscale = 1;
			c->rope.mscale_all_dim = 0;
			c->rope.original_max_position_embeddings = 4096;
			c->rope.truncate = true;
			c->rope.has_mscale = json_get(rs, "mscale") && json_get(rs, "mscale")->type != JSON_NULL;
			c->rope.has_mscale_all_dim = json_get(rs, "mscale_all_dim") &&
						     json_get(rs, "mscale_all_dim")->type != JSON_NULL;
			if (get_num(rs, path, "factor", &c->rope.factor) ||
			    get_num(rs, path, "beta_fast", &c->rope.beta_fast) ||
			    get_num(rs, path, "beta_slow", &c->rope.beta_slow) ||
			    get_num(rs, path, "mscale", &c->rope.mscale) ||
			    get_num(rs, path, "mscale_all_dim", &c->rope.mscale_all_dim) ||
			    get_num(rs, path, "attention_factor", &c->rope.attention_factor) ||
			    get_bool(rs, path, "truncate", &c->rope.truncate) ||
			    get_int(rs, path, "original_max_position_embeddings",
				    &c->rope.original_max_position_embeddings, false))
				return -1;
			/* (0 for beta_fast or beta_slow means their default) */
			if (num_in(path, "rope_scaling factor", c->rope.factor, 0, true, HUGE_VAL, "a finite number above 0") ||
			    num_in(path, "rope_scaling beta_fast", c->rope.beta_fast, 0, false, HUGE_VAL,
				   "a finite number of at least 0") ||
			    num_in(path, "rope_scaling beta_slow", c->rope.beta_slow, 0, false, HUGE_VAL,
				   "a finite number of at least 0") ||
			    num_in(path, "rope_scaling mscale", c->rope.mscale, 0, false, HUGE_VAL,
				   "a finite number of at least 0") ||
			    num_in(path, "rope_scaling mscale_all_dim", c->rope.mscale_all_dim, 0, false, HUGE_VAL,
				   "a finite number of at least 0") ||
			    num_in(path, "rope_scaling attention_factor", c->rope.attention_factor, 0, false, HUGE_VAL,
				   "a finite number of at least 0"))
				return -1;
			int64_t orig = c->rope.original_max_position_embeddings;
			if (orig < 1 || orig > CFG_MAX_POSITIONS)
				return err_set("%s: rope_scaling original_max_position_embeddings %" PRId64 " is not from 1 to %" PRId64,
					       path, orig, (int64_t)CFG_MAX_POSITIONS);
		} else if (type[0]) {
			return err_set("%s: rope_scaling type \"%s\" is not supported (only yarn)", path, type);
		}
	} else if (rs && rs->type != JSON_NULL) {
		return err_set("%s: \"rope_scaling\" is not an object", path);
	}

	const struct json *q = json_get(root, "quantization_config");
	if (q && q->type == JSON_OBJECT) {
		c->quant.present = true;
		if (get_str(q, path, "quant_method", c->quant.method, sizeof c->quant.method) ||
		    get_str(q, path, "fmt", c->quant.fmt, sizeof c->quant.fmt) ||
		    get_str(q, path, "scale_fmt", c->quant.scale_fmt, sizeof c->quant.scale_fmt))
			return -1;
		const struct json *b = json_get(q, "weight_block_size");
		if (b) {
			if (b->type != JSON_ARRAY || b->n != 2 || json_i64(json_kid(b), &c->quant.block[0]) ||
			    json_i64(json_next(json_kid(b)), &c->quant.block[1]) || c->quant.block[0] <= 0 ||
			    c->quant.block[1] <= 0)
				return err_set("%s: \"weight_block_size\" is not two positive integers", path);
			for (int k = 0; k < 2; k++)
				if (c->quant.block[k] > CFG_MAX_DIM)
					return err_set("%s: weight_block_size %" PRId64 " is over the limit %d", path,
						       c->quant.block[k], CFG_MAX_DIM);
		}
	} else if (q && q->type != JSON_NULL) {
		return err_set("%s: \"quantization_config\" is not an object", path);
	}
	return check_fit(c, path);
}

int ds_config_load(struct ds_config *c, const char *path)
{
	struct json_doc *d;
	if (json_load(&d, path, 0))
		return -1;
	int rc = ds_config_read(c, json_root(d), path);
	json_free(d);
	return rc;
}

struct ds_config *ds_config_new(const struct json *root, const char *path)
{
	struct ds_config *c = xmalloc(sizeof *c);
	if (ds_config_read(c, root, path) == 0)
		return c;
	free(c);
	return NULL;
}

struct ds_config *ds_config_new_file(const char *path)
{
	struct ds_config *c = xmalloc(sizeof *c);
	if (ds_config_load(c, path) == 0)
		return c;
	free(c);
	return NULL;
}

int ds_config_require(const struct ds_config *c, const char *path)
{
	if (c->family && c->family->require)
		return c->family->require(c, path);
	static const char *always[] = {
		"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "q_lora_rank",
		"kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
	};
	static const char *dense[] = {"intermediate_size"};
	static const char *moe[] = {"n_routed_experts", "moe_intermediate_size", "num_experts_per_tok"};
	const struct {
		const char **keys;
		size_t n;
		bool needed;
	} groups[] = {
		{always, sizeof always / sizeof *always, true},
		{dense, 1, c->first_k_dense_replace > 0},
		{moe, 3, c->first_k_dense_replace < c->num_hidden_layers},
	};
	for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
		for (size_t k = 0; groups[g].needed && k < groups[g].n; k++)
			for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++)
				if (strcmp(int_keys[i].key, groups[g].keys[k]) == 0 &&
				    *(const int64_t *)((const char *)c + int_keys[i].off) < 0)
					return err_set("%s: missing \"%s\"", path, groups[g].keys[k]);
	return 0;
}

int config_text_unquantized(struct buf *out, const char *path)
{
	static const struct json_edit drop = {"quantization_config", NULL};
	return json_edit_file(out, path, &drop, 1);
}
