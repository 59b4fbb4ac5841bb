/* Model families: what config.json says a checkpoint's model is, and what ckpt knows about
 * such a model, as data.  A family says
 *  - how it is recognised: config.json's model_type, or else its architectures[0];
 *  - the config keys it reads (formats/ds_config.h for the DeepSeek-V3 family);
 *  - every tensor a checkpoint of a config holds, with shape, dtype, and which are block
 *    quantized (formats/hf.h: hf_expected), and what any tensor name means (hf_parse);
 *  - which tensor plays which role in the forward pass (role + layer + expert -> name);
 *  - how it is cut for model parallelism (its `mp_cut`: the rename and split table of
 *    DeepSeek's inference/convert.py for that model, which formats/dsmp.c applies).
 * Nothing in lib/ or cmd/ names a family or spells a tensor name: the checks, converters
 * and the inference core ask the family of the checkpoint's config.
 *
 * Adding a family: a file formats/family_NAME.c (or, sharing another's inventory, beside
 * it: formats/family_deepseek.c) defining its `struct family` (and, where
 * its tensors differ, its inventory beside formats/hf.c), one line in the table of
 * formats/family.c, tests, fixtures, docs (docs/ARCHITECTURE.md, "How to add a model
 * family"). */
#ifndef CKPT_FAMILY_H
#define CKPT_FAMILY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hf.h"

struct ds_config;
struct qscheme;

/* One entry of a model-parallel cut, as DeepSeek's inference/convert.py spells its mapping:
 * the second-to-last part of a tensor name (after the plain renames formats/dsmp.h lists),
 * its new spelling, and the dimension cut between ranks (-1: every rank holds a copy). */
struct mp_rule {
	const char *key, *new_key;
	int dim;
};

struct mp_cut {
	const char *what;                 /* for messages: "DeepSeek-V3's inference/convert.py" */
	const struct mp_rule *rules;
	size_t n;
	/* A name holding one of these (NULL-ended) is looked up by its last part, not its
	 * second-to-last (DeepSeek-V4's hc_*, attn_sink, ape: parameters without ".weight");
	 * NULL: none. */
	const char *const *key_last_if;
	/* A key the table lacks is copied whole to every rank (DeepSeek-V4's convert.py),
	 * not refused (V3's asserts on it). */
	bool others_whole;
	/* Tensors convert.py skips (V4: an MTP block's own embedding or head); NULL: none. */
	bool (*left_out)(const char *hf_name);
	/* FP8 weights whose name ends so are written dequantized to BF16, each rank its own
	 * slice, the scale dropped (V4's "wo_a.weight", in 128 x 128 blocks); NULL: none. */
	const char *bf16_suffix;
	/* What the routed experts' packed FP4 codes may be written as (--expert-dtype), the
	 * first the default: "fp4" (the codes as safetensors' F4) and "fp8" (re-encoded to
	 * e4m3 with 128 x 128 E8M0 scales, formats/fp4fp8.h); NULL: the cut has no choice. */
	const char *const *expert_dtypes;
	/* It keeps the MTP blocks (V4); else the MTP layers, from num_hidden_layers on, are
	 * left out (V3). */
	bool keeps_mtp;
};

/* The shape of a family's forward pass (lib/infer/model.h runs either). */
enum family_forward {
	FAMILY_FORWARD_MLA,   /* DeepSeek-V3's: MLA attention, residual adds (the default) */
	FAMILY_FORWARD_HC,    /* DeepSeek-V4's: hyper-connection streams, shared-KV window
				 attention with sinks, compressed attention, hash routing */
};

