/* Limits on hostile input (issue 12, items 1 and 5): the rank limit (ST_MAX_DIMS) where a
 * header is read and written; duplicate checks that stay linear however many names (the
 * name table of lib/base/nameset.h, counted in probes, and wall-clock bounds a quadratic check
 * misses by orders of magnitude); the JSON tree's memory per byte of text; the limit on the
 * headers held at once (lib/base/held.h). */
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "held.h"
#include "json.h"
#include "nameset.h"
#include "st.h"
#include "t.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A safetensors file in memory: the length field, the header, ndata zero bytes. */
static void file_of(struct buf *b, const char *header, size_t ndata)
{
	uint64_t n = strlen(header);
	b->len = 0;
	for (int i = 0; i < 8; i++)
		buf_addc(b, (char)(n >> (8 * i)));
	buf_adds(b, header);
	for (size_t i = 0; i < ndata; i++)
		buf_addc(b, 0);
}

static int parse_file(struct st_file **f, const struct buf *b)
{
	return st_parse(f, "x.safetensors", (const uint8_t *)b->p, b->len, b->len);
}

/* {"a":{"dtype":"U8","shape":[1,1,...],"data_offsets":[0,1]}} with nd ones */
static void ranked(struct buf *b, unsigned nd)
{
	struct buf h = {0};
	buf_adds(&h, "{\"a\":{\"dtype\":\"U8\",\"shape\":[");
	for (unsigned i = 0; i < nd; i++)
		buf_adds(&h, i ? ",1" : "1");
	buf_adds(&h, "],\"data_offsets\":[0,1]}}");
	file_of(b, buf_str(&h), 1);
	buf_free(&h);
}

