/* Which names are archives, and reading them: from a file and from memory alike, sparse
 * files with their holes as zeros, hard links holding their target's bytes, what is kept as
 * JSON (tests/cli/verify.sh and tests/cli/hostile-archives.sh read archives made by tar). */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "archive_in.h"
#include "err.h"
#include "hash.h"
#include "t.h"

/* An archive (pax) written into memory. */
static char mem[1 << 20];
static size_t used;
static struct archive *w;

static void w_open(void)
{
	w = archive_write_new();
	archive_write_set_format_pax_restricted(w);
	archive_write_open_memory(w, mem, sizeof mem, &used);
}

static struct archive_entry *w_entry(const char *name, unsigned type, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	return e;
}

static void w_file(const char *name, const char *data, size_t n)
{
	struct archive_entry *e = w_entry(name, AE_IFREG, n);
	archive_write_header(w, e);
	archive_write_data(w, data, n);
	archive_entry_free(e);
}

static void w_link(const char *name, const char *sym, const char *hard)
{
	struct archive_entry *e = w_entry(name, sym ? AE_IFLNK : AE_IFREG, 0);
	if (sym)
		archive_entry_set_symlink(e, sym);
	else
		archive_entry_set_hardlink(e, hard);
	archive_write_header(w, e);
	archive_entry_free(e);
}

/* A sparse file of `size` bytes: `data` at offset 0 and `more` at offset `at`. */
static void w_sparse(const char *name, uint64_t size, const char *data, size_t n, uint64_t at, const char *more,
		     size_t m)
{
	struct archive_entry *e = w_entry(name, AE_IFREG, size);
	archive_entry_sparse_add_entry(e, 0, (la_int64_t)n);
	if (m)
		archive_entry_sparse_add_entry(e, (la_int64_t)at, (la_int64_t)m);
	/* the writer takes the file's bytes in order and keeps those of the data pieces */
	static const char zeros[4096];
	archive_write_header(w, e);
	archive_write_data(w, data, n);
	for (uint64_t o = n; m && o < at;) {
		size_t k = at - o < sizeof zeros ? (size_t)(at - o) : sizeof zeros;
		archive_write_data(w, zeros, k);
		o += k;
	}
	if (m)
		archive_write_data(w, more, m);
	archive_entry_free(e);
}

static void w_close(void)
{
	archive_write_close(w);
	archive_write_free(w);
}

static const struct arc_file *named(const struct arc *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->f[i].name, name) == 0)
			return &a->f[i];
	return NULL;
}

static bool sha_is(const struct arc_file *f, const void *p, size_t n)
{
	uint8_t sha[SHA256_LEN];
	sha256_buf(p, n, sha);
	return f && f->hashed && memcmp(f->sha, sha, SHA256_LEN) == 0;
}

/* The same bytes from a file and from memory: the same files, names and hashes. */
static void test_file_and_memory(void)
{
	w_open();
	w_file("c/config.json", "{}", 2);
	w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
	w_file("./c//config.json", "{\"a\":1}", 7);
	w_close();
	FILE *f = fopen("m.tar", "wb");
	fwrite(mem, 1, used, f);
	fclose(f);
	struct arc a, b;
	int ra = arc_read(&a, "m.tar", true), rb = arc_read_mem(&b, "m.tar", mem, used, true);
	bool same = ra == 0 && rb == 0 && a.n == 2 && b.n == 2 && strcmp(a.root, "c") == 0 && strcmp(b.root, "c") == 0;
	for (size_t i = 0; same && i < a.n; i++)
		same = strcmp(a.f[i].name, b.f[i].name) == 0 && strcmp(a.f[i].path, b.f[i].path) == 0 &&
		       memcmp(a.f[i].sha, b.f[i].sha, SHA256_LEN) == 0;
	CHECK(same, "an archive read from a file and from memory: the same files and hashes (%s)", ra || rb ? err_last() : "");
	const struct arc_file *cfg = same ? named(&b, "config.json") : NULL;
	CHECK(cfg && cfg->text && strcmp(cfg->text, "{\"a\":1}") == 0 && sha_is(cfg, "{\"a\":1}", 7) &&
		      strcmp(cfg->path, "m.tar/c/config.json") == 0,
	      "a path written again, spelt otherwise: the last bytes, under the plain name");
	if (ra == 0)
		arc_free(&a);
	if (rb == 0)
		arc_free(&b);
	remove("m.tar");
}

