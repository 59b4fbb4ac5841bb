/* The files beside a checkpoint's weights that a loader of its model reads, which a
 * converter copies beside the files it writes whatever its own rule (DeepSeek's
 * inference/convert.py copies only names holding "token"): the family's patterns (struct
 * family's side_files: the tokenizer, Kimi-K2's tiktoken.model, a chat template) and,
 * where the family says so (side_auto_map), the Python modules the auto_map of config.json
 * and of tokenizer_config.json name, which transformers imports with trust_remote_code:
 * Kimi-K2's tokenization_kimi.py, the DeepSeek-V3 family's configuration_deepseek.py and
 * modeling_deepseek.py.  A directory without them cannot be loaded.
 *
 * Only files of the checkpoint directory itself: a module of another repository
 * ("ORG/REPO--module.Class"), a module in a package ("pkg.module.Class") or a name that is
 * no plain Python identifier names no file to copy.  A tokenizer_config.json that cannot
 * be read or parsed names none either (it is copied, or refused, as any side file). */
#ifndef CKPT_SIDEFILES_H
#define CKPT_SIDEFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "family.h"
#include "json.h"

struct sidefiles {
	const char *const *patterns;     /* the family's, borrowed; NULL: none */
	size_t nmodules;
	char **modules;                  /* "NAME.py", each once */
};

/* What the family f (NULL: none) needs beside the weights of the checkpoint in dir, whose
 * config.json is config (NULL: none). */
void sidefiles_read(struct sidefiles *s, const struct family *f, const char *dir, const struct json *config);
/* Whether the file called name (in the checkpoint directory) is one of them. */
bool sidefiles_match(const struct sidefiles *s, const char *name);
void sidefiles_free(struct sidefiles *s);

#endif
