#include "hf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "family.h"
#include "names.h"
#include "qscheme.h"

enum where { GLOBAL, LAYER, EXPERT, MTP };

static const struct {
	const char *name, *suffix;
	enum where where;
	bool quant;
} roles[HF_ROLE_COUNT] = {
	[HF_EMBED] = {"embed", "model.embed_tokens.weight", GLOBAL, false},
	[HF_NORM] = {"norm", "model.norm.weight", GLOBAL, false},
	[HF_LM_HEAD] = {"lm_head", "lm_head.weight", GLOBAL, false},
	[HF_INPUT_NORM] = {"input_norm", "input_layernorm.weight", LAYER, false},
	[HF_Q_PROJ] = {"q_proj", "self_attn.q_proj.weight", LAYER, true},
	[HF_Q_A_PROJ] = {"q_a_proj", "self_attn.q_a_proj.weight", LAYER, true},
	[HF_Q_A_NORM] = {"q_a_norm", "self_attn.q_a_layernorm.weight", LAYER, false},
	[HF_Q_B_PROJ] = {"q_b_proj", "self_attn.q_b_proj.weight", LAYER, true},
	[HF_KV_A_PROJ] = {"kv_a_proj", "self_attn.kv_a_proj_with_mqa.weight", LAYER, true},
	[HF_KV_A_NORM] = {"kv_a_norm", "self_attn.kv_a_layernorm.weight", LAYER, false},
	[HF_KV_B_PROJ] = {"kv_b_proj", "self_attn.kv_b_proj.weight", LAYER, true},
	[HF_O_PROJ] = {"o_proj", "self_attn.o_proj.weight", LAYER, true},
	[HF_POST_NORM] = {"post_norm", "post_attention_layernorm.weight", LAYER, false},
	[HF_MLP_GATE] = {"mlp_gate", "mlp.gate_proj.weight", LAYER, true},
	[HF_MLP_UP] = {"mlp_up", "mlp.up_proj.weight", LAYER, true},
	[HF_MLP_DOWN] = {"mlp_down", "mlp.down_proj.weight", LAYER, true},
	[HF_ROUTER] = {"router", "mlp.gate.weight", LAYER, false},
	[HF_ROUTER_BIAS] = {"router_bias", "mlp.gate.e_score_correction_bias", LAYER, false},
	[HF_EXPERT_GATE] = {"expert_gate", "gate_proj.weight", EXPERT, true},
	[HF_EXPERT_UP] = {"expert_up", "up_proj.weight", EXPERT, true},
	[HF_EXPERT_DOWN] = {"expert_down", "down_proj.weight", EXPERT, true},
	[HF_SHARED_GATE] = {"shared_gate", "mlp.shared_experts.gate_proj.weight", LAYER, true},
	[HF_SHARED_UP] = {"shared_up", "mlp.shared_experts.up_proj.weight", LAYER, true},
	[HF_SHARED_DOWN] = {"shared_down", "mlp.shared_experts.down_proj.weight", LAYER, true},
	[HF_MTP_EMBED] = {"mtp_embed", "embed_tokens.weight", MTP, false},
	[HF_MTP_ENORM] = {"mtp_enorm", "enorm.weight", MTP, false},
	[HF_MTP_HNORM] = {"mtp_hnorm", "hnorm.weight", MTP, false},
	[HF_MTP_EH_PROJ] = {"mtp_eh_proj", "eh_proj.weight", MTP, false},
	[HF_MTP_HEAD_NORM] = {"mtp_head_norm", "shared_head.norm.weight", MTP, false},
	[HF_MTP_HEAD] = {"mtp_head", "shared_head.head.weight", MTP, false},
	[HF_IDX_WQ_B] = {"indexer_wq_b", "self_attn.indexer.wq_b.weight", LAYER, true},
	[HF_IDX_WK] = {"indexer_wk", "self_attn.indexer.wk.weight", LAYER, true},
	[HF_IDX_K_NORM] = {"indexer_k_norm", "self_attn.indexer.k_norm.weight", LAYER, false},
	[HF_IDX_K_NORM_BIAS] = {"indexer_k_norm_bias", "self_attn.indexer.k_norm.bias", LAYER, false},
	[HF_IDX_WEIGHTS_PROJ] = {"indexer_weights_proj", "self_attn.indexer.weights_proj.weight", LAYER, false},
};

