/* Any layout back to HF: the plan of writing a view (lib/checkpoint/view.h: DeepSeek
 * model-parallel ranks, MindSpore training or inference shards, HF itself) as an HF
 * checkpoint directory, for the engine (lib/engine/convert.h).  Nothing is converted: each
 * output tensor holds exactly the stored bytes of the view's canonical tensor (a weight as
 * stored, FP8 or not; its block scale as a tensor of its own), joined from its pieces (the
 * rank slices along the split dim, in rank order; a routed expert from its rank; a
 * replicated tensor from its first copy).
 *
 * Where the tensors go:
 *  - like (an HF checkpoint's index, or its directory): each tensor into the file that
 *    index names, under that file's name, with that file's __metadata__ (from its header
 *    when the file is there, else {"format":"pt"}); a like file none of whose tensors is
 *    written is not written.  Within a file, tensors are laid out as the safetensors writer
 *    lays them out (dtype, then name), which is how every file it wrote is ordered, so the
 *    files of an HF checkpoint come back byte for byte (tohf.like_order_differs counts the
 *    like files ordered otherwise).  A tensor of the input the index does not name is
 *    refused: it has no place.
 *  - else: the family's order (its inventory, formats/hf.h: global tensors, then layer by
 *    layer), tensors it does not list after them by name, cut into shards the way
 *    huggingface_hub's split_torch_state_dict_into_shards cuts (a shard is closed when the
 *    next tensor would take it past shard_size; a larger tensor gets one of its own), named
 *    model-0000K-of-0000N.safetensors, each with {"format":"pt"} as save_pretrained writes.
 *
 * What the input lacks (a tensor the like index or the family's inventory names):
 *  - fill_from_like: taken, bytes as stored, from the like checkpoint's file;
 *  - else, when it belongs to an MTP layer (numbered from num_hidden_layers on: what
 *    convert.py leaves out, and MindSpore's missing MTP embed_tokens): every MTP layer is
 *    left out, whole, and config.json says num_nextn_predict_layers 0, so the output is a
 *    consistent model without them; missing lists what the input's model had and the
 *    output lacks.  drop_mtp leaves the MTP layers out by choice (missing stays empty);
 *  - any other tensor: listed in missing.
 * The index names what is written (total_size its data bytes, keys sorted as HF writes
 * them); config.json is the given one, as it is unless edited (num_nextn_predict_layers as
 * above; quantization_config removed when it declares FP8 and no weight written is).
 * Every other file of the input directory is copied (not the layout's own records:
 * ckpt-sharding.json, param_name_map.json), and with a like directory its files the input
 * lacks (generation_config.json, which convert.py does not copy). */
#ifndef CKPT_TOHF_H
#define CKPT_TOHF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "index.h"
#include "view.h"

/* huggingface_hub's default max_shard_size, "5GB" (decimal) */
#define TOHF_SHARD_SIZE 5000000000ull

struct tohf_opts {
	const char *like;                /* an HF directory or its index; NULL: none */
	bool fill_from_like;
	bool drop_mtp;
	uint64_t shard_size;             /* without like; 0: TOHF_SHARD_SIZE */
	const char *config_path;         /* the config.json written (the view's, or another) */
};

struct tohf_like;

struct tohf {
	struct cv_job job;
	uint64_t total_size;
	size_t ntensors;                 /* written */
	size_t nfilled;                  /* of them, taken from the like checkpoint */
	size_t nmissing;
	char **missing;                  /* what the output lacks, in the expected order */
	size_t nmtp;
	uint64_t *mtp_left_out;          /* the MTP layers left out (missing or drop_mtp) */
	size_t like_order_differs;       /* like files whose tensors are not in the writer's order */
	struct tohf_like *like;          /* owned */
};

/* Every replicated tensor's copies (vtensor.replica) equal to it, byte for byte; else -1
 * and "DIR: tensor NAME: the copies of ranks 0 and 2 differ (model0-mp4.safetensors,
 * model2-mp4.safetensors), first at byte N". */
int tohf_replicas_agree(const struct view *v);
/* Plan writing v (opened strictly) as HF.  On error (-1) p is freed. */
int tohf_plan(struct tohf *p, const struct view *v, const struct tohf_opts *o);
void tohf_free(struct tohf *p);

#endif
