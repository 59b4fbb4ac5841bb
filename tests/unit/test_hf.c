/* formats/hf: the expected tensors of a config, against the golden tiny checkpoint and
 * against hand-counted variants; name parsing and formatting. */
#include <inttypes.h>

#include "ckpt.h"
#include "ds_config.h"
#include "json_edit.h"
#include "err.h"
#include "hf.h"
#include "t.h"

/* A config from JSON text: the tiny-v3 numbers with `extra` members appended (a later
 * duplicate would be refused, so variants replace keys through json_edit_text). */
static int layout_of(const char *edits_json, struct hf_layout **L)
{
	static const char base[] =
		"{\"vocab_size\": 512, \"hidden_size\": 256, \"intermediate_size\": 512,"
		" \"moe_intermediate_size\": 256, \"num_hidden_layers\": 3, \"num_nextn_predict_layers\": 1,"
		" \"num_attention_heads\": 4, \"n_shared_experts\": 1, \"n_routed_experts\": 8,"
		" \"kv_lora_rank\": 128, \"q_lora_rank\": 192, \"qk_rope_head_dim\": 64, \"v_head_dim\": 64,"
		" \"qk_nope_head_dim\": 64, \"num_experts_per_tok\": 2, \"first_k_dense_replace\": 1,"
		" \"quantization_config\": {\"fmt\": \"e4m3\", \"quant_method\": \"fp8\", \"weight_block_size\": [128, 128]}}";
	struct json_doc *ed;
	struct json_edit e[16];
	size_t n = 0;
	*L = NULL;
	if (json_parse(&ed, edits_json, strlen(edits_json), 0))
		return -1;
	char *vals[16];
	for (const struct json *k = json_kid(json_root(ed)); k && n < 16; k = json_next(k), n++) {
		vals[n] = strndup(edits_json + k->begin, k->end - k->begin);
		e[n] = (struct json_edit){json_key(k), strcmp(vals[n], "\"DELETE\"") == 0 ? NULL : vals[n]};
	}
	struct buf b = {0};
	int rc = json_edit_text(&b, base, strlen(base), e, n, "cfg");
	struct json_doc *d = NULL;
	struct ds_config c;
	if (!rc)
		rc = json_parse(&d, b.p, b.len, 0);
	if (!rc)
		rc = ds_config_read(&c, json_root(d), "cfg");
	if (!rc)
		rc = hf_expected(L, &c, "cfg");
	json_free(d);
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	json_free(ed);
	return rc;
}

static size_t count_role(const struct hf_layout *L, enum hf_role r)
{
	size_t k = 0;
	for (size_t i = 0; i < L->n; i++)
		k += L->t[i].role == r;
	return k;
}

static const struct hf_tensor *tensor(const struct hf_layout *L, const char *name)
{
	const struct hf_entry *e = hf_find(L, name);
	return e && !e->scale ? e->t : NULL;
}