#define LAYER_PREFIX "model.layers."
#define EXPERT_INFIX "mlp.experts."
#define SCALE_SUFFIX (QSCHEME_HF->scale_suffix)

const char *hf_role_name(enum hf_role r) { return (unsigned)r < HF_ROLE_COUNT ? roles[r].name : "?"; }
bool hf_role_quantized(enum hf_role r) { return (unsigned)r < HF_ROLE_COUNT && roles[r].quant; }
bool hf_role_per_expert(enum hf_role r) { return (unsigned)r < HF_ROLE_COUNT && roles[r].where == EXPERT; }

bool hf_layer_is_moe(const struct ds_config *c, int64_t layer)
{
	return c->n_routed_experts > 0 && layer >= c->first_k_dense_replace && c->moe_layer_freq > 0 &&
	       layer % c->moe_layer_freq == 0;
}

/* ---- names ---- */

/* A decimal without leading zeros that fits an int; *p moves past it. */
int hf_parse_num(const char **p, int *out)
{
	const char *s = *p;
	int64_t v = 0;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > INT32_MAX)
			return -1;
	}
	*out = (int)v;
	*p = s;
	return 0;
}

/* The role whose suffix (of the given kind) is exactly s[0..len). */
static int match_suffix(const char *s, size_t len, enum where w1, enum where w2)
{
	for (int r = 0; r < HF_ROLE_COUNT; r++)
		if ((roles[r].where == w1 || roles[r].where == w2) && strlen(roles[r].suffix) == len &&
		    memcmp(roles[r].suffix, s, len) == 0)
			return r;
	return -1;
}

int hf_parse(const char *name, struct hf_name *out)
{
	size_t len = strlen(name), sl = strlen(SCALE_SUFFIX);
	bool scale = len > sl && strcmp(name + len - sl, SCALE_SUFFIX) == 0;
	if (scale)
		len -= sl;
	struct hf_name n = {.layer = -1, .expert = -1, .scale = scale};
	int r = match_suffix(name, len, GLOBAL, GLOBAL);
	if (r < 0) {
		const char *p = name;
		if (strncmp(p, LAYER_PREFIX, strlen(LAYER_PREFIX)) != 0)
			return -1;
		p += strlen(LAYER_PREFIX);
		if (hf_parse_num(&p, &n.layer) || *p++ != '.')
			return -1;
		if (strncmp(p, EXPERT_INFIX, strlen(EXPERT_INFIX)) == 0) {
			p += strlen(EXPERT_INFIX);
			if (hf_parse_num(&p, &n.expert) || *p++ != '.')
				return -1;
			r = match_suffix(p, len - (size_t)(p - name), EXPERT, EXPERT);
		} else {
			r = match_suffix(p, len - (size_t)(p - name), LAYER, MTP);
		}
		if (r < 0)
			return -1;
	}
	if (scale && !roles[r].quant)
		return -1;
	n.role = (enum hf_role)r;
	*out = n;
	return 0;
}

int hf_format(char *out, size_t size, const struct hf_name *n)
{
	if ((unsigned)n->role >= HF_ROLE_COUNT || (n->scale && !roles[n->role].quant))
		return -1;
	const char *sfx = n->scale ? SCALE_SUFFIX : "";
	switch (roles[n->role].where) {
	case GLOBAL:
		return snprintf(out, size, "%s%s", roles[n->role].suffix, sfx);
	case EXPERT:
		if (n->layer < 0 || n->expert < 0)
			return -1;
		return snprintf(out, size, LAYER_PREFIX "%d." EXPERT_INFIX "%d.%s%s", n->layer, n->expert,
				roles[n->role].suffix, sfx);
	default:
		if (n->layer < 0)
			return -1;
		return snprintf(out, size, LAYER_PREFIX "%d.%s%s", n->layer, roles[n->role].suffix, sfx);
	}
}

/* ---- the expected tensors ---- */

struct hf_priv {
	char *names;             /* every name, NUL-separated */
	struct hf_byname {
		const char *name;
		const struct hf_entry *e;
	} *by_name;              /* every entry, sorted by name */
};

#define MAX_TENSORS (1u << 24)
#define MAX_DIM (1ull << 40)