static void test_sparse(void)
{
	static char full[100000];
	memset(full, 0, sizeof full);
	memcpy(full, "ABCD", 4);
	memcpy(full + 5000, "xyz", 3);
	w_open();
	w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
	w_sparse("c/x.bin", sizeof full, "ABCD", 4, 5000, "xyz", 3);
	w_sparse("c/tail.bin", 70000, "DATA", 4, 0, NULL, 0);
	w_close();
	struct arc a;
	int rc = arc_read_mem(&a, "s.tar", mem, used, true);
	static char tail[70000];
	memcpy(tail, "DATA", 4);
	CHECK(rc == 0 && sha_is(named(&a, "x.bin"), full, sizeof full) && named(&a, "x.bin")->size == sizeof full,
	      "a sparse file: its holes hashed as zeros (%s)", rc ? err_last() : "");
	CHECK(rc == 0 && sha_is(named(&a, "tail.bin"), tail, sizeof tail) && a.holes == 100000 - 7 + 70000 - 4,
	      "a sparse file with a trailing hole: hashed up to its full size");
	if (rc == 0)
		arc_free(&a);

	/* more holes than are hashed: refused before hashing, read without a hash */
	w_open();
	w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
	w_sparse("c/huge.bin", 5ull << 30, "DATA", 4, 0, NULL, 0);
	w_close();
	rc = arc_read_mem(&a, "s.tar", mem, used, true);
	CHECK(rc == -1 && strcmp(err_last(), "s.tar: entry \"c/huge.bin\" is a sparse file with 5368709116 bytes of holes: "
					     "ckpt-verify hashes at most 4 GiB of holes in an archive (extract it and "
					     "verify the directory)") == 0,
	      "a 5 GiB hole to hash: refused, named (%s)", rc ? err_last() : "read");
	if (rc == 0)
		arc_free(&a);
	rc = arc_read_mem(&a, "s.tar", mem, used, false);
	CHECK(rc == 0 && a.n == 2 && named(&a, "huge.bin")->size == 5ull << 30 && a.holes == (5ull << 30) - 4,
	      "a 5 GiB hole, nothing hashed: read at once (%s)", rc ? err_last() : "");
	if (rc == 0)
		arc_free(&a);

	/* holes where JSON text or a safetensors header would be: NUL bytes, no JSON */
	w_open();
	w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
	w_sparse("c/config.json", 4000, "{\"a\"", 4, 3000, ":1}", 3);
	w_sparse("c/x.safetensors", 1 << 20, "\x00\x10\0\0\0\0\0\0{\"", 10, 0, NULL, 0);
	char yb[128];
	int yn = snprintf(yb + 8, sizeof yb - 8, "{\"t\":{\"dtype\":\"U8\",\"shape\":[1000000],\"data_offsets\":[0,1000000]}}");
	memset(yb, 0, 8);
	yb[0] = (char)yn;
	w_sparse("c/y.safetensors", 8 + (uint64_t)yn + 1000000, yb, 8 + (size_t)yn, 0, NULL, 0);
	w_close();
	rc = arc_read_mem(&a, "s.tar", mem, used, true);
	const struct arc_file *c = rc ? NULL : named(&a, "config.json"), *x = rc ? NULL : named(&a, "x.safetensors"),
			      *y = rc ? NULL : named(&a, "y.safetensors");
	CHECK(c && !c->text && c->error &&
		      strcmp(c->error, "s.tar/c/config.json: a sparse file: its holes are NUL bytes, which JSON cannot hold") == 0,
	      "a sparse JSON file: no JSON, said why (%s)", c && c->error ? c->error : rc ? err_last() : "");
	CHECK(x && !x->st && x->error &&
		      strcmp(x->error, "s.tar/c/x.safetensors: a sparse file with a hole in its safetensors header (NUL bytes)") == 0,
	      "a hole in a safetensors header: said so (%s)", x && x->error ? x->error : "");
	CHECK(y && y->st && !y->error, "a hole after a safetensors header: the header read (%s)",
	      y && y->error ? y->error : "");
	if (rc == 0)
		arc_free(&a);
}

