#include "hubcache.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "names.h"
#include "out.h"
#include "readfile.h"

/* The last component of a path without a trailing slash, and its length. */
static const char *last(const char *p, size_t end, size_t *len)
{
	size_t i = end;
	while (i > 0 && p[i - 1] != '/')
		i--;
	*len = end - i;
	return p + i;
}

char *hub_repo_of_snapshot(const char *resolved)
{
	size_t n = strlen(resolved), len;
	while (n > 1 && resolved[n - 1] == '/')
		n--;
	const char *rev = last(resolved, n, &len);
	if (!len || rev == resolved)
		return NULL;
	const char *snap = last(resolved, (size_t)(rev - resolved) - 1, &len);
	if (len != 9 || strncmp(snap, "snapshots", 9) != 0 || snap == resolved)
		return NULL;
	const char *repo = last(resolved, (size_t)(snap - resolved) - 1, &len);
	if (len <= strlen(HUB_REPO_PREFIX) || strncmp(repo, HUB_REPO_PREFIX, strlen(HUB_REPO_PREFIX)) != 0)
		return NULL;
	return xstrndup(resolved, (size_t)(repo - resolved) + len);
}

static bool is_dir(const char *p)
{
	struct stat sb;
	return lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

bool hub_is_repo(const char *dir)
{
	char *r = path_resolve(dir);
	if (!r) {
		err_clear();
		return false;
	}
	size_t len;
	const char *base = last(r, strlen(r), &len);
	bool yes = len > strlen(HUB_REPO_PREFIX) && strncmp(base, HUB_REPO_PREFIX, strlen(HUB_REPO_PREFIX)) == 0;
	free(r);
	if (yes) {
		char *s = path_join(dir, "snapshots");
		yes = is_dir(s);
		free(s);
	}
	return yes;
}

static bool is_commit(const char *s, size_t n)
{
	if (n != 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* refs/NAME: the commit it holds (the hub writes it without a newline; one is allowed). */
static int read_ref(const char *path, char commit[41])
{
	struct stat sb;
	struct buf b = {0};
	if (lstat(path, &sb) < 0)
		return err_errno(path);
	if (file_regular(path, &sb) || file_read(path, 4096, "a ref", &b)) {
		buf_free(&b);
		return -1;
	}
	size_t n = b.len;
	while (n && (b.p[n - 1] == '\n' || b.p[n - 1] == '\r' || b.p[n - 1] == ' '))
		n--;
	int rc = 0;
	if (is_commit(b.p, n))
		memcpy(commit, b.p, 40), commit[40] = 0;
	else
		rc = err_set("%s: not a commit hash (40 lowercase hex digits)", path);
	buf_free(&b);
	return rc;
}

/* No refs/main: the one snapshot there is, or an error. */
static int only_snapshot(const char *repo, char commit[41])
{
	char *sdir = path_join(repo, "snapshots");
	DIR *d = opendir(sdir);
	size_t n = 0;
	if (!d) {
		int rc = err_errno(sdir);
		free(sdir);
		return rc;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			if (n++ == 0 && strlen(e->d_name) == 40)
				memcpy(commit, e->d_name, 41);
		}
	closedir(d);
	free(sdir);
	if (n == 1 && is_commit(commit, strlen(commit)))
		return 0;
	if (n == 0)
		return err_set("%s: no refs/%s and no snapshots", repo, HUB_DEFAULT_REVISION);
	return err_set("%s: no refs/%s, and snapshots/ holds %zu entries: name one with --revision", repo,
		       HUB_DEFAULT_REVISION, n);
}

char *hub_snapshot(const char *repo, const char *revision, char commit[41])
{
	const char *rev = revision ? revision : HUB_DEFAULT_REVISION;
	char q[ERR_QUOTE];
	commit[0] = 0;
	if (is_commit(rev, strlen(rev))) {
		memcpy(commit, rev, 41);
	} else {
		if (path_is_contained(rev)) {
			err_set("%s: %s is not a revision (a branch, a tag or a commit hash)", repo, err_quote(rev, q));
			return NULL;
		}
		char *refs = path_join(repo, "refs"), *ref = path_join(refs, rev);
		struct stat sb;
		int rc;
		if (lstat(ref, &sb) < 0 && !revision)
			rc = only_snapshot(repo, commit);
		else if (lstat(ref, &sb) < 0)
			rc = err_set("%s: no revision %s in the cache (no refs/%s, and not a commit hash)", repo,
				     err_quote(rev, q), rev);
		else
			rc = read_ref(ref, commit);
		free(ref);
		free(refs);
		if (rc)
			return NULL;
	}
	char *snaps = path_join(repo, "snapshots"), *snap = path_join(snaps, commit);
	free(snaps);
	if (!is_dir(snap)) {
		if (strcmp(rev, commit) == 0)
			err_set("%s: no snapshot of commit %s (%s is missing)", repo, commit, snap);
		else
			err_set("%s: refs/%s names commit %s, which has no snapshot (%s is missing)", repo, rev, commit,
				snap);
		free(snap);
		return NULL;
	}
	return snap;
}

int hub_blob_name(const char *name, enum hash_algo *a, uint8_t sha[SHA256_LEN])
{
	size_t n = strlen(name);
	if (n == 2 * SHA256_LEN)
		*a = HASH_SHA256;
	else if (n == 2 * SHA1_LEN)
		*a = HASH_GIT_SHA1;
	else
		return -1;
	return hex_decode(name, sha, n / 2);
}

bool hub_blob_incomplete(const char *name)
{
	return ends_with(name, ".incomplete");
}