static void test_golden(void)
{
	struct hf_layout *L;
	struct ckpt *c;
	int rc = hf_expected_file(&L, t_path("CKPT_ROOT", "fixtures/tiny-v3/config.json"));
	CHECK(rc == 0, "expected tensors of tiny-v3's config (%s)", rc ? err_last() : "");
	if (rc)
		return;
	if (ckpt_open(&c, t_path("CKPT_ROOT", "fixtures/tiny-v3"), 0)) {
		CHECK(0, "open tiny-v3: %s", err_last());
		hf_free(L);
		return;
	}
	size_t missing = 0, wrong = 0, extra = 0;
	for (size_t i = 0; i < L->nentries; i++) {
		const struct hf_entry *e = &L->e[i];
		const struct ckpt_tensor *t = ckpt_find(c, e->name);
		if (!t) {
			missing++;
			continue;
		}
		bool same = t->t->dtype == e->dtype && t->t->ndim == e->ndim;
		for (unsigned d = 0; same && d < e->ndim; d++)
			same = t->t->shape[d] == e->shape[d];
		wrong += !same;
		if (!same)
			printf("# %s differs\n", e->name);
	}
	for (size_t i = 0; i < c->n; i++)
		extra += hf_find(L, c->t[i].name) == NULL;
	CHECK(missing == 0 && wrong == 0 && extra == 0 && L->nentries == c->n,
	      "tiny-v3 holds exactly the expected %zu tensors (missing %zu, wrong %zu, extra %zu, has %zu)",
	      L->nentries, missing, wrong, extra, c->n);
	CHECK(L->total_bytes == c->index->total_size, "expected bytes %" PRIu64 " = the index's total_size %" PRIu64,
	      L->total_bytes, c->index->total_size);
	const struct hf_entry *e = hf_find(L, "model.layers.3.mlp.experts.7.down_proj.weight_scale_inv");
	CHECK(e && e->scale && e->t->role == HF_EXPERT_DOWN && e->t->layer == 3 && e->t->expert == 7 && e->t->mtp &&
	      e->t->quantized && e->dtype == DT_F32 && e->shape[0] == 2 && e->shape[1] == 2 &&
	      strcmp(e->t->name, "model.layers.3.mlp.experts.7.down_proj.weight") == 0,
	      "a scale's entry leads to its weight's spec (role, layer, expert, MTP)");
	const struct hf_tensor *t = tensor(L, "model.layers.0.mlp.down_proj.weight");
	CHECK(t && t->role == HF_MLP_DOWN && t->dtype == DT_F8_E4M3 && t->shape[0] == 256 && t->shape[1] == 512 &&
	      t->scale.shape[0] == 2 && t->scale.shape[1] == 4 && !t->mtp,
	      "layer 0 is dense (first_k_dense_replace 1): down_proj [256, 512] FP8, scale [2, 4]");
	t = tensor(L, "model.layers.1.mlp.gate.e_score_correction_bias");
	CHECK(t && t->dtype == DT_F32 && t->ndim == 1 && t->shape[0] == 8 && !t->quantized, "the router bias is F32 [8]");
	CHECK(L->t[0].role == HF_EMBED && L->t[1].role == HF_NORM && L->t[2].role == HF_LM_HEAD && L->t[3].layer == 0 &&
	      L->t[L->n - 1].role == HF_MTP_HEAD && L->t[L->n - 1].layer == 3,
	      "canonical order: global tensors, then layer by layer, the MTP layer last");
	bool monotone = true;
	for (size_t i = 4; i < L->n; i++)
		monotone &= L->t[i].layer >= L->t[i - 1].layer;
	CHECK(monotone, "layers never go backwards in the canonical order");
	CHECK(hf_find(L, "model.layers.4.input_layernorm.weight") == NULL &&
	      hf_find(L, "model.layers.1.mlp.experts.8.up_proj.weight") == NULL &&
	      hf_find(L, "model.layers.0.mlp.gate.weight") == NULL && hf_find(L, "model.embed_tokens.weight_scale_inv") == NULL,
	      "names outside the config are not found");
	ckpt_close(c);
	hf_free(L);
}

static void test_roundtrip(const struct hf_layout *L, const char *what)
{
	size_t bad = 0;
	char buf[256];
	for (size_t i = 0; i < L->nentries; i++) {
		const struct hf_entry *e = &L->e[i];
		struct hf_name n;
		if (hf_parse(e->name, &n) || n.role != e->t->role || n.layer != e->t->layer || n.expert != e->t->expert ||
		    n.scale != e->scale || hf_format(buf, sizeof buf, &n) != (int)strlen(e->name) ||
		    strcmp(buf, e->name) != 0 || hf_find(L, e->name) != e) {
			if (bad++ < 3)
				printf("# round trip of %s fails\n", e->name);
		}
	}
	CHECK(bad == 0 && L->nentries > 0, "%s: all %zu names parse, format back and are found", what, L->nentries);
}

