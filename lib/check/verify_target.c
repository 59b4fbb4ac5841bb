/* Opening what ckpt-verify was asked to check, leniently. */
#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "hubcache.h"
#include "layout.h"
#include "out.h"
#include "readfile.h"
#include "verify.h"
#include "names.h"

/* A directory is a checkpoint when it has an index or a .safetensors file. */
static bool dir_has_checkpoint(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool yes = false;
	while (!yes && (e = readdir(d)))
		yes = e->d_name[0] != '.' && (ends_with(e->d_name, ".safetensors") || strcmp(e->d_name, INDEX_NAME) == 0);
	closedir(d);
	return yes;
}

static bool arc_has_checkpoint(const struct arc *a)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strchr(a->f[i].name, '/') &&
		    (ends_with(a->f[i].name, ".safetensors") || strcmp(a->f[i].name, INDEX_NAME) == 0))
			return true;
	return false;
}

/* The layout named, or NULL (detect it): -1 with a message when there is none of the name. */
static int named_layout(const char *layout, const struct layout_ops **L)
{
	*L = NULL;
	if (layout && !(*L = layout_named(layout))) {
		char known[256];
		return err_set("unknown layout \"%s\" (known: %s)", layout, layout_names(known, sizeof known));
	}
	return 0;
}

/* t->arc read: the checkpoint in it, in layout L (NULL: from the names). */
static int open_arc(struct vtarget *t, const struct layout_ops *L)
{
	t->archive = true;
	if (!arc_has_checkpoint(&t->arc))
		return err_set("%s: no .safetensors files and no %s at the archive's top", t->arc.dir, INDEX_NAME);
	const char **names = xcalloc(t->arc.n + 1, sizeof *names);
	for (size_t i = 0; i < t->arc.n; i++)
		names[i] = t->arc.f[i].name;
	const char *other = L ? (L == layout_named("hf") ? NULL : L->name) : layout_of_names(names, t->arc.n);
	free(names);
	t->dir = xstrdup(t->arc.dir);
	if (other) {
		t->files_only = true;
		t->layout = other;
		return 0;
	}
	t->layout = "hf";
	if (layout_hf_arc(&t->v, &t->arc, VIEW_LENIENT))
		t->error = xstrdup(err_last());
	return 0;
}

int vtarget_open_arc(struct vtarget *t, struct arc *a, const char *layout)
{
	const struct layout_ops *L;
	memset(t, 0, sizeof *t);
	t->path = xstrdup(a->path);
	t->arc = *a;
	t->archive = true;
	memset(a, 0, sizeof *a);
	if (named_layout(layout, &L) || open_arc(t, L)) {
		vtarget_close(t);
		return -1;
	}
	return 0;
}

/* The hub repository of snapshot directory dir, spelt as the user spelt it where the path
 * shows it (messages name its blobs), else resolved; NULL when dir is not a snapshot. */
static char *hub_repo_shown(const struct vtarget *t, const char *dir)
{
	char *res = path_resolve(dir), *repo = res ? hub_repo_of_snapshot(res) : NULL;
	free(res);
	if (!repo)
		return NULL;
	if (t->commit[0]) {
		free(repo);
		return xstrdup(t->path);
	}
	char *as_given = hub_repo_of_snapshot(dir);
	if (as_given) {
		free(repo);
		return as_given;
	}
	return repo;
}

int vtarget_open(struct vtarget *t, const char *path, const char *layout, bool hash, const char *revision)
{
	struct stat sb;
	const struct layout_ops *L = NULL;
	char *snap = NULL;
	memset(t, 0, sizeof *t);
	t->path = xstrdup(path);
	if (named_layout(layout, &L))
		goto fail;
	if (hub_is_repo(path)) {
		if (!(snap = hub_snapshot(path, revision, t->commit)))
			goto fail;
		path = snap;
	} else if (revision) {
		err_set("%s: --revision applies to a repository of the Hugging Face hub cache (%sORG--NAME)", path,
			HUB_REPO_PREFIX);
		goto fail;
	}
	if (stat(path, &sb) < 0) {
		err_errno(path);
		goto fail;
	}
	if (S_ISREG(sb.st_mode) && arc_is_archive_name(path)) {
		t->archive = true;
		if (arc_read(&t->arc, path, hash) || open_arc(t, L))
			goto fail;
		return 0;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (!dir_has_checkpoint(path)) {
			err_set("%s: no .safetensors files and no %s", path, INDEX_NAME);
			goto fail;
		}
		t->dir = xstrdup(path);
		t->hub_repo = hub_repo_shown(t, path);
	} else if (S_ISREG(sb.st_mode)) {
		char *tmp = xstrdup(path);
		t->dir = xstrdup(dirname(tmp));
		free(tmp);
		if (!ends_with(path, ".json")) {
			tmp = xstrdup(path);
			t->single = xstrdup(basename(tmp));
			free(tmp);
		}
	} else {
		err_set("%s: not a regular file or directory (%s)", path, file_kind(sb.st_mode));
		goto fail;
	}
	if (!L)
		L = layout_detect(path);
	t->layout = L->name;
	if (L->open(&t->v, path, VIEW_LENIENT))
		t->error = xstrdup(err_last());
	free(snap);
	return 0;
fail:
	free(snap);
	vtarget_close(t);
	return -1;
}

void vtarget_close(struct vtarget *t)
{
	view_free(t->v);
	if (t->archive)
		arc_free(&t->arc);
	free(t->error);
	free(t->hub_repo);
	free(t->single);
	free(t->dir);
	free(t->path);
	memset(t, 0, sizeof *t);
}

const char **vtarget_files(const struct vtarget *t, size_t *n)
{
	const struct view *v = t->v;
	size_t cap = 4 + (v ? v->nfiles : 0) + t->arc.n, k = 0;
	const char **f = xcalloc(cap, sizeof *f);
	f[k++] = t->path;
	f[k++] = t->dir;
	if (v) {
		f[k++] = v->index_path;
		f[k++] = v->config_path;
		for (size_t i = 0; i < v->nfiles; i++)
			f[k++] = v->files[i].path;
	}
	for (size_t i = 0; i < t->arc.n; i++)
		f[k++] = t->arc.f[i].path;
	*n = k;
	return f;
}
