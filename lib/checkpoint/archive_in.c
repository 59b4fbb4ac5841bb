#include "archive_in.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "arc_tree.h"
#include "buf.h"
#include "err.h"
#include "held.h"
#include "readfile.h"
#include "names.h"

bool arc_is_archive_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	static const char *const suffixes[] = {".tar", ".tgz", ".tbz2", ".tbz", ".txz", ".tzst", ".tlz"};
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
		if (ends_with(base, suffixes[i]))
			return true;
	const char *t = strstr(base, ".tar.");
	return t && t != base && !strchr(t + 5, '.');
}

/* One file entry's bytes, as extraction writes them: kept for as long as a name of the
 * extracted tree may hold them. */
struct blob {
	char *path;              /* "ARCHIVE/path" where it was written (messages) */
	uint64_t size;
	bool hashed;             /* read to its end: sha is its SHA-256 */
	uint8_t sha[SHA256_LEN];
	struct buf head;         /* the first 8 + N bytes (a safetensors header) */
	struct buf text;         /* all of it, when small enough to be read as JSON (has_text) */
	bool json, has_text;
	bool text_hole;          /* a sparse file: the zeros of a hole would be in its text */
	bool head_hole;          /* ... or in its header */
	char *error;             /* the stream broke in it */
};

struct scan {
	struct arc *a;
	struct archive *ar;
	struct atree *tree;
	bool hash;
	struct blob *b;
	size_t nb;
};

/* One file's bytes as they stream past. */
struct reading {
	struct blob *b;
	bool hash, want_text;
	struct sha256 h;
	uint64_t need;           /* how many bytes of head */
	uint64_t got;
};

static void take(struct reading *r, const uint8_t *p, size_t n)
{
	if (r->hash)
		sha256_update(&r->h, p, n);
	r->got += n;
	if (r->want_text)
		buf_add(&r->b->text, p, n);
	struct buf *head = &r->b->head;
	while (n && head->len < r->need) {
		size_t k = r->need - head->len < n ? (size_t)(r->need - head->len) : n;
		buf_add(head, p, k);
		p += k;
		n -= k;
		if (r->need == 8 && head->len == 8) {
			/* the header length is known: keep 8 + N bytes (st_parse refuses an N over
			 * its limit with the first 8 alone) */
			uint64_t hl = 0;
			for (int i = 7; i >= 0; i--)
				hl = hl << 8 | (uint8_t)head->p[i];
			r->need = hl <= ST_MAX_HEADER ? 8 + hl : 8;
		}
	}
}

/* n bytes of a hole: the zeros extraction writes.  Hashed; but neither JSON text nor a
 * safetensors header holds a NUL byte, so a hole in them (which could be gigabytes) ends
 * what is kept of them: they are no JSON, and say so. */
static void take_zeros(struct reading *r, uint64_t n)
{
	static const uint8_t zeros[1 << 16];
	struct blob *b = r->b;
	if (!n)
		return;
	if (r->want_text) {
		r->want_text = b->has_text = false;
		b->text_hole = true;
		buf_free(&b->text);
	}
	if (b->head.len < 8) {
		/* the header's length may be zeros: that is a header (of length 0) */
		size_t k = n < 8 - b->head.len ? (size_t)n : 8 - b->head.len;
		take(r, zeros, k);
		n -= k;
	}
	if (n && b->head.len < r->need) {
		b->head_hole = true;
		r->need = b->head.len;
	}
	r->got += n;
	while (r->hash && n) {
		size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
		sha256_update(&r->h, zeros, k);
		n -= k;
	}
}

/* Holes are hashed as zeros: time with no bytes of the archive behind it, so bounded.  n
 * more bytes of holes; mine: the entry's so far. */
static int holes(struct scan *s, struct reading *r, const char *raw, uint64_t n, uint64_t mine)
{
	char q[ERR_QUOTE];
	s->a->holes += n;
	if (r->hash && s->a->holes > ARC_MAX_HOLES)
		return err_set("%s: entry %s is a sparse file with %llu bytes of holes: ckpt-verify hashes at most "
			       "%llu GiB of holes in an archive (extract it and verify the directory)",
			       s->a->path, err_quote(raw, q), (unsigned long long)mine,
			       (unsigned long long)(ARC_MAX_HOLES >> 30));
	return 0;
}

