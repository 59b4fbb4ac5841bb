/* Hostile input at the library's level (fixtures/bad has the file cases, tests/cli/hostile.sh
 * the tools): tar entry names that would escape the extraction directory, written (refused
 * by the writer) and read (refused by the archive reader), JSON nested a
 * million deep, headers claiming more than they hold, symbolic links, with the hub
 * cache layout that is allowed and the environment variable that lifts the check, and a
 * mapped file truncated by another program while it is read. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive_in.h"
#include "ckpt.h"
#include "pathguard.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "readfile.h"
#include "st.h"
#include "t.h"
#include "tarstream.h"

static void test_tar_names(void)
{
	int fd = open("/dev/null", O_WRONLY);
	struct tar *t;
	if (tar_open_fd(&t, fd, "stream")) {
		CHECK(0, "tar stream on /dev/null (%s)", err_last());
		return;
	}
	static const char *bad[] = {"../x", "/etc/passwd", "a/../../b", "a/./b", "", "a//b", "dir/"};
	int refused = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		refused += tar_begin(t, bad[i], 0) == -1 && strstr(err_last(), "would lead outside the directory");
	CHECK(refused == 7, "tar entries with .., absolute, empty or dot components are refused (%d of 7)", refused);
	tar_begin(t, "../../etc/cron.d/x", 1);
	CHECK(strcmp(err_last(), "stream: entry name \"../../etc/cron.d/x\" would lead outside the directory it is "
		     "extracted into") == 0, "the message names the stream and the entry: %s", err_last());
	CHECK(tar_begin(t, "sub/model.safetensors", 1) == 0 && tar_write(t, "x", 1) == 0 && tar_end(t) == 0,
	      "a name inside the directory is written");
	CHECK(tar_close(t) == 0, "the stream ends cleanly after refusals");
	close(fd);
}

static void test_deep_json(void)
{
	size_t n = 1000000;
	char *s = malloc(n);
	memset(s, '[', n);
	struct json_doc *d;
	int rc = json_parse(&d, s, n, 0);
	CHECK(rc == -1 && strcmp(err_last(), "more than 127 nested arrays and objects at line 1 column 128") == 0,
	      "a million nested arrays: refused at the 128th, no stack exhausted (%s)", err_last());
	for (size_t i = 0; i + 5 <= n; i += 5)
		memcpy(s + i, "{\"a\":", 5);
	rc = json_parse(&d, s, n, 0);
	CHECK(rc == -1 && strcmp(err_last(), "more than 127 nested arrays and objects at line 1 column 636") == 0,
	      "200000 nested objects: refused at the 128th (%s)", err_last());
	/* the same in a safetensors header */
	uint8_t *f = malloc(8 + n);
	for (int i = 0; i < 8; i++)
		f[i] = (uint8_t)((uint64_t)n >> (8 * i));
	memset(f + 8, '[', n);
	struct st_file *st;
	rc = st_parse(&st, "deep.safetensors", f, 8 + n, 8 + n);
	CHECK(rc == -1 && strcmp(err_last(), "deep.safetensors: header is not valid JSON: more than 127 nested arrays "
				 "and objects at line 1 column 128") == 0, "a header nested a million deep: refused (%s)",
	      err_last());
	free(f);
	free(s);
}

static int parse_hdr(const char *h, uint64_t file_size, struct st_file **st)
{
	size_t n = strlen(h);
	uint8_t b[512];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)n >> (8 * i));
	memcpy(b + 8, h, n);
	return st_parse(st, "big.safetensors", b, 8 + n, file_size);
}

static void test_huge_claims(void)
{
	struct st_file *st;
	/* a data section of 2^62 bytes claimed, a few bytes there */
	int rc = parse_hdr("{\"a\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4611686018427387904]}}",
			   100, &st);
	CHECK(rc == -1 && strstr(err_last(), "overflows 64 bits (counted in bits)"),
	      "2^62 bytes of U8: refused as the reference does (%s)", err_last());
	rc = parse_hdr("{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627776],\"data_offsets\":[0,1099511627776]}}", 200,
		       &st);
	CHECK(rc == -1 && strstr(err_last(), "file is truncated: the header describes 1099511627776 bytes"),
	      "a terabyte claimed in a 200-byte file: truncated (%s)", err_last());
	/* the product of the dimensions wraps to a small number if unchecked */
	rc = parse_hdr("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967297],\"data_offsets\":[0,4294967296]}}",
		       100, &st);
	CHECK(rc == -1 && strstr(err_last(), "element count of shape [4294967296, 4294967297] overflows 64 bits"),
	      "a shape whose product overflows 64 bits (%s)", err_last());
	rc = parse_hdr("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[18446744073709551614,0]}}", 100, &st);
	CHECK(rc == -1 && strstr(err_last(), "end before they begin"), "offsets near 2^64 (%s)", err_last());
}

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	fputs(s, f);
	fclose(f);
}