struct build {
	const struct ds_config *c;
	const char *path;
	struct hf_layout *L;
	size_t cap;
	struct buf names;
	size_t *name_off, *scale_off;   /* offsets into names, per tensor */
	enum dt qdt;
	bool quant;
};

static int dim_mul(struct build *b, uint64_t x, uint64_t y, uint64_t *out, const char *what)
{
	if (__builtin_mul_overflow(x, y, out) || *out > MAX_DIM)
		return err_set("%s: %s is too large", b->path, what);
	return 0;
}

/* The [rows, cols] (or [n]) of role r; dims of every role are checked positive up front. */
static int shape_of(struct build *b, enum hf_role r, unsigned *ndim, uint64_t s[2])
{
	const struct ds_config *c = b->c;
	uint64_t H = (uint64_t)c->hidden_size, V = (uint64_t)c->vocab_size, nh = (uint64_t)c->num_attention_heads;
	uint64_t qk = (uint64_t)(c->qk_nope_head_dim + c->qk_rope_head_dim);
	uint64_t kvb = (uint64_t)(c->qk_nope_head_dim + c->v_head_dim);
	*ndim = 2;
	switch (r) {
	case HF_EMBED: case HF_LM_HEAD: case HF_MTP_EMBED: case HF_MTP_HEAD:
		s[0] = V, s[1] = H;
		return 0;
	case HF_NORM: case HF_INPUT_NORM: case HF_POST_NORM: case HF_MTP_ENORM: case HF_MTP_HNORM:
	case HF_MTP_HEAD_NORM:
		*ndim = 1, s[0] = H;
		return 0;
	case HF_Q_A_NORM:
		*ndim = 1, s[0] = (uint64_t)c->q_lora_rank;
		return 0;
	case HF_KV_A_NORM:
		*ndim = 1, s[0] = (uint64_t)c->kv_lora_rank;
		return 0;
	case HF_IDX_WQ_B:
		s[1] = (uint64_t)c->q_lora_rank;
		return dim_mul(b, (uint64_t)c->index_n_heads, (uint64_t)c->index_head_dim, &s[0],
			       "index_n_heads * index_head_dim");
	case HF_IDX_WK:
		s[0] = (uint64_t)c->index_head_dim, s[1] = H;
		return 0;
	case HF_IDX_K_NORM: case HF_IDX_K_NORM_BIAS:
		*ndim = 1, s[0] = (uint64_t)c->index_head_dim;
		return 0;
	case HF_IDX_WEIGHTS_PROJ:
		s[0] = (uint64_t)c->index_n_heads, s[1] = H;
		return 0;
	case HF_ROUTER_BIAS:
		*ndim = 1, s[0] = (uint64_t)c->n_routed_experts;
		return 0;
	case HF_Q_PROJ:
		s[1] = H;
		return dim_mul(b, nh, qk, &s[0], "num_attention_heads * (qk_nope_head_dim + qk_rope_head_dim)");
	case HF_Q_A_PROJ:
		s[0] = (uint64_t)c->q_lora_rank, s[1] = H;
		return 0;
	case HF_Q_B_PROJ:
		s[1] = (uint64_t)c->q_lora_rank;
		return dim_mul(b, nh, qk, &s[0], "num_attention_heads * (qk_nope_head_dim + qk_rope_head_dim)");
	case HF_KV_A_PROJ:
		s[0] = (uint64_t)(c->kv_lora_rank + c->qk_rope_head_dim), s[1] = H;
		return 0;
	case HF_KV_B_PROJ:
		s[1] = (uint64_t)c->kv_lora_rank;
		return dim_mul(b, nh, kvb, &s[0], "num_attention_heads * (qk_nope_head_dim + v_head_dim)");
	case HF_O_PROJ:
		s[0] = H;
		return dim_mul(b, nh, (uint64_t)c->v_head_dim, &s[1], "num_attention_heads * v_head_dim");
	case HF_MLP_GATE: case HF_MLP_UP:
		s[0] = (uint64_t)c->intermediate_size, s[1] = H;
		return 0;
	case HF_MLP_DOWN:
		s[0] = H, s[1] = (uint64_t)c->intermediate_size;
		return 0;
	case HF_ROUTER:
		s[0] = (uint64_t)c->n_routed_experts, s[1] = H;
		return 0;
	case HF_EXPERT_GATE: case HF_EXPERT_UP:
		s[0] = (uint64_t)c->moe_intermediate_size, s[1] = H;
		return 0;
	case HF_EXPERT_DOWN:
		s[0] = H, s[1] = (uint64_t)c->moe_intermediate_size;
		return 0;
	case HF_SHARED_GATE: case HF_SHARED_UP:
		s[1] = H;
		return dim_mul(b, (uint64_t)c->n_shared_experts, (uint64_t)c->moe_intermediate_size, &s[0],
			       "n_shared_experts * moe_intermediate_size");
	case HF_SHARED_DOWN:
		s[0] = H;
		return dim_mul(b, (uint64_t)c->n_shared_experts, (uint64_t)c->moe_intermediate_size, &s[1],
			       "n_shared_experts * moe_intermediate_size");
	case HF_MTP_EH_PROJ:
		s[0] = H;
		return dim_mul(b, 2, H, &s[1], "2 * hidden_size");
	default:
		return err_set("%s: internal: role %d has no shape", b->path, (int)r);
	}
}

