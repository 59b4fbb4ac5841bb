/* Manifests: every accepted spelling read to the same entries, sha256sum's escaping written
 * and read back, exact messages for what is refused, a directory's listing (hidden files,
 * subdirectories, the manifest itself left out), parallel hashing against one-shot hashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "hash.h"
#include "manifest.h"
#include "out.h"
#include "t.h"

#define H1 "3056ff899c0ae297c3891e8d5c77563f05c53e91687b8638466d8b145b15ae67"
#define H2 "d9ec8b9ba9d328f3b57e9e709dac86be6f9d999ed962299c1fd9a3a5dff7d3ca"

static int parse(struct manifest *m, const char *text)
{
	return manifest_parse(m, "m", text, strlen(text));
}

static bool has(const struct manifest *m, const char *name, const char *hex)
{
	const struct mentry *e = manifest_find(m, name);
	uint8_t sha[SHA256_LEN];
	return e && e->has_sha && hex_decode(hex, sha, SHA256_LEN) == 0 && memcmp(sha, e->sha, SHA256_LEN) == 0;
}

static void test_spellings(void)
{
	static const char *const texts[] = {
		H1 "  b.safetensors\n" H2 "  a/c.json\n",
		H1 " *b.safetensors\r\n" H2 " *./a/c.json",
		"SHA256 (b.safetensors) = " H1 "\nSHA256 (a/c.json) = " H2 "\n\n",
		"{\"b.safetensors\": \"" H1 "\", \"a/c.json\": \"sha256:" H2 "\"}",
		"{\"b.safetensors\": {\"sha256\": \"" H1 "\", \"size\": 3}, \"a/c.json\": {\"lfs\": {\"oid\": \"sha256:" H2 "\"}}}",
		"{\"siblings\": [{\"rfilename\": \"b.safetensors\", \"lfs\": {\"sha256\": \"" H1
		"\", \"size\": 3}}, {\"rfilename\": \"a/c.json\", \"lfs\": {\"sha256\": \"" H2 "\"}}]}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		struct manifest m;
		int rc = parse(&m, texts[i]);
		CHECK(rc == 0 && m.n == 2 && has(&m, "b.safetensors", H1) && has(&m, "a/c.json", H2) &&
			      strcmp(m.e[0].name, "a/c.json") == 0,
		      "manifest spelling %zu read%s%s", i, rc ? ": " : "", rc ? err_last() : "");
		if (rc == 0)
			manifest_free(&m);
	}
	struct manifest m;
	parse(&m, "{\"x\": {\"sha256\": \"" H1 "\", \"size\": 12}}");
	CHECK(m.n == 1 && m.e[0].has_size && m.e[0].size == 12, "a JSON entry's size is kept");
	manifest_free(&m);
	parse(&m, "{\"siblings\": [{\"rfilename\": \"README.md\"}]}");
	CHECK(m.n == 1 && !m.e[0].has_sha && !m.e[0].has_size, "an API sibling outside LFS has no hash");
	manifest_free(&m);
}

static void test_escapes(void)
{
	uint8_t sha[SHA256_LEN];
	struct buf b = {0};
	hex_decode(H1, sha, SHA256_LEN);
	manifest_line(&b, "we\\ird\nname", sha);
	manifest_line(&b, "plain", sha);
	CHECK(strcmp(buf_str(&b), "\\" H1 "  we\\\\ird\\nname\n" H1 "  plain\n") == 0,
	      "names with a backslash or newline are escaped as sha256sum does");
	struct manifest m;
	int rc = manifest_parse(&m, "m", b.p, b.len);
	CHECK(rc == 0 && m.n == 2 && has(&m, "we\\ird\nname", H1) && has(&m, "plain", H1), "escaped names read back");
	if (rc == 0)
		manifest_free(&m);
	buf_free(&b);
}

static void refused(const char *text, const char *want)
{
	struct manifest m;
	int rc = parse(&m, text);
	bool ok = rc == -1 && strcmp(err_last(), want) == 0;
	CHECK(ok, "refused with: %s%s%s", want, ok ? "" : " -- got: ", ok ? "" : rc ? err_last() : "accepted");
	if (rc == 0)
		manifest_free(&m);
}

static void test_refused(void)
{
	refused("hello\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused(H1 "  a\n" H1 "x b\n", "m: line 2 is not \"SHA256  NAME\" (sha256sum's format)");
	refused(H1 "  a\nzz" H1 "  b\n", "m: line 2 is not \"SHA256  NAME\" (sha256sum's format)");
	refused(H1 "  /etc/passwd\n", "m: line 1: \"/etc/passwd\" is not a name inside the checkpoint");
	refused(H1 "  a/../../b\n", "m: line 1: \"a/../../b\" is not a name inside the checkpoint");
	refused(H1 "  a\n" H2 "  ./a\n", "m: \"a\" is listed twice");
	refused("\\" H1 "  a\\qb\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("{\"a\": 5}", "m: the entry for \"a\" is not a SHA-256 (64 hex digits, or an object with \"sha256\")");
	refused("{\"a\": \"abc\"}", "m: the entry for \"a\" is not a SHA-256 (64 hex digits, or an object with \"sha256\")");
	refused("{\"../a\": \"" H1 "\"}", "m: \"../a\" is not a name inside the checkpoint");
	refused("{\"a\": ", "m: invalid JSON: unexpected end of input at line 1 column 7");
	refused("{\"siblings\": [{\"lfs\": {}}]}", "m: siblings[0] has no usable \"rfilename\"");
}

/* sha256sum -c's reading (tests/cli/hostile-small.sh runs it on the same texts): the names
 * it takes from each spelling. */
