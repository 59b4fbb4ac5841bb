#include "input.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsmp.h"
#include "err.h"
#include "index.h"
#include "layout.h"
#include "out.h"

static const struct {
	const char *layout, *what;
} whats[] = {
	{"hf", "an HF checkpoint"},
	{"dsmp", "a DeepSeek model-parallel checkpoint"},
	{"mindspore-train", "a MindSpore Transformers training checkpoint"},
	{"mindspore-infer", "a MindSpore Transformers inference checkpoint"},
};

const char *input_layout_what(const char *layout)
{
	for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
		if (strcmp(whats[i].layout, layout) == 0)
			return whats[i].what;
	return layout;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "PREFIX-K-of-N.safetensors": the length of PREFIX, K and N; false for another name. */
static bool numbered(const char *name, size_t *plen, uint64_t *k, uint64_t *n)
{
	static const char ext[] = ".safetensors";
	size_t len = strlen(name);
	if (!ends_with(name, ext))
		return false;
	len -= sizeof ext - 1;
	size_t e = len;
	while (e > 0 && name[e - 1] >= '0' && name[e - 1] <= '9')
		e--;
	if (e == len || e < 4 || len - e > 9 || strncmp(name + e - 4, "-of-", 4) != 0)
		return false;
	size_t b = e - 4;
	while (b > 0 && name[b - 1] >= '0' && name[b - 1] <= '9')
		b--;
	if (b == e - 4 || b == 0 || name[b - 1] != '-' || e - 4 - b > 9)
		return false;
	*plen = b - 1;
	*k = strtoull(name + b, NULL, 10);
	*n = strtoull(name + e, NULL, 10);
	return *k >= 1 && *k <= *n;
}

struct shard_name {
	char *name;
	size_t plen;
	uint64_t k, n;
};

static int by_group(const void *a, const void *b)
{
	const struct shard_name *x = a, *y = b;
	size_t m = x->plen < y->plen ? x->plen : y->plen;
	int r = strncmp(x->name, y->name, m);
	if (r || x->plen != y->plen)
		return r ? r : x->plen < y->plen ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return (x->k > y->k) - (x->k < y->k);
}

static bool input_has_index(const char *dir)
{
	char *ip = path_join(dir, INDEX_NAME);
	struct stat sb;
	bool yes = lstat(ip, &sb) == 0;
	free(ip);
	return yes;
}

/* Without an index, shards numbered "-K-of-N" say how many there are: a directory
 * holding fewer is a part of a checkpoint. */
static int numbered_complete(const char *dir)
{
	DIR *d = input_has_index(dir) ? NULL : opendir(dir);
	if (!d)
		return 0; /* the index decides; or opening the checkpoint says why not */
	struct shard_name *s = NULL;
	size_t ns = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct shard_name x;
		if (!numbered(e->d_name, &x.plen, &x.k, &x.n))
			continue;
		x.name = xstrdup(e->d_name);
		s = xgrow(s, ns, sizeof *s);
		s[ns++] = x;
	}
	closedir(d);
	if (ns > 1)
		qsort(s, ns, sizeof *s, by_group);
	int rc = 0;
	for (size_t i = 0; i < ns && !rc;) {
		size_t j = i, have = 0;
		uint64_t want = 1, missing = 0;
		for (; j < ns && s[j].plen == s[i].plen && s[j].n == s[i].n && !strncmp(s[j].name, s[i].name, s[i].plen);
		     j++) {
			if (s[j].k < want)
				continue; /* the same number spelt another way */
			if (s[j].k > want && !missing)
				missing = want;
			want = s[j].k + 1;
			have++;
		}
		if (have < s[i].n) {
			/* the first one missing, named as the others are: its number as wide */
			const char *ref = s[i].name, *num = ref + s[i].plen + 1, *of = strstr(num, "-of-");
			rc = err_set("%s: holds %zu of the %" PRIu64 " shards %.*s-*%s (%.*s-%0*" PRIu64
				     "%s is missing): not a whole checkpoint",
				     dir, have, s[i].n, (int)s[i].plen, ref, of, (int)s[i].plen, ref, (int)(of - num),
				     missing ? missing : want, of);
		}
		i = j;
	}
	for (size_t i = 0; i < ns; i++)
		free(s[i].name);
	free(s);
	return rc;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The directory a file is in, for a message. */
static char *dir_of(const char *path)
{
	char *c = xstrdup(path), *d = xstrdup(dirname(c));
	free(c);
	return d;
}

int input_whole(const char *path, const char *layout)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return err_errno(path);
	if (S_ISREG(sb.st_mode) && (ends_with(path, ".safetensors") || ends_with(path, INDEX_NAME))) {
		char *d = dir_of(path);
		const char *base = basename_of(path);
		size_t plen;
		uint64_t k, n;
		const char *what = "a file";
		if (strcmp(base, INDEX_NAME) == 0)
			what = "a checkpoint's index";
		else if ((numbered(base, &plen, &k, &n) && n > 1) || input_has_index(d))
			what = "one shard of a checkpoint, not the whole of it";
		int rc = err_set("%s: %s: %s converts a checkpoint directory (give %s)", path, what, err_prog(), d);
		free(d);
		return rc;
	}
	if (S_ISREG(sb.st_mode))
		return err_set("%s: not a directory: %s converts a checkpoint directory", path, err_prog());
	if (!S_ISDIR(sb.st_mode))
		return err_set("%s: not a directory", path);
	const char *is = layout_detect(path)->name;
	/* HF is what a directory is when nothing else fits (a MindSpore training checkpoint
	 * without its map too): only a layout recognised by its names is refused */
	if (layout && strcmp(is, layout) != 0 && strcmp(is, "hf") != 0)
		return err_set("%s: %s (layout %s); %s reads %s", path, input_layout_what(is), is, err_prog(),
			       input_layout_what(layout));
	if (strcmp(is, "dsmp") == 0) {
		unsigned mp;
		int rc = dsmp_ranks(path, &mp);
		if (rc == -2) {
			char m[ERR_MAX];
			snprintf(m, sizeof m, "%s", err_last());
			return err_set("%s: a model-parallel checkpoint is converted whole", m);
		}
		return rc;
	}
	return strcmp(is, "hf") == 0 ? numbered_complete(path) : 0;
}
