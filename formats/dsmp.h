/* DeepSeek's model-parallel layout (what inference/convert.py writes and model.py loads):
 * files model{i}-mp{M}.safetensors, one per rank, with tensors renamed and cut.
 *
 *  - names: a leading "model." dropped; self_attn -> attn, mlp -> ffn,
 *    weight_scale_inv -> scale, e_score_correction_bias -> bias (plain substring
 *    replacements on the whole name, as convert.py does); then the second-to-last part is
 *    looked up in the family's table (formats/family.h: its mp_cut, the mapping of its own
 *    convert.py) and replaced by its new spelling, again on the whole name;
 *  - placement: a routed expert goes whole to the rank that owns its id (ids split in equal
 *    consecutive runs); a tensor whose table entry has a split dimension is cut into equal
 *    slices along it, rank i taking slice i (FP8 weights and their scales alike); every
 *    other tensor is copied to every rank;
 *  - MTP layers (numbered from config.json's num_hidden_layers on) are left out: model.py
 *    does not load them.
 *
 * The forward rules drive ckpt-hf-to-sharded (dsmp_plan); the inverse gives a view of a
 * model-parallel directory under the canonical HF names (layout "dsmp"). */
#ifndef CKPT_DSMP_H
#define CKPT_DSMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_config.h"
#include "buf.h"
#include "family.h"
#include "convert.h"
#include "convert_src.h"
#include "jsonw.h"
#include "table.h"
#include "view.h"

/* The record of the sharding written beside the rank files. */
#define DSMP_RECORD "ckpt-sharding.json"
#define DSMP_LAYOUT_NAME "deepseek-model-parallel"

struct dsmp_place {
	char *name;              /* the model-parallel name */
	int dim;                 /* split dimension, -1: every rank holds a copy */
	bool expert;             /* a routed expert: whole, on the rank owning expert_id */
	uint64_t expert_id;
};

/* Where an HF tensor of family f goes.  -1 with a message when f's cut has no place for
 * the name (its convert.py fails on it too), f has no cut, or the expert id is not a
 * number.  f NULL (a directory without a config.json naming a family): the first cut of
 * the families ckpt knows that has an entry for it. */
int dsmp_place(struct dsmp_place *p, const struct family *f, const char *hf_name);
void dsmp_place_free(struct dsmp_place *p);
/* The canonical HF name f's convert.py renames to mp_name, NULL when no HF name gives it
 * (f NULL: any family's, the one whose inventory knows the name first).  The HF name of a
 * "...scale" tensor ends in "weight_scale_inv". */
char *dsmp_hf_name(const struct family *f, const char *mp_name);

/* The family whose cut knows more of names (n of them) than the first cut does, for a
 * directory without a config.json: DeepSeek-V4's own names mean nothing to V3's table, and
 * each name alone could be read as either.  NULL where no family knows more than the
 * first: the names then go to dsmp_hf_name and dsmp_place one by one, as before. */
const struct family *dsmp_family_by_names(const char *const *names, size_t n);

/* Whether hf_name is in layer "model.layers.L." with L >= num_layers (an MTP layer); *layer
 * gets L.  num_layers < 0: no layer is. */
bool dsmp_is_mtp(const char *hf_name, int64_t num_layers, uint64_t *layer);

static inline unsigned dsmp_expert_owner(uint64_t id, uint64_t n_experts, unsigned mp)
{
	return (unsigned)(id / (n_experts / mp));
}

/* "model{rank}-mp{mp}.safetensors" (caller frees); and its parse (false: not such a name). */
char *dsmp_file_name(unsigned rank, unsigned mp);
bool dsmp_parse_file_name(const char *name, unsigned *rank, unsigned *mp);
/* Whether convert.py copies this input file beside the ranks (its name holds "token"). */
bool dsmp_is_side_file(const char *name);

/* ---- the record of a sharding ---- */

struct dsmp_record {
	unsigned mp;
	uint64_t n_experts;
	int64_t num_hidden_layers;       /* -1: unknown */
	uint64_t block[2];               /* FP8 weight_block_size */
	size_t nlayers_left_out;
	uint64_t *layers_left_out;       /* MTP layers, increasing */
	uint64_t tensors_left_out;
	char *source;                    /* the HF checkpoint, as an absolute path */
	uint64_t source_tensors, source_bytes;
	char *tool;                      /* "ckpt-hf-to-sharded VERSION" */
	/* how routed FP4 experts were written, where the cut has a choice ("fp4", "fp8");
	 * NULL: it has none (the key is not written) */
	char *expert_dtype;
};

/* JSON, indented like Python's json.dumps(indent=2), newline-terminated. */
void dsmp_record_render(struct buf *out, const struct dsmp_record *r);
int dsmp_record_load(struct dsmp_record *r, const char *path);
void dsmp_record_free(struct dsmp_record *r);

