/* "hub": a snapshot of the Hugging Face hub cache against the names of its blobs
 * (lib/base/hubcache.h), without the network: every file's bytes hashed as its blob's name
 * says, by the manifest's hashing (the same threads, largest first). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "err.h"
#include "hubcache.h"
#include "index.h"
#include "manifest.h"
#include "names.h"
#include "out.h"
#include "readfile.h"
#include "table.h"
#include "verify.h"

/* A snapshot file that links to a blob with a hash for a name. */
struct hlink {
	char *path;              /* as shown: the snapshot's directory joined with the name */
	char *blob;              /* the blob's name */
};

struct hubwalk {
	struct rcheck *k;
	char *blobs;             /* the repository's blobs directory, resolved */
	size_t nlinks, ncopies, nbad;
	struct hlink *links;
	char **present;          /* every name the snapshot holds, links and copies alike */
	size_t npresent;
};

static void grow(void **p, size_t n, size_t size)
{
	if (n % 64 == 0)
		*p = xreallocarray(*p, n + 64, size);
}

/* Where a link leads, judged as the hub writes them: relative, into the repository's
 * blobs/, to a regular file whose name is a hash.  The link's blob name, or NULL when it
 * is a problem (reported). */
static char *link_blob(struct hubwalk *W, const char *path)
{
	char target[4096], q[ERR_QUOTE];
	enum hash_algo a;
	uint8_t sha[SHA256_LEN];
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0) {
		report_problem(W->k, path, NULL, "%s", strerror(errno));
		return NULL;
	}
	target[n] = 0;
	if (target[0] == '/') {
		report_problem(W->k, path, NULL, "symbolic link to the absolute path %s (the hub links relatively, "
			       "into ../../blobs)", err_quote(target, q));
		return NULL;
	}
	char *res = realpath(path, NULL);
	if (!res) {
		if (errno == ENOENT || errno == ENOTDIR)
			report_problem(W->k, path, NULL, "symbolic link to %s, which does not exist (a dangling link: "
				       "the blob is missing)", err_quote(target, q));
		else
			report_problem(W->k, path, NULL, "symbolic link to %s: %s", err_quote(target, q), strerror(errno));
		return NULL;
	}
	const char *slash = strrchr(res, '/'), *base = slash + 1;
	struct stat sb;
	char *blob = NULL;
	if ((size_t)(slash - res) != strlen(W->blobs) || strncmp(res, W->blobs, (size_t)(slash - res)) != 0)
		report_problem(W->k, path, NULL, "symbolic link to %s leads outside the repository's blobs/",
			       err_quote(target, q));
	else if (stat(res, &sb) < 0)
		report_problem(W->k, path, NULL, "%s", strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		report_problem(W->k, path, NULL, "links to blob %s, which is not a regular file (%s)", err_quote(base, q),
			       file_kind(sb.st_mode));
	else if (hub_blob_incomplete(base))
		report_problem(W->k, path, NULL, "links to %s, an unfinished download", err_quote(base, q));
	else if (hub_blob_name(base, &a, sha))
		report_problem(W->k, path, NULL, "links to blob %s, whose name is neither a SHA-256 (64 hex digits) "
			       "nor a git blob SHA-1 (40)", err_quote(base, q));
	else
		blob = xstrdup(base);
	free(res);
	return blob;
}

static int visit(void *ctx, const char *path, const char *rel, const struct stat *ls)
{
	struct hubwalk *W = ctx;
	grow((void **)&W->present, W->npresent, sizeof *W->present);
	W->present[W->npresent++] = xstrdup(rel);
	if (S_ISLNK(ls->st_mode)) {
		char *blob = link_blob(W, path);
		if (!blob) {
			W->nbad++;
			return 0;
		}
		grow((void **)&W->links, W->nlinks, sizeof *W->links);
		W->links[W->nlinks++] = (struct hlink){xstrdup(path), blob};
	} else if (S_ISREG(ls->st_mode)) {
		W->ncopies++;
	} else {
		report_problem(W->k, path, NULL, "not a regular file (%s)", file_kind(ls->st_mode));
		W->nbad++;
	}
	return 0;
}

/* blobs/ of the repository: each unfinished download is a problem (a file of the snapshot
 * is missing or was being replaced). */
