/* libFuzzer target: a checkpoint inside a tar archive (optionally compressed), read from
 * memory by the code ckpt-verify reads a file with (arc_read_mem: libarchive, the model of
 * the tree tar x leaves, the files' headers and JSON), then the checks ckpt-verify makes on
 * an archive: structure, model and a manifest.
 *
 * Read twice: without hashing (where holes cost nothing), then, when its sparse files' holes
 * stay small, with hashing, as --manifest reads it; both reads must agree.  What is accepted
 * lists files a directory could hold: names inside it, no ".", ".." or hidden component, no
 * name twice.
 *
 * libarchive is not instrumented, and refuses a header whose checksum is wrong before any
 * of ckpt's code sees it: so the input's ustar headers get their checksums made right first
 * (fix_checksums), and a change to a name, a type or a link target goes through. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_in.h"
#include "err.h"
#include "pool.h"
#include "report.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int one(const uint8_t *data, size_t size, struct pool *pool);

/* Holes hashed per input at most: more would make executions slow, not find more. */
#define FUZZ_MAX_HOLES (1u << 20)

static char manifest[128] = "";

/* A manifest naming what a checkpoint holds (some hashes right for tiny files): written
 * once, as TMPDIR/ckpt-fuzz_tar.sha256 (by rename, so that fuzzing jobs side by side share
 * it), since verify_manifest reads a file.  One file, left for the next run. */
static const char *manifest_path(void)
{
	if (manifest[0])
		return manifest;
	const char *tmp = getenv("TMPDIR");
	tmp = tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp";
	char part[128];
	snprintf(manifest, sizeof manifest, "%s/ckpt-fuzz_tar.sha256", tmp);
	snprintf(part, sizeof part, "%s/ckpt-fuzz_tar.XXXXXX", tmp);
	int fd = mkstemp(part);
	static const char text[] =
		/* "{}" and the empty file */
		"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  config.json\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  model.safetensors\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  model.safetensors.index.json\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  model-00001-of-00002.safetensors\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  sub/x.json\n";
	if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1) || close(fd) ||
	    rename(part, manifest)) {
		perror(manifest);
		abort();
	}
	return manifest;
}

static bool bad_name(const char *name)
{
	if (!*name)
		return true;
	for (const char *p = name;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || p[0] == '.')
			return true; /* empty, ".", ".." or hidden */
		if (!p[n])
			return false;
		p += n + 1;
	}
}

/* What every accepted archive must hold. */
static void check_listing(const struct arc *a)
{
	size_t k = strlen(a->root);
	for (size_t i = 0; i < a->n; i++) {
		const struct arc_file *f = &a->f[i];
		if (bad_name(f->entry) || bad_name(f->name))
			__builtin_trap();
		if (k ? strncmp(f->entry, a->root, k) || f->entry[k] != '/' || strcmp(f->entry + k + 1, f->name)
		      : strcmp(f->entry, f->name))
			__builtin_trap();
		if (strncmp(f->path, a->path, strlen(a->path)) || strcmp(f->path + strlen(a->path) + 1, f->entry))
			__builtin_trap();
		if ((f->st == NULL) == (f->error == NULL) && !f->text)
			__builtin_trap(); /* a header or why not, or JSON text */
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->f[j].entry, f->entry) == 0)
				__builtin_trap(); /* one file per path, as in a directory */
	}
}

/* A header field of n bytes: octal digits, or base-256 when its first byte has 0x80. */
static uint64_t field(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	if (p[0] & 0x80) {
		for (size_t i = 1; i < n; i++)
			v = v << 8 | p[i];
		return v;
	}
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == 0))
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(p[i] - '0');
	return v;
}

/* Walk a plain ustar/GNU/pax archive from header to header (each followed by its size in
 * blocks), writing each one's checksum as tar does. */
static void fix_checksums(uint8_t *p, size_t n)
{
	if (n < 512 || memcmp(p + 257, "ustar", 5) != 0)
		return;
	for (size_t at = 0; at <= n && n - at >= 512;) {
		uint8_t *h = p + at;
		size_t z = 0;
		while (z < 512 && !h[z])
			z++;
		if (z == 512)
			return; /* the end */
		unsigned sum = 8 * ' ';
		for (size_t i = 0; i < 512; i++)
			sum += i >= 148 && i < 156 ? 0 : h[i];
		char c[8];
		snprintf(c, sizeof c, "%06o", sum & 0777777);
		memcpy(h + 148, c, 7);
		h[155] = ' ';
		uint64_t size = field(h + 124, 12);
		if (size > n)
			return;
		at += 512 + (size_t)((size + 511) & ~(uint64_t)511);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
	static struct pool *pool;
	if (!pool)
		pool = pool_new(1);
	uint8_t *data = malloc(size ? size : 1);
	memcpy(data, input, size);
	fix_checksums(data, size);
	int rc = one(data, size, pool);
	free(data);
	return rc;
}

static int one(const uint8_t *data, size_t size, struct pool *pool)
{
	struct arc a;
	if (arc_read_mem(&a, "fuzz.tar", data, size, false)) {
		if (!err_last()[0])
			__builtin_trap(); /* a refusal always says why */
		return 0;
	}
	check_listing(&a);
	size_t n = a.n;
	uint64_t holes = a.holes;
	bool broke = a.error != NULL;
	arc_free(&a);
	if (holes > FUZZ_MAX_HOLES)
		return 0;
	/* hashing changes nothing but the hashes, and what a sparse file declares may be refused
	 * before it is hashed (more holes than are hashed, of an entry cut short) */
	if (arc_read_mem(&a, "fuzz.tar", data, size, true)) {
		if (!strstr(err_last(), " bytes of holes: ckpt-verify hashes at most "))
			__builtin_trap();
		return 0;
	}
	if (a.n != n || (a.error != NULL) != broke)
		__builtin_trap();
	for (size_t i = 0; i < a.n; i++)
		if (!a.f[i].hashed && !a.f[i].error)
			__builtin_trap(); /* a file read to its end has its hash */
	struct vtarget t;
	if (vtarget_open_arc(&t, &a, NULL)) {
		if (!err_last()[0])
			__builtin_trap();
		return 0;
	}
	struct report r;
	report_init(&r, t.path);
	verify_structure(&t, &r);
	verify_model(&t, &r);
	if (verify_manifest(&t, manifest_path(), NULL, pool, &r))
		__builtin_trap(); /* the manifest is good */
	report_free(&r);
	vtarget_close(&t);
	return 0;
}
