#include "archive_in.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "held.h"
#include "json.h"
#include "readfile.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

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

/* Whether some component of the name starts with "." */
static bool hidden(const char *name)
{
	for (const char *p = name; *p;) {
		if (*p == '.')
			return true;
		const char *s = strchr(p, '/');
		if (!s)
			break;
		p = s + 1;
	}
	return false;
}

/* One file's bytes as they stream past. */
struct reading {
	struct arc_file *f;
	bool hash, want_header, want_text;
	struct sha256 h;
	struct buf head;         /* the first 8 + N bytes (safetensors) or the whole text */
	uint64_t need;           /* how many of them */
	uint64_t got;
};

static void take(struct reading *r, const uint8_t *p, size_t n)
{
	if (r->hash)
		sha256_update(&r->h, p, n);
	r->got += n;
	while (n && r->head.len < r->need) {
		size_t k = r->need - r->head.len < n ? (size_t)(r->need - r->head.len) : n;
		buf_add(&r->head, p, k);
		p += k;
		n -= k;
		if (r->want_header && r->need == 8 && r->head.len == 8) {
			/* the header length is known: keep 8 + N bytes (st_parse refuses an N over
			 * its limit with the first 8 alone) */
			uint64_t hl = 0;
			for (int i = 7; i >= 0; i--)
				hl = hl << 8 | (uint8_t)r->head.p[i];
			r->need = hl <= ST_MAX_HEADER ? 8 + hl : 8;
		}
	}
}

static int read_entry(struct archive *ar, struct reading *r)
{
	static const uint8_t zeros[4096];
	const void *p;
	size_t n;
	la_int64_t off;
	for (;;) {
		int rc = archive_read_data_block(ar, &p, &n, &off);
		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN)
			return -1;
		/* a sparse file's holes read as zeros */
		while ((uint64_t)off > r->got) {
			uint64_t gap = (uint64_t)off - r->got;
			take(r, zeros, gap < sizeof zeros ? (size_t)gap : sizeof zeros);
		}
		take(r, p, n);
	}
}

static void add_file(struct arc *a, struct archive *ar, const char *entry, uint64_t size, bool hash)
{
	a->f = xgrow(a->f, a->n, sizeof *a->f);
	struct arc_file *f = &a->f[a->n++];
	memset(f, 0, sizeof *f);
	f->entry = xstrdup(entry);
	f->path = xasprintf("%s/%s", a->path, entry);
	f->size = size;
	struct reading r = {.f = f, .hash = hash};
	if (ends_with(entry, ".json")) {
		char lim[32];
		if (size > JSON_MAX_FILE)
			f->error = xasprintf("%s: %llu bytes, more than the %s limit for a JSON file", f->path,
					     (unsigned long long)size, limit_text(JSON_MAX_FILE, lim));
		else if (held_take(f->path, "JSON text", size))
			f->error = xstrdup(err_last());
		else
			r.want_text = true, r.need = f->held = size;
	} else {
		r.want_header = true;
		r.need = 8;
	}
	if (hash)
		sha256_init(&r.h);
	int rc = read_entry(ar, &r);
	if (hash) {
		uint8_t sha[SHA256_LEN];
		sha256_final(&r.h, sha);
		if (rc == 0) {
			memcpy(f->sha, sha, SHA256_LEN);
			f->hashed = true;
		}
	}
	if (rc) {
		const char *m = archive_error_string(ar);
		free(a->error);
		a->error = xasprintf("%s: the archive breaks off in this file: %s", f->path, m ? m : "read error");
		free(f->error);
		f->error = xstrdup(a->error);
	} else if (r.want_text) {
		f->len = r.head.len;
		buf_addc(&r.head, 0);
		f->text = r.head.p;
		r.head.p = NULL;
	} else if (r.want_header) {
		if (st_parse(&f->st, f->path, (const uint8_t *)r.head.p, r.head.len, size))
			f->error = xstrdup(err_last());
	}
	buf_free(&r.head);
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
	return;
none:
	a->root = xstrdup("");
	a->dir = xstrdup(a->path);
	for (size_t i = 0; i < a->n; i++)
		a->f[i].name = xstrdup(a->f[i].entry);
}

/* Whether a path relative to directory `dir` (of `dn` bytes, "" for the root) climbs above
 * the root with "..": what an extracting tar would write outside its target. */