static bool shape_of_norm(enum hf_role r)
{
	switch (r) {
	case HF_NORM: case HF_INPUT_NORM: case HF_POST_NORM: case HF_Q_A_NORM: case HF_KV_A_NORM:
	case HF_MTP_ENORM: case HF_MTP_HNORM: case HF_MTP_HEAD_NORM: case HF_IDX_K_NORM: case HF_IDX_K_NORM_BIAS:
		return true;
	default:
		return false;
	}
}

static int add(struct build *b, enum hf_role r, int layer, int expert)
{
	struct hf_layout *L = b->L;
	struct hf_tensor *t = hf_layout_next(L, &b->cap, &b->name_off, &b->scale_off);
	t->role = r;
	t->layer = layer;
	t->expert = expert;
	t->mtp = layer >= L->nlayers;
	if (shape_of(b, r, &t->ndim, t->shape))
		return -1;
	t->dtype = r == HF_ROUTER_BIAS ? DT_F32 : DT_BF16;
	/* (a norm or an indexer LayerNorm of a model whose release stores them in F32) */
	t->any_float = b->c->family && b->c->family->norms_any_float && shape_of_norm(r);
	t->quantized = b->quant && roles[r].quant;
	if (t->quantized) {
		t->dtype = b->qdt;
		t->scale.dtype = DT_F32;
		t->scale.shape[0] = (t->shape[0] + L->block[0] - 1) / L->block[0];
		t->scale.shape[1] = (t->shape[1] + L->block[1] - 1) / L->block[1];
	}
	struct hf_name n = {r, layer, expert, false};
	char tmp[256];
	for (int k = 0; k < 1 + t->quantized; k++) {
		n.scale = k;
		int len = hf_format(tmp, sizeof tmp, &n);
		if (len < 0 || (size_t)len >= sizeof tmp)
			return err_set("%s: internal: cannot name role %s", b->path, roles[r].name);
		(k ? b->scale_off : b->name_off)[L->n] = b->names.len;
		buf_add(&b->names, tmp, (size_t)len + 1);
	}
	L->n++;
	return 0;
}

static int add_layer(struct build *b, int l)
{
	const struct ds_config *c = b->c;
	bool mtp = l >= b->L->nlayers;
	int rc = 0;
	if (mtp)
		for (enum hf_role r = HF_MTP_EMBED; r <= HF_MTP_EH_PROJ && !rc; r++)
			rc = add(b, r, l, -1);
	rc = rc || add(b, HF_INPUT_NORM, l, -1);
	if (c->q_lora_rank > 0)
		rc = rc || add(b, HF_Q_A_PROJ, l, -1) || add(b, HF_Q_A_NORM, l, -1) || add(b, HF_Q_B_PROJ, l, -1);
	else
		rc = rc || add(b, HF_Q_PROJ, l, -1);
	for (enum hf_role r = HF_KV_A_PROJ; r <= HF_POST_NORM && !rc; r++)
		rc = add(b, r, l, -1);
	if (c->index_n_heads > 0)
		for (enum hf_role r = HF_IDX_WQ_B; r <= HF_IDX_WEIGHTS_PROJ && !rc; r++)
			rc = add(b, r, l, -1);
	if (!hf_layer_is_moe(c, l)) {
		for (enum hf_role r = HF_MLP_GATE; r <= HF_MLP_DOWN && !rc; r++)
			rc = add(b, r, l, -1);
	} else {
		rc = rc || add(b, HF_ROUTER, l, -1) || add(b, HF_ROUTER_BIAS, l, -1);
		for (int e = 0; e < c->n_routed_experts && !rc; e++)
			for (enum hf_role r = HF_EXPERT_GATE; r <= HF_EXPERT_DOWN && !rc; r++)
				rc = add(b, r, l, e);
		for (enum hf_role r = HF_SHARED_GATE; r <= HF_SHARED_DOWN && c->n_shared_experts > 0 && !rc; r++)
			rc = add(b, r, l, -1);
	}
	if (mtp)
		rc = rc || add(b, HF_MTP_HEAD_NORM, l, -1) || add(b, HF_MTP_HEAD, l, -1);
	return rc;
}

