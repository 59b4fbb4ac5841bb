#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

int file_read(const char *path, uint64_t max, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(path);
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = err_errno(path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = err_set("%s: not a regular file", path);
	} else if ((uint64_t)st.st_size > max) {
		rc = err_set("%s: %lld bytes is more than the %llu expected", path, (long long)st.st_size,
			     (unsigned long long)max);
	} else {
		size_t n = (size_t)st.st_size, got = 0;
		buf_reserve(out, n);
		while (got < n) {
			ssize_t r = read(fd, out->p + out->len + got, n - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				rc = r < 0 ? err_errno(path) : err_set("%s: file shrank while being read", path);
				break;
			}
			got += (size_t)r;
		}
		if (!rc) {
			out->len += n;
			out->p[out->len] = 0;
		}
	}
	close(fd);
	return rc;
}

int stream_read(const char *path, uint64_t max, struct buf *out)
{
	bool in = strcmp(path, "-") == 0;
	const char *what = in ? "standard input" : path;
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(path);
	struct stat st;
	int rc = 0;
	size_t start = out->len;
	if (fstat(fd, &st) < 0)
		rc = err_errno(what);
	else if (S_ISDIR(st.st_mode))
		rc = err_set("%s: Is a directory", what);
	for (ssize_t r = 1; rc == 0 && r != 0;) {
		buf_reserve(out, 1 << 16);
		r = read(fd, out->p + out->len, 1 << 16);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = err_errno(what);
		else if ((uint64_t)(out->len += (size_t)r) - start > max)
			rc = err_set("%s: more than the %llu bytes expected", what, (unsigned long long)max);
	}
	if (rc)
		out->len = start;
	if (out->p)
		out->p[out->len] = 0;
	if (!in)
		close(fd);
	return rc;
}