static bool climbs_out(const char *dir, size_t dn, const char *rel)
{
	long depth = 0;
	for (size_t i = 0; i < dn;) {
		size_t n = strcspn(dir + i, "/");
		if (n > dn - i)
			n = dn - i;
		depth += n == 2 && dir[i] == '.' && dir[i + 1] == '.' ? -1 : n && !(n == 1 && dir[i] == '.');
		i += n + 1;
	}
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (n && !(n == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return true;
		p += n + (p[n] == '/');
	}
	return false;
}

/* Entries that would land outside the directory a tar is extracted into: refused by name,
 * although nothing is extracted here, for an archive that holds one is not a checkpoint
 * anyone should unpack.  Links inside are only skipped (below). */
static int check_escape(const char *path, struct archive_entry *e)
{
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	const char *name = archive_entry_pathname(e), *hard = archive_entry_hardlink(e);
	const char *sym = archive_entry_filetype(e) == AE_IFLNK ? archive_entry_symlink(e) : NULL;
	if (!name)
		return 0;
	if (name[0] == '/')
		return err_set("%s: entry %s is an absolute path", path, err_quote(name, q));
	if (climbs_out("", 0, name))
		return err_set("%s: entry %s leads outside the archive's directory", path, err_quote(name, q));
	if (hard && (hard[0] == '/' || climbs_out("", 0, hard)))
		return err_set("%s: entry %s is a hard link to %s, outside the archive's directory", path,
			       err_quote(name, q), err_quote(hard, q2));
	const char *slash = strrchr(name, '/');
	if (sym && (sym[0] == '/' || climbs_out(name, slash ? (size_t)(slash - name) : 0, sym)))
		return err_set("%s: entry %s is a symbolic link to %s, outside the archive's directory", path,
			       err_quote(name, q), err_quote(sym, q2));
	return 0;
}

int arc_read(struct arc *a, const char *path, bool hash)
{
	memset(a, 0, sizeof *a);
	a->path = xstrdup(path);
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	archive_read_support_filter_all(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, path, 1 << 20) != ARCHIVE_OK) {
		err_set("%s: %s", path, archive_error_string(ar) ? archive_error_string(ar) : "cannot open");
		goto fail;
	}
	bool first = true;
	for (;;) {
		int rc = archive_read_next_header(ar, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc < ARCHIVE_WARN) {
			const char *m = archive_error_string(ar);
			if (first) {
				err_set("%s: not a tar archive: %s", path, m ? m : "unknown format");
				goto fail;
			}
			a->error = xasprintf("%s: the archive is damaged after %zu files: %s", path, a->n,
					     m ? m : "read error");
			break;
		}
		if (first) {
			const char *fmt = archive_format_name(ar), *flt = archive_filter_name(ar, 0);
			a->format = archive_filter_count(ar) > 1 && flt ? xasprintf("%s, %s", fmt ? fmt : "tar", flt)
									 : xstrdup(fmt ? fmt : "tar");
		}
		first = false;
		if (check_escape(path, e))
			goto fail;
		const char *name = archive_entry_pathname(e);
		if (!name)
			name = "";
		for (;;) {
			while (name[0] == '/')
				name++;
			if (name[0] != '.' || name[1] != '/')
				break;
			name += 2;
		}
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || !*name || hidden(name)) {
			a->nskipped += archive_entry_filetype(e) != AE_IFDIR;
			continue;
		}
		add_file(a, ar, name, archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0, hash);
		if (a->error)
			break;
	}
	if (first) {
		err_set("%s: the archive holds no files", path);
		goto fail;
	}
	archive_read_free(ar);
	find_root(a);
	return 0;
fail:
	archive_read_free(ar);
	arc_free(a);
	return -1;
}

void arc_free(struct arc *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct arc_file *f = &a->f[i];
		free(f->entry);
		free(f->name);
		free(f->path);
		st_close(f->st);
		free(f->error);
		free(f->text);
		held_give(f->held);
	}
	free(a->f);
	free(a->path);
	free(a->root);
	free(a->dir);
	free(a->format);
	free(a->error);
	memset(a, 0, sizeof *a);
}

int arc_ckpt(struct arc *a, struct ckpt **out, int flags)
{
	struct ckpt_file *cf = xcalloc(a->n ? a->n : 1, sizeof *cf);
	for (size_t i = 0; i < a->n; i++) {
		cf[i] = (struct ckpt_file){a->f[i].name, a->f[i].st, a->f[i].error, a->f[i].text, a->f[i].len};
		a->f[i].st = NULL;
	}
	int rc = ckpt_open_files(out, a->dir, cf, a->n, flags);
	free(cf);
	return rc;
}
