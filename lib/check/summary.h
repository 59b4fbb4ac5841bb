/* What a checkpoint holds, at a glance: files, tensors, parameters and bytes per dtype, the
 * index's total_size against the tensors, FP8 weights with and without block scales, the
 * layers present, and the model's key config.json values.  Built once, written as text for
 * people or as members of a JSON object for scripts. */
#ifndef CKPT_SUMMARY_H
#define CKPT_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ckpt.h"
#include "ds_config.h"
#include "dtype.h"
#include "jsonw.h"

struct summary_dtype {
	enum dt dtype;
	uint64_t tensors, params, bytes;
};

struct summary {
	const struct ckpt *c;
	const char *path;             /* as the user gave it */
	uint64_t file_bytes;          /* the shard files' sizes */
	uint64_t *shard_tensors;      /* per shard of c: the tensors it holds */
	uint64_t params, bytes;       /* over all tensors */
	size_t ndtypes;
	struct summary_dtype dtypes[DT_COUNT];   /* in dtype order, only those present */
	size_t fp8_scaled, fp8_unscaled;
	const char **unscaled;        /* the FP8 weights without "<name>_scale_inv" */
	bool has_config;
	struct ds_config cfg;         /* defaults when there is no config.json */
	/* Distinct N of "model.layers.N." names, ascending: the first nlayers are the model's
	 * layers, the next nmtp the multi-token-prediction layers (N >= num_hidden_layers). */
	size_t nlayers, nmtp;
	uint64_t *layers;
};

int summary_build(struct summary *s, const struct ckpt *c, const char *path);
void summary_free(struct summary *s);

/* The summary as aligned "key  value" lines. */
void summary_text(const struct summary *s, struct buf *out);
/* The summary as members of the JSON object being written (see man/ckpt-inspect.1). */
void summary_json(const struct summary *s, struct jw *w);


#endif