/* 0: read to its end; -1: the stream broke (libarchive's message); -2: refused (err_set). */
static int read_data(struct scan *s, struct reading *r, const char *raw, uint64_t size)
{
	char q[ERR_QUOTE];
	const void *p;
	size_t n;
	la_int64_t off;
	uint64_t mine = 0;
	for (;;) {
		int rc = archive_read_data_block(s->ar, &p, &n, &off);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc < ARCHIVE_WARN)
			return -1;
		/* a sparse file's data comes in pieces at offsets: tar writes them there, in
		 * order, and leaves zeros between them */
		if (off < 0 || (uint64_t)off < r->got) {
			err_set("%s: entry %s: its data pieces overlap or go backwards (a damaged sparse map)",
				s->a->path, err_quote(raw, q));
			return -2;
		}
		if ((uint64_t)off > size || n > size - (uint64_t)off) {
			err_set("%s: entry %s holds data past its size of %llu bytes", s->a->path, err_quote(raw, q),
				(unsigned long long)size);
			return -2;
		}
		mine += (uint64_t)off - r->got;
		if (holes(s, r, raw, (uint64_t)off - r->got, mine))
			return -2;
		take_zeros(r, (uint64_t)off - r->got);
		take(r, p, n);
	}
	/* a trailing hole: the file still has its full size */
	if (r->got < size) {
		if (holes(s, r, raw, size - r->got, mine + size - r->got))
			return -2;
		take_zeros(r, size - r->got);
	}
	return 0;
}

static int read_file(struct scan *s, struct archive_entry *e, const char *raw)
{
	struct arc *a = s->a;
	if (s->nb % 64 == 0)
		s->b = xreallocarray(s->b, s->nb + 64, sizeof *s->b);
	if (atree_file(s->tree, raw, (uint32_t)s->nb))
		return -1;
	struct blob *b = &s->b[s->nb++];
	memset(b, 0, sizeof *b);
	b->path = xasprintf("%s/%s", a->path, atree_path(s->tree));
	b->size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0 ? (uint64_t)archive_entry_size(e) : 0;
	b->json = ends_with(atree_path(s->tree), ".json");
	/* a small file is kept whatever its name: a link named .json may come to hold it */
	b->has_text = b->size <= (b->json ? ARC_MAX_JSON : ARC_MAX_LINKED_JSON);
	struct reading r = {.b = b, .hash = s->hash, .want_text = b->has_text, .need = 8};
	/* the holes a sparse file declares: refused before hours of hashing zeros */
	la_int64_t off, len;
	uint64_t data = 0;
	if (s->hash && archive_entry_sparse_reset(e) > 0) {
		while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK)
			data += len > 0 ? (uint64_t)len : 0;
		if (data < b->size && a->holes + (b->size - data) > ARC_MAX_HOLES)
			return holes(s, &r, raw, b->size - data, b->size - data);
	}
	if (s->hash)
		sha256_init(&r.h);
	int rc = read_data(s, &r, raw, b->size);
	if (s->hash) {
		uint8_t sha[SHA256_LEN];
		sha256_final(&r.h, sha);
		if (rc == 0) {
			memcpy(b->sha, sha, SHA256_LEN);
			b->hashed = true;
		}
	}
	if (rc == -2)
		return -1;
	if (rc) {
		const char *m = archive_error_string(s->ar);
		free(a->error);
		a->error = xasprintf("%s: the archive breaks off in this file: %s", b->path, m ? m : "read error");
		b->error = xstrdup(a->error);
		buf_free(&b->text);
	}
	return 0;
}

static void blobs_free(struct scan *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		free(s->b[i].path);
		buf_free(&s->b[i].head);
		buf_free(&s->b[i].text);
		free(s->b[i].error);
	}
	free(s->b);
}

/* Entries a checkpoint has no use for, and that tar makes as what they are. */
static int special(struct scan *s, const char *raw, unsigned type)
{
	char q[ERR_QUOTE];
	const char *what = type == AE_IFIFO ? "FIFO" : type == AE_IFCHR ? "character device"
		       : type == AE_IFBLK ? "block device" : type == AE_IFSOCK ? "socket" : "file of unknown type";
	return err_set("%s: entry %s is a %s (a checkpoint holds files, directories and links only)", s->a->path,
		       err_quote(raw, q), what);
}

