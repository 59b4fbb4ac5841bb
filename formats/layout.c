#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmp.h"
#include "err.h"
#include "mindspore.h"

/* Most specific first: HF is what a directory of safetensors is when nothing else fits. */
static const struct layout_ops *const layouts[] = {
	&layout_dsmp,
	&layout_mstrain,
	&layout_msinfer,
	&layout_msinfer_t,
	&layout_hf,
};

#define NLAYOUTS (sizeof layouts / sizeof *layouts)

const struct layout_ops *layout_named(const char *name)
{
	for (size_t i = 0; i < NLAYOUTS; i++)
		if (strcmp(layouts[i]->name, name) == 0)
			return layouts[i];
	return NULL;
}

const char *layout_names(char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < NLAYOUTS && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? ", " : "", layouts[i]->name);
	return out;
}

const struct layout_ops *layout_detect(const char *path)
{
	for (size_t i = 0; i < NLAYOUTS; i++)
		if (layouts[i]->detect(path))
			return layouts[i];
	return &layout_hf;
}

int layout_open(struct view **v, const char *path, const char *name, int flags)
{
	return layout_open_config(v, path, name, NULL, flags);
}

int layout_open_config(struct view **v, const char *path, const char *name, const char *config, int flags)
{
	*v = NULL;
	const struct layout_ops *l = name ? layout_named(name) : layout_detect(path);
	char known[256];
	if (!l)
		return err_set("unknown layout \"%s\" (known: %s)", name, layout_names(known, sizeof known));
	if (!config)
		return l->open(v, path, flags);
	/* HF pairs block scales by the config's block size: it must read the file given */
	if (l == &layout_hf)
		return layout_hf_config(v, path, config, flags);
	if (l->open(v, path, flags))
		return -1;
	free((*v)->cfg);
	if (!((*v)->cfg = ds_config_new_file(config))) {
		view_free(*v);
		*v = NULL;
		return -1;
	}
	return 0;
}

/* The inference layout's shard names (train2infer's and convert_weight.py --infer's). */
static bool ms_shard_name(const char *name)
{
	size_t n = strlen(name), ext = strlen(".safetensors");
	if (n <= ext || strcmp(name + n - ext, ".safetensors") != 0)
		return false;
	return strcmp(name, "general.safetensors") == 0 || strncmp(name, "layer_", 6) == 0 ||
	       strncmp(name, "model_layer_", 12) == 0;
}

const char *layout_of_names(const char *const *names, size_t n)
{
	bool map = false;
	for (size_t i = 0; i < n; i++) {
		unsigned r, m;
		if (strchr(names[i], '/'))
			continue;
		if (dsmp_parse_file_name(names[i], &r, &m))
			return layout_dsmp.name;
		if (ms_shard_name(names[i]))
			return layout_msinfer.name;
		map |= strcmp(names[i], MS_MAP_NAME) == 0;
	}
	/* a map beside shards of no inference name: the training layout's */
	return map ? layout_mstrain.name : NULL;
}
