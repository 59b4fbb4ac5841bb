/* DeepSeek-V4's inventory (formats/hf_v4.h) and family (formats/family_deepseek_v4.c): the
 * full-size V4-Flash and V4-Pro counts, shapes and dtypes from the spec's table, what a name
 * means (parse), the bound that refuses absurd configs before listing, and the family's
 * recognition and names. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ds_config.h"
#include "err.h"
#include "family.h"
#include "hf_v4.h"
#include "json.h"
#include "t.h"

#define COMMON                                                                                                    \
	"\"model_type\": \"deepseek_v4\", \"head_dim\": 512, \"o_lora_rank\": 1024, \"index_n_heads\": 64,"      \
	" \"index_head_dim\": 128, \"num_experts_per_tok\": 6, \"n_shared_experts\": 1, \"hc_mult\": 4,"          \
	" \"num_hash_layers\": 3, \"num_nextn_predict_layers\": 1, \"qk_rope_head_dim\": 64,"                     \
	" \"scoring_func\": \"sqrtsoftplus\", \"vocab_size\": 129280, \"quantization_config\": {\"fmt\": \"e4m3\"," \
	" \"quant_method\": \"fp8\", \"scale_fmt\": \"ue8m0\", \"weight_block_size\": [128, 128]}, "

/* The spec's configs (section a.4), compress_ratios [0, 0, (4, 128) x 20, 4, 0] and
 * [128, 128, (4, 128) x 29, 4, 0]. */
static void config_of(char *out, size_t size, bool pro)
{
	int n = snprintf(out, size, "{" COMMON "\"hidden_size\": %d, \"moe_intermediate_size\": %d, \"num_hidden_layers\": %d,"
			 " \"num_attention_heads\": %d, \"q_lora_rank\": %d, \"o_groups\": %d, \"n_routed_experts\": %d,"
			 " \"compress_ratios\": [%s", pro ? 7168 : 4096, pro ? 3072 : 2048, pro ? 61 : 43, pro ? 128 : 64,
			 pro ? 1536 : 1024, pro ? 16 : 8, pro ? 384 : 256, pro ? "128, 128" : "0, 0");
	for (int i = 0; i < (pro ? 29 : 20); i++)
		n += snprintf(out + n, size - (size_t)n, ", 4, 128");
	snprintf(out + n, size - (size_t)n, ", 4, 0]}");
}

static int read_cfg(const char *text, struct ds_config *c)
{
	struct json_doc *d;
	if (json_parse(&d, text, strlen(text), 0))
		return -1;
	int rc = ds_config_read(c, json_root(d), "cfg");
	json_free(d);
	return rc;
}

/* The entry of that name, checked against dtype and shape ([r] when c is 0). */
static bool has(const struct hf_layout *L, const char *name, enum dt dt, uint64_t r, uint64_t c)
{
	const struct hf_entry *e = hf_find(L, name);
	return e && e->dtype == dt && e->ndim == (c ? 2u : 1u) && e->shape[0] == r && (!c || e->shape[1] == c);
}