/* ---- a model-parallel directory (the view, layout "dsmp", is in layout.h) ---- */

/* Whether dir holds every rank file of one model parallelism, model0..model{M-1}-mp{M}:
 * 0 with *mp = M (0: it holds none); -1 with a message when it holds two parallelisms
 * ("D: holds rank files of model parallelism 2 and 4 (model0-mp2.safetensors,
 * model1-mp4.safetensors): not one checkpoint"); -2 (*mp set) with one when ranks are
 * missing ("D: rank 1 of 2 is missing (model1-mp2.safetensors)", "D: ranks 1, 2 of 4
 * are missing (...)"), which a reader of partial directories may go on past. */
int dsmp_ranks(const char *dir, unsigned *mp);

/* What the view of a model-parallel directory was built from. */
struct dsmp_info {
	unsigned mp;
	uint64_t n_experts;
	const char *experts_from;        /* DSMP_RECORD, "config.json" or "tensor names" */
	bool has_record;
	struct dsmp_record rec;          /* when has_record */
	struct st_file **ranks;          /* mp files; NULL where one could not be read */
	struct json_doc *config;         /* config.json beside them (the view's) */
};

/* NULL unless v is a view of a model-parallel directory. */
const struct dsmp_info *dsmp_info(const struct view *v);
/* For reports (the view's describe_rows and describe_json): rows "key  value" (ranks,
 * experts, the record) into a two-column table, or members of the JSON object being
 * written. */
void dsmp_info_rows(const struct view *v, struct table *t);
void dsmp_info_json(const struct view *v, struct jw *w);

/* ---- HF -> model-parallel ---- */

struct dsmp_opts {
	/* config_path's model (dsmp_opts_config): whose cut it is, and the files its loader
	 * needs are copied too (formats/sidefiles.h) */
	const struct family *family;
	unsigned mp;
	uint64_t n_experts;
	int64_t num_layers;              /* layers from this number on are MTP, left out */
	uint64_t block[2];               /* FP8 scale blocks: splits must fall on them */
	int rank;                        /* -1: every rank, in one pass over the input */
	const char *config_path;         /* copied beside the ranks; may be NULL */
	bool quant_declared;             /* it has a quantization_config (dsmp_opts_config) */
	/* how the routed experts' FP4 codes are written, one of the cut's expert_dtypes
	 * (formats/family.h); NULL: its default */
	const char *expert_dtype;
	const char *tool;                /* for the record */
	const char *source;              /* for the record (default: the checkpoint's dir) */
};

struct dsmp_plan {
	struct cv_job job;               /* the rank files and side files to write */
	struct dsmp_record rec;
	/* config.json declares FP8 over weights that are not: written without
	 * quantization_config, as every converter writing BF16 writes it */
	bool config_unquantized;
	size_t nnames;
	char **names;                    /* owned model-parallel names */
	size_t ngathers;
	void **gathers;                  /* owned fill arguments */
	size_t nrows;
	struct cv_rows **rows;           /* owned: weights dequantized (the cut's bf16_suffix) */
	/* what the cut's transforms did: weights written dequantized to BF16 (rank slices),
	 * experts' FP4 codes written as F4 or re-encoded to FP8; and, once cv_run is done,
	 * the values the re-encode could not keep (fp4fp8.h; files kept from an earlier run
	 * are not read again, so not counted: `lost_partial` says so) */
	uint64_t dequantized, as_f4, reencoded;
	uint64_t lost;
	bool lost_partial;
};

/* What the plan's transforms add to the one-line report (appended to note, "" when
 * nothing) and to the --json object; call after cv_run. */
void dsmp_plan_note(struct dsmp_plan *p, const struct cv_job *ran, struct buf *note);
void dsmp_plan_json(const struct dsmp_plan *p, struct jw *w);

/* What config.json (at cfg_path) decides of o: the family, whose cut it is (one ckpt does
 * not know, or one with no cut, is refused), the MTP layers (from num_hidden_layers on),
 * the FP8 scale blocks, and the experts: n_experts 0 takes n_routed_experts, another value
 * must equal it (model.py places experts by it) and divide into o->mp ranks. */
int dsmp_opts_config(struct dsmp_opts *o, const struct ds_config *cfg, const char *cfg_path, uint64_t n_experts);
/* Plan the conversion of the HF checkpoint v (opened in the HF layout without VIEW_LENIENT):
 * every stored tensor (view_stored: the weights, their block scales, the rest) placed, or
 * refused with the reason, the rank files as one group (rank < 0) or rank `rank` alone,
 * and, unless only a rank other than 0 is written, the tokenizer files (convert.py's
 * *token*, and whatever else the family's loader needs: formats/sidefiles.h), config.json
 * and the record. */
int dsmp_plan(struct dsmp_plan *p, const struct view *v, const struct dsmp_opts *o);
void dsmp_plan_free(struct dsmp_plan *p);

#endif
