/* What a converter is given: a whole checkpoint, as a directory, of the layout it reads.
 * Checked before anything is opened, so that a shard given for its checkpoint, a
 * directory of another layout or one missing shards its file names number is refused in
 * one line saying what the input is, instead of converted into a partial model or
 * refused for a tensor found twice. */
#ifndef CKPT_INPUT_H
#define CKPT_INPUT_H

/* 0 when path is a directory that holds a checkpoint of the layout named (layout.h's
 * names; NULL: any layout; a directory no other layout claims passes for any, HF
 * being what a directory of safetensors is when nothing else fits), else -1 and one line (the tool's name from err_prog()):
 *   "F: one shard of the checkpoint in D, not a whole checkpoint: TOOL converts a
 *    directory (give D)"            (a .safetensors file or an index)
 *   "F: not a directory: TOOL converts a checkpoint directory"   (another regular file)
 *   "F: not a directory"            (anything else: a FIFO, a device)
 *   "D: a DeepSeek model-parallel checkpoint (layout dsmp); TOOL reads an HF checkpoint"
 *   "D: 1 of the 3 shards model-NNNNN-of-00003.safetensors number (model-00002-of-00003
 *    .safetensors is missing), and no index: not a whole checkpoint"
 *   "D: rank 1 of 2 is missing (model1-mp2.safetensors): a model-parallel checkpoint is
 *    converted whole"               (and dsmp_ranks's other lines) */
int input_whole(const char *path, const char *layout);

/* What a layout holds, for messages: "an HF checkpoint", "a DeepSeek model-parallel
 * checkpoint" ... (the layout's name for one this table does not know). */
const char *input_layout_what(const char *layout);

#endif