static void test_names(void)
{
	struct hf_name n;
	CHECK(hf_parse("model.layers.12.mlp.experts.255.gate_proj.weight_scale_inv", &n) == 0 && n.role == HF_EXPERT_GATE &&
	      n.layer == 12 && n.expert == 255 && n.scale, "an expert scale name parses");
	CHECK(hf_parse("lm_head.weight", &n) == 0 && n.role == HF_LM_HEAD && n.layer == -1 && n.expert == -1 && !n.scale,
	      "a global name parses");
	CHECK(hf_parse("model.layers.61.shared_head.head.weight", &n) == 0 && n.role == HF_MTP_HEAD && n.layer == 61,
	      "an MTP name parses");
	static const char *bad[] = {
		"", "lm_head.weight.", "model.layers.01.input_layernorm.weight", "model.layers..input_layernorm.weight",
		"model.layers.1.input_layernorm.weight_scale_inv", "model.norm.weight_scale_inv",
		"model.layers.1.mlp.experts.x.gate_proj.weight", "model.layers.1.mlp.experts.3.gate.weight",
		"model.layers.99999999999.input_layernorm.weight", "model.layers.1.gate_proj.weight",
		"model.layers.-1.input_layernorm.weight", "model.layers.1.mlp.experts.2.gate_proj.weight_scale_inv_scale_inv",
		"layers.1.input_layernorm.weight", "model.layers.1.self_attn.q_a_proj.weight ",
	};
	size_t ok = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = hf_parse(bad[i], &n);
		ok += rc == -1;
		if (rc != -1)
			printf("# accepted: \"%s\"\n", bad[i]);
	}
	CHECK(ok == sizeof bad / sizeof *bad, "%zu malformed names are refused", sizeof bad / sizeof *bad);
	char b[8];
	n = (struct hf_name){HF_EXPERT_UP, 3, 17, true};
	CHECK(hf_format(b, sizeof b, &n) == (int)strlen("model.layers.3.mlp.experts.17.up_proj.weight_scale_inv") &&
	      strcmp(b, "model.l") == 0, "hf_format reports the length it needs, like snprintf");
	n = (struct hf_name){HF_INPUT_NORM, 0, -1, true};
	CHECK(hf_format(b, sizeof b, &n) == -1, "no scale name for an unquantized role");
	CHECK(strcmp(hf_role_name(HF_KV_B_PROJ), "kv_b_proj") == 0 && hf_role_quantized(HF_SHARED_DOWN) &&
	      !hf_role_quantized(HF_MTP_EH_PROJ) && !hf_role_quantized(HF_ROUTER) && hf_role_per_expert(HF_EXPERT_DOWN),
	      "role names and properties");
}