static void test_sha256sum_rules(void)
{
	static const struct {
		const char *text, *name;
	} cases[] = {
		{H1 "\tb\n", "b"},
		{H1 "\t b\n", "b"},
		{H1 "\t*b\n", "b"},
		{H1 "\t\tb\n", "\tb"},
		{H1 "   b\n", " b"},
		{"  \t" H1 "  b\n", "b"},
		{"# c\n\n\r\n" H1 "  b\n#" H1 "  x\n", "b"},
		{H1 "  b\r\r\n", "b\r"},
		{"SHA256(b)=" H1, "b"},
		{"SHA256 (b) = \t " H1 "\r\n", "b"},
		{" SHA256 (r(s)t) = " H1, "r(s)t"},
		{"\\" H1 "  c\\rr\\nx\\\\\n", "c\rr\nx\\"},
		{" \\SHA256 (a\\\\b) = " H1, "a\\b"},
		{H1 "  a\\b", "a\\b"},
		{H1 "  ", " "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct manifest m;
		int rc = parse(&m, cases[i].text);
		CHECK(rc == 0 && m.n == 1 && has(&m, cases[i].name, H1), "sha256sum's reading %zu: one entry, its name%s%s",
		      i, rc ? ": " : "", rc ? err_last() : "");
		if (rc == 0)
			manifest_free(&m);
	}
	/* "HASH NAME" (one blank, md5 -r) first: a later "HASH  NAME" is a name with a blank */
	struct manifest m;
	int rc = parse(&m, H1 " b\n" H2 "  c\n");
	CHECK(rc == 0 && m.n == 2 && has(&m, "b", H1) && has(&m, " c", H2), "one blank first, then two: \" c\"");
	if (rc == 0)
		manifest_free(&m);
	refused(H1 "  b\n" H2 " c\n",
		"m: line 2 is \"SHA256 NAME\" with one blank, after lines of \"SHA256  NAME\" (sha256sum refuses the mix)");
	refused(H1 " *b\n" H2 "\tc\n",
		"m: line 2 is \"SHA256 NAME\" with one blank, after lines of \"SHA256  NAME\" (sha256sum refuses the mix)");
	refused(" # c\n" H1 "  b\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused(H1 "  b\n \t\n", "m: line 2 is not \"SHA256  NAME\" (sha256sum's format)");
	refused(H1 " \n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("SHA256 (b) = " H1 " \n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("SHA256  (b) = " H1 "\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("SHA256 (b = " H1 "\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("SHA256 (", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("\\ " H1 "  b\n", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("\\" H1 "  b\\", "m: line 1 is not \"SHA256  NAME\" (sha256sum's format)");
	refused("SHA256 () = " H1 "\n", "m: line 1: \"\" is not a name inside the checkpoint");
	refused("# only\n\n\r\n", "m: no checksum lines (sha256sum's format), only comments and blank lines");
	refused("", "m: no checksum lines (sha256sum's format), only comments and blank lines");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	fputs(text, f);
	fclose(f);
}

static void test_list_and_hash(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *d = xasprintf("%s/mlist", tmp), *p;
	mkdir_p(d);
	const char *names[] = {"b.safetensors", "a.json", "sub/deep/c.txt", ".hidden", "sub/.git/x", "SUMS"};
	for (size_t i = 0; i < 6; i++) {
		p = xasprintf("%s/%s", d, names[i]);
		char *dir = xstrdup(p);
		*strrchr(dir, '/') = 0;
		mkdir_p(dir);
		write_file(p, names[i]);
		free(dir);
		free(p);
	}
	p = xasprintf("%s/link.json", d);
	char *target = xasprintf("%s/a.json", d);
	CHECK(symlink(target, p) == 0, "a symbolic link made");
	free(p);
	free(target);
	struct mfile *f;
	size_t n;
	char *skip = xasprintf("%s/SUMS", d);
	int rc = manifest_list(d, skip, NULL, 0, &f, &n);
	CHECK(rc == 0 && n == 4 && strcmp(f[0].name, "a.json") == 0 && strcmp(f[1].name, "b.safetensors") == 0 &&
		      strcmp(f[2].name, "link.json") == 0 && strcmp(f[3].name, "sub/deep/c.txt") == 0 && f[1].size == 13,
	      "listing: sorted, recursive, links to files followed, hidden names and the manifest left out (%zu)", n);
	if (rc == 0) {
		struct pool *pool = pool_new(3);
		uint8_t (*sha)[SHA256_LEN] = calloc(n, sizeof *sha);
		char **err = calloc(n, sizeof *err);
		manifest_hash(d, f, n, pool, sha, err);
		bool ok = true;
		for (size_t i = 0; i < n; i++) {
			uint8_t want[SHA256_LEN];
			const char *content = strcmp(f[i].name, "link.json") == 0 ? "a.json" : f[i].name;
			sha256_buf(content, strlen(content), want);
			ok = ok && !err[i] && memcmp(want, sha[i], SHA256_LEN) == 0;
		}
		CHECK(ok, "parallel hashes equal one-shot hashes of the contents");
		free(sha);
		free(err);
		pool_free(pool);
		mfiles_free(f, n);
	}
	/* hidden names asked for: taken when they are files, once, in order */
	const char *also[] = {".hidden", "sub/.git/x", ".nothere", "a.json", "sub/.git", ".hidden/x"};
	rc = manifest_list(d, skip, also, 6, &f, &n);
	CHECK(rc == 0 && n == 6 && strcmp(f[0].name, ".hidden") == 0 && strcmp(f[1].name, "a.json") == 0 &&
		      strcmp(f[4].name, "sub/.git/x") == 0 && strcmp(f[5].name, "sub/deep/c.txt") == 0 &&
		      f[0].size == 7,
	      "listing with hidden names asked for: the files among them added, sorted (%zu)", n);
	if (rc == 0)
		mfiles_free(f, n);
	free(skip);
	free(d);
}

static void test_hidden(void)
{
	CHECK(manifest_hidden(".gitattributes") && manifest_hidden("a/.b") && manifest_hidden("a/b/.c/d") &&
		      manifest_hidden("..x"),
	      "hidden: a component starting with a dot");
	CHECK(!manifest_hidden("a.b") && !manifest_hidden("a/b.c/d.") && !manifest_hidden("config.json"),
	      "not hidden: dots elsewhere");
}

int main(void)
{
	err_init("test_manifest");
	test_spellings();
	test_escapes();
	test_refused();
	test_sha256sum_rules();
	test_list_and_hash();
	test_hidden();
	CHECK(manifest_name("./././a") && strcmp(manifest_name("./././a"), "a") == 0 && !manifest_name("a//b") &&
		      !manifest_name("") && !manifest_name("./"),
	      "manifest_name: leading ./ dropped, empty components refused");
	return t_done();
}
