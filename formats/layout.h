/* Checkpoint layouts: which one a path holds, and a view of it under canonical HF names.
 * Adding a layout means adding its file here and one line to the table in layout.c. */
#ifndef CKPT_LAYOUT_H
#define CKPT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "ds_config.h"
#include "view.h"

struct arc;
struct ckpt;

struct layout_ops {
	const char *name;                /* as given to --layout: "hf", "dsmp", ... */
	/* Whether path looks like this layout (cheap: file names, not contents). */
	bool (*detect)(const char *path);
	/* Build the view; flags: VIEW_LENIENT, VIEW_SCALE_PROBLEMS (view.h). */
	int (*open)(struct view **v, const char *path, int flags);
};

extern const struct layout_ops layout_hf;
extern const struct layout_ops layout_dsmp;
extern const struct layout_ops layout_mstrain, layout_msinfer, layout_msinfer_t;

/* The HF view of the checkpoint in an archive already read (arc_read), whose parsed
 * headers it takes over; its files carry no data (names, dtypes, shapes only). */
int layout_hf_arc(struct view **v, struct arc *a, int flags);
/* The HF view of a checkpoint already open (ckpt.h, e.g. made of files in memory), which
 * the view takes over, also on failure.  Its problems (lenient) include c's. */
int layout_hf_of(struct view **v, struct ckpt *c, const char *path, int flags);

/* The layout path looks like (cheap): the first in the table that claims it, else HF. */
const struct layout_ops *layout_detect(const char *path);

/* The layout a list of file names (an archive's, relative to its checkpoint) says, without
 * reading a byte: dsmp for DeepSeek's rank files, mindspore-infer for MindSpore's
 * inference shard names, mindspore-train for its param_name_map.json beside other shards;
 * NULL when nothing but HF fits. */
const char *layout_of_names(const char *const *names, size_t n);

/* Open path in the named layout, or the detected one when name is NULL. */
int layout_open(struct view **v, const char *path, const char *name, int flags);
/* The same with config.json read from `config` (a --config FILE option; NULL: the
 * checkpoint's own): the model family, and the block size FP8 scales are paired with,
 * come from that file. */
int layout_open_config(struct view **v, const char *path, const char *name, const char *config, int flags);
/* (the HF layout's part of it) */
int layout_hf_config(struct view **v, const char *path, const char *config, int flags);
const struct layout_ops *layout_named(const char *name);
/* "hf, dsmp, ..." for messages, into out. */
const char *layout_names(char *out, size_t size);

#endif