static size_t unfinished(struct rcheck *k, const char *blobs)
{
	DIR *d = opendir(blobs);
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !hub_blob_incomplete(e->d_name))
			continue;
		char *p = path_join(blobs, e->d_name), hb[32];
		struct stat sb;
		if (lstat(p, &sb) == 0)
			report_problem(k, p, NULL, "an unfinished download (%s so far)", human_bytes((uint64_t)sb.st_size, hb));
		n++;
		free(p);
	}
	closedir(d);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_mfile(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

/* The shards the index names that the snapshot does not hold (not downloaded). */
static size_t missing_shards(const struct vtarget *t, struct hubwalk *W)
{
	struct idx *own = NULL;
	const struct idx *x = t->v ? t->v->index : NULL;
	if (!x && !t->v) {
		char *ip = path_join(t->dir, INDEX_NAME);
		struct stat sb;
		if (lstat(ip, &sb) == 0 && idx_load(&own, ip) == 0)
			x = own;
		err_clear();
		free(ip);
	}
	size_t n = 0;
	for (size_t i = 0; x && i < x->nfiles; i++)
		if (name_find(W->present, W->npresent, sizeof *W->present, 0, x->files[i]) < 0) {
			char *p = path_join(t->dir, x->files[i]);
			report_problem(W->k, p, NULL, "named by %s, but not in the snapshot (not downloaded)", INDEX_NAME);
			free(p);
			n++;
		}
	idx_free(own);
	return n;
}

struct hubcount {
	uint64_t checked, bytes, copies;
};

static void counts_json(const void *data, struct jw *w)
{
	const struct hubcount *c = data;
	jw_kv_u64(w, "files_checked", c->checked);
	jw_kv_u64(w, "bytes_hashed", c->bytes);
	jw_kv_u64(w, "copies_not_checked", c->copies);
}

void verify_hub(const struct vtarget *t, struct pool *p, struct report *r)
{
	struct rcheck *k = report_check(r, "hub");
	struct hubwalk W = {.k = k};
	char *blobs = path_join(t->hub_repo, "blobs");
	W.blobs = realpath(blobs, NULL);
	if (!W.blobs)
		W.blobs = xstrdup(blobs);
	if (manifest_walk(t->dir, true, visit, &W))
		report_problem_msg(k, err_last(), NULL, 0);
	if (W.npresent > 1)
		qsort(W.present, W.npresent, sizeof *W.present, cmp_str);
	size_t nmissing = missing_shards(t, &W), nunfinished = unfinished(k, blobs);

	/* each blob hashed once, however many files link to it */
	struct mfile *f = xcalloc(W.nlinks + 1, sizeof *f);
	size_t nb = 0;
	for (size_t i = 0; i < W.nlinks; i++)
		f[nb++] = (struct mfile){.name = W.links[i].blob};
	if (nb > 1)
		qsort(f, nb, sizeof *f, cmp_mfile);
	size_t u = 0;
	for (size_t i = 0; i < nb; i++)
		if (u == 0 || strcmp(f[u - 1].name, f[i].name) != 0)
			f[u++] = f[i];
	nb = u;
	uint8_t (*want)[SHA256_LEN] = xcalloc(nb + 1, sizeof *want), (*got)[SHA256_LEN] = xcalloc(nb + 1, sizeof *got);
	for (size_t i = 0; i < nb; i++) {
		char *bp = path_join(blobs, f[i].name);
		struct stat sb;
		f[i].size = stat(bp, &sb) == 0 ? (uint64_t)sb.st_size : 0;
		hub_blob_name(f[i].name, &f[i].algo, want[i]);
		free(bp);
	}
	char **err = xcalloc(nb + 1, sizeof *err);
	manifest_hash(blobs, f, nb, p, got, err);
	uint64_t bytes = 0;
	for (size_t i = 0; i < nb; i++)
		bytes += err[i] ? 0 : f[i].size;

	size_t checked = 0, differ = 0;
	for (size_t i = 0; i < W.nlinks; i++) {
		size_t b = (size_t)NAME_FIND(f, nb, name, W.links[i].blob);
		enum hash_algo a = f[b].algo;
		if (err[b]) {
			report_problem(k, W.links[i].path, NULL, "%s", err[b]);
			W.nbad++;
			continue;
		}
		checked++;
		if (memcmp(got[b], want[b], hash_len(a)) != 0) {
			char hex[SHA256_HEX];
			hex_encode(got[b], hash_len(a), hex);
			report_problem(k, W.links[i].path, NULL, "%s is %s, its blob's name says %s", hash_name(a), hex,
				       f[b].name);
			differ++;
		}
	}

	struct buf s = {0};
	char hb[32];
	if (t->commit[0])
		buf_printf(&s, "snapshot %s: ", t->commit);
	buf_printf(&s, "%zu %s checked against their blob names (%s hashed)", checked, checked == 1 ? "file" : "files",
		   human_bytes(bytes, hb));
	report_note(r, "%zu %s checked against their blob names", checked, checked == 1 ? "file" : "files");
	struct hubcount *hc = xcalloc(1, sizeof *hc);
	*hc = (struct hubcount){checked, bytes, W.ncopies};
	report_details(k, &(struct rdetails){.data = hc, .json = counts_json, .free = free});
	if (differ)
		buf_printf(&s, "; %zu %s", differ, differ == 1 ? "differs" : "differ");
	if (W.nbad)
		buf_printf(&s, "; %zu could not be checked", W.nbad);
	if (nmissing)
		buf_printf(&s, "; %zu %s by the index missing", nmissing, nmissing == 1 ? "file named" : "files named");
	if (nunfinished)
		buf_printf(&s, "; %zu unfinished %s", nunfinished, nunfinished == 1 ? "download" : "downloads");
	if (W.ncopies) {
		buf_printf(&s, "; %zu %s, not %s to blobs (the hub's no-symlink mode): no hash to check %s by",
			   W.ncopies, W.ncopies == 1 ? "file is a copy" : "files are copies", W.ncopies == 1 ? "a link" : "links",
			   W.ncopies == 1 ? "it" : "them");
		report_not_checked(k, "%s", buf_str(&s));
	} else {
		report_summary(k, "%s", buf_str(&s));
	}
	buf_free(&s);
	for (size_t i = 0; i < nb; i++)
		free(err[i]);
	free(err);
	free(want);
	free(got);
	free(f);
	for (size_t i = 0; i < W.nlinks; i++) {
		free(W.links[i].path);
		free(W.links[i].blob);
	}
	free(W.links);
	for (size_t i = 0; i < W.npresent; i++)
		free(W.present[i]);
	free(W.present);
	free(W.blobs);
	free(blobs);
}
