#include "family.h"

#include <string.h>

#include "ds_config.h"
#include "qscheme.h"

extern const struct family family_deepseek_v3, family_deepseek_v32, family_deepseek_v4, family_deepseek_v41;

/* Every family ckpt knows; the first whose model_types (or architectures) name the config. */
static const struct family *const families[] = {
	&family_deepseek_v3,
	&family_deepseek_v32,
	&family_deepseek_v4,
	&family_deepseek_v41,
};
#define NFAMILIES (sizeof families / sizeof families[0])

const struct family *family_nth(size_t i)
{
	return i < NFAMILIES ? families[i] : NULL;
}

static bool listed(const char *const *list, const char *s)
{
	for (; s && *s && list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

const struct family *family_find(const char *model_type, const char *architecture)
{
	for (size_t i = 0; i < NFAMILIES; i++)
		if (model_type && *model_type ? listed(families[i]->model_types, model_type)
					      : listed(families[i]->architectures, architecture))
			return families[i];
	return NULL;
}

const char *family_known(struct buf *out)
{
	const char *sep = "";
	for (size_t i = 0; i < NFAMILIES; i++)
		for (const char *const *m = families[i]->model_types; *m; m++, sep = ", ")
			buf_printf(out, "%s%s", sep, *m);
	return buf_str(out);
}

const char *family_unknown_why(const char *model_type, const char *architecture, struct buf *out)
{
	if (model_type && *model_type)
		buf_printf(out, "model_type \"%s\" is not a model ckpt knows (known: ", model_type);
	else if (architecture && *architecture)
		buf_printf(out, "architecture \"%s\" is not a model ckpt knows (known: ", architecture);
	else
		buf_adds(out, "config.json names no model_type (known: ");
	family_known(out);
	buf_addc(out, ')');
	return buf_str(out);
}

const char *family_model_name(const struct family *f, const struct ds_config *c)
{
	const char *v = f->variant ? f->variant(c) : NULL;
	return v ? v : f->title;
}

const struct qscheme *const *family_schemes(const struct family *f)
{
	static const struct qscheme *hf_only[2];
	if (f && f->schemes)
		return f->schemes;
	hf_only[0] = QSCHEME_HF;
	return hf_only;
}

const char *family_pow2_scales(const struct ds_config *c)
{
	if (!c || !c->family || !c->family->pow2_scales)
		return NULL;
	return c->family->pow2_scales(c);
}

int family_parse(const struct ds_config *c, const char *name, struct hf_name *out)
{
	if (c && c->family && c->family->parse)
		return c->family->parse(c, name, out);
	return hf_parse(name, out);
}

bool family_layer_is_moe(const struct ds_config *c, int64_t layer)
{
	if (c->family && c->family->layer_is_moe)
		return c->family->layer_is_moe(c, layer);
	return hf_layer_is_moe(c, layer);
}
