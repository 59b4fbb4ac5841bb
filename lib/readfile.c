#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

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
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(path);
	struct stat st;
	char lim[32];
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = err_errno(path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = err_set("%s: not a regular file", path);
	} else if ((uint64_t)st.st_size > max) {
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
