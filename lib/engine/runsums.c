#include "runsums.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "out.h"
#include "readfile.h"

void runsums_load(const char *outdir, struct manifest *m)
{
	char *path = path_join(outdir, CV_SUMS);
	struct buf b = {0};
	struct stat sb;
	memset(m, 0, sizeof *m);
	/* a link planted under the name is not the directory's own record */
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && file_read(path, 1ull << 30, "a list of sums", &b) == 0 &&
	    manifest_parse(m, path, b.p ? b.p : "", b.len) != 0)
		memset(m, 0, sizeof *m);
	err_clear();
	buf_free(&b);
	free(path);
}

struct pair {
	const char *name;
	const uint8_t *sha;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->name, ((const struct pair *)b)->name);
}

int runsums_record(const char *outdir, const char *const *names, const uint8_t (*sha)[SHA256_LEN], size_t n)
{
	if (n == 0)
		return 0;
	/* one process at a time reads, merges and replaces the file */
	int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		int rc = err_errno(outdir);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	struct manifest m;
	runsums_load(outdir, &m);
	struct pair *p = xcalloc(m.n + n, sizeof *p);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		p[k++] = (struct pair){names[i], sha[i]};
	for (size_t i = 0; i < m.n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < n && !replaced; j++)
			replaced = strcmp(m.e[i].name, names[j]) == 0;
		if (!replaced && m.e[i].has_sha)
			p[k++] = (struct pair){m.e[i].name, m.e[i].sha};
	}
	qsort(p, k, sizeof *p, by_name);
	struct buf b = {0};
	for (size_t i = 0; i < k; i++)
		manifest_line(&b, p[i].name, p[i].sha);
	char *path = path_join(outdir, CV_SUMS);
	/* (the same sums as recorded: nothing is written, so that a run with nothing to do
	 * touches no file) */
	struct buf old = {0};
	bool same = file_read(path, b.len + 1, CV_SUMS, &old) == 0 && old.len == b.len &&
		    (b.len == 0 || memcmp(old.p, b.p, b.len) == 0);
	err_clear();
	buf_free(&old);
	int rc = same ? 0 : out_write_file(path, b.p, b.len);
	free(path);
	buf_free(&b);
	free(p);
	manifest_free(&m);
	close(dfd); /* drops the lock */
	return rc;
}

int runsums_forget(const char *outdir)
{
	char *path = path_join(outdir, CV_SUMS);
	struct stat sb;
	/* (none there is nothing to forget, also where nothing can be written) */
	int rc = lstat(path, &sb) == 0 && unlink(path) < 0 && errno != ENOENT ? err_errno(path) : 0;
	free(path);
	return rc;
}