/* One entry into the tree; its bytes read when it is a file. */
static int entry(struct scan *s, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e), *hard = archive_entry_hardlink(e);
	if (!raw)
		return err_set("%s: an entry without a name", s->a->path);
	/* a hard link's own data, which some formats allow, is skipped, as tar skips it */
	if (hard && *hard)
		return atree_hardlink(s->tree, raw, hard);
	unsigned type = archive_entry_filetype(e);
	if (type == AE_IFREG)
		return read_file(s, e, raw);
	if (type == AE_IFDIR)
		return atree_dir(s->tree, raw);
	if (type == AE_IFLNK)
		return atree_symlink(s->tree, raw, archive_entry_symlink(e));
	return special(s, raw, type);
}

/* The top directory when every file lies below the same one. */
static void find_root(struct arc *a)
{
	size_t k = 0;
	const char *first = NULL;
	for (size_t i = 0; i < a->n; i++) {
		const char *s = strchr(a->f[i].entry, '/');
		if (!s)
			goto none;
		if (!first) {
			first = a->f[i].entry;
			k = (size_t)(s - first);
		} else if ((size_t)(s - a->f[i].entry) != k || strncmp(first, a->f[i].entry, k) != 0) {
			goto none;
		}
	}
	if (!first)
		goto none;
	a->root = xstrndup(first, k);
	a->dir = xasprintf("%s/%s", a->path, a->root);
	for (size_t i = 0; i < a->n; i++)
		a->f[i].name = xstrdup(a->f[i].entry + k + 1);
	/* hidden files outside the root keep no name */
	for (size_t i = 0; i < a->nhidden; i++)
		if (strncmp(a->hidden[i].entry, first, k) == 0 && a->hidden[i].entry[k] == '/')
			a->hidden[i].name = xstrdup(a->hidden[i].entry + k + 1);
	return;
none:
	a->root = xstrdup("");
	a->dir = xstrdup(a->path);
	for (size_t i = 0; i < a->n; i++)
		a->f[i].name = xstrdup(a->f[i].entry);
	for (size_t i = 0; i < a->nhidden; i++)
		a->hidden[i].name = xstrdup(a->hidden[i].entry);
}

/* A file of the final tree, with the bytes of the entry it holds (a hidden one: its hash
 * alone). */
static void add_file(struct arc *a, const struct atree_file *tf, const struct blob *b)
{
	struct arc_file **v = tf->hidden ? &a->hidden : &a->f;
	size_t *n = tf->hidden ? &a->nhidden : &a->n;
	if (*n % 64 == 0)
		*v = xreallocarray(*v, *n + 64, sizeof **v);
	struct arc_file *f = &(*v)[(*n)++];
	memset(f, 0, sizeof *f);
	f->entry = xstrdup(tf->path);
	f->path = xasprintf("%s/%s", a->path, tf->path);
	f->size = b->size;
	f->hashed = b->hashed;
	memcpy(f->sha, b->sha, SHA256_LEN);
	if (tf->hidden) {
		if (b->error)
			f->error = xstrdup(b->error);
	} else if (b->error) {
		f->error = xstrdup(b->error);
	} else if (ends_with(tf->path, ".json")) {
		const struct buf *t = &b->text;
		char lim[32];
		if (b->size > ARC_MAX_JSON)
			f->error = xasprintf("%s: %llu bytes, more than the %s limit for a JSON file", f->path,
					     (unsigned long long)b->size, limit_text(ARC_MAX_JSON, lim));
		else if (b->text_hole)
			f->error = xasprintf("%s: a sparse file: its holes are NUL bytes, which JSON cannot hold", f->path);
		else if (!b->has_text)
			f->error = xasprintf("%s: a link to %s, a file over %u KiB not named *.json, which is not "
					     "kept to be read as JSON",
					     f->path, b->path, ARC_MAX_LINKED_JSON >> 10);
		else if (held_take(f->path, "JSON text", t->len))
			f->error = xstrdup(err_last());
		else {
			f->held = t->len;
			f->len = t->len;
			f->text = xmalloc(t->len + 1);
			memcpy(f->text, t->p ? t->p : "", t->len);
			f->text[t->len] = 0;
		}
	} else {
		const struct buf *h = b->has_text && b->text.len >= b->head.len ? &b->text : &b->head;
		if (b->head_hole)
			f->error = xasprintf("%s: a sparse file with a hole in its safetensors header (NUL bytes)",
					     f->path);
		else if (st_parse(&f->st, f->path, (const uint8_t *)(h->p ? h->p : ""), h->len, b->size))
			f->error = xstrdup(err_last());
	}
}

