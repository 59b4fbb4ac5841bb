/* MindSpore Transformers' DeepSeek-V3 layouts (shared/spec/mindspore-upstream.md): the
 * training layout that mindformers' convert_weight.py writes and the inference layout that
 * deepseek3_train2infer.py (or convert_weight.py --infer) writes, as mappings to the
 * canonical HF names, and the rules that write them.
 *
 * What differs from HF, besides the names:
 *  - q_b_proj is split per head into its nope rows (l2q_nope_proj) and rope rows
 *    (l2q_pe_proj) for training, whole (l2q_proj) for inference; kv_a_proj_with_mqa into
 *    kv2l_latent_kv and kv2l_k_pe for training, whole (kv2l) for inference; kv_b_proj per
 *    head into lkv2kv_k_nope and lkv2kv_v in both;
 *  - the rope rows of each head (and of kv_a) are de-interleaved: MindSpore rotates the
 *    first half with the second where HF rotates adjacent pairs, so stored rope row j holds
 *    HF row 2j for j < r/2 and HF row 2(j - r/2) + 1 after;
 *  - routed experts are stacked on a new first dimension, [E, out, in] for training and
 *    [E, in, out] (transposed) for inference;
 *  - the MTP layer's enorm / hnorm / eh_proj are model.mtp_hidden_fusers.K.* (K = layer -
 *    num_hidden_layers); its embed_tokens and shared_head are not stored (the direct
 *    inference spelling keeps them under the layer's own names).
 * Both spellings of the inference layout are read: train2infer's (general.safetensors,
 * layer_L.safetensors, router bias "router.router.topk_bias") and convert_weight.py
 * --infer's (model.safetensors, model_layer_L*.safetensors, "router.e_score_correction_bias").
 */
#ifndef CKPT_MINDSPORE_H
#define CKPT_MINDSPORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_config.h"
#include "buf.h"
#include "ckpt.h"
#include "convert.h"
#include "hf.h"
#include "view.h"

#define MS_MAP_NAME "param_name_map.json"
/* __metadata__ of files whose stacked experts really hold [E, in, out] (see mindspore.c) */
#define MS_EXPERTS_META "ckpt_experts"
#define MS_EXPERTS_TRANSPOSED "transposed"

enum ms_layout { MS_TRAIN, MS_INFER };

/* Which part of its HF tensor a stored MindSpore tensor holds. */
enum ms_part {
	MS_WHOLE,        /* all of it, renamed */
	MS_NOPE,         /* q_b_proj / kv_b_proj: each head's qk_nope_head_dim rows */
	MS_ROPE,         /* q_b_proj: each head's rope rows; kv_a_proj: its rope rows; de-interleaved */
	MS_V,            /* kv_b_proj: each head's v_head_dim rows */
	MS_LATENT,       /* kv_a_proj: the first kv_lora_rank rows */
	MS_ROPE_INPLACE, /* q_b_proj / kv_a_proj whole, the rope rows de-interleaved in place */
	MS_STACKED,      /* routed experts: all experts of the layer, stacked */
};

struct ms_name {
	enum hf_role role;
	enum ms_part part;
	int layer;       /* -1: global; for the MTP fusers see mtp */
	int mtp;         /* K of model.mtp_hidden_fusers.K / model.mtp_norms.K, else -1 */
};

/* Per-layer names, "model.layers.L." + suffix, in the order convert_weight.py writes a
 * layer. */
struct ms_rule {
	const char *suffix;
	enum hf_role role;
	enum ms_part part;
	unsigned in;             /* the layouts that use it: bits 1 << MS_TRAIN, 1 << MS_INFER */
};
extern const struct ms_rule ms_rules[];
extern const size_t ms_nrules;

/* Take a MindSpore name apart: 0, or -1 when layout `l` has no such name (no message). */
int ms_parse(const char *name, enum ms_layout l, struct ms_name *out);

/* "layers.N" as train2infer finds it (the first one, N decimal): N, or -1. */
long ms_layer_of(const char *name);

/* Attention dimensions of one layer. */
struct ms_dims {
	uint64_t heads, nope, rope, v, kv_rank;
};

/* Canonical rope row i of a head is stored row perm[i]: the de-interleave's inverse
 * (rope even, at most 2^20).  The table lives as long as the process. */
const uint32_t *ms_rope_perm(uint64_t rope);
/* Stored row j holds canonical row ms_rope_row(j, rope) = ms_rope_order(rope)[j]. */
uint64_t ms_rope_row(uint64_t j, uint64_t rope);
const uint32_t *ms_rope_order(uint64_t rope);

/* ---- the training layout written from any view (convert_weight.py's training path) ---- */

struct ms_train_out;

/* Plan the training layout of the HF model seen through src (which needs its config):
 * one file per layer "ms-model-{L+1:05d}-of-{total:05d}.safetensors", the global tensors
 * with the first and last layer as upstream, and param_name_map.json ({name: file},
 * indent 2, upstream's order).  Values are dequantized and rounded to bf16 as upstream,
 * then stored as `dtype` (BF16, F16 or F32); names containing "norm", "router.dense" or
 * "topk_bias" are F32.  job receives the files; free *out after cv_run. */
int ms_train_plan(struct ms_train_out **out, struct cv_job *job, const struct view *src, enum dt dtype);
void ms_train_out_free(struct ms_train_out *o);

/* ---- training layout -> inference layout (deepseek3_train2infer.py) ---- */

/* A value, and where it came from (for messages: "--num-heads", "config.json", "default"). */
struct ms_opt {
	int64_t v;
	const char *from;
};

struct ms_t2i_opts {
	struct ms_opt first_k_dense, heads, nope, rope;
	bool transpose_experts;  /* move the experts' bytes to [E, in, out] (see ms_train2infer.c) */
};

struct ms_t2i {
	struct ckpt *c;
	struct cv_job job;
	struct buf map;          /* the new param_name_map.json */
	size_t nlayers, ngeneral;
	size_t nunknown;
	char **unknown;          /* names the training layout does not know (warned about) */
	size_t nignored;
	char **ignored;          /* stored tensors that param_name_map.json does not list */
	size_t ndropped;
	char **dropped;          /* listed, but in no output file (upstream leaves them out too) */
	struct t2i_priv *priv;
};

/* Plan the conversion of the training checkpoint in dir: output files layer_L.safetensors
 * and general.safetensors, side file param_name_map.json (and config.json, copied when the
 * input has one).  Options are checked against the tensor shapes: a mismatch is an error
 * naming the tensor. */
int ms_t2i_plan(struct ms_t2i **out, const char *dir, const struct ms_t2i_opts *o);
/* The same for a checkpoint already open (e.g. read from memory) and its
 * param_name_map.json (NULL: none, every stored tensor is listed); both are taken over. */
int ms_t2i_plan_ckpt(struct ms_t2i **out, struct ckpt *c, struct json_doc *map, const struct ms_t2i_opts *o);
void ms_t2i_free(struct ms_t2i *p);

#endif
