#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define OUT_BUF (1u << 20)

struct out {
	char *final, *tmp;
	int fd;
	uint64_t written;
	char *buf;
	size_t blen;
};

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	if (n == 0)
		return xstrdup(name);
	return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

int path_is_contained(const char *name)
{
	if (!*name || name[0] == '/')
		return -1;
	for (const char *p = name; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -1;
		p += n + (e ? 1 : 0);
		if (e && !*p)
			return -1; /* trailing slash: not a file name */
	}
	return 0;
}

int mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			rc = err_errno(p);
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	if (!rc) {
		struct stat sb;
		if (stat(dir, &sb) < 0)
			rc = err_errno(dir);
		else if (!S_ISDIR(sb.st_mode))
			rc = err_set("%s: not a directory", dir);
	}
	free(p);
	return rc;
}

char *out_tmp_name(const char *final_path)
{
	char *d = xstrdup(final_path), *b = xstrdup(final_path);
	char *name = xasprintf("%s/.%s.ckpt-tmp", dirname(d), basename(b));
	free(d);
	free(b);
	return name;
}

int out_open(struct out **op, const char *final_path)
{
	struct out *o = xcalloc(1, sizeof *o);
	*op = NULL;
	o->final = xstrdup(final_path);
	o->tmp = out_tmp_name(final_path);
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (o->fd < 0) {
		err_errno(o->tmp);
		goto fail;
	}
	if (flock(o->fd, LOCK_EX | LOCK_NB) < 0) {
		err_set("%s: another process is writing this file", o->final);
		close(o->fd);
		o->fd = -1;
		goto fail;
	}
	if (ftruncate(o->fd, 0) < 0) {
		err_errno(o->tmp);
		goto fail_unlink;
	}
	o->buf = xmalloc(OUT_BUF);
	*op = o;
	return 0;
fail_unlink:
	unlink(o->tmp);
	close(o->fd);
	o->fd = -1;
fail:
	free(o->final);
	free(o->tmp);
	free(o);
	return -1;
}

static int write_all(struct out *o, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t r = write(o->fd, c, n > (1u << 30) ? (1u << 30) : n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set("%s: write failed: %s", o->final, strerror(errno));
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int flush(struct out *o)
{
	int rc = write_all(o, o->buf, o->blen);
	o->blen = 0;
	return rc;
}

int out_write(struct out *o, const void *p, size_t n)
{
	o->written += n;
	if (o->blen + n <= OUT_BUF) {
		memcpy(o->buf + o->blen, p, n);
		o->blen += n;
		return 0;
	}
	if (flush(o))
		return -1;
	if (n >= OUT_BUF)
		return write_all(o, p, n);
	memcpy(o->buf, p, n);
	o->blen = n;
	return 0;
}

uint64_t out_written(const struct out *o) { return o->written; }
const char *out_path(const struct out *o) { return o->final; }

static void out_free(struct out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->buf);
	free(o->final);
	free(o->tmp);
	free(o);
}

static int fsync_dir_of(const char *path)
{
	char *d = xstrdup(path);
	int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd >= 0) {
		/* some file systems refuse fsync on a directory; the rename is still done */
		if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
			rc = err_errno(d);
		close(fd);
	}
	free(d);
	return rc;
}

int out_commit(struct out *o)
{
	if (flush(o))
		goto fail;
	if (fsync(o->fd) < 0) {
		err_set("%s: fsync failed: %s", o->final, strerror(errno));
		goto fail;
	}
	if (rename(o->tmp, o->final) < 0) {
		err_set("%s: rename from %s failed: %s", o->final, o->tmp, strerror(errno));
		goto fail;
	}
	int rc = fsync_dir_of(o->final);
	out_free(o);
	return rc;
fail:
	out_abort(o);
	return -1;
}

void out_abort(struct out *o)
{
	if (!o)
		return;
	unlink(o->tmp);
	out_free(o);
}

int out_write_file(const char *path, const void *p, size_t n)
{
	struct out *o;
	if (out_open(&o, path))
		return -1;
	if (out_write(o, p, n)) {
		out_abort(o);
		return -1;
	}
	return out_commit(o);
}
