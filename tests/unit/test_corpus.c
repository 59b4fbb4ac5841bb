/* The corpus through the library itself (tests/cli/bad-corpus.sh does it through
 * ckpt-inspect): every case of fixtures/bad fails ckpt_open with exactly its EXPECTED
 * message, in lenient mode too (as the error or as the first problem recorded); every
 * valid edge case of fixtures/edge opens cleanly. */
#include <dirent.h>
#include <unistd.h>

#include "ckpt.h"
#include "err.h"
#include "t.h"

static void test_bad(void)
{
	const char *dir = t_path("CKPT_ROOT", "fixtures/bad");
	char list[4200];
	snprintf(list, sizeof list, "%s/EXPECTED", dir);
	FILE *f = fopen(list, "r");
	CHECK(f != NULL, "read %s", list);
	if (!f || chdir(dir) < 0)
		return;
	char line[4096];
	int n = 0, strict_ok = 0, lenient_ok = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *msg = strchr(line, '\t');
		if (!msg)
			continue;
		*msg++ = 0;
		n++;
		struct ckpt *c = NULL;
		int rc = ckpt_open(&c, line, 0);
		if (rc == -1 && !c && strcmp(err_last(), msg) == 0) {
			strict_ok++;
		} else {
			CHECK(0, "ckpt_open %s: want \"%s\", got %s", line, msg, rc ? err_last() : "success");
			ckpt_close(c);
		}
		rc = ckpt_open(&c, line, CKPT_LENIENT);
		if ((rc == -1 && strcmp(err_last(), msg) == 0) ||
		    (rc == 0 && c->nproblems >= 1 && strcmp(c->problems[0], msg) == 0)) {
			lenient_ok++;
		} else {
			CHECK(0, "lenient ckpt_open %s: want \"%s\", got %s", line, msg,
			      rc ? err_last() : c->nproblems ? c->problems[0] : "no problem");
		}
		ckpt_close(c);
	}
	fclose(f);
	CHECK(n >= 30 && strict_ok == n, "ckpt_open refuses all %d bad cases with their exact messages", n);
	CHECK(lenient_ok == n, "in lenient mode, each of the %d cases fails or records the same message first", n);
}

static void test_edge(void)
{
	const char *dir = t_path("CKPT_ROOT", "fixtures/edge");
	DIR *d = opendir(dir);
	CHECK(d != NULL, "list %s", dir);
	if (!d || chdir(dir) < 0)
		return;
	struct dirent *e;
	int n = 0, ok = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		struct ckpt *c;
		if (ckpt_open(&c, e->d_name, 0) == 0) {
			ok += c->nproblems == 0;
			ckpt_close(c);
		} else {
			CHECK(0, "edge case %s opens (%s)", e->d_name, err_last());
		}
	}
	closedir(d);
	CHECK(n >= 10 && ok == n, "all %d valid edge cases open without problems", n);
}

static void test_edge_details(void)
{
	/* a few edge cases read back as the rules say (cwd is fixtures/edge after test_edge) */
	struct ckpt *c;
	if (ckpt_open(&c, "zero-size.safetensors", 0) == 0) {
		const struct ckpt_tensor *a = ckpt_find(c, "a"), *b = ckpt_find(c, "b"), *cc = ckpt_find(c, "c");
		CHECK(c->n == 3 && a && b && cc && st_nbytes(a->t) == 0 && st_nbytes(b->t) == 4 && cc->t->begin == 4 &&
		      cc->t->nelem == 0, "zero-size tensors sit at the ends of their neighbours");
		ckpt_close(c);
	}
	if (ckpt_open(&c, "escaped-names.safetensors", 0) == 0) {
		CHECK(ckpt_find(c, "a\xc3\xa9\xf0\x9f\x98\x80\n/") && ckpt_find(c, "\xc3\xa9"),
		      "escaped tensor names are found by their decoded UTF-8");
		ckpt_close(c);
	}
	if (ckpt_open(&c, "meta-null.safetensors", 0) == 0) {
		CHECK(!c->shards[0].st->has_meta, "__metadata__ null reads as no metadata");
		ckpt_close(c);
	}
	if (ckpt_open(&c, "index-subdir", 0) == 0) {
		CHECK(c->n == 1 && strcmp(c->t[0].shard->name, "sub/model-00001-of-00002.safetensors") == 0,
		      "a weight_map file name in a subdirectory resolves");
		ckpt_close(c);
	}
	if (ckpt_open(&c, "index-total-size-float", 0) == 0) {
		CHECK(c->index->has_total_size && c->index->total_size == 12, "total_size 12.0 reads as 12");
		ckpt_close(c);
	}
}

int main(void)
{
	err_init("test_corpus");
	test_bad();
	test_edge();
	test_edge_details();
	return t_done();
}