/* The files of the final tree, once every entry is in. */
static int final_files(struct scan *s)
{
	struct arc *a = s->a;
	if (atree_finish(s->tree))
		return -1;
	size_t n;
	const struct atree_file *tf = atree_files(s->tree, &n);
	for (size_t i = 0; i < n; i++)
		add_file(a, &tf[i], &s->b[tf[i].content]);
	a->nskipped = atree_others(s->tree);
	find_root(a);
	/* a link must stay in the checkpoint, as lib/base/pathguard.h demands of a directory's */
	size_t k = strlen(a->root);
	for (size_t i = 0; k && i < n; i++)
		if (!tf[i].hidden && tf[i].real && (strncmp(tf[i].real, a->root, k) != 0 || tf[i].real[k] != '/')) {
			char q[ERR_QUOTE], q2[ERR_QUOTE], q3[ERR_QUOTE];
			return err_set("%s: entry %s is a symbolic link to %s, outside the checkpoint's directory %s",
				       a->path, err_quote(tf[i].path, q), err_quote(tf[i].real, q2),
				       err_quote(a->root, q3));
		}
	return 0;
}

/* Read every entry of an opened stream; frees ar. */
static int scan(struct arc *a, struct archive *ar, bool hash)
{
	struct scan s = {.a = a, .ar = ar, .tree = atree_new(a->path), .hash = hash};
	struct archive_entry *e;
	bool first = true;
	int rc = 0;
	for (;;) {
		int r = archive_read_next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			const char *m = archive_error_string(ar);
			if (first) {
				rc = err_set("%s: not a tar archive: %s", a->path, m ? m : "unknown format");
				goto done;
			}
			a->error = xasprintf("%s: the archive is damaged after %zu files: %s", a->path, s.nb,
					     m ? m : "read error");
			break;
		}
		if (first) {
			const char *fmt = archive_format_name(ar), *flt = archive_filter_name(ar, 0);
			a->format = archive_filter_count(ar) > 1 && flt ? xasprintf("%s, %s", fmt ? fmt : "tar", flt)
									 : xstrdup(fmt ? fmt : "tar");
		}
		first = false;
		if ((rc = entry(&s, e)) != 0)
			goto done;
		if (a->error)
			break;
	}
	if (first)
		rc = err_set("%s: the archive holds no files", a->path);
	else
		rc = final_files(&s);
done:
	archive_read_free(ar);
	atree_free(s.tree);
	blobs_free(&s);
	if (rc)
		arc_free(a);
	return rc;
}

static struct archive *reader(void)
{
	struct archive *ar = archive_read_new();
	/* the compressions libarchive decodes itself, and none it would hand to a program
	 * (lrzip, lzop, grzip ...) of a hostile archive's choosing */
	archive_read_support_filter_gzip(ar);
	archive_read_support_filter_bzip2(ar);
	archive_read_support_filter_xz(ar);
	archive_read_support_filter_lzma(ar);
	archive_read_support_filter_lzip(ar);
	archive_read_support_filter_zstd(ar);
	archive_read_support_filter_lz4(ar);
	archive_read_support_filter_compress(ar);
	archive_read_support_format_tar(ar);
	return ar;
}

int arc_read(struct arc *a, const char *path, bool hash)
{
	memset(a, 0, sizeof *a);
	a->path = xstrdup(path);
	struct archive *ar = reader();
	if (archive_read_open_filename(ar, path, 1 << 20) != ARCHIVE_OK) {
		err_set("%s: %s", path, archive_error_string(ar) ? archive_error_string(ar) : "cannot open");
		archive_read_free(ar);
		arc_free(a);
		return -1;
	}
	return scan(a, ar, hash);
}

int arc_read_mem(struct arc *a, const char *name, const void *p, size_t n, bool hash)
{
	memset(a, 0, sizeof *a);
	a->path = xstrdup(name);
	struct archive *ar = reader();
	if (archive_read_open_memory(ar, p, n) != ARCHIVE_OK) {
		err_set("%s: %s", name, archive_error_string(ar) ? archive_error_string(ar) : "cannot open");
		archive_read_free(ar);
		arc_free(a);
		return -1;
	}
	return scan(a, ar, hash);
}

static void files_free(struct arc_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].entry);
		free(v[i].name);
		free(v[i].path);
		st_close(v[i].st);
		free(v[i].error);
		free(v[i].text);
		held_give(v[i].held);
	}
	free(v);
}

void arc_free(struct arc *a)
{
	files_free(a->f, a->n);
	files_free(a->hidden, a->nhidden);
	free(a->path);
	free(a->root);
	free(a->dir);
	free(a->format);
	free(a->error);
	memset(a, 0, sizeof *a);
}
