#include "hf_v4.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "qscheme.h"

#define MAX_TENSORS (1u << 24)
#define MAX_DIM (1ull << 40)

enum kind { PLAIN, FP8, FP4 };

/* The shapes' factors, each product checked once. */
struct dims {
	uint64_t V, D, H, hd, qr, I, E, K, G, R, IH, ID;
	uint64_t qdim;   /* H * hd */
	uint64_t gr;     /* G * R */
	uint64_t hcd;    /* hc * D */
	uint64_t hc, mix;/* hc, (2 + hc) * hc */
	uint64_t shared; /* n_shared_experts * I */
	uint64_t idx;    /* IH * ID */
};

struct build {
	const struct ds_config *c;
	const char *path;
	struct hf_layout *L;
	struct dims d;
	size_t cap;
	struct buf names;
	size_t *name_off, *scale_off;
	bool quant;
	char prefix[32];                 /* "", "layers.L." or "mtp.K." */
	int layer;
	bool mtp;
};

static int dim_mul(const char *path, uint64_t x, uint64_t y, uint64_t *out, const char *what)
{
	if (__builtin_mul_overflow(x, y, out) || *out > MAX_DIM)
		return err_set("%s: %s is too large", path, what);
	return 0;
}

static int add(struct build *b, const char *suffix, int expert, enum dt dt, unsigned ndim, uint64_t r, uint64_t c,
	       enum kind k)
{
	struct hf_layout *L = b->L;
	struct hf_tensor *t = hf_layout_next(L, &b->cap, &b->name_off, &b->scale_off);
	t->role = b->mtp ? HF_OWN_MTP : HF_OWN;
	t->layer = b->layer;
	t->expert = expert;
	t->mtp = b->mtp;
	t->ndim = ndim;
	t->shape[0] = r;
	t->shape[1] = ndim == 2 ? c : 0;
	t->dtype = k == PLAIN ? dt : DT_BF16;
	if (k != PLAIN && b->quant) {
		uint64_t bm = k == FP4 ? 1 : L->block[0], bn = k == FP4 ? 32 : L->block[1];
		t->quantized = true;
		t->packed4 = k == FP4;
		t->dtype = k == FP4 ? DT_I8 : DT_F8_E4M3;
		t->scale.dtype = DT_F8_E8M0;
		t->scale.shape[0] = (r + bm - 1) / bm;
		t->scale.shape[1] = (c + bn - 1) / bn;
	}
	char name[256], sname[256];
	int len = expert >= 0 ? snprintf(name, sizeof name, "%sffn.experts.%d.%s", b->prefix, expert, suffix)
			      : snprintf(name, sizeof name, "%s%s", b->prefix, suffix);
	if (len < 0 || (size_t)len >= sizeof name)
		return err_set("%s: internal: cannot name %s", b->path, suffix);
	b->name_off[L->n] = b->names.len;
	buf_add(&b->names, name, (size_t)len + 1);
	if (t->quantized) {
		if (!qscheme_scale_name(QSCHEME_FP8_SCALE, name, sname, sizeof sname))
			return err_set("%s: internal: %s has no scale name", b->path, name);
		b->scale_off[L->n] = b->names.len;
		buf_add(&b->names, sname, strlen(sname) + 1);
	}
	L->n++;
	return 0;
}

#define V2(b, s, dt, r, c, k) add(b, s, -1, dt, 2, r, c, k)
#define V1(b, s, dt, n) add(b, s, -1, dt, 1, n, 0, PLAIN)

/* A compressor of ratio r over vectors of hd (its windows overlap, twice as wide, at 4). */
static int add_compressor(struct build *b, const char *pre, uint64_t r, uint64_t hd)
{
	char s[4][96];
	uint64_t w = r == 4 ? 2 * hd : hd;
	snprintf(s[0], sizeof s[0], "%scompressor.ape", pre);
	snprintf(s[1], sizeof s[1], "%scompressor.wkv.weight", pre);
	snprintf(s[2], sizeof s[2], "%scompressor.wgate.weight", pre);
	snprintf(s[3], sizeof s[3], "%scompressor.norm.weight", pre);
	return V2(b, s[0], DT_F32, r, w, PLAIN) || V2(b, s[1], DT_BF16, w, b->d.D, PLAIN) ||
	       V2(b, s[2], DT_BF16, w, b->d.D, PLAIN) || V1(b, s[3], DT_BF16, hd);
}

