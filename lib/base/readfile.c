#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFLNK: return "a symbolic link";
	default: return "of an unknown kind";
	}
}

int file_regular(const char *path, const struct stat *sb)
{
	if (S_ISREG(sb->st_mode))
		return 0;
	return err_set("%s: not a regular file (%s)", path, file_kind(sb->st_mode));
}

int file_open(const char *path, int flags, struct stat *sb)
{
	struct stat st;
	/* asked first, so that a device is not even opened (opening one may do something) */
	int rc = flags & O_NOFOLLOW ? lstat(path, &st) : stat(path, &st);
	if (rc < 0)
		return err_errno(path);
	if (file_regular(path, &st))
		return -1;
	/* the name may have been replaced since: O_NONBLOCK keeps a FIFO from blocking the
	 * open, fstat tells what was opened */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | flags);
	if (fd < 0)
		return errno == ELOOP && flags & O_NOFOLLOW ? err_set("%s: not a regular file (a symbolic link)", path)
							     : err_errno(path);
	int bad = fstat(fd, &st) < 0 ? err_errno(path) : file_regular(path, &st);
	if (!bad && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		bad = err_errno(path);
	if (bad) {
		close(fd);
		return -1;
	}
	if (sb)
		*sb = st;
	return fd;
}

/* Appends what fd holds up to its end, at most max bytes. */
static int read_to_end(int fd, const char *path, uint64_t max, struct buf *out)
{
	size_t got = 0;
	for (;;) {
		buf_reserve(out, got + 65536);
		ssize_t r = read(fd, out->p + out->len + got, out->cap - out->len - got - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_errno(path);
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max)
			return err_set("%s: more than the %llu bytes expected", path, (unsigned long long)max);
	}
	out->len += got;
	out->p[out->len] = 0;
	return 0;
}

const char *limit_text(uint64_t n, char out[32])
{
	if (n && n % (1u << 30) == 0)
		snprintf(out, 32, "%llu GiB", (unsigned long long)(n >> 30));
	else if (n && n % (1u << 20) == 0)
		snprintf(out, 32, "%llu MiB", (unsigned long long)(n >> 20));
	else
		snprintf(out, 32, "%llu-byte", (unsigned long long)n);
	return out;
}

int file_read(const char *path, uint64_t max, const char *what, struct buf *out)
{
	struct stat st;
	char lim[32];
	int fd = file_open(path, 0, &st), rc = 0;
	if (fd < 0)
		return -1;
	if ((uint64_t)st.st_size > max) {
		rc = err_set("%s: %lld bytes, more than the %s limit for %s", path, (long long)st.st_size,
			     limit_text(max, lim), what);
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

int file_read_stream(const char *path, uint64_t max, struct buf *out)
{
	if (strcmp(path, "-") == 0)
		return read_to_end(STDIN_FILENO, "standard input", max, out);
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(path);
	int rc = read_to_end(fd, path, max, out);
	close(fd);
	return rc;
}