uint64_t hf_expected_bound(const struct ds_config *c)
{
	if (c->family && c->family->expected_bound)
		return c->family->expected_bound(c);
	int64_t nl = c->num_hidden_layers + c->num_nextn_predict_layers;
	uint64_t count = 3;
	for (int64_t l = 0; l < nl && count <= MAX_TENSORS; l++)
		count += 20 + (hf_layer_is_moe(c, l) ? 6 * (uint64_t)c->n_routed_experts : 0);
	return count;
}

/* What ds_config_read leaves to the layout: the keys it needs, and a tensor count that
 * the per-value limits (config.h) still let grow absurd. */
static int check_config(struct build *b)
{
	const struct ds_config *c = b->c;
	const char *path = b->path;
	if (ds_config_require(c, path))
		return -1;
	if (hf_expected_bound(c) > MAX_TENSORS)
		return err_set("%s: the config implies more than %u tensors", path, MAX_TENSORS);
	bool dense = false, moe = false;
	for (int64_t l = 0; l < c->num_hidden_layers + c->num_nextn_predict_layers; l++) {
		bool m = hf_layer_is_moe(c, l);
		moe |= m, dense |= !m;
	}
	/* ds_config_require asks for these by first_k_dense_replace alone; moe_layer_freq
	 * makes more layers dense */
	if (dense && c->intermediate_size < 0)
		return err_set("%s: missing \"intermediate_size\"", path);
	if (moe && c->moe_intermediate_size < 0)
		return err_set("%s: missing \"moe_intermediate_size\"", path);
	if (c->index_n_heads > 0 && c->index_head_dim <= 0)
		return err_set("%s: missing \"index_head_dim\" (index_n_heads is given)", path);
	if (c->index_n_heads > 0 && c->q_lora_rank <= 0)
		return err_set("%s: the indexer (index_n_heads) needs q_lora_rank", path);
	if (c->quant.present) {
		if (c->quant.method[0] && strcmp(c->quant.method, "fp8") != 0)
			return err_set("%s: quantization_config quant_method \"%s\" is not supported (only fp8)", path,
				       c->quant.method);
		if (!c->quant.fmt[0] || strcmp(c->quant.fmt, "e4m3") == 0)
			b->qdt = DT_F8_E4M3;
		else if (strcmp(c->quant.fmt, "e5m2") == 0)
			b->qdt = DT_F8_E5M2;
		else
			return err_set("%s: quantization_config fmt \"%s\" is not e4m3 or e5m2", path, c->quant.fmt);
		b->quant = true;
	}
	return 0;
}

static int by_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct hf_byname *)a)->name, ((const struct hf_byname *)b)->name);
}

struct hf_tensor *hf_layout_next(struct hf_layout *L, size_t *cap, size_t **name_off, size_t **scale_off)
{
	if (L->n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		L->t = xreallocarray(L->t, *cap, sizeof *L->t);
		*name_off = xreallocarray(*name_off, *cap, sizeof **name_off);
		*scale_off = xreallocarray(*scale_off, *cap, sizeof **scale_off);
	}
	struct hf_tensor *t = &L->t[L->n];
	memset(t, 0, sizeof *t);
	return t;
}

