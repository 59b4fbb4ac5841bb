/* The conversion engine: bytes independent of the thread count, reference layout, groups
 * written in lockstep, resume, and nothing partial left behind on failure. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "err.h"
#include "hash.h"
#include "out.h"
#include "t.h"

/* Byte i of a fill tensor is a function of i, so every chunking gives the same bytes. */
static int fill_pattern(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)scratch;
	uint64_t salt = *(const uint64_t *)arg;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull + salt;
		dst[i] = (uint8_t)(x >> 56);
	}
	return 0;
}

static int fill_fail(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)arg, (void)dst, (void)scratch;
	if (off + n > 2 * CV_CHUNK)
		return err_set("planted failure at byte %llu", (unsigned long long)off);
	return 0;
}

static uint64_t salt1 = 1, salt2 = 2;
static uint8_t copy_src[3 * 1000 * 4 + 64];

static void build(struct cv_job *j, int lockstep, int failing)
{
	memset(j, 0, sizeof *j);
	uint64_t big[2] = {3000, 4096}, small[2] = {3, 1000}, vec[1] = {77};
	for (int f = 0; f < 2; f++) {
		struct cv_file *cf = cv_add_file(j, f ? "b/two.safetensors" : "one.safetensors", lockstep ? 0 : f);
		cv_set_meta(cf, "format", "pt");
		struct cv_tensor *t = cv_add_tensor(cf, "big.weight", DT_BF16, 2, big);
		t->fill = (struct cv_fill){failing && f ? fill_fail : fill_pattern, f ? &salt2 : &salt1, 4096 * 2, 0};
		t = cv_add_tensor(cf, "small.weight", DT_F32, 2, small);
		t->copy = copy_src;
		t = cv_add_tensor(cf, "empty", DT_U8, 1, (uint64_t[]){0});
		t->copy = copy_src;
		t = cv_add_tensor(cf, "vec", DT_U8, 1, vec);
		t->fill = (struct cv_fill){fill_pattern, &salt1, 0, 0};
	}
	cv_add_side_bytes(j, "side.json", "{}", 2);
}

static void digest(const char *dir, char out[2][SHA256_HEX])
{
	const char *names[2] = {"one.safetensors", "b/two.safetensors"};
	for (int i = 0; i < 2; i++) {
		uint8_t h[SHA256_LEN];
		char *p = path_join(dir, names[i]);
		if (sha256_file(p, h))
			memset(h, 0, sizeof h);
		hex_encode(h, SHA256_LEN, out[i]);
		free(p);
	}
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' || strstr(e->d_name, "ckpt-tmp") != NULL;
	if (d)
		closedir(d);
	return n;
}

/* Many small fill chunks on more threads than cores: a freed ring slot must go to the chunk
 * the writer waits for, not to a later one (that deadlocked; alarm() turns a hang into a
 * failure). */
static void test_many_small_fills(void)
{
	static char names[300][16];
	static uint64_t salts[300];
	int ok = 1;
	for (int round = 0; round < 20 && ok; round++) {
		struct cv_job j = {0};
		struct cv_file *f = cv_add_file(&j, "many.safetensors", 0);
		for (int i = 0; i < 300; i++) {
			snprintf(names[i], sizeof names[i], "t%03d", i);
			salts[i] = (uint64_t)i;
			struct cv_tensor *t = cv_add_tensor(f, names[i], DT_U8, 1, (uint64_t[]){1000 + (uint64_t)i});
			t->fill = (struct cv_fill){fill_pattern, &salts[i], 0, 0};
		}
		struct cv_opts o = {.outdir = "out-many", .threads = 4, .force = true};
		alarm(60);
		ok = cv_run(&j, &o) == 0;
		alarm(0);
		cv_job_free(&j);
	}
	CHECK(ok, "300 small fill chunks on 4 threads, 20 times: no deadlock");
}