static void test_rank(void)
{
	struct buf b = {0};
	struct st_file *f;
	for (unsigned nd = 0; nd <= ST_MAX_DIMS; nd++) {
		ranked(&b, nd);
		int rc = parse_file(&f, &b);
		CHECK(rc == 0 && f->t[0].ndim == nd, "%u dimensions are read", nd);
		if (rc == 0)
			st_close(f);
	}
	static const unsigned over[] = {ST_MAX_DIMS + 1, 12, 100, 10000};
	for (size_t i = 0; i < sizeof over / sizeof *over; i++) {
		char want[128];
		ranked(&b, over[i]);
		snprintf(want, sizeof want, "x.safetensors: tensor \"a\": %u dimensions, more than the 8 this tool reads",
			 over[i]);
		int rc = parse_file(&f, &b);
		CHECK(rc == -1 && strcmp(err_last(), want) == 0, "%u dimensions are refused by name: %s", over[i],
		      rc ? err_last() : "(read)");
		if (rc == 0)
			st_close(f);
	}
	/* the writer takes what the reader does, and refuses more */
	uint64_t shape[ST_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	struct st_entry e = {"w", DT_U8, ST_MAX_DIMS, shape};
	struct st_layout L;
	CHECK(st_layout(&L, &e, 1, NULL, 0) == 0, "st_layout writes 8 dimensions");
	st_layout_free(&L);
	e.ndim = ST_MAX_DIMS + 1;
	CHECK(st_layout(&L, &e, 1, NULL, 0) == -1 &&
	      strcmp(err_last(), "tensor \"w\": 9 dimensions, more than the 8 this tool writes") == 0,
	      "st_layout refuses 9 dimensions: %s", err_last());
	/* the longest shape text of all fits ST_SHAPE_LEN whole */
	char sh[ST_SHAPE_LEN];
	uint64_t big[ST_MAX_DIMS];
	for (int i = 0; i < ST_MAX_DIMS; i++)
		big[i] = UINT64_MAX;
	st_shape_str(ST_MAX_DIMS, big, sh, sizeof sh);
	CHECK(strlen(sh) == 2 + 8 * 20 + 7 * 2 && sh[strlen(sh) - 1] == ']', "8 dimensions of 20 digits fit ST_SHAPE_LEN");
	buf_free(&b);
}

/* ---- the name table ---- */

static long probes;

static const char *counted_name(const void *items, size_t i, size_t *len)
{
	const char *const *s = items;
	probes++;
	*len = strlen(s[i]);
	return s[i];
}

static const char *sized_name(const void *items, size_t i, size_t *len)
{
	const char *const *s = items;
	*len = i == 2 ? 3 : strlen(s[i]); /* item 2 holds a NUL: "a\0b" */
	return s[i];
}

static void test_nameset(void)
{
	enum { N = 200000 };
	char **names = xcalloc(N, sizeof *names);
	for (size_t i = 0; i < N; i++)
		names[i] = xasprintf("model.layers.%zu.mlp.experts.%zu.weight", i / 256, i % 256);
	struct nameset s;
	nameset_init(&s, N, counted_name, names);
	long dup = -2;
	for (size_t i = 0; i < N && dup == -2; i++)
		if (nameset_add(&s, i) >= 0)
			dup = (long)i;
	CHECK(dup == -2, "200000 distinct names: no duplicate");
	/* each add compares with the names it meets: a few on average, whatever the names */
	CHECK(probes < 4L * N, "200000 adds: %ld name lookups (linear: under %d)", probes, 4 * N);
	probes = 0;
	long found = 0;
	for (size_t i = 0; i < N; i++)
		found += nameset_find(&s, names[i], strlen(names[i])) == (long)i;
	CHECK(found == N && probes < 4L * N, "every name found, %ld lookups", probes);
	CHECK(nameset_find(&s, "model.layers.0", 14) == -1, "a prefix of a name is not the name");
	free(names[N - 1]);
	names[N - 1] = xstrdup(names[17]);
	nameset_clear(&s);
	for (size_t i = 0; i + 1 < N; i++)
		nameset_add(&s, i);
	CHECK(nameset_add(&s, N - 1) == 17, "cleared and filled again: the duplicate of item 17 is found");
	nameset_free(&s);
	for (size_t i = 0; i < N; i++)
		free(names[i]);
	free(names);

	const char *nul[] = {"a", "ab", "a\0b", "a"};
	nameset_init(&s, 4, sized_name, nul);
	CHECK(nameset_add(&s, 0) == -1 && nameset_add(&s, 1) == -1 && nameset_add(&s, 2) == -1,
	      "\"a\", \"ab\" and \"a\\0b\" are three names");
	CHECK(nameset_add(&s, 3) == 0 && nameset_find(&s, "a\0b", 3) == 2, "names are compared with their lengths");
	nameset_free(&s);
	struct nameset empty = {0};
	CHECK(nameset_find(&empty, "x", 1) == -1, "a set never filled finds nothing");
}

/* ---- duplicate checks on hostile input: linear ---- */

/* {"__metadata__":{"k0":"v","k1":"v",...}} with n keys, the last one a copy of the first
 * when dup */
static void many_meta(struct buf *b, size_t n, bool dup)
{
	struct buf h = {0};
	buf_adds(&h, "{\"__metadata__\":{");
	for (size_t i = 0; i < n; i++)
		buf_printf(&h, "%s\"k%zu\":\"v\"", i ? "," : "", dup && i == n - 1 ? (size_t)0 : i);
	buf_adds(&h, "}}");
	file_of(b, buf_str(&h), 0);
	buf_free(&h);
}

static void test_linear_dups(void)
{
	/* a quadratic check takes minutes here (17 s for 100000 keys before); a linear one,
	 * a fraction of a second, sanitizers or not */
	enum { N = 200000 };
	const double bound = 10;
	struct buf b = {0};
	struct st_file *f;
	many_meta(&b, N, false);
	double t0 = now();
	int rc = parse_file(&f, &b);
	double dt = now() - t0;
	CHECK(rc == 0 && f->nmeta == N, "200000 __metadata__ keys are read");
	CHECK(dt < bound, "... in %.2f s (< %.0f)", dt, bound);
	CHECK(rc == 0 && st_meta_get(f, "k199999") && strcmp(st_meta_get(f, "k0"), "v") == 0 && !st_meta_get(f, "k"),
	      "... and found by name");
	if (rc == 0)
		st_close(f);
	many_meta(&b, N, true);
	t0 = now();
	rc = parse_file(&f, &b);
	dt = now() - t0;
	CHECK(rc == -1 && strcmp(err_last(), "x.safetensors: __metadata__ has a duplicate key \"k0\"") == 0,
	      "a duplicate as the 200000th key is found: %s", err_last());
	CHECK(dt < bound, "... in %.2f s (< %.0f)", dt, bound);

	/* JSON objects (config.json, the index's weight_map) */
	struct buf j = {0};
	buf_adds(&j, "{\"weight_map\":{");
	for (size_t i = 0; i < N; i++)
		buf_printf(&j, "%s\"t%zu\":\"model.safetensors\"", i ? "," : "", i);
	size_t at = j.len + 1;
	buf_adds(&j, ",\"t5\":\"x\"}}");
	struct json_doc *d;
	t0 = now();
	rc = json_parse(&d, j.p, j.len, 0);
	dt = now() - t0;
	char want[96];
	snprintf(want, sizeof want, "duplicate key \"t5\" at line 1 column %zu", at + 1);
	CHECK(rc == -1 && strcmp(err_last(), want) == 0, "a JSON object of 200001 members: the duplicate found: %s",
	      err_last());
	CHECK(dt < bound, "... in %.2f s (< %.0f)", dt, bound);
	j.len -= strlen(",\"t5\":\"x\"}}");
	buf_adds(&j, "}}");
	t0 = now();
	rc = json_parse(&d, j.p, j.len, 0);
	dt = now() - t0;
	CHECK(rc == 0 && json_get(json_root(d), "weight_map")->n == N, "... without it: read, in %.2f s", dt);
	if (rc == 0)
		json_free(d);
	buf_free(&j);
	buf_free(&b);
}

/* ---- the JSON tree's memory ---- */

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_tree_memory(void)
{
	/* the worst text there is: a value every 2 bytes */
	enum { LEN = (16 << 20) + 1 };
	char *s = xmalloc(LEN);
	s[0] = '[';
	for (size_t i = 1; i < LEN; i += 2)
		s[i] = '0', s[i + 1] = ',';
	s[LEN - 1] = ']';
	if (getenv("CKPT_SANITIZED")) {
		/* (the sanitizer's allocator keeps freed blocks and adds its own: RSS says nothing) */
		printf("ok - the tree of a 16 MiB [0,0,...] # SKIP RSS under sanitizers\n");
	} else {
		long before = rss_kb();
		struct json_doc *d;
		int rc = json_parse(&d, s, LEN, 0);
		long used = (rss_kb() - before) * 1024;
		CHECK(rc == 0 && json_root(d)->n == LEN / 2, "a 16 MiB [0,0,...] is read: %u values",
		      rc ? 0 : json_root(d)->n);
		/* 28 bytes a value and the text: 15 bytes per byte of text at most */
		CHECK(used <= 16L * LEN, "... its tree takes %.1f bytes per byte of text (at most 16)", (double)used / LEN);
		if (rc == 0) {
			const struct json *k = json_kid(json_root(d));
			CHECK(k && strcmp(json_str(k), "0") == 0 && k->len == 1 && k->begin == 1 && k->end == 2,
			      "... the first value: \"0\" at [1, 2)");
			json_free(d);
		}
	}
	free(s);
	/* a document's size is the text's and its values', whatever the shape */
	const char *deep = "{\"a\":[{\"b\":\"\\u00e9\\n\"},[],{}],\"c\":-1.5e3}";
	struct json_doc *d;
	CHECK(json_parse(&d, deep, strlen(deep), 0) == 0, "a nested document is read");
	const struct json *a = json_get(json_root(d), "a"), *b = json_get(json_kid(a), "b"), *c = json_get(json_root(d), "c");
	CHECK(a && a->n == 3 && b && b->len == 3 && memcmp(json_str(b), "\xc3\xa9\n", 4) == 0,
	      "... strings decoded in place and NUL-terminated");
	CHECK(c && strcmp(json_str(c), "-1.5e3") == 0 && c->len == 6 && strcmp(json_key(c), "c") == 0 &&
	      json_next(a) == c && !json_next(c), "... numbers keep their spelling; members in order");
	CHECK(json_kid(json_next(json_kid(a))) == NULL && json_kid(c) == NULL && json_key(json_kid(a)) == NULL,
	      "... empty containers and scalars have no children, array elements no key");
	json_free(d);
	/* past what 32-bit offsets hold: refused before a byte is read */
	CHECK(json_parse(&d, "{}", (size_t)JSON_MAX_TEXT + 1, 0) == -1 &&
	      strcmp(err_last(), "text of 134217729 bytes is more than the 128 MiB the JSON reader takes") == 0,
	      "a text over JSON_MAX_TEXT is refused: %s", err_last());
}

/* ---- what is held at once ---- */

static void test_held(void)
{
	struct buf b = {0};
	struct st_file *f[3];
	ranked(&b, 2);
	uint64_t hl = b.len - 9; /* the header's length */
	char lim[32];
	snprintf(lim, sizeof lim, "%llu", (unsigned long long)(2 * hl + hl / 2));
	setenv(HELD_ENV, lim, 1);
	CHECK(parse_file(&f[0], &b) == 0 && parse_file(&f[1], &b) == 0, "two headers fit a limit of 2.5 of them");
	char want[256];
	snprintf(want, sizeof want,
		 "x.safetensors: holding its header of %llu bytes would bring the headers and JSON files held at "
		 "once to %llu bytes, more than the %s-byte limit (CKPT_MAX_HELD=BYTES sets it)",
		 (unsigned long long)hl, (unsigned long long)(3 * hl), lim);
	CHECK(parse_file(&f[2], &b) == -1 && strcmp(err_last(), want) == 0, "a third is refused by name: %s", err_last());
	st_close(f[0]);
	CHECK(parse_file(&f[2], &b) == 0, "once one is closed, a third fits");
	st_close(f[1]);
	st_close(f[2]);
	setenv(HELD_ENV, "1G", 1);
	CHECK(parse_file(&f[0], &b) == -1 &&
	      strcmp(err_last(), "x.safetensors: CKPT_MAX_HELD=1G is not a number of bytes") == 0,
	      "a limit that is not a number is refused: %s", err_last());
	unsetenv(HELD_ENV);
	CHECK(held_take("x", "header", HELD_DEFAULT) == 0 && held_take("y", "header", 1) == -1,
	      "the default limit: %llu bytes", (unsigned long long)HELD_DEFAULT);
	held_give(HELD_DEFAULT);
	CHECK(held_take("x", "header", UINT64_MAX) == -1, "a count that overflows is refused");
	buf_free(&b);
}

int main(void)
{
	err_init("ckpt-test");
	test_rank();
	test_nameset();
	test_linear_dups();
	test_tree_memory();
	test_held();
	return t_done();
}