int hf_layout_abandon(struct hf_layout *L, struct buf *names, size_t *name_off, size_t *scale_off)
{
	buf_free(names);
	free(name_off);
	free(scale_off);
	hf_free(L);
	return -1;
}

int hf_layout_finish(struct hf_layout **out, struct hf_layout *L, struct buf *names, size_t *name_off, size_t *scale_off,
		     const char *path)
{
	/* names now that the arena has stopped moving, then the stored entries */
	if (!L->priv)
		L->priv = xcalloc(1, sizeof *L->priv);
	L->priv->names = names->p;
	names->p = NULL;
	buf_free(names);
	for (size_t i = 0; i < L->n; i++) {
		L->t[i].name = L->priv->names + name_off[i];
		if (L->t[i].quantized)
			L->t[i].scale.name = L->priv->names + scale_off[i];
		L->nentries += 1 + L->t[i].quantized;
	}
	L->e = xcalloc(L->nentries, sizeof *L->e);
	size_t k = 0;
	for (size_t i = 0; i < L->n; i++) {
		const struct hf_tensor *t = &L->t[i];
		L->e[k++] = (struct hf_entry){t->name, t->dtype, t->ndim, t->shape, t, false};
		if (t->quantized)
			L->e[k++] = (struct hf_entry){t->scale.name, t->scale.dtype, 2, t->scale.shape, t, true};
	}
	for (size_t i = 0; i < L->nentries; i++) {
		const struct hf_entry *e = &L->e[i];
		uint64_t n = 1, nb;
		for (unsigned d = 0; d < e->ndim; d++)
			if (__builtin_mul_overflow(n, e->shape[d], &n))
				n = UINT64_MAX;
		if (dt_nbytes(e->dtype, n, &nb) || __builtin_add_overflow(L->total_bytes, nb, &L->total_bytes)) {
			err_set("%s: the tensors' sizes overflow 64 bits", path);
			return hf_layout_abandon(L, names, name_off, scale_off);
		}
	}
	L->priv->by_name = xcalloc(L->nentries, sizeof *L->priv->by_name);
	for (size_t i = 0; i < L->nentries; i++)
		L->priv->by_name[i] = (struct hf_byname){L->e[i].name, &L->e[i]};
	qsort(L->priv->by_name, L->nentries, sizeof *L->priv->by_name, by_entry_name);
	free(name_off);
	free(scale_off);
	*out = L;
	return 0;
}

int hf_expected(struct hf_layout **out, const struct ds_config *c, const char *path)
{
	struct hf_layout *L = xcalloc(1, sizeof *L);
	struct build b = {.c = c, .path = path, .L = L};
	*out = NULL;
	L->cfg = *c;
	L->priv = xcalloc(1, sizeof *L->priv);
	if (check_config(&b))
		goto fail;
	L->nlayers = c->num_hidden_layers;
	L->nmtp = c->num_nextn_predict_layers;
	L->block[0] = (uint64_t)c->quant.block[0];
	L->block[1] = (uint64_t)c->quant.block[1];
	if (add(&b, HF_EMBED, -1, -1) || add(&b, HF_NORM, -1, -1) || (!c->tie_word_embeddings && add(&b, HF_LM_HEAD, -1, -1)))
		goto fail;
	for (int l = 0; l < L->nlayers + L->nmtp; l++)
		if (add_layer(&b, l))
			goto fail;

	return hf_layout_finish(out, L, &b.names, b.name_off, b.scale_off, path);
fail:
	return hf_layout_abandon(L, &b.names, b.name_off, b.scale_off);
}

int hf_expected_file(struct hf_layout **out, const char *config_path)
{
	struct ds_config c;
	*out = NULL;
	if (ds_config_load(&c, config_path))
		return -1;
	return (c.family ? c.family->expected : hf_expected)(out, &c, config_path);
}

void hf_free(struct hf_layout *L)
{
	if (!L)
		return;
	if (L->priv) {
		free(L->priv->names);
		free(L->priv->by_name);
		free(L->priv);
	}
	free(L->t);
	free(L->e);
	free(L);
}

const struct hf_entry *hf_find(const struct hf_layout *L, const char *name)
{
	ptrdiff_t i = NAME_FIND(L->priv->by_name, L->nentries, name, name);
	return i < 0 ? NULL : L->priv->by_name[i].e;
}
