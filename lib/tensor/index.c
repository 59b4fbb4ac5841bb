#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "jsonw.h"
#include "out.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Why a weight_map file name is refused, or NULL when it names a file inside the directory. */
static const char *bad_file_name(const char *f)
{
	if (!*f)
		return "an empty file name";
	if (f[0] == '/')
		return "an absolute path";
	if (f[strlen(f) - 1] == '/')
		return "a directory (trailing slash)";
	for (const char *p = f; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "a path that leaves the checkpoint directory";
		p += n + (p[n] == '/');
	}
	if (path_is_contained(f))
		return "a path with an empty or \".\" component";
	return NULL;
}

/* x->doc parsed: check it and fill in the rest. */
static int idx_fill(struct idx **out, struct idx *x, const char *path)
{
	char q1[ERR_QUOTE], q2[ERR_QUOTE], w[JSON_WHAT];
	const struct json *root = json_root(x->doc);
	if (root->type != JSON_OBJECT) {
		err_set("%s: index is %s, not a JSON object", path, json_what(root, w));
		goto fail;
	}
	const struct json *meta = json_get(root, "metadata"), *wm = json_get(root, "weight_map");
	if (meta && meta->type != JSON_OBJECT && meta->type != JSON_NULL) {
		err_set("%s: \"metadata\" is %s, not an object", path, json_what(meta, w));
		goto fail;
	}
	const struct json *ts = meta ? json_get(meta, "total_size") : NULL;
	if (ts && ts->type != JSON_NULL) {
		/* Python writes an int; a float with no fraction (1234.0) is read the same way */
		double d;
		if (json_u64(ts, &x->total_size) == 0) {
			x->has_total_size = true;
		} else if (json_double(ts, &d) == 0 && d >= 0 && d < 18446744073709551616.0 &&
			   d == (double)(uint64_t)d) {
			x->total_size = (uint64_t)d;
			x->has_total_size = true;
		} else {
			err_set("%s: \"total_size\" is %s, not a non-negative integer", path, json_what(ts, w));
			goto fail;
		}
	}
	if (!wm) {
		err_set("%s: no \"weight_map\"", path);
		goto fail;
	}
	if (wm->type != JSON_OBJECT) {
		err_set("%s: \"weight_map\" is %s, not an object", path, json_what(wm, w));
		goto fail;
	}
	x->e = xcalloc(wm->n, sizeof *x->e);
	x->files = xcalloc(wm->n, sizeof *x->files);
	for (const struct json *k = json_kid(wm); k; k = json_next(k)) {
		const char *kq = err_quoten(json_key(k), k->key_len, q1), *why;
		if (k->type != JSON_STRING) {
			err_set("%s: weight_map entry %s is %s, not a file name", path, kq, json_what(k, w));
			goto fail;
		}
		if (strlen(json_key(k)) != k->key_len) {
			err_set("%s: weight_map tensor name %s contains a NUL character", path, kq);
			goto fail;
		}
		if (strlen(json_str(k)) != k->len) {
			err_set("%s: weight_map entry %s: file name %s contains a NUL character", path, kq,
				err_quoten(json_str(k), k->len, q2));
			goto fail;
		}
		if ((why = bad_file_name(json_str(k)))) {
			err_set("%s: weight_map entry %s: file name %s is %s", path, kq, err_quote(json_str(k), q2), why);
			goto fail;
		}
		x->e[x->n].name = json_key(k);
		x->e[x->n].file = json_str(k);
		x->files[x->n] = json_str(k);
		x->n++;
	}
	qsort(x->files, x->n, sizeof *x->files, cmp_str);
	for (size_t i = 0; i < x->n; i++)
		if (x->nfiles == 0 || strcmp(x->files[x->nfiles - 1], x->files[i]) != 0)
			x->files[x->nfiles++] = x->files[i];
	*out = x;
	return 0;
fail:
	idx_free(x);
	return -1;
}

int idx_load(struct idx **out, const char *path)
{
	struct idx *x = xcalloc(1, sizeof *x);
	*out = NULL;
	x->path = xstrdup(path);
	if (json_load(&x->doc, path, 0)) {
		idx_free(x);
		return -1;
	}
	return idx_fill(out, x, path);
}

int idx_parse(struct idx **out, const char *path, const char *text, size_t len)
{
	struct idx *x = xcalloc(1, sizeof *x);
	*out = NULL;
	x->path = xstrdup(path);
	if (json_parse(&x->doc, text, len, 0)) {
		err_prefix("%s: invalid JSON: ", path);
		idx_free(x);
		return -1;
	}
	return idx_fill(out, x, path);
}

void idx_free(struct idx *x)
{
	if (!x)
		return;
	json_free(x->doc);
	free(x->e);
	free(x->files);
	free(x->path);
	free(x);
}

void idx_render(struct buf *out, const struct idx_entry *e, size_t n, const uint64_t *total_size)
{
	struct jw w;
	jw_init(&w, out, 2, true);
	jw_obj(&w);
	jw_key(&w, "metadata");
	jw_obj(&w);
	if (total_size) {
		jw_kv_u64(&w, "total_size", *total_size);
	}
	jw_obj_end(&w);
	jw_key(&w, "weight_map");
	jw_obj(&w);
	for (size_t i = 0; i < n; i++) {
		jw_kv_str(&w, e[i].name, e[i].file);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
}