/* Whether the tar file holds exactly the files of dir (names and bytes), in plan order. */
static int tar_matches_dir(const char *tarpath, const char *dir, int *entries)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	*entries = 0;
	int ok = archive_read_open_filename(a, tarpath, 1 << 16) == ARCHIVE_OK;
	struct archive_entry *e;
	while (ok && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char *p = path_join(dir, archive_entry_pathname(e));
		struct stat sb;
		ok = stat(p, &sb) == 0 && sb.st_size == archive_entry_size(e);
		uint8_t *want = ok ? malloc((size_t)sb.st_size + 1) : NULL, *got = ok ? malloc((size_t)sb.st_size + 1) : NULL;
		FILE *f = ok ? fopen(p, "rb") : NULL;
		ok = ok && f && fread(want, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size &&
		     archive_read_data(a, got, (size_t)sb.st_size) == (la_ssize_t)sb.st_size &&
		     memcmp(want, got, (size_t)sb.st_size) == 0;
		if (f)
			fclose(f);
		free(want);
		free(got);
		free(p);
		(*entries)++;
	}
	archive_read_free(a);
	return ok;
}

static void test_tar(void)
{
	struct cv_job j;
	build(&j, 1, 0);
	int fd = open("out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct cv_opts o = {.tar = true, .tar_fd = fd, .tar_what = "out.tar", .threads = 3};
	int rc = cv_run(&j, &o);
	close(fd);
	cv_job_free(&j);
	int n = 0, same = tar_matches_dir("out.tar", "out-1-0", &n);
	CHECK(rc == 0 && same && n == 3,
	      "tar output: a group of two files split into entries one after another, same bytes as in a directory (%d entries)", n);

	build(&j, 1, 1);
	fd = open("fail.tar", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	o.tar_fd = fd;
	rc = cv_run(&j, &o);
	close(fd);
	cv_job_free(&j);
	struct stat sb;
	stat("fail.tar", &sb);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_open_filename(a, "fail.tar", 1 << 16);
	struct archive_entry *e;
	int read_rc = ARCHIVE_OK;
	static uint8_t sink[1 << 16];
	while ((read_rc = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		while (archive_read_data(a, sink, sizeof sink) > 0)
			;
	archive_read_free(a);
	CHECK(rc == -1 && sb.st_size > 0 && sb.st_size % 512 != 0 && read_rc == ARCHIVE_FATAL,
	      "a failure midway ends the tar stream abruptly: no padding, no end blocks, the reader fails (%lld bytes)",
	      (long long)sb.st_size);
}

/* Per-unit mode, finalizing, and the record that claims an output directory. */
static void test_units_and_record(void)
{
	struct cv_job j;
	mkdir_p("in");
	build(&j, 0, 0);
	struct cv_opts o = {.outdir = "in/out", .threads = 2, .input = "in", .options = "--x"};
	int rc = cv_run(&j, &o);
	CHECK(rc == -1 && strcmp(err_last(), "in/out: is inside the input directory in; the output must go elsewhere") == 0,
	      "an outdir inside the input is refused: %s", err_last());
	o.outdir = "units";
	o.finalize = true;
	rc = cv_run(&j, &o);
	CHECK(rc == -1 && strcmp(err_last(), "units/one.safetensors: missing or incomplete: every file must be written before finalizing") == 0,
	      "finalizing before the files are written is refused: %s", err_last());
	o.finalize = false;
	o.only = "b/two.safetensors";
	rc = cv_run(&j, &o);
	struct stat sb;
	CHECK(rc == 0 && stat("units/b/two.safetensors", &sb) == 0 && stat("units/one.safetensors", &sb) < 0 &&
	      stat("units/side.json", &sb) < 0, "only: that one file, no side files");
	o.only = "one.safetensors";
	rc = cv_run(&j, &o);
	o.only = NULL;
	o.finalize = true;
	rc |= cv_run(&j, &o);
	char h[2][SHA256_HEX], ref[2][SHA256_HEX];
	digest("units", h);
	digest("out-1-0", ref);
	CHECK(rc == 0 && stat("units/side.json", &sb) == 0 && !memcmp(h, ref, sizeof h) && stat("units/" CV_RECORD, &sb) == 0,
	      "file by file, then finalize: the same bytes as one run, side files, the record");
	o.finalize = false;
	o.options = "--y";
	rc = cv_run(&j, &o);
	CHECK(rc == -1 && strstr(err_last(), "units: not empty, and not an earlier run of this conversion (its " CV_RECORD " names another)"),
	      "other options make the directory foreign: %s", err_last());
	o.force = true;
	rc = cv_run(&j, &o);
	o.force = false;
	rc |= cv_run(&j, &o);
	CHECK(rc == 0, "--force takes it over; the same conversion then resumes there (%s)", rc ? err_last() : "");
	cv_job_free(&j);
}

int main(void)
{
	err_init("test_convert");
	test_many_small_fills();
	for (size_t i = 0; i < sizeof copy_src; i++)
		copy_src[i] = (uint8_t)(i * 7);
	char ref[2][SHA256_HEX], h[2][SHA256_HEX];
	int same = 1;
	for (unsigned threads = 1; threads <= 4; threads++) {
		for (int lockstep = 0; lockstep < 2; lockstep++) {
			struct cv_job j;
			build(&j, lockstep, 0);
			char dir[64];
			snprintf(dir, sizeof dir, "out-%u-%d", threads, lockstep);
			struct cv_opts o = {.outdir = dir, .threads = threads};
			int rc = cv_run(&j, &o);
			if (rc)
				printf("# %s\n", err_last());
			digest(dir, threads == 1 && !lockstep ? ref : h);
			if (!(threads == 1 && !lockstep))
				same &= !memcmp(ref, h, sizeof ref);
			cv_job_free(&j);
		}
	}
	CHECK(same, "output bytes are the same for 1-4 threads, grouped or in lockstep");

	/* the file is a valid safetensors file in reference layout, bytes as planned */
	struct st_file *f;
	int rc = st_open(&f, "out-1-0/b/two.safetensors");
	CHECK(rc == 0 && f->n == 4 && st_meta_get(f, "format") && strcmp(f->t[0].name, "small.weight") == 0,
	      "output reads back: 4 tensors, metadata, dtype-descending order (%s)", rc ? err_last() : "");
	if (rc == 0) {
		const struct st_tensor *t = st_find(f, "big.weight");
		uint8_t want[64];
		fill_pattern(&salt2, 5000, 64, want, NULL);
		CHECK(memcmp(st_bytes(f, t) + 5000, want, 64) == 0 &&
		      memcmp(st_bytes(f, st_find(f, "small.weight")), copy_src, 12000) == 0,
		      "filled and copied bytes land where the header says");
		st_close(f);
	}
	struct stat sb;
	CHECK(stat("out-2-1/side.json", &sb) == 0 && sb.st_size == 2, "side files are written");
	test_tar();
	test_units_and_record();

	/* resume: complete files are kept (mtime unchanged), a damaged one is redone */
	struct stat before, after;
	stat("out-1-0/one.safetensors", &before);
	truncate("out-1-0/b/two.safetensors", 100);
	sleep(1);
	struct cv_job j;
	build(&j, 0, 0);
	struct cv_opts o = {.outdir = "out-1-0", .threads = 2};
	rc = cv_run(&j, &o);
	stat("out-1-0/one.safetensors", &after);
	digest("out-1-0", h);
	CHECK(rc == 0 && before.st_mtime == after.st_mtime && j.files[0].skip && !j.files[1].skip &&
	      !memcmp(h, ref, sizeof h), "a re-run keeps complete files and redoes a truncated one");
	cv_job_free(&j);

	/* a failing fill: error reported, nothing under a final name, no temporary left */
	build(&j, 1, 1);
	o = (struct cv_opts){.outdir = "out-fail", .threads = 3};
	rc = cv_run(&j, &o);
	CHECK(rc == -1 && strstr(err_last(), "planted failure"), "a fill error stops the run: %s", err_last());
	CHECK(count_entries("out-fail") == 1 && count_entries("out-fail/b") == 0,
	      "after the failure the output holds no shard and no temporary file");
	cv_job_free(&j);
	return t_done();
}
