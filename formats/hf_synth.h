/* Synthetic HF DeepSeek-V3 (and DeepSeek-V4) checkpoints, deterministic, of any config: the engine behind
 * fixtures/gen/ckpt-synth and the tests that check what it makes.
 *
 * A spec is a JSON object: config.json keys, which override a DeepSeek-V3-like base (the
 * one shared/tools/refgen.py uses, quantization_config included; a null value for a base
 * key removes it, so "quantization_config": null makes an unquantized BF16 checkpoint),
 * plus generator keys, which stay out of config.json:
 *   seed                  integer, default 0: the same spec and seed give the same bytes
 *   shards                split into N shards by running byte count (refgen's rule; shards
 *                         that would be empty are left out)
 *   shard_size            or: start a new shard before one would exceed this many bytes
 *                         (neither: one shard)
 *   scale_dtype           "F32" (default; DeepSeek-V4: "F8_E8M0"), "BF16" or "F8_E8M0"
 *                         (power-of-two scales)
 *   norm_dtype            "F32", "BF16" or "F16": the norms of a family that stores them in
 *                         any float dtype (DeepSeek-V3.2's release has F32); default BF16
 *   values                "realistic" (default) or "cheap" (random bits, for benchmarks)
 *   nan_codes             true: every projection weight gets special codes (synth.h)
 *   experts_only          true: only the routed experts' weights and scales (benchmarks)
 *   scale_in_other_shard  true: the scale of the first expert down_proj (or else the first
 *                         quantized weight) goes to the shard after its weight's (wrapping);
 *                         a name or a list of weight names: those weights' scales
 *   drop_scale            true: the first quantized weight loses its scale; or names
 *   extends               a spec file (relative to this one) to start from: its keys, then
 *                         this file's over them
 *   fp4_extreme_scales    true: every FP4 weight's scale (F8_E8M0) has bytes 0, 1 and
 *                         252 first in rows 0, 1 and 2 (2^-127, 2^-126, 2^125: the smallest,
 *                         and the largest that stays finite in float32 times code 6)
 *   nan_scale             true: the first FP4 weight's scale ends its row 0 with byte 0xFF
 *                         (NaN); or a name or a list of names of FP4 weights
 *   mp                    ignored (refgen's list of model-parallel degrees)
 *   keys starting with "_" are comments.
 * A weight's scale otherwise always lives in its weight's shard.  config.json gets
 * quantization_config.scale_fmt "ue8m0" only from the spec; such scales are powers of two.
 * A config of model_type "deepseek_v4" is made with its own inventory (formats/hf_v4.h):
 * FP4 experts are random codes (I8, two a byte) with F8_E8M0 scales from 2^-11 to 2^-6 a
 * group of 32, tid2eid distinct experts a token, every other tensor as above. */
#ifndef CKPT_HF_SYNTH_H
#define CKPT_HF_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ds_config.h"
#include "json_edit.h"
#include "hf.h"
#include "synth.h"

struct hf_synth {
	const char *path;            /* the spec's name, for messages */
	struct buf config;           /* config.json as written */
	struct hf_layout *L;         /* the tensors of that config */
	uint64_t seed;
	unsigned shards;
	uint64_t shard_size;
	enum dt scale_dtype;
	bool norm_dtype_set;         /* else the layout's dtype */
	enum dt norm_dtype;
	bool pow2;                   /* scale_fmt "ue8m0" */
	enum synth_mode mode;
	bool nan_codes, experts_only;
	bool move_first, drop_first; /* true given for scale_in_other_shard / drop_scale */
	size_t nmove, ndrop;
	char **move, **drop;         /* named weights */
	bool fp4_extreme;            /* fp4_extreme_scales */
	bool nan_first;              /* nan_scale true */
	size_t nnan;
	char **nan;                  /* nan_scale's named FP4 weights */
};

/* Read a spec (text of len bytes).  Messages name `path`. */
int hf_synth_load(struct hf_synth **out, const char *text, size_t len, const char *path);
/* Read a spec file, "extends" resolved, then the top-level keys in sets put over it
 * (json_edit_text: raw JSON values, NULL removes). */
int hf_synth_load_file(struct hf_synth **out, const char *path, const struct json_edit *sets, size_t nsets);
void hf_synth_free(struct hf_synth *s);

/* The dtype t is written in (the spec's norm_dtype for a norm stored in any float). */
enum dt hf_synth_dtype(const struct hf_synth *s, const struct hf_tensor *t);
/* How the tensor t is synthesized (its weight; synth_scales() gives its scale). */
void hf_synth_tensor(const struct hf_synth *s, const struct hf_tensor *t, struct synth *out);

struct hf_synth_result {
	size_t nshards, ntensors;
	uint64_t tensor_bytes;       /* total_size */
	uint64_t file_bytes;         /* the shards' sizes */
	struct buf notes;            /* one line per moved or dropped scale */
};

/* Write the checkpoint into dir (created if needed) through the conversion engine
 * (lib/engine/convert.h): shards, index, config.json, generation_config.json, tokenizer
 * stand-ins.  threads 0: all cores; the bytes never depend on it. */
int hf_synth_write(const struct hf_synth *s, const char *dir, unsigned threads, struct hf_synth_result *r);

/* The same checkpoint's files with every shard's data section a hole (ftruncate): headers,
 * sizes, index and side files exact, tensor bytes zero, whatever the size on disk takes no
 * room (for tests of what reads headers only, e.g. the full-size tensor counts). */
int hf_synth_write_sparse(const struct hf_synth *s, const char *dir, struct hf_synth_result *r);

#endif
