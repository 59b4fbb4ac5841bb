/* The hub cache's names (lib/base/hubcache.h) and the git blob SHA-1 its small files are
 * named by, against git's own ids; the same hash through manifest_hash's threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "hash.h"
#include "hubcache.h"
#include "manifest.h"
#include "out.h"
#include "pool.h"
#include "t.h"

static void put(const char *path, const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");
	fwrite(text, 1, n, f);
	fclose(f);
}

static void test_git_sha1(void)
{
	char d[] = "t_hub.XXXXXX"; /* in the scratch directory tests/run-all gives */
	if (!mkdtemp(d)) {
		CHECK(0, "mkdtemp");
		return;
	}
	char *a = path_join(d, "a"), *e = path_join(d, "e"), *big = path_join(d, "big");
	put(a, "Hello, World!", 13);
	put(e, "", 0);
	/* 5 MiB: more than one read block */
	size_t n = 5u << 20;
	char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 131 + (i >> 13));
	put(big, buf, n);
	free(buf);
	uint8_t h[SHA256_LEN];
	char hex[SHA256_HEX];
	/* `printf 'Hello, World!' | git hash-object --stdin`; the empty blob's id is git's own constant */
	CHECK(hash_file(a, HASH_GIT_SHA1, h) == 0 && (hex_encode(h, SHA1_LEN, hex), 1) &&
		      strcmp(hex, "b45ef6fec89518d314f546fd6c3025367b721684") == 0,
	      "git blob SHA-1 of \"Hello, World!\" is git hash-object's");
	CHECK(hash_file(e, HASH_GIT_SHA1, h) == 0 && (hex_encode(h, SHA1_LEN, hex), 1) &&
		      strcmp(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391") == 0,
	      "git blob SHA-1 of an empty file is git's empty blob");
	uint8_t s1[SHA256_LEN], s2[SHA256_LEN];
	CHECK(hash_file(a, HASH_SHA256, s1) == 0 && sha256_file(a, s2) == 0 && memcmp(s1, s2, SHA256_LEN) == 0,
	      "hash_file SHA-256 is sha256_file");
	/* the same through manifest_hash, each file by its own algorithm, in parallel */
	struct mfile f[3] = {{.name = "a", .size = 13, .algo = HASH_GIT_SHA1},
			     {.name = "big", .size = n, .algo = HASH_GIT_SHA1},
			     {.name = "e", .size = 0, .algo = HASH_SHA256}};
	uint8_t got[3][SHA256_LEN], want[SHA256_LEN];
	char *err[3];
	struct pool *p = pool_new(3);
	manifest_hash(d, f, 3, p, got, err);
	pool_free(p);
	bool same = !err[0] && !err[1] && !err[2];
	for (int i = 0; i < 3 && same; i++) {
		char *path = path_join(d, f[i].name);
		same = hash_file(path, f[i].algo, want) == 0 && memcmp(want, got[i], hash_len(f[i].algo)) == 0;
		free(path);
	}
	CHECK(same, "manifest_hash: each file as its algo says, the one-shot hashes");
	char *missing = path_join(d, "none");
	CHECK(hash_file(missing, HASH_GIT_SHA1, h) == -1 && strstr(err_last(), "none"), "a missing file: the named error");
	free(missing);
	unlink(a);
	unlink(e);
	unlink(big);
	rmdir(d);
	free(a);
	free(e);
	free(big);
}

static void test_names(void)
{
	char *r = hub_repo_of_snapshot("/c/hub/models--org--name/snapshots/0123");
	CHECK(r && strcmp(r, "/c/hub/models--org--name") == 0, "snapshot -> its repository");
	free(r);
	r = hub_repo_of_snapshot("rel/models--org--name/snapshots/0123/");
	CHECK(r && strcmp(r, "rel/models--org--name") == 0, "a relative snapshot, trailing slash");
	free(r);
	CHECK(!hub_repo_of_snapshot("/c/models--x/snapshot/0123") && !hub_repo_of_snapshot("/c/datasets--x/snapshots/1") &&
		      !hub_repo_of_snapshot("/c/models--/snapshots/1") && !hub_repo_of_snapshot("snapshots/1") &&
		      !hub_repo_of_snapshot("/") && !hub_repo_of_snapshot("models--a/snapshots/"),
	      "not snapshots: other names, no repository name, too short");
	enum hash_algo a;
	uint8_t h[SHA256_LEN];
	CHECK(hub_blob_name("d9ec8b9ba9d328f3b57e9e709dac86be6f9d999ed962299c1fd9a3a5dff7d3ca", &a, h) == 0 &&
		      a == HASH_SHA256 && h[0] == 0xd9 && h[31] == 0xca,
	      "64 hex digits: a SHA-256");
	CHECK(hub_blob_name("b45ef6fec89518d314f546fd6c3025367b721684", &a, h) == 0 && a == HASH_GIT_SHA1 &&
		      h[0] == 0xb4 && h[19] == 0x84,
	      "40 hex digits: a git blob SHA-1");
	CHECK(hub_blob_name("b45ef6fec89518d314f546fd6c3025367b72168", &a, h) == -1 &&
		      hub_blob_name("g45ef6fec89518d314f546fd6c3025367b721684", &a, h) == -1 &&
		      hub_blob_name("b45ef6fec89518d314f546fd6c3025367b721684.incomplete", &a, h) == -1 &&
		      hub_blob_name("", &a, h) == -1,
	      "other names: no hash");
	CHECK(hub_blob_incomplete("abc.incomplete") && hub_blob_incomplete("abc.1a2b3c4d.incomplete") &&
		      !hub_blob_incomplete("abc") && !hub_blob_incomplete("incomplete"),
	      "unfinished downloads: both spellings");
}

int main(void)
{
	err_init("test_hubcache");
	test_git_sha1();
	test_names();
	return t_done();
}