static void test_full_size(void)
{
	static struct ds_config c;
	struct hf_layout *L = NULL;
	char text[4096];
	config_of(text, sizeof text, false);
	int rc = read_cfg(text, &c) || c.family->expected(&L, &c, "cfg");
	CHECK(rc == 0 && L->nentries == 69187,
	      "V4-Flash: %zu stored tensors (6 + 43*1565 + 41*4 + 21*7 + 1575 = 69187)%s", L ? L->nentries : 0,
	      rc ? err_last() : "");
	if (rc)
		return;
	CHECK(strcmp(family_model_name(c.family, &c), "DeepSeek-V4-Flash") == 0 && strcmp(c.family->name, "deepseek-v4") == 0,
	      "named DeepSeek-V4-Flash, family deepseek-v4");
	CHECK(hf_v4_expected_bound(&c) >= L->nentries, "the bound is a bound (%" PRIu64 ")", hf_v4_expected_bound(&c));
	CHECK(has(L, "layers.0.ffn.experts.0.w1.weight", DT_I8, 2048, 4096) &&
		      hf_find(L, "layers.0.ffn.experts.0.w1.weight")->t->packed4 &&
		      has(L, "layers.0.ffn.experts.0.w1.scale", DT_F8_E8M0, 2048, 128) &&
		      has(L, "mtp.0.ffn.experts.255.w2.weight", DT_I8, 4096, 2048) &&
		      has(L, "mtp.0.ffn.experts.255.w2.scale", DT_F8_E8M0, 4096, 64),
	      "FP4 experts: I8 codes of [out, in], F8_E8M0 scales [out, in/32]");
	CHECK(has(L, "layers.5.attn.wq_b.weight", DT_F8_E4M3, 32768, 1024) && has(L, "layers.5.attn.wq_b.scale", DT_F8_E8M0, 256, 8) &&
		      has(L, "layers.5.attn.wo_a.weight", DT_F8_E4M3, 8192, 4096) && has(L, "layers.5.attn.wo_b.scale", DT_F8_E8M0, 32, 64),
	      "FP8 weights with F8_E8M0 128x128 scales: wq_b, wo_a, wo_b");
	CHECK(has(L, "layers.2.ffn.gate.tid2eid", DT_I64, 129280, 6) && !hf_find(L, "layers.3.ffn.gate.tid2eid") &&
		      has(L, "layers.3.ffn.gate.bias", DT_F32, 256, 0) && !hf_find(L, "layers.2.ffn.gate.bias"),
	      "tid2eid (I64) on layers 0-2, the bias (F32) from 3 on");
	CHECK(!hf_find(L, "layers.1.attn.compressor.ape") && has(L, "layers.2.attn.compressor.ape", DT_F32, 4, 1024) &&
		      has(L, "layers.3.attn.compressor.ape", DT_F32, 128, 512) && has(L, "layers.2.attn.indexer.compressor.ape", DT_F32, 4, 256) &&
		      !hf_find(L, "layers.3.attn.indexer.wq_b.weight") && has(L, "layers.42.attn.indexer.weights_proj.weight", DT_BF16, 64, 4096),
	      "compressors on ratios 4 (overlapping: twice as wide) and 128, indexers on 4 only");
	CHECK(has(L, "layers.7.hc_attn_fn", DT_F32, 24, 16384) && has(L, "layers.7.hc_ffn_scale", DT_F32, 3, 0) &&
		      has(L, "hc_head_fn", DT_F32, 4, 16384) && has(L, "mtp.0.hc_head_base", DT_F32, 4, 0) &&
		      has(L, "layers.7.attn.attn_sink", DT_F32, 64, 0),
	      "hyper-connections and attention sinks: F32");
	CHECK(has(L, "mtp.0.e_proj.weight", DT_F8_E4M3, 4096, 4096) && has(L, "mtp.0.enorm.weight", DT_BF16, 4096, 0) &&
		      !hf_find(L, "mtp.0.attn.compressor.ape") && !hf_find(L, "mtp.0.embed.weight"),
	      "the MTP block: e_proj, enorm, ratio 0, no embedding of its own");
	struct hf_name n;
	CHECK(hf_v4_parse(&c, "mtp.0.ffn.experts.17.w3.scale", &n) == 0 && n.layer == 43 && n.expert == 17 && n.scale &&
		      n.role == HF_OWN_MTP,
	      "parse: mtp.0 is layer 43, expert 17, a scale");
	CHECK(hf_v4_parse(&c, "layers.12.attn.wkv.weight", &n) == 0 && n.layer == 12 && n.expert == -1 && !n.scale &&
		      n.role == HF_OWN && hf_v4_parse(&c, "embed.weight", &n) == 0 && n.layer == -1,
	      "parse: a layer's tensor, a global one");
	CHECK(hf_v4_parse(&c, "layers.01.attn.wkv.weight", &n) == -1 && hf_v4_parse(&c, "mtp.x.norm.weight", &n) == -1 &&
		      hf_v4_parse(&c, "mtp.2147483647.norm.weight", &n) == -1,
	      "parse: leading zeros, no number, a block number past int: none");
	hf_free(L);

	L = NULL;
	config_of(text, sizeof text, true);
	rc = read_cfg(text, &c) || c.family->expected(&L, &c, "cfg");
	CHECK(rc == 0 && L->nentries == 145116,
	      "V4-Pro: %zu stored tensors (6 + 61*2333 + 61*4 + 30*7 + 2343 = 145116)", L ? L->nentries : 0);
	if (rc)
		return;
	CHECK(strcmp(family_model_name(c.family, &c), "DeepSeek-V4-Pro") == 0, "named DeepSeek-V4-Pro");
	CHECK(has(L, "layers.0.attn.compressor.ape", DT_F32, 128, 512) && has(L, "layers.60.ffn.experts.383.w1.weight", DT_I8, 3072, 7168) &&
		      has(L, "layers.60.ffn.experts.383.w1.scale", DT_F8_E8M0, 3072, 224) &&
		      has(L, "layers.9.attn.wo_a.weight", DT_F8_E4M3, 16384, 4096),
	      "Pro: HCA from layer 0, experts [3072, 7168] with [3072, 224] scales, wo_a [16384, 4096]");
	hf_free(L);
}

static void test_refused(void)
{
	static struct ds_config c;
	struct hf_layout *L = NULL;
	/* 48 layers of 60000 experts: past 2^24 tensors before any is listed */
	const char *big = "{\"model_type\": \"deepseek_v4\", \"vocab_size\": 16, \"hidden_size\": 64, \"num_hidden_layers\": 48,"
			  " \"num_attention_heads\": 2, \"q_lora_rank\": 8, \"head_dim\": 8, \"o_groups\": 1, \"o_lora_rank\": 8,"
			  " \"hc_mult\": 1, \"n_routed_experts\": 60000, \"moe_intermediate_size\": 8, \"num_experts_per_tok\": 1,"
			  " \"compress_ratios\": [%s]}";
	char text[1024];
	snprintf(text, sizeof text, big, "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0");
	int rc = read_cfg(text, &c);
	CHECK(rc == 0 && c.family->expected(&L, &c, "cfg") == -1 && !L &&
		      strcmp(err_last(), "cfg: the config implies more than 16777216 tensors") == 0,
	      "too many tensors: refused before listing (%s)", err_last());
	const char *v3 = "{\"model_type\": \"deepseek_v3\", \"scoring_func\": \"sqrtsoftplus\"}";
	CHECK(read_cfg(v3, &c) == -1 && strcmp(err_last(), "cfg: \"scoring_func\" is \"sqrtsoftplus\", not \"sigmoid\" or \"softmax\"") == 0,
	      "sqrtsoftplus only for DeepSeek-V4 (%s)", err_last());
	CHECK(family_find("deepseek_v4", NULL) == c.family || family_find(NULL, "DeepseekV4ForCausalLM") != NULL,
	      "found by model_type and by architecture");
}

int main(void)
{
	err_init("test_hf_v4");
	test_full_size();
	test_refused();
	return t_done();
}
