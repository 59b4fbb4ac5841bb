#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pathguard.h"
#include "err.h"
#include "nameset.h"
#include "out.h"
#include "readfile.h"
#include "names.h"
#include "qscheme.h"

/* In lenient mode the message joins problems[]; otherwise it is the error. */
static int problem(struct ckpt *c, int flags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int problem(struct ckpt *c, int flags, const char *fmt, ...)
{
	/* formatted aside first: callers pass err_last() itself as an argument */
	char msg[ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_set("%s", msg);
	if (!(flags & CKPT_LENIENT))
		return -1;
	c->problems = xgrow(c->problems, c->nproblems, sizeof *c->problems);
	c->problems[c->nproblems++] = xstrdup(err_last());
	return 0;
}

/* Where the files come from: the filesystem (NULL), or files the caller read already. */
struct src {
	struct ckpt_file *f;
	size_t n;
	struct nameset names;    /* of f, the first of each name */
};

static const char *file_name(const void *items, size_t i, size_t *len)
{
	const char *s = ((const struct ckpt_file *)items)[i].name;
	*len = strlen(s);
	return s;
}

static struct ckpt_file *src_find(const struct src *src, const char *name)
{
	long i = nameset_find(&src->names, name, strlen(name));
	return i < 0 ? NULL : &src->f[i];
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp((*(const struct idx_entry *const *)a)->name, (*(const struct idx_entry *const *)b)->name);
}

static int cmp_tensor(const void *a, const void *b)
{
	return strcmp(((const struct ckpt_tensor *)a)->name, ((const struct ckpt_tensor *)b)->name);
}

static void add_name(char ***names, size_t *n, const char *name)
{
	if (name[0] == '.' || !ends_with(name, ".safetensors"))
		return;
	*names = xgrow(*names, *n, sizeof **names);
	(*names)[(*n)++] = xstrdup(name);
}

/* The .safetensors files directly in dir, sorted. */
static int list_shards(const char *dir, const struct src *src, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (src) {
		for (size_t i = 0; i < src->n; i++)
			if (!strchr(src->f[i].name, '/'))
				add_name(names, n, src->f[i].name);
	} else {
		DIR *d = opendir(dir);
		if (!d)
			return err_errno(dir);
		struct dirent *e;
		while ((e = readdir(d)))
			add_name(names, n, e->d_name);
		closedir(d);
	}
	if (*n > 1) /* names is NULL when there are none */
		qsort(*names, *n, sizeof **names, cmp_str);
	return 0;
}

static struct ckpt_shard *add_shard(struct ckpt *c, const char *name)
{
	c->shards = xgrow(c->shards, c->nshards, sizeof *c->shards);
	struct ckpt_shard *s = &c->shards[c->nshards++];
	s->name = xstrdup(name);
	s->path = path_join(c->dir, name);
	s->st = NULL;
	return s;
}

/* src: the files of an archive, else the file system, where conf is the directory the
 * shards must stay in (NULL for a single file the user named) */
static int open_shards(struct ckpt *c, int flags, const struct src *src, const struct pathguard *conf)
{
	for (size_t i = 0; i < c->nshards; i++) {
		struct ckpt_shard *s = &c->shards[i];
		struct stat sb;
		struct ckpt_file *f = src ? src_find(src, s->name) : NULL;
		if (conf && pathguard_check(conf, s->path)) {
			if (problem(c, flags, "%s", err_last()))
				return -1;
			continue;
		}
		/* "No such file" alone would not say who asked for the file */
		if (c->index_path && (src ? !f : stat(s->path, &sb) < 0 && errno == ENOENT)) {
			if (problem(c, flags, "%s: shard file is missing (%s maps tensors to it)", s->path,
				    INDEX_NAME))
				return -1;
			continue;
		}
		if (src) {
			if (!f->st && problem(c, flags, "%s", f->error ? f->error : "not a safetensors file"))
				return -1;
			s->st = f->st;
			f->st = NULL;
			continue;
		}
		if (st_open(&s->st, s->path) && problem(c, flags, "%s", err_last()))
			return -1;
	}
	return 0;
}

static struct ckpt_shard *shard_named(struct ckpt *c, const char *name)
{
	ptrdiff_t i = NAME_FIND(c->shards, c->nshards, name, name);
	return i < 0 ? NULL : &c->shards[i];
}

static void add_tensor(struct ckpt *c, struct ckpt_shard *s, const struct st_tensor *t, size_t *cap)
{
	if (c->n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		c->t = xreallocarray(c->t, *cap, sizeof *c->t);
	}
	c->t[c->n++] = (struct ckpt_tensor){t->name, s, t};
}

static int open_with_index(struct ckpt *c, int flags, const struct src *src, const struct pathguard *conf)
{
	char q[ERR_QUOTE];
	size_t cap = 0;
	if (src) {
		const struct ckpt_file *f = src_find(src, INDEX_NAME);
		if (!f->text)
			return err_set("%s", f->error ? f->error : "the index was not read");
		if (idx_parse(&c->index, c->index_path, f->text, f->len))
			return -1;
	} else if (idx_load(&c->index, c->index_path)) {
		return -1;
	}
	for (size_t i = 0; i < c->index->nfiles; i++)
		add_shard(c, c->index->files[i]);
	if (open_shards(c, flags, src, conf))
		return -1;
	for (size_t i = 0; i < c->index->n; i++) {
		const struct idx_entry *e = &c->index->e[i];
		struct ckpt_shard *s = shard_named(c, e->file);
		if (!s->st)
			continue; /* already reported */
		const struct st_tensor *t = st_find(s->st, e->name);
		if (!t) {
			if (problem(c, flags, "%s: tensor %s is mapped to %s, which does not hold it",
				    c->index_path, err_quote(e->name, q), e->file))
				return -1;
			continue;
		}
		add_tensor(c, s, t, &cap);
	}
	if (c->n > 1) /* c->t is NULL when there are none */
		qsort(c->t, c->n, sizeof *c->t, cmp_tensor);
	/* every tensor of every shard must be where the index says; the entries by name say
	 * where a tensor that is not was meant to be */
	const struct idx_entry **by_name = xcalloc(c->index->n ? c->index->n : 1, sizeof *by_name);
	for (size_t i = 0; i < c->index->n; i++)
		by_name[i] = &c->index->e[i];
	if (c->index->n > 1)
		qsort(by_name, c->index->n, sizeof *by_name, cmp_entry_name);
	for (size_t i = 0; i < c->nshards; i++) {
		struct ckpt_shard *s = &c->shards[i];
		for (size_t k = 0; s->st && k < s->st->n; k++) {
			const struct ckpt_tensor *t = ckpt_find(c, s->st->t[k].name);
			struct idx_entry key = {s->st->t[k].name, NULL};
			const struct idx_entry *kp = &key, **e = t ? NULL : bsearch(&kp, by_name, c->index->n, sizeof *by_name, cmp_entry_name);
			if (e && strcmp((*e)->file, s->name) != 0) {
				if (problem(c, flags, "%s: tensor %s is here, but the index maps it to %s", s->path,
					    err_quote(s->st->t[k].name, q), (*e)->file)) {
					free(by_name);
					return -1;
				}
			} else if (!t) {
				if (problem(c, flags, "%s: tensor %s is not in the index", s->path,
					    err_quote(s->st->t[k].name, q))) {
					free(by_name);
					return -1;
				}
			} else if (t && t->shard != s) {
				if (problem(c, flags, "%s: tensor %s is also in %s, where the index maps it",
					    s->path, err_quote(t->name, q), t->shard->name)) {
					free(by_name);
					return -1;
				}
			}
		}
	}
	free(by_name);
	/* shards on disk the index does not name */
	char **names;
	size_t n;
	if (list_shards(c->dir, src, &names, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (shard_named(c, names[i])) {
			free(names[i]);
			continue;
		}
		c->stray = xgrow(c->stray, c->nstray, sizeof *c->stray);
		c->stray[c->nstray++] = names[i];
	}
	free(names);
	return 0;
}

static int open_without_index(struct ckpt *c, int flags, const char *single, const char *path,
			      const struct src *src, const struct pathguard *conf)
{
	char q[ERR_QUOTE];
	size_t cap = 0;
	if (single) {
		/* messages name the file as the user did, not as dir + "/" + name */
		struct ckpt_shard *s = add_shard(c, single);
		free(s->path);
		s->path = xstrdup(path);
	} else {
		char **names;
		size_t n;
		if (list_shards(c->dir, src, &names, &n))
			return -1;
		if (n == 0) {
			free(names);
			return err_set("%s: no .safetensors files and no %s", c->dir, INDEX_NAME);
		}
		for (size_t i = 0; i < n; i++) {
			add_shard(c, names[i]);
			free(names[i]);
		}
		free(names);
	}
	if (open_shards(c, flags, src, single ? NULL : conf))
		return -1;
	for (size_t i = 0; i < c->nshards; i++)
		for (size_t k = 0; c->shards[i].st && k < c->shards[i].st->n; k++)
			add_tensor(c, &c->shards[i], &c->shards[i].st->t[k], &cap);
	if (c->n > 1) /* c->t is NULL when there are none */
		qsort(c->t, c->n, sizeof *c->t, cmp_tensor);
	/* without an index, a name in two shards has no single meaning */
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (w && strcmp(c->t[w - 1].name, c->t[i].name) == 0) {
			if (problem(c, flags, "%s: tensor %s is also in %s", c->t[i].shard->path,
				    err_quote(c->t[i].name, q), c->t[w - 1].shard->name))
				return -1;
			continue;
		}
		c->t[w++] = c->t[i];
	}
	c->n = w;
	return 0;
}

static int load_config(struct ckpt *c, int flags, const struct src *src, const struct pathguard *conf)
{
	char *p = path_join(c->dir, "config.json");
	struct stat sb;
	const struct ckpt_file *f = src ? src_find(src, "config.json") : NULL;
	if (src ? !f : lstat(p, &sb) < 0) {
		free(p);
		return 0;
	}
	if (conf && pathguard_check(conf, p)) {
		free(p);
		return problem(c, flags, "%s", err_last());
	}
	if (!src && stat(p, &sb) < 0) { /* a dangling link: no config, as before */
		free(p);
		return 0;
	}
	c->config_path = p;
	int rc;
	if (!src)
		rc = json_load(&c->config, p, 0);
	else if (!f->text)
		rc = err_set("%s", f->error ? f->error : "config.json was not read");
	else if ((rc = json_parse(&c->config, f->text, f->len, 0)))
		err_prefix("%s: invalid JSON: ", p);
	if (rc && problem(c, flags, "%s", err_last()))
		return -1;
	return 0;
}

int ckpt_use_config(struct ckpt *c, const char *path)
{
	struct json_doc *d;
	if (json_load(&d, path, 0))
		return -1;
	json_free(c->config);
	free(c->config_path);
	c->config = d;
	c->config_path = xstrdup(path);
	return 0;
}

int ckpt_open(struct ckpt **out, const char *path, int flags)
{
	struct ckpt *c = xcalloc(1, sizeof *c);
	struct stat sb;
	struct pathguard conf = {0};
	const char *single = NULL;
	char *tmp = NULL;
	bool is_dir = false;
	int rc;
	*out = NULL;
	if (stat(path, &sb) < 0) {
		err_errno(path);
		goto fail;
	}
	if (S_ISDIR(sb.st_mode)) {
		is_dir = true;
		c->dir = xstrdup(path);
		char *ix = path_join(path, INDEX_NAME);
		if (stat(ix, &sb) == 0)
			c->index_path = ix;
		else
			free(ix);
	} else if (S_ISREG(sb.st_mode)) {
		tmp = xstrdup(path);
		c->dir = xstrdup(dirname(tmp));
		free(tmp);
		tmp = xstrdup(path);
		if (ends_with(path, ".json"))
			c->index_path = xstrdup(path);
		else
			single = basename(tmp);
	} else {
		err_set("%s: not a regular file or directory (%s)", path, file_kind(sb.st_mode));
		goto fail;
	}
	if (pathguard_init(&conf, c->dir))
		goto fail;
	/* an index the user named is the user's choice; one found in the directory must be in it */
	if (c->index_path && is_dir && pathguard_check(&conf, c->index_path))
		goto fail;
	rc = c->index_path ? open_with_index(c, flags, NULL, &conf)
			   : open_without_index(c, flags, single, path, NULL, &conf);
	if (rc || load_config(c, flags, NULL, &conf))
		goto fail;
	pathguard_free(&conf);
	free(tmp);
	*out = c;
	return 0;
fail:
	pathguard_free(&conf);
	free(tmp);
	ckpt_close(c);
	return -1;
}

int ckpt_open_files(struct ckpt **out, const char *dir, struct ckpt_file *files, size_t n, int flags)
{
	struct ckpt *c = xcalloc(1, sizeof *c);
	struct src src = {files, n, {0}};
	int rc;
	*out = NULL;
	c->dir = xstrdup(dir);
	/* (a file per shard the index names: a lookup each must not take a pass over all) */
	nameset_init(&src.names, n, file_name, files);
	for (size_t i = 0; i < n; i++)
		nameset_add(&src.names, i);
	if (src_find(&src, INDEX_NAME))
		c->index_path = path_join(dir, INDEX_NAME);
	rc = c->index_path ? open_with_index(c, flags, &src, NULL)
			   : open_without_index(c, flags, NULL, NULL, &src, NULL);
	if (rc == 0)
		rc = load_config(c, flags, &src, NULL);
	for (size_t i = 0; i < n; i++) {
		st_close(files[i].st);
		files[i].st = NULL;
	}
	nameset_free(&src.names);
	if (rc) {
		ckpt_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void ckpt_close(struct ckpt *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nshards; i++) {
		st_close(c->shards[i].st);
		free(c->shards[i].name);
		free(c->shards[i].path);
	}
	for (size_t i = 0; i < c->nproblems; i++)
		free(c->problems[i]);
	for (size_t i = 0; i < c->nstray; i++)
		free(c->stray[i]);
	free(c->problems);
	free(c->stray);
	free(c->shards);
	free(c->t);
	idx_free(c->index);
	json_free(c->config);
	free(c->config_path);
	free(c->index_path);
	free(c->dir);
	free(c);
}

const struct ckpt_tensor *ckpt_find(const struct ckpt *c, const char *name)
{
	ptrdiff_t i = NAME_FIND(c->t, c->n, name, name);
	return i < 0 ? NULL : &c->t[i];
}

uint64_t ckpt_tensor_bytes(const struct ckpt *c)
{
	uint64_t s = 0;
	for (size_t i = 0; i < c->n; i++)
		s += st_nbytes(c->t[i].t);
	return s;
}

const struct ckpt_tensor *ckpt_scale_of(const struct ckpt *c, const char *name)
{
	char *s = qscheme_hf_scale_name(name);
	const struct ckpt_tensor *t = s ? ckpt_find(c, s) : NULL;
	free(s);
	return t;
}

void ckpt_describe(const struct ckpt *c, struct view *v)
{
	v->dir = xstrdup(c->dir);
	for (size_t i = 0; i < c->nshards; i++)
		view_add_file(v, c->shards[i].name, c->shards[i].path, c->shards[i].st);
	v->config_path = c->config_path ? xstrdup(c->config_path) : NULL;
	v->config = c->config;
	v->index_path = c->index_path ? xstrdup(c->index_path) : NULL;
	v->index = c->index;
	v->nstray = c->nstray;
	v->stray = c->stray;
	for (size_t i = 0; i < c->nproblems; i++)
		view_problem(v, "%s", c->problems[i]);
}