static void ln_s(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		perror(path);
}

static void test_links(void)
{
	static const char shard[] = "\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}   x";
	mkdir("models--org--name", 0777);
	mkdir("models--org--name/blobs", 0777);
	mkdir("models--org--name/snapshots", 0777);
	mkdir("models--org--name/snapshots/0123abc", 0777);
	FILE *f = fopen("models--org--name/blobs/5f1e", "wb");
	fwrite(shard, 1, sizeof shard - 1, f);
	fclose(f);
	put("models--org--name/blobs/c0f9", "{\"model_type\": \"deepseek_v3\"}\n");
	ln_s("../../blobs/5f1e", "models--org--name/snapshots/0123abc/model.safetensors");
	ln_s("../../blobs/c0f9", "models--org--name/snapshots/0123abc/config.json");
	struct ckpt *c;
	int rc = ckpt_open(&c, "models--org--name/snapshots/0123abc", 0);
	CHECK(rc == 0 && c->n == 1 && c->config, "the hub cache layout (links into ../../blobs) opens (%s)",
	      rc ? err_last() : "");
	if (rc == 0)
		ckpt_close(c);
	/* the same links from a directory that is not a hub cache snapshot */
	mkdir("other", 0777);
	mkdir("other/snapshots", 0777);
	mkdir("other/snapshots/0123abc", 0777);
	ln_s("../../../models--org--name/blobs/5f1e", "other/snapshots/0123abc/model.safetensors");
	rc = ckpt_open(&c, "other/snapshots/0123abc", 0);
	CHECK(rc == -1 && strcmp(err_last(), "other/snapshots/0123abc/model.safetensors: symbolic link to "
				 "\"../../../models--org--name/blobs/5f1e\" leads outside the checkpoint directory "
				 "(CKPT_FOLLOW_SYMLINKS=1 follows it)") == 0,
	      "outside a hub cache, the same kind of link is refused (%s)", err_last());
	setenv("CKPT_FOLLOW_SYMLINKS", "1", 1);
	rc = ckpt_open(&c, "other/snapshots/0123abc", 0);
	CHECK(rc == 0 && c->n == 1, "CKPT_FOLLOW_SYMLINKS=1 follows it (%s)", rc ? err_last() : "");
	if (rc == 0)
		ckpt_close(c);
	setenv("CKPT_FOLLOW_SYMLINKS", "yes", 1);
	rc = ckpt_open(&c, "other/snapshots/0123abc", 0);
	CHECK(rc == -1, "only the value 1 lifts the check");
	unsetenv("CKPT_FOLLOW_SYMLINKS");
	/* a single file the user names is the user's choice, link or not */
	rc = ckpt_open(&c, "other/snapshots/0123abc/model.safetensors", 0);
	CHECK(rc == 0 && c->n == 1, "a linked .safetensors file named on its own opens (%s)", rc ? err_last() : "");
	if (rc == 0)
		ckpt_close(c);
	/* a loop of links: the open fails with the system's message, no hang */
	mkdir("loop", 0777);
	ln_s("model.safetensors", "loop/model.safetensors");
	rc = ckpt_open(&c, "loop", 0);
	CHECK(rc == -1 && strcmp(err_last(), "loop/model.safetensors: Too many levels of symbolic links") == 0,
	      "a link to itself: refused (%s)", err_last());
}

/* A tar holding a good file "ckpt/config.json" and one entry: a file named `name`, or a
 * symbolic link (`sym`) or hard link (`hard`) named `name`. */
static void write_tar(const char *tar, const char *name, const char *sym, const char *hard)
{
	struct archive *w = archive_write_new();
	archive_write_set_format_pax_restricted(w);
	archive_write_open_filename(w, tar);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "ckpt/config.json");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 2);
	archive_write_header(w, e);
	archive_write_data(w, "{}", 2);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, name);
	archive_entry_set_perm(e, 0644);
	if (sym) {
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, sym);
	} else if (hard) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, hard);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, 1);
	}
	archive_write_header(w, e);
	if (!sym && !hard)
		archive_write_data(w, "x", 1);
	archive_entry_free(e);
	archive_write_close(w);
	archive_write_free(w);
}

