#include "tarstream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "out.h"

struct tar {
	struct archive *a;
	int fd;
	int dead;                /* abandoned: nothing more reaches fd */
	int err;                 /* errno of the write that failed */
	char *what;
	char *name;              /* the open entry */
	uint64_t size, written;
	time_t mtime;            /* one time for every entry of the stream */
};

static int fail(struct tar *t, const char *doing)
{
	const char *why = t->err ? strerror(t->err) : archive_error_string(t->a);
	return err_set("%s: %s%s%s: %s", t->what, doing, t->name ? " " : "", t->name ? t->name : "",
		       why ? why : "tar error");
}

/* Our own write callback (rather than archive_write_open_fd).  A failed write is recorded
 * here and the stream goes dead: everything after it is swallowed, and libarchive is told
 * all went well.  So an abandoned stream ends abruptly (closing it normally would pad the
 * open entry with zeros and make a truncated file look complete to the reader), and
 * libarchive never enters its fatal state, in which it leaks its output state. */
static la_ssize_t write_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct tar *t = arg;
	const char *p = buf;
	size_t left = n;
	(void)a;
	while (left && !t->dead) {
		ssize_t r = write(t->fd, p, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			t->err = errno;
			t->dead = 1;
			break;
		}
		p += r;
		left -= (size_t)r;
	}
	return (la_ssize_t)n;
}

int tar_open_fd(struct tar **out, int fd, const char *what)
{
	struct tar *t = xcalloc(1, sizeof *t);
	*out = NULL;
	t->what = xstrdup(what);
	t->fd = fd;
	t->mtime = time(NULL);
	t->a = archive_write_new();
	/* pax: no limit on file sizes or name lengths; unblocked: every write goes straight
	 * through, so large chunks stay large writes */
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(t->a, 0) != ARCHIVE_OK ||
	    archive_write_open2(t->a, t, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		fail(t, "cannot start a tar stream");
		tar_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int tar_begin(struct tar *t, const char *name, uint64_t size)
{
	/* what a reader extracts must stay in its target directory, whatever named it */
	if (path_is_contained(name)) {
		char q[ERR_QUOTE];
		return err_set("%s: entry name %s would lead outside the directory it is extracted into", t->what,
			       err_quote(name, q));
	}
	struct archive_entry *e = archive_entry_new();
	free(t->name);
	t->name = xstrdup(name);
	t->size = size;
	t->written = 0;
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, t->mtime, 0);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	int rc = archive_write_header(t->a, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK && !t->err ? 0 : fail(t, "cannot write the header of");
}

int tar_write(struct tar *t, const void *p, size_t n)
{
	const char *c = p;
	if (t->written + n > t->size)
		return err_set("%s: %s: more bytes than its declared size %" PRIu64, t->what, t->name, t->size);
	while (n) {
		la_ssize_t r = archive_write_data(t->a, c, n);
		if (r <= 0 || t->err)
			return fail(t, "cannot write");
		c += r;
		n -= (size_t)r;
		t->written += (uint64_t)r;
	}
	return 0;
}

int tar_end(struct tar *t)
{
	if (t->written != t->size)
		return err_set("%s: %s: %" PRIu64 " bytes written of %" PRIu64, t->what, t->name, t->written,
			       t->size);
	if (archive_write_finish_entry(t->a) != ARCHIVE_OK || t->err)
		return fail(t, "cannot finish");
	free(t->name);
	t->name = NULL;
	return 0;
}

int tar_close(struct tar *t)
{
	int rc = archive_write_close(t->a) == ARCHIVE_OK && !t->err ? 0 : fail(t, "cannot finish the stream");
	archive_write_free(t->a);
	free(t->name);
	free(t->what);
	free(t);
	return rc;
}

void tar_free(struct tar *t)
{
	if (!t)
		return;
	t->dead = 1; /* whatever libarchive still writes (padding, end blocks) is swallowed */
	archive_write_free(t->a);
	free(t->name);
	free(t->what);
	free(t);
}
