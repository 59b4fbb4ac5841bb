/* What a checkpoint holds, at a glance, in any layout, as its view (lib/checkpoint/view.h)
 * shows it: files, tensors (under their HF names, as an HF checkpoint stores them: each
 * weight and its block scale), parameters and bytes per dtype, the index's total_size
 * against the tensors, FP8 weights with and without block scales, the layers present, the
 * model's key config.json values, and what the layout adds (copies, problems, its own
 * rows).  Built once, written as text for people or as members of a JSON object for
 * scripts. */
#ifndef CKPT_SUMMARY_H
#define CKPT_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ds_config.h"
#include "dtype.h"
#include "jsonw.h"
#include "view.h"

struct summary_dtype {
	enum dt dtype;
	uint64_t tensors, params, bytes;
};

struct summary {
	const struct view *v;
	const char *path;             /* as the user gave it */
	size_t n;
	const struct vtensor **t;     /* the stored tensors (view_stored), in name order */
	uint64_t file_bytes;          /* the files' sizes */
	uint64_t *shard_tensors;      /* per file of v: the tensors it holds */
	uint64_t params, bytes;       /* over all tensors */
	uint64_t copy_bytes;          /* stored again elsewhere (vtensor.replica) */
	size_t ncopied;
	size_t ndtypes;
	struct summary_dtype dtypes[DT_COUNT];   /* in dtype order, only those present */
	size_t fp8_scaled, fp8_unscaled;
	size_t fp4_scaled;               /* weights of 4-bit codes with their scales */
	const char **unscaled;        /* the FP8 weights without a block scale */
	bool has_config;
	struct ds_config cfg;         /* defaults when there is no config.json */
	/* Distinct N of "model.layers.N." names, ascending: the first nlayers are the model's
	 * layers, the next nmtp the multi-token-prediction layers (N >= num_hidden_layers). */
	size_t nlayers, nmtp;
	uint64_t *layers;
};

int summary_build(struct summary *s, const struct view *v, const char *path);
void summary_free(struct summary *s);

/* The bytes t takes where it is stored (its pieces, not its copies). */
uint64_t summary_tensor_bytes(const struct vtensor *t);

/* The summary as aligned "key  value" lines. */
void summary_text(const struct summary *s, struct buf *out);
/* The summary as members of the JSON object being written (see man/ckpt-inspect.1). */
void summary_json(const struct summary *s, struct jw *w);

#endif