/* Tar entries that an extracting tar would write outside its target directory. */
static void test_tar_escapes(void)
{
	static const struct {
		const char *name, *sym, *hard, *msg;
	} cases[] = {
		{"../evil.safetensors", NULL, NULL, "e.tar: entry \"../evil.safetensors\" leads outside the archive's directory"},
		{"ckpt/../../evil", NULL, NULL, "e.tar: entry \"ckpt/../../evil\" leads outside the archive's directory"},
		{"/etc/cron.d/evil", NULL, NULL, "e.tar: entry \"/etc/cron.d/evil\" is an absolute path"},
		{"ckpt/tokenizer.json", "../../etc/passwd", NULL,
		 "e.tar: entry \"ckpt/tokenizer.json\" is a symbolic link to \"../../etc/passwd\", outside the archive's directory"},
		{"ckpt/tokenizer.json", "/etc/passwd", NULL,
		 "e.tar: entry \"ckpt/tokenizer.json\" is a symbolic link to \"/etc/passwd\", outside the archive's directory"},
		{"ckpt/model.safetensors", NULL, "../outside",
		 "e.tar: entry \"ckpt/model.safetensors\" is a hard link to \"../outside\", outside the archive's directory"},
	};
	int good = 0;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct arc a;
		write_tar("e.tar", cases[i].name, cases[i].sym, cases[i].hard);
		int rc = arc_read(&a, "e.tar", false);
		if (rc == -1 && strcmp(err_last(), cases[i].msg) == 0)
			good++;
		else
			CHECK(0, "tar entry %s: want \"%s\", got %s", cases[i].name, cases[i].msg, rc ? err_last() : "success");
		if (rc == 0)
			arc_free(&a);
	}
	CHECK(good == 6, "tar entries with .., absolute names, links leading out: refused by name (%d of 6)", good);
	/* a link that stays inside reads as the file it leads to, as from the extracted tree */
	struct arc a;
	write_tar("e.tar", "ckpt/link.json", "../ckpt/config.json", NULL);
	int rc = arc_read(&a, "e.tar", false);
	CHECK(rc == 0 && a.n == 2 && a.nskipped == 0 && strcmp(a.f[1].name, "link.json") == 0 && a.f[1].text &&
		      strcmp(a.f[1].text, "{}") == 0,
	      "a symbolic link inside the archive holds its target's bytes, not refused (%s)", rc ? err_last() : "");
	if (rc == 0)
		arc_free(&a);
	write_tar("e.tar", "ckpt/sub/x..y", NULL, NULL);
	rc = arc_read(&a, "e.tar", false);
	CHECK(rc == 0 && a.n == 2, "\"..\" inside a name is no component: read (%s)", rc ? err_last() : "");
	if (rc == 0)
		arc_free(&a);
	unlink("e.tar");
}

/* Truncated under our feet: the read past the new end is SIGBUS.  In a child: one line
 * naming the file, the temporaries removed, exit 2. */
static void test_truncated_while_mapped(void)
{
	enum { N = 1 << 16 };
	char h[] = "{\"x\":{\"dtype\":\"U8\",\"shape\":[65536],\"data_offsets\":[0,65536]}}   ";
	size_t hl = strlen(h);
	uint8_t len[8] = {(uint8_t)hl};
	FILE *f = fopen("shrinks.safetensors", "wb");
	fwrite(len, 1, 8, f);
	fwrite(h, 1, hl, f);
	for (int i = 0; i < N; i++)
		fputc(i & 255, f);
	fclose(f);
	CHECK(hl % 8 == 0, "the test header is padded");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int e = open("shrinks.err", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(e, 2);
		err_init("ckpt-test");
		struct out *o;
		struct st_file *sf;
		if (out_open(&o, "partial.bin") || out_write(o, "abc", 3) || st_open(&sf, "shrinks.safetensors"))
			_exit(9);
		if (truncate("shrinks.safetensors", 4096))
			_exit(8);
		volatile uint8_t v = sf->data[N - 1]; /* past the new end */
		(void)v;
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "a mapped file truncated while read: exit 2 (status %#x)",
	      status);
	struct buf b = {0};
	file_read("shrinks.err", 1 << 20, "a message", &b);
	bool one_line = b.len && b.p[b.len - 1] == '\n' && !memchr(b.p, '\n', b.len - 1);
	if (one_line)
		b.len--;
	CHECK(one_line && strcmp(buf_str(&b), "ckpt-test: shrinks.safetensors: truncated while being read (changed by another "
				  "program); nothing was written under a final name") == 0,
	      "... one line naming the file: %s", buf_str(&b));
	buf_free(&b);
	CHECK(access(".partial.bin.ckpt-tmp", F_OK) != 0 && access("partial.bin", F_OK) != 0,
	      "... the temporary removed, nothing under the final name");
	unlink("shrinks.safetensors");
	unlink("shrinks.err");
}

int main(void)
{
	err_init("test_hostile");
	test_tar_names();
	test_deep_json();
	test_huge_claims();
	test_links();
	test_tar_escapes();
	test_truncated_while_mapped();
	return t_done();
}