/* The hyper-connection mixes of a block's attention or FFN (what: "attn", "ffn"). */
static int add_hc(struct build *b, const char *what)
{
	char s[3][32];
	snprintf(s[0], sizeof s[0], "hc_%s_fn", what);
	snprintf(s[1], sizeof s[1], "hc_%s_base", what);
	snprintf(s[2], sizeof s[2], "hc_%s_scale", what);
	return V2(b, s[0], DT_F32, b->d.mix, b->d.hcd, PLAIN) || V1(b, s[1], DT_F32, b->d.mix) || V1(b, s[2], DT_F32, 3);
}

static int add_hc_head(struct build *b)
{
	return V2(b, "hc_head_fn", DT_F32, b->d.hc, b->d.hcd, PLAIN) || V1(b, "hc_head_base", DT_F32, b->d.hc) ||
	       V1(b, "hc_head_scale", DT_F32, 1);
}

/* Layer l (an MTP block from num_hidden_layers on): the tensors in spec order. */
static int add_block(struct build *b, int l)
{
	const struct ds_config *c = b->c;
	const struct dims *d = &b->d;
	b->layer = l;
	b->mtp = l >= c->num_hidden_layers;
	if (b->mtp)
		snprintf(b->prefix, sizeof b->prefix, "mtp.%d.", (int)(l - c->num_hidden_layers));
	else
		snprintf(b->prefix, sizeof b->prefix, "layers.%d.", l);
	uint64_t r = c->compress_ratios[l];
	int rc = 0;
	if (b->mtp)
		rc = V2(b, "e_proj.weight", 0, d->D, d->D, FP8) || V2(b, "h_proj.weight", 0, d->D, d->D, FP8) ||
		     V1(b, "enorm.weight", DT_BF16, d->D) || V1(b, "hnorm.weight", DT_BF16, d->D) ||
		     V1(b, "norm.weight", DT_BF16, d->D) || add_hc_head(b);
	rc = rc || V1(b, "attn_norm.weight", DT_BF16, d->D) || V1(b, "ffn_norm.weight", DT_BF16, d->D) ||
	     add_hc(b, "attn") || add_hc(b, "ffn") || V1(b, "attn.attn_sink", DT_F32, d->H) ||
	     V2(b, "attn.wq_a.weight", 0, d->qr, d->D, FP8) || V1(b, "attn.q_norm.weight", DT_BF16, d->qr) ||
	     V2(b, "attn.wq_b.weight", 0, d->qdim, d->qr, FP8) || V2(b, "attn.wkv.weight", 0, d->hd, d->D, FP8) ||
	     V1(b, "attn.kv_norm.weight", DT_BF16, d->hd) || V2(b, "attn.wo_a.weight", DT_BF16, d->gr, d->qdim / d->G, c->mp.on ? PLAIN : FP8) ||
	     V2(b, "attn.wo_b.weight", 0, d->D, d->gr, FP8);
	if (!rc && r > 0)
		rc = add_compressor(b, "attn.", r, d->hd);
	if (!rc && r == 4)
		rc = V2(b, "attn.indexer.wq_b.weight", 0, d->idx, d->qr, FP8) ||
		     V2(b, "attn.indexer.weights_proj.weight", DT_BF16, d->IH, d->D, PLAIN) ||
		     add_compressor(b, "attn.indexer.", 4, d->ID);
	rc = rc || V2(b, "ffn.gate.weight", DT_BF16, d->E, d->D, PLAIN);
	if (l < c->num_hash_layers)
		rc = rc || V2(b, "ffn.gate.tid2eid", DT_I64, d->V, d->K, PLAIN);
	else
		rc = rc || V1(b, "ffn.gate.bias", DT_F32, d->E);
	if (d->shared)
		rc = rc || V2(b, "ffn.shared_experts.w1.weight", 0, d->shared, d->D, FP8) ||
		     V2(b, "ffn.shared_experts.w2.weight", 0, d->D, d->shared, FP8) ||
		     V2(b, "ffn.shared_experts.w3.weight", 0, d->shared, d->D, FP8);
	enum kind ek = c->mp.experts_fp8 ? FP8 : FP4;
	for (int e = 0; e < (int)d->E && !rc; e++)
		rc = add(b, "w1.weight", e, 0, 2, d->I, d->D, ek) || add(b, "w2.weight", e, 0, 2, d->D, d->I, ek) ||
		     add(b, "w3.weight", e, 0, 2, d->I, d->D, ek);
	return rc;
}