static void test_links(void)
{
	static char big[70000];
	memset(big, '{', sizeof big);
	w_open();
	w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
	w_file("c/a.json", "{}", 2);
	w_link("c/h.json", NULL, "c/a.json");
	w_file("c/a.json", "[1]", 3);
	w_file("c/.cfg", "{\"x\":1}", 7);
	w_link("c/config.json", ".cfg", NULL);
	w_file("c/big", big, sizeof big);
	w_link("c/big.json", NULL, "c/big");
	w_close();
	struct arc a;
	int rc = arc_read_mem(&a, "l.tar", mem, used, true);
	const struct arc_file *h = rc ? NULL : named(&a, "h.json"), *aj = rc ? NULL : named(&a, "a.json"),
			      *cfg = rc ? NULL : named(&a, "config.json"), *bj = rc ? NULL : named(&a, "big.json");
	CHECK(h && aj && h->text && strcmp(h->text, "{}") == 0 && sha_is(h, "{}", 2) && strcmp(aj->text, "[1]") == 0,
	      "a hard link holds its target's bytes as they were (%s)", rc ? err_last() : "");
	CHECK(cfg && cfg->text && strcmp(cfg->text, "{\"x\":1}") == 0 && sha_is(cfg, "{\"x\":1}", 7) &&
		      !named(&a, ".cfg") && a.nskipped == 1,
	      "a symbolic link named .json to a small hidden file: read as that JSON");
	CHECK(bj && bj->error &&
		      strcmp(bj->error, "l.tar/c/big.json: a link to l.tar/c/big, a file over 64 KiB not named *.json, "
					"which is not kept to be read as JSON") == 0 &&
		      sha_is(bj, big, sizeof big),
	      "a hard link named .json to a large file of another name: hashed, not read as JSON, said why (%s)",
	      bj && bj->error ? bj->error : "");
	if (rc == 0)
		arc_free(&a);
}

static void test_special(void)
{
	static const struct {
		unsigned type;
		const char *what;
	} k[] = {{AE_IFIFO, "FIFO"}, {AE_IFCHR, "character device"}, {AE_IFBLK, "block device"}};
	for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
		w_open();
		w_file("c/model.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
		struct archive_entry *e = w_entry("c/config.json", k[i].type, 0);
		archive_write_header(w, e);
		archive_entry_free(e);
		w_close();
		struct arc a;
		char want[256];
		snprintf(want, sizeof want,
			 "x.tar: entry \"c/config.json\" is a %s (a checkpoint holds files, directories and links only)",
			 k[i].what);
		int rc = arc_read_mem(&a, "x.tar", mem, used, false);
		CHECK(rc == -1 && strcmp(err_last(), want) == 0, "a %s in an archive: refused, named (%s)", k[i].what,
		      rc ? err_last() : "read");
		if (rc == 0)
			arc_free(&a);
	}
}

int main(void)
{
	err_init("test_archive_in");
	const char *yes[] = {"a.tar", "d/a.tar.gz", "a.tar.zst", "a.tgz", "a.tbz2", "a.txz", "a.tzst", "v3.tar.xz"};
	const char *no[] = {"a.safetensors", "tar", ".tar.gz", "a.tar.gz.part", "a.tar/x.json", "dir.tar/model.safetensors", "a.gz"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		CHECK(arc_is_archive_name(yes[i]), "archive name: %s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		CHECK(!arc_is_archive_name(no[i]), "not an archive name: %s", no[i]);
	struct arc a;
	CHECK(arc_read(&a, "/nonexistent.tar", false) == -1 && strstr(err_last(), "/nonexistent.tar: ") == err_last(),
	      "a missing archive: an error naming it (%s)", err_last());
	CHECK(arc_read_mem(&a, "junk.tar", "not a tar", 9, false) == -1 &&
		      strcmp(err_last(), "junk.tar: Unrecognized archive format") == 0,
	      "bytes that are no archive, from memory: an error naming them (%s)", err_last());
	test_file_and_memory();
	test_sparse();
	test_links();
	test_special();
	return t_done();
}
