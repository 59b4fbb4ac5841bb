#include "qscheme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "names.h"

static const struct qscheme fp8_scale_inv = {"fp8-scale-inv", "", "_scale_inv", NULL, {0, 0}};
static const struct qscheme fp8_scale = {"fp8-scale", ".weight", ".scale", NULL, {0, 0}};

const float qscheme_e2m1_deepseek[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
					 0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
const float qscheme_e2m1_ieee[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
				     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

const float *qscheme_e2m1_named(const char *name)
{
	if (strcmp(name, "deepseek") == 0)
		return qscheme_e2m1_deepseek;
	if (strcmp(name, "transformers") == 0)
		return qscheme_e2m1_ieee;
	return NULL;
}

static const struct qscheme fp4_scale = {"fp4-scale", ".weight", ".scale", qscheme_e2m1_deepseek, {1, 32}};

const struct qscheme *const qschemes[] = {&fp8_scale_inv, &fp8_scale, &fp4_scale};
const size_t nqschemes = sizeof qschemes / sizeof qschemes[0];
const struct qscheme *const qschemes_dot_scale[] = {&fp8_scale, &fp4_scale, NULL};

bool qscheme_scale_name(const struct qscheme *s, const char *weight, char *out, size_t size)
{
	size_t n = strlen(weight), k = strlen(s->weight_suffix);
	if (!ends_with(weight, s->weight_suffix))
		return false;
	int len = snprintf(out, size, "%.*s%s", (int)(n - k), weight, s->scale_suffix);
	return len >= 0 && (size_t)len < size;
}

static char *scale_name_under(const struct qscheme *s, const char *weight)
{
	size_t size = strlen(weight) + strlen(s->scale_suffix) + 1;
	char *out = xmalloc(size);
	if (qscheme_scale_name(s, weight, out, size))
		return out;
	free(out);
	return NULL;
}

char *qscheme_hf_scale_name(const char *weight) { return scale_name_under(QSCHEME_HF, weight); }
char *qscheme_dot_scale_name(const char *weight) { return scale_name_under(QSCHEME_FP8_SCALE, weight); }

const struct qscheme *qscheme_of_scale(const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < nqschemes; i++) {
		const struct qscheme *s = qschemes[i];
		size_t k = strlen(s->scale_suffix);
		/* (a bare suffix names no weight) */
		if (n <= k || !ends_with(name, s->scale_suffix))
			continue;
		int len = snprintf(out, size, "%.*s%s", (int)(n - k), name, s->weight_suffix);
		if (len >= 0 && (size_t)len < size)
			return s;
	}
	return NULL;
}
