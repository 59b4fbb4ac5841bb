/* libFuzzer target: config.json reading (ds_config_read over json_parse), the limits and
 * checks the tools make on it, the expected tensor layout of small enough configs, and the
 * edits the converters make (json_edit_text). */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "ds_config.h"
#include "json_edit.h"
#include "err.h"
#include "hf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_doc *d;
	if (json_parse(&d, text, size, 0))
		return 0;
	struct ds_config c;
	int read = ds_config_read(&c, json_root(d), "config.json");
	/* what it accepts is within the limits (config.h) and fits together */
	if (read == 0 &&
	    (c.vocab_size > CFG_MAX_VOCAB || c.hidden_size > CFG_MAX_DIM || c.intermediate_size > CFG_MAX_DIM ||
	     c.moe_intermediate_size > CFG_MAX_DIM || c.q_lora_rank > CFG_MAX_DIM || c.kv_lora_rank > CFG_MAX_DIM ||
	     c.num_attention_heads > CFG_MAX_HEADS || c.qk_rope_head_dim > CFG_MAX_HEADS ||
	     c.qk_nope_head_dim > CFG_MAX_HEADS || c.v_head_dim > CFG_MAX_HEADS || c.n_routed_experts > CFG_MAX_HEADS ||
	     c.num_hidden_layers > CFG_MAX_LAYERS || c.num_nextn_predict_layers > CFG_MAX_LAYERS ||
	     c.quant.block[0] > CFG_MAX_DIM || c.quant.block[1] > CFG_MAX_DIM ||
	     (c.qk_rope_head_dim >= 0 && (c.qk_rope_head_dim < 2 || c.qk_rope_head_dim % 2)) ||
	     !(c.rope_theta > 1) || !(c.rms_norm_eps >= 0 && c.rms_norm_eps <= 1) || !(c.routed_scaling_factor >= 0) ||
	     c.n_group < 1 || c.topk_group > c.n_group ||
	     ds_config_check_routing(&c, "config.json")))
		__builtin_trap();
	if (read == 0 && ds_config_require(&c, "config.json") == 0) {
		/* a layout of millions of tensors is legitimate but too slow for a fuzzer */
		int64_t layers = c.num_hidden_layers + c.num_nextn_predict_layers;
		int64_t experts = c.n_routed_experts > 0 ? c.n_routed_experts : 0;
		if (layers >= 0 && layers <= 64 && experts <= 64) {
			struct hf_layout *L;
			if (hf_expected(&L, &c, "config.json") == 0) {
				for (size_t i = 0; i < L->nentries; i++)
					if (hf_find(L, L->e[i].name) != &L->e[i])
						__builtin_trap();
				hf_free(L);
			}
		}
	}
	/* the edits ckpt-fp8-to-bf16 makes */
	static const struct json_edit e[] = {
		{"quantization_config", NULL},
		{"torch_dtype", "\"bfloat16\""},
		{"num_nextn_predict_layers", "0"},
	};
	struct buf out = {0};
	for (size_t n = 1; n <= 3; n++) {
		out.len = 0;
		if (json_edit_text(&out, text, size, e, n, "config.json") == 0) {
			/* the result is JSON again, without the removed key */
			struct json_doc *d2;
			if (json_parse(&d2, out.p ? out.p : "", out.len, 0))
				__builtin_trap();
			if (json_get(json_root(d2), "quantization_config"))
				__builtin_trap();
			json_free(d2);
		}
	}
	buf_free(&out);
	json_free(d);
	return 0;
}
