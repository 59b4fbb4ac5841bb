/* Whether a checkpoint holds the model its config.json describes: what every converter
 * checks before any work, so that a checkpoint missing a tensor, a layer or a block scale
 * is refused instead of converted into a partial output and a success.
 *
 * The tensors are those ckpt-verify's model check expects (formats/hf.h: hf_expected),
 * looked up through a view of any layout (lib/checkpoint/view.h) under their canonical names:
 *  - the layers: num_hidden_layers + num_nextn_predict_layers of them, numbered 0.. as
 *    the checkpoint's tensors are, none without a tensor ("config.json: num_hidden_layers
 *    is 62 but the checkpoint has layers 0..60"); and n_routed_experts experts, numbered
 *    as the checkpoint's are (both before the expected tensors are listed: their number
 *    follows the config);
 *  - every expected tensor present (or one the layout leaves out by design, view.h's
 *    omits), of the shape the config implies;
 *  - in the layouts that store DeepSeek's FP8 block scales (HF, model-parallel), every
 *    weight stored in FP8 with its scale.
 * A config.json that gives no num_hidden_layers describes no model (one holding only a
 * quantization_config, say): nothing is checked.  One that gives it but lacks a key the
 * tensor shapes need (n_routed_experts where --n-experts stands in for it) has its layers
 * checked, not its tensors.  The model-parallel layout never holds MTP layers.
 *
 * Tensors the config does not imply (extra ones) are no concern here: a converter keeps
 * or leaves them out as its upstream tool does; a layer beyond the config's is. */
#ifndef CKPT_MODEL_CHECK_H
#define CKPT_MODEL_CHECK_H

#include "ds_config.h"
#include "view.h"

/* 0, or -1 with one line naming the first thing missing (config_path: the config's name
 * in messages about its values). */
int model_check(const struct view *v, const struct ds_config *c, const char *config_path);
/* 0 when config c names a model family ckpt knows (formats/family.h), else -1 and
 * "CONFIG: model_type "X" is not a model ckpt knows (known: ...)", or for a family known
 * without its tensors "CONFIG: " and its no_inventory line.  model_check refuses both this
 * way (a converter that cuts or renames by the family's rules has none to follow); a
 * generic converter (fp8-to-bf16) skips the check instead. */
int model_check_family(const struct ds_config *c, const char *config_path);
/* c as the layout of v stores it (the layout's own forms of the tensors config.json
 * implies): for a model-parallel view, the MTP layers left out (DeepSeek-V3's convert.py)
 * or kept, and the forms its family's cut writes (formats/ds_config.h mp). */
void model_check_as_stored(const struct view *v, struct ds_config *c);
/* Only the layers and the experts (what the number of expected tensors follows). */
int model_check_counts(const struct view *v, const struct ds_config *c, const char *config_path);
/* The same for the checkpoint in dir, opened in the named layout.  It is opened leniently:
 * what does not fit the layout is the converter's own business, run before. */
int model_check_dir(const char *dir, const char *layout, const struct ds_config *c, const char *config_path);

#endif
