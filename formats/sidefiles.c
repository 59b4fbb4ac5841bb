#include "sidefiles.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "out.h"
#include "pathguard.h"

/* "module.Class" -> "module.py" when module is a plain identifier of this directory. */
static void add_module(struct sidefiles *s, const char *ref)
{
	const char *dot = ref ? strrchr(ref, '.') : NULL;
	if (!dot || dot == ref || strstr(ref, "--"))
		return;
	size_t n = (size_t)(dot - ref);
	for (size_t i = 0; i < n; i++) {
		char c = ref[i];
		bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i && c >= '0' && c <= '9');
		if (!ok)
			return;
	}
	char *name = xasprintf("%.*s.py", (int)n, ref);
	for (size_t i = 0; i < s->nmodules; i++)
		if (strcmp(s->modules[i], name) == 0) {
			free(name);
			return;
		}
	s->modules = xgrow(s->modules, s->nmodules, sizeof *s->modules);
	s->modules[s->nmodules++] = name;
}

/* auto_map: {"AutoX": "module.Class"} or {"AutoTokenizer": ["module.Slow", "module.Fast" or null]} */
static void add_auto_map(struct sidefiles *s, const struct json *root)
{
	const struct json *m = root && root->type == JSON_OBJECT ? json_get(root, "auto_map") : NULL;
	if (!m || m->type != JSON_OBJECT)
		return;
	for (const struct json *e = json_kid(m); e; e = json_next(e)) {
		if (e->type == JSON_STRING)
			add_module(s, json_str(e));
		else if (e->type == JSON_ARRAY)
			for (const struct json *x = json_kid(e); x; x = json_next(x))
				if (x->type == JSON_STRING)
					add_module(s, json_str(x));
	}
}

void sidefiles_read(struct sidefiles *s, const struct family *f, const char *dir, const struct json *config)
{
	memset(s, 0, sizeof *s);
	if (!f)
		return;
	s->patterns = f->side_files;
	if (!f->side_auto_map)
		return;
	add_auto_map(s, config);
	/* (read only inside the checkpoint directory: a link leading out is refused when the
	 * side files are copied) */
	char *path = path_join(dir, "tokenizer_config.json");
	struct pathguard g;
	struct json_doc *d = NULL;
	if (!pathguard_init(&g, dir)) {
		if (!pathguard_check(&g, path) && !json_load(&d, path, 0))
			add_auto_map(s, json_root(d));
		pathguard_free(&g);
	}
	err_clear();
	json_free(d);
	free(path);
}

bool sidefiles_match(const struct sidefiles *s, const char *name)
{
	if (name[0] == '.')
		return false;
	for (const char *const *p = s->patterns; p && *p; p++)
		if (fnmatch(*p, name, FNM_PERIOD) == 0)
			return true;
	for (size_t i = 0; i < s->nmodules; i++)
		if (strcmp(s->modules[i], name) == 0)
			return true;
	return false;
}

void sidefiles_free(struct sidefiles *s)
{
	for (size_t i = 0; i < s->nmodules; i++)
		free(s->modules[i]);
	free(s->modules);
	memset(s, 0, sizeof *s);
}
