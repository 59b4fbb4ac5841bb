#include "tarstream.h"

#include <archive.h>
#include <archive_entry.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

struct tar {
	struct archive *a;
	char *what;
	char *name;              /* the open entry */
	uint64_t size, written;
	time_t mtime;            /* one time for every entry of the stream */
};

static int fail(struct tar *t, const char *doing)
{
	const char *why = archive_error_string(t->a);
	return err_set("%s: %s%s%s: %s", t->what, doing, t->name ? " " : "", t->name ? t->name : "",
		       why ? why : "tar error");
}

int tar_open_fd(struct tar **out, int fd, const char *what)
{
	struct tar *t = xcalloc(1, sizeof *t);
	*out = NULL;
	t->what = xstrdup(what);
	t->mtime = time(NULL);
	t->a = archive_write_new();
	/* pax: no limit on file sizes or name lengths; unblocked: every write goes straight
	 * through, so large chunks stay large writes */
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(t->a, 0) != ARCHIVE_OK ||
	    archive_write_open_fd(t->a, fd) != ARCHIVE_OK) {
		fail(t, "cannot start a tar stream");
		tar_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int tar_begin(struct tar *t, const char *name, uint64_t size)
{
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
	return rc == ARCHIVE_OK ? 0 : fail(t, "cannot write the header of");
}

int tar_write(struct tar *t, const void *p, size_t n)
{
	const char *c = p;
	if (t->written + n > t->size)
		return err_set("%s: %s: more bytes than its declared size %" PRIu64, t->what, t->name, t->size);
	while (n) {
		la_ssize_t r = archive_write_data(t->a, c, n);
		if (r <= 0)
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
	if (archive_write_finish_entry(t->a) != ARCHIVE_OK)
		return fail(t, "cannot finish");
	free(t->name);
	t->name = NULL;
	return 0;
}

int tar_close(struct tar *t)
{
	int rc = archive_write_close(t->a) == ARCHIVE_OK ? 0 : fail(t, "cannot finish the stream");
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
	/* an unfinished stream must end abruptly: closing it normally would pad the open
	 * entry with zeros and make a truncated file look complete to the reader */
	archive_write_fail(t->a);
	archive_write_free(t->a);
	free(t->name);
	free(t->what);
	free(t);
}