uint64_t hf_v4_expected_bound(const struct ds_config *c)
{
	uint64_t blocks = (uint64_t)(c->num_hidden_layers > 0 ? c->num_hidden_layers : 0) +
			  (uint64_t)(c->num_nextn_predict_layers > 0 ? c->num_nextn_predict_layers : 0);
	uint64_t e = c->n_routed_experts > 0 ? (uint64_t)c->n_routed_experts : 0;
	return 6 + blocks * (64 + 6 * e);
}

int hf_v4_require(const struct ds_config *c, const char *path)
{
	const struct {
		const char *key;
		int64_t v;
	} keys[] = {
		{"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size},
		{"num_hidden_layers", c->num_hidden_layers}, {"num_attention_heads", c->num_attention_heads},
		{"q_lora_rank", c->q_lora_rank}, {"head_dim", c->head_dim}, {"o_groups", c->o_groups},
		{"o_lora_rank", c->o_lora_rank}, {"hc_mult", c->hc_mult}, {"n_routed_experts", c->n_routed_experts},
		{"moe_intermediate_size", c->moe_intermediate_size}, {"num_experts_per_tok", c->num_experts_per_tok},
	};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (keys[i].v < 0)
			return err_set("%s: missing \"%s\"", path, keys[i].key);
	if (!c->ncompress)
		return err_set("%s: missing \"compress_ratios\"", path);
	int64_t blocks = c->num_hidden_layers + c->num_nextn_predict_layers;
	if ((int64_t)c->ncompress != blocks)
		return err_set("%s: compress_ratios has %zu entries, num_hidden_layers + num_nextn_predict_layers is %" PRId64,
			       path, c->ncompress, blocks);
	if (c->q_lora_rank == 0)
		return err_set("%s: q_lora_rank is null or 0: DeepSeek-V4's attention has a query LoRA", path);
	if (c->n_routed_experts == 0)
		return err_set("%s: n_routed_experts is 0: every DeepSeek-V4 layer has routed experts", path);
	if (c->num_hash_layers > c->num_hidden_layers)
		return err_set("%s: num_hash_layers %" PRId64 " is more than num_hidden_layers %" PRId64, path,
			       c->num_hash_layers, c->num_hidden_layers);
	for (size_t l = 0; l < c->ncompress; l++)
		if (c->compress_ratios[l] == 4 && (c->index_n_heads < 0 || c->index_head_dim < 0))
			return err_set("%s: missing \"%s\" (compress_ratios[%zu] is 4: that layer has an indexer)", path,
				       c->index_n_heads < 0 ? "index_n_heads" : "index_head_dim", l);
	if ((c->num_attention_heads * c->head_dim) % c->o_groups)
		return err_set("%s: num_attention_heads * head_dim %" PRId64 " is not a multiple of o_groups %" PRId64, path,
			       c->num_attention_heads * c->head_dim, c->o_groups);
	if (c->quant.present) {
		if (c->quant.method[0] && strcmp(c->quant.method, "fp8") != 0)
			return err_set("%s: quantization_config quant_method \"%s\" is not supported (only fp8)", path,
				       c->quant.method);
		if (c->quant.fmt[0] && strcmp(c->quant.fmt, "e4m3") != 0)
			return err_set("%s: quantization_config fmt \"%s\" is not e4m3 (DeepSeek-V4's FP8)", path, c->quant.fmt);
		if (c->hidden_size % 2 || c->moe_intermediate_size % 2)
			return err_set("%s: %s %" PRId64 " is odd: the FP4 experts hold two codes a byte", path,
				       c->hidden_size % 2 ? "hidden_size" : "moe_intermediate_size",
				       c->hidden_size % 2 ? c->hidden_size : c->moe_intermediate_size);
	}
	if (hf_v4_expected_bound(c) > MAX_TENSORS)
		return err_set("%s: the config implies more than %u tensors", path, MAX_TENSORS);
	return 0;
}

static int make_dims(const struct ds_config *c, const char *path, struct dims *d)
{
	*d = (struct dims){.V = (uint64_t)c->vocab_size, .D = (uint64_t)c->hidden_size,
			   .H = (uint64_t)c->num_attention_heads, .hd = (uint64_t)c->head_dim,
			   .qr = (uint64_t)c->q_lora_rank, .I = (uint64_t)c->moe_intermediate_size,
			   .E = (uint64_t)c->n_routed_experts, .K = (uint64_t)c->num_experts_per_tok,
			   .G = (uint64_t)c->o_groups, .R = (uint64_t)c->o_lora_rank, .hc = (uint64_t)c->hc_mult,
			   .IH = c->index_n_heads > 0 ? (uint64_t)c->index_n_heads : 0,
			   .ID = c->index_head_dim > 0 ? (uint64_t)c->index_head_dim : 0};
	return dim_mul(path, d->H, d->hd, &d->qdim, "num_attention_heads * head_dim") ||
	       dim_mul(path, d->G, d->R, &d->gr, "o_groups * o_lora_rank") ||
	       dim_mul(path, d->hc, d->D, &d->hcd, "hc_mult * hidden_size") ||
	       dim_mul(path, d->hc + 2, d->hc, &d->mix, "(2 + hc_mult) * hc_mult") ||
	       dim_mul(path, d->IH, d->ID, &d->idx, "index_n_heads * index_head_dim") ||
	       dim_mul(path, c->n_shared_experts > 0 ? (uint64_t)c->n_shared_experts : 0, d->I, &d->shared,
		       "n_shared_experts * moe_intermediate_size");
}

int hf_v4_expected(struct hf_layout **out, const struct ds_config *c, const char *path)
{
	struct hf_layout *L = xcalloc(1, sizeof *L);
	struct build b = {.c = c, .path = path, .L = L, .layer = -1, .quant = c->quant.present};
	*out = NULL;
	L->cfg = *c;
	if (hf_v4_require(c, path) || make_dims(c, path, &b.d))
		goto fail;
	L->nlayers = c->num_hidden_layers;
	L->nmtp = c->num_nextn_predict_layers;
	L->block[0] = (uint64_t)c->quant.block[0];
	L->block[1] = (uint64_t)c->quant.block[1];
	if (V2(&b, "embed.weight", DT_BF16, b.d.V, b.d.D, PLAIN) ||
	    (!c->tie_word_embeddings && V2(&b, "head.weight", DT_BF16, b.d.V, b.d.D, PLAIN)) ||
	    V1(&b, "norm.weight", DT_BF16, b.d.D) || add_hc_head(&b))
		goto fail;
	for (int l = 0; l < L->nlayers + L->nmtp; l++)
		if (add_block(&b, l))
			goto fail;
	return hf_layout_finish(out, L, &b.names, b.name_off, b.scale_off, path);
fail:
	return hf_layout_abandon(L, &b.names, b.name_off, b.scale_off);
}

int hf_v4_parse(const struct ds_config *c, const char *name, struct hf_name *out)
{
	struct hf_name n = {.role = HF_OWN, .layer = -1, .expert = -1};
	const char *p = name;
	size_t len = strlen(name);
	n.scale = len > 6 && strcmp(name + len - 6, ".scale") == 0;
	if (strncmp(p, "layers.", 7) == 0) {
		p += 7;
		if (hf_parse_num(&p, &n.layer) || *p++ != '.')
			return -1;
	} else if (strncmp(p, "mtp.", 4) == 0) {
		int k, nl = c && c->num_hidden_layers > 0 ? (int)c->num_hidden_layers : 0;
		p += 4;
		if (hf_parse_num(&p, &k) || *p++ != '.' || k > INT32_MAX - nl)
			return -1;
		n.layer = nl + k;
		n.role = HF_OWN_MTP;
	} else {
		*out = n;
		return 0;
	}
	if (strncmp(p, "ffn.experts.", 12) == 0) {
		p += 12;
		if (hf_parse_num(&p, &n.expert) || *p != '.')
			return -1;
	}
	*out = n;
	return 0;
}

/* Each role's name after its block's prefix (the spellings add_block writes). */
static const char *const v4_role_names[V4_ROLE_COUNT] = {
	[V4_EMBED] = "embed.weight", [V4_HEAD] = "head.weight", [V4_NORM] = "norm.weight",
	[V4_HC_HEAD_FN] = "hc_head_fn", [V4_HC_HEAD_BASE] = "hc_head_base", [V4_HC_HEAD_SCALE] = "hc_head_scale",
	[V4_ATTN_NORM] = "attn_norm.weight", [V4_FFN_NORM] = "ffn_norm.weight",
	[V4_HC_ATTN_FN] = "hc_attn_fn", [V4_HC_ATTN_BASE] = "hc_attn_base", [V4_HC_ATTN_SCALE] = "hc_attn_scale",
	[V4_HC_FFN_FN] = "hc_ffn_fn", [V4_HC_FFN_BASE] = "hc_ffn_base", [V4_HC_FFN_SCALE] = "hc_ffn_scale",
	[V4_SINK] = "attn.attn_sink", [V4_WQ_A] = "attn.wq_a.weight", [V4_Q_NORM] = "attn.q_norm.weight",
	[V4_WQ_B] = "attn.wq_b.weight", [V4_WKV] = "attn.wkv.weight", [V4_KV_NORM] = "attn.kv_norm.weight",
	[V4_WO_A] = "attn.wo_a.weight", [V4_WO_B] = "attn.wo_b.weight",
	[V4_CMP_APE] = "attn.compressor.ape", [V4_CMP_WKV] = "attn.compressor.wkv.weight",
	[V4_CMP_WGATE] = "attn.compressor.wgate.weight", [V4_CMP_NORM] = "attn.compressor.norm.weight",
	[V4_IDX_APE] = "attn.indexer.compressor.ape", [V4_IDX_WKV] = "attn.indexer.compressor.wkv.weight",
	[V4_IDX_WGATE] = "attn.indexer.compressor.wgate.weight",
	[V4_IDX_NORM] = "attn.indexer.compressor.norm.weight", [V4_IDX_WQ_B] = "attn.indexer.wq_b.weight",
	[V4_IDX_WEIGHTS] = "attn.indexer.weights_proj.weight",
	[V4_ROUTER] = "ffn.gate.weight", [V4_ROUTER_BIAS] = "ffn.gate.bias", [V4_TID2EID] = "ffn.gate.tid2eid",
	[V4_EXPERT_W1] = "w1.weight", [V4_EXPERT_W3] = "w3.weight", [V4_EXPERT_W2] = "w2.weight",
	[V4_SHARED_W1] = "ffn.shared_experts.w1.weight", [V4_SHARED_W3] = "ffn.shared_experts.w3.weight",
	[V4_SHARED_W2] = "ffn.shared_experts.w2.weight",
	[V4_E_PROJ] = "e_proj.weight", [V4_H_PROJ] = "h_proj.weight", [V4_ENORM] = "enorm.weight",
	[V4_HNORM] = "hnorm.weight", [V4_MTP_NORM] = "norm.weight",
};

int hf_v4_name(char *out, size_t size, const struct ds_config *c, enum v4_role role, int layer, int expert)
{
	const char *s = (unsigned)role < V4_ROLE_COUNT ? v4_role_names[role] : "?";
	int nl = c->num_hidden_layers > 0 ? (int)c->num_hidden_layers : 0;
	if (layer < 0)
		return snprintf(out, size, "%s", s);
	const char *block = layer >= nl ? "mtp" : "layers";
	int k = layer >= nl ? layer - nl : layer;
	if (expert >= 0)
		return snprintf(out, size, "%s.%d.ffn.experts.%d.%s", block, k, expert, s);
	return snprintf(out, size, "%s.%d.%s", block, k, s);
}