static void test_variants(void)
{
	struct hf_layout *L;
	int rc = layout_of("{\"q_lora_rank\": null, \"num_hidden_layers\": 4}", &L);
	CHECK(rc == 0, "q_lora_rank null (%s)", rc ? err_last() : "");
	if (!rc) {
		const struct hf_tensor *t = tensor(L, "model.layers.2.self_attn.q_proj.weight");
		CHECK(t && t->shape[0] == 4 * 128 && t->shape[1] == 256 && t->quantized && t->scale.shape[0] == 4 &&
		      count_role(L, HF_Q_PROJ) == 5 && count_role(L, HF_Q_A_PROJ) == 0 && count_role(L, HF_Q_A_NORM) == 0 &&
		      count_role(L, HF_Q_B_PROJ) == 0 && !hf_find(L, "model.layers.0.self_attn.q_a_layernorm.weight"),
		      "q_lora_rank null: q_proj [512, 256] in all 5 layers, no q_a/q_b/q_a_layernorm");
		test_roundtrip(L, "q_lora_rank null");
		hf_free(L);
	}
	rc = layout_of("{\"n_shared_experts\": 0, \"num_nextn_predict_layers\": 0, \"tie_word_embeddings\": true}", &L);
	CHECK(rc == 0 && count_role(L, HF_SHARED_GATE) == 0 && count_role(L, HF_MTP_EMBED) == 0 &&
	      count_role(L, HF_LM_HEAD) == 0 && L->n == 2 + 12 + 2 * (9 + 2 + 8 * 3) && L->t[L->n - 1].layer == 2,
	      "no shared experts, no MTP layer, tied embeddings: no such tensors (%zu)", rc ? 0 : L->n);
	hf_free(L);
	rc = layout_of("{\"moe_layer_freq\": 2, \"first_k_dense_replace\": 0, \"num_hidden_layers\": 5}", &L);
	CHECK(rc == 0 && count_role(L, HF_ROUTER) == 3 && count_role(L, HF_MLP_GATE) == 3 &&
	      tensor(L, "model.layers.4.mlp.gate.weight") && tensor(L, "model.layers.5.mlp.up_proj.weight"),
	      "moe_layer_freq 2: layers 0, 2, 4 MoE; 1, 3 and the MTP layer 5 dense");
	hf_free(L);
	rc = layout_of("{\"quantization_config\": \"DELETE\"}", &L);
	CHECK(rc == 0 && L->nentries == L->n && tensor(L, "model.layers.1.mlp.experts.0.up_proj.weight")->dtype == DT_BF16 &&
	      !tensor(L, "model.layers.1.mlp.experts.0.up_proj.weight")->quantized,
	      "without quantization_config: BF16 projections, no scales");
	hf_free(L);
	rc = layout_of("{\"quantization_config\": {\"fmt\": \"e5m2\", \"weight_block_size\": [64, 96]}, \"hidden_size\": 200,"
		       " \"moe_intermediate_size\": 72}", &L);
	const struct hf_tensor *t = rc ? NULL : tensor(L, "model.layers.2.mlp.experts.5.down_proj.weight");
	CHECK(t && t->dtype == DT_F8_E5M2 && t->shape[0] == 200 && t->shape[1] == 72 && t->scale.shape[0] == 4 &&
	      t->scale.shape[1] == 1 && L->block[0] == 64 && L->block[1] == 96,
	      "e5m2 and weight_block_size [64, 96]: down_proj [200, 72] has scale [4, 1]");
	hf_free(L);

	static const struct {
		const char *edit, *msg;
	} bad[] = {
		{"{\"hidden_size\": \"DELETE\"}", "cfg: missing \"hidden_size\""},
		{"{\"hidden_size\": 0}", "cfg: hidden_size 0 is below the minimum 1"},
		{"{\"moe_layer_freq\": 0}", "cfg: moe_layer_freq 0 is below the minimum 1"},
		{"{\"quantization_config\": {\"fmt\": \"int4\"}}", "cfg: quantization_config fmt \"int4\" is not e4m3 or e5m2"},
		{"{\"n_routed_experts\": 60000, \"num_hidden_layers\": 100}", "cfg: the config implies more than 16777216 tensors"},
		{"{\"num_attention_heads\": 1099511627776, \"qk_nope_head_dim\": 1099511627776}", "cfg: num_attention_heads 1099511627776 is over the limit 65536"},
		{"{\"qk_nope_head_dim\": 0, \"qk_rope_head_dim\": 0}", "cfg: qk_rope_head_dim 0 is below the minimum 2"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		rc = layout_of(bad[i].edit, &L);
		CHECK(rc == -1 && !L && strcmp(err_last(), bad[i].msg) == 0, "refused: %s -> %s", bad[i].edit, err_last());
	}
}

/* The 671B model's numbers, counted by hand: 3 global tensors, 3 dense layers of 20 stored
 * tensors, 58 + 1 (MTP) MoE layers of 1558 (14 attention and norms, router and bias, 256 x 3
 * experts and 3 shared projections, each weight with its scale), 6 MTP extras. */
static void test_full_size(void)
{
	struct hf_layout *L;
	int rc = layout_of("{\"vocab_size\": 129280, \"hidden_size\": 7168, \"intermediate_size\": 18432,"
			   " \"moe_intermediate_size\": 2048, \"num_hidden_layers\": 61, \"num_attention_heads\": 128,"
			   " \"n_routed_experts\": 256, \"kv_lora_rank\": 512, \"q_lora_rank\": 1536, \"qk_rope_head_dim\": 64,"
			   " \"v_head_dim\": 128, \"qk_nope_head_dim\": 128, \"num_experts_per_tok\": 8, \"first_k_dense_replace\": 3}", &L);
	CHECK(rc == 0 && L->nentries == 91991, "DeepSeek-V3 671B: %zu stored tensors (3 + 3*20 + 59*1558 + 6 = 91991)", rc ? 0 : L->nentries);
	if (rc)
		return;
	const struct hf_tensor *t = tensor(L, "model.layers.61.mlp.experts.255.down_proj.weight");
	CHECK(t && t->mtp && t->shape[0] == 7168 && t->shape[1] == 2048 && t->scale.shape[0] == 56 && t->scale.shape[1] == 16,
	      "its MTP layer's last expert: down_proj [7168, 2048], scale [56, 16]");
	t = tensor(L, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight");
	CHECK(t && t->shape[0] == 576 && t->scale.shape[0] == 5 && t->scale.shape[1] == 56,
	      "kv_a_proj_with_mqa [576, 7168] has a partial block row: scale [5, 56]");
	printf("# 671B total bytes %" PRIu64 "\n", L->total_bytes);
	test_roundtrip(L, "671B");
	hf_free(L);
}

/* DeepSeek-V3.2's indexer: seven tensors a layer from index_n_heads and index_head_dim, the
 * norms of any float dtype (V3's are BF16, nothing else) */
static void test_v32(void)
{
	struct hf_layout *L;
	int rc = layout_of("{\"model_type\": \"deepseek_v32\", \"index_n_heads\": 4, \"index_head_dim\": 32}", &L);
	CHECK(rc == 0, "V3.2: an inventory (%s)", rc ? err_last() : "");
	if (rc)
		return;
	CHECK(L->n == 135 + 5 * 4, "V3.2: 5 indexer roles on each of 4 layers (%zu tensors)", L->n);
	const struct hf_tensor *q = tensor(L, "model.layers.3.self_attn.indexer.wq_b.weight");
	CHECK(q && q->quantized && q->shape[0] == 128 && q->shape[1] == 192 && q->scale.shape[0] == 1 && q->scale.shape[1] == 2,
	      "V3.2: indexer wq_b [nh*d, q_lora_rank], FP8 with its scale (MTP layer too)");
	const struct hf_tensor *w = tensor(L, "model.layers.0.self_attn.indexer.weights_proj.weight");
	CHECK(w && !w->quantized && w->dtype == DT_BF16 && w->shape[0] == 4 && w->shape[1] == 256,
	      "V3.2: weights_proj [nh, hidden] BF16, not quantized");
	const struct hf_tensor *b = tensor(L, "model.layers.1.self_attn.indexer.k_norm.bias");
	const struct hf_tensor *n = tensor(L, "model.layers.1.input_layernorm.weight");
	CHECK(b && b->any_float && b->ndim == 1 && b->shape[0] == 32 && n && n->any_float,
	      "V3.2: k_norm.bias [d], norms of any float dtype");
	struct hf_name hn;
	CHECK(hf_parse("model.layers.2.self_attn.indexer.wk.weight_scale_inv", &hn) == 0 && hn.role == HF_IDX_WK &&
		      hn.scale && hn.layer == 2,
	      "V3.2: an indexer scale's name parsed");
	hf_free(L);
	rc = layout_of("{}", &L);
	n = rc ? NULL : tensor(L, "model.layers.1.input_layernorm.weight");
	CHECK(n && !n->any_float && n->dtype == DT_BF16 && count_role(L, HF_IDX_WK) == 0,
	      "V3: BF16 norms only, no indexer");
	hf_free(L);
	CHECK(layout_of("{\"index_n_heads\": 4}", &L) == -1 &&
		      strcmp(err_last(), "cfg: missing \"index_head_dim\" (index_n_heads is given)") == 0,
	      "index_n_heads without index_head_dim: named");
}

int main(void)
{
	err_init("test_hf");
	test_v32();
	test_golden();
	test_names();
	test_variants();
	test_full_size();
	return t_done();
}