struct family {
	const char *name;                 /* stable, for --json: "deepseek-v3" */
	const char *title;                /* for people: "DeepSeek-V3" */
	const char *const *model_types;   /* config.json model_type values (NULL-ended) */
	const char *const *architectures; /* architectures[0] values (NULL-ended) */
	/* Which model of the family a config describes, for messages: "DeepSeek-V3.1
	 * (ue8m0 scales)", "Kimi-K2"; NULL: the title says it. */
	const char *(*variant)(const struct ds_config *c);
	/* The stored tensors of a checkpoint of config c (formats/hf.h). */
	int (*expected)(struct hf_layout **out, const struct ds_config *c, const char *path);
	/* The name of the tensor that plays n's role, snprintf-style. */
	int (*name_of)(char *out, size_t size, const struct hf_name *n);
	/* Whether layer L (MTP layers counted on) has routed experts. */
	bool (*layer_is_moe)(const struct ds_config *c, int64_t layer);
	/* The longest sequence the dense forward pass computes exactly as the model does
	 * (-1: any): DeepSeek-V3.2's sparse attention selects every position up to
	 * index_topk, so its pass is V3's dense one until then; past it, each query keeps
	 * that many positions, which the layer's indexer (the HF_IDX_* roles) picks. */
	int64_t (*max_dense_positions)(const struct ds_config *c);
	bool norms_any_float;             /* its norms are stored in any float dtype */
	/* Why config c means its block scales to be powers of two, for reports
	 * ("quantization_config.scale_fmt \"ue8m0\""); NULL: it does not.  ckpt-verify --scan
	 * and ckpt-inspect --stats then count the scales that are not, as information (a
	 * release may ship some that are not: DeepSeek-V3.1-Terminus' o_proj). */
	const char *(*pow2_scales)(const struct ds_config *c);
	/* The files beside the weights a loader of the model reads (shell patterns,
	 * NULL-ended), and whether the Python modules auto_map names are among them: what a
	 * converter copies beside the files it writes (formats/sidefiles.h). */
	const char *const *side_files;
	bool side_auto_map;
	/* Families whose inventory is not the DeepSeek-V3 generation's (DeepSeek-V4: its own
	 * names, formats/hf_v4.h) say so here; NULL: formats/hf.h's functions (hf_parse,
	 * hf_expected_bound, ds_config_require's keys, the fp8-scale-inv scheme). */
	/* Take a tensor name apart (hf_parse's contract: 0, or -1 when it is no name of the
	 * family, no message; MTP layers numbered on after c's num_hidden_layers; c is NULL
	 * when a model-parallel name is mapped back without a config, which only families with
	 * an mp_cut see). */
	int (*parse)(const struct ds_config *c, const char *name, struct hf_name *out);
	/* At least as many stored tensors as expected() lists, counted without listing them. */
	uint64_t (*expected_bound)(const struct ds_config *c);
	/* Fail, naming the first missing key or the first value that does not fit, unless
	 * everything expected() needs is there. */
	int (*require)(const struct ds_config *c, const char *path);
	/* The quantization schemes its HF checkpoints pair weights and scales by, in the order
	 * tried (formats/qscheme.h; NULL-ended), and the canonical name of a weight's scale
	 * (a view's scale_name). */
	const struct qscheme *const *schemes;
	char *(*scale_name)(const char *weight);
	/* Why ckpt's forward pass cannot run this model, one line ("the DeepSeek-V4 forward
	 * pass is not implemented ..."); NULL: it can. */
	const char *no_forward;
	enum family_forward forward;
	/* How it is cut for model parallelism (formats/dsmp.h); NULL: ckpt knows no such layout
	 * of it, and ckpt-hf-to-sharded refuses it. */
	const struct mp_cut *mp_cut;
	/* A model ckpt recognises without knowing its tensors says why, one line ("the tensors of
	 * DeepSeek-V4.1 ... are not known to ckpt with confidence"); NULL: expected() lists them.
	 * Its schemes still pair its weights and scales (ckpt-inspect shows them,
	 * ckpt-fp8-to-bf16 dequantizes them), the model check is reported not checked with this
	 * line, and model_check (formats/model_check.h) refuses it with it: what needs the
	 * inventory says so rather than check against a guess.  Its expected() fails the same. */
	const char *no_inventory;
	/* Why the tensor `name` of this model cannot be converted (dequantized, or copied as it
	 * is), one line; NULL: it can.  NULL function: every tensor can. */
	const char *(*unconvertible)(const char *name);
};

/* The family config.json names by model_type (or, without one, architectures[0]); NULL
 * when ckpt knows none of that name. */
const struct family *family_find(const char *model_type, const char *architecture);

/* The i-th family ckpt knows, in the order family_find tries them; NULL past the last. */
const struct family *family_nth(size_t i);

/* Every model_type ckpt knows, for messages: "deepseek_v3, kimi_k2". */
const char *family_known(struct buf *out);

/* Why a config names no known model, one line without the file name:
 *   model_type "qwen3_moe" is not a model ckpt knows (known: deepseek_v3, kimi_k2)
 *   config.json names no model_type (known: ...) */
const char *family_unknown_why(const char *model_type, const char *architecture, struct buf *out);

/* Why c's block scales are meant to be powers of two (struct family's pow2_scales); NULL
 * when they need not be, or c is NULL or of no known family. */
const char *family_pow2_scales(const struct ds_config *c);

/* hf_parse, or the family's parse where c names one that has its own (struct family). */
int family_parse(const struct ds_config *c, const char *name, struct hf_name *out);
/* Whether layer L of c has routed experts: the family's layer_is_moe, else hf_layer_is_moe. */
bool family_layer_is_moe(const struct ds_config *c, int64_t layer);

/* The quantization schemes f's checkpoints pair weights and scales by (NULL-ended): its own,
 * else (f NULL too) DeepSeek-V3's fp8-scale-inv alone. */
const struct qscheme *const *family_schemes(const struct family *f);

/* What a config's model is called in messages: the variant, else the title. */
const char *family_model_name(const struct family *f, const struct ds_config *c);

#endif
