/* What is planted where an output goes, and what is not a regular file where an input is
 * read: a symbolic link, a hard link, a FIFO or a directory at a temporary's name, a link
 * at the final name, a link among the directories inside the output (lib/base/out.h); FIFOs,
 * sockets, devices and directories opened as inputs, and a stream read to its end
 * (lib/base/readfile.h).  Each case runs under alarm(): a hang is a failure, not a stuck test. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "err.h"
#include "out.h"
#include "readfile.h"
#include "t.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* The file's text, or "" (static buffer). */
static const char *text_of(const char *path)
{
	static char b[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;
	b[n] = 0;
	if (f)
		fclose(f);
	return b;
}

static bool is_kind(const char *path, mode_t kind)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == kind;
}

static void temporaries(void)
{
	write_text("victim", "victim\n");
	char *cwd = getcwd(NULL, 0), *victim = path_join(cwd, "victim");

	/* a symbolic link at the temporary's name: removed, never followed */
	CHECK(symlink(victim, "out/.a.ckpt-tmp") == 0, "plant a link at the temporary's name");
	CHECK(out_write_file("out/a", "new\n", 4) == 0, "a link at the temporary's name: the write succeeds (%s)",
	      err_last());
	CHECK(strcmp(text_of("victim"), "victim\n") == 0, "... the file it pointed to is unchanged");
	CHECK(is_kind("out/a", S_IFREG) && strcmp(text_of("out/a"), "new\n") == 0,
	      "... the output is a regular file with the new bytes");
	CHECK(access("out/.a.ckpt-tmp", F_OK) != 0 && !is_kind("out/.a.ckpt-tmp", S_IFLNK), "... no temporary left");

	/* a dangling link: the file it names is not created */
	CHECK(symlink("../created-elsewhere", "out/.b.ckpt-tmp") == 0, "plant a dangling link");
	CHECK(out_write_file("out/b", "b\n", 2) == 0 && access("created-elsewhere", F_OK) != 0,
	      "a dangling link at the temporary's name: the file it names is not created");

	/* a hard link to another file: unlinked, the other file not truncated */
	CHECK(link("victim", "out/.c.ckpt-tmp") == 0, "plant a hard link");
	CHECK(out_write_file("out/c", "c\n", 2) == 0 && strcmp(text_of("victim"), "victim\n") == 0,
	      "a hard link at the temporary's name: the other file is unchanged");

	/* a FIFO: never opened, so nothing blocks */
	CHECK(mkfifo("out/.d.ckpt-tmp", 0666) == 0, "plant a FIFO");
	CHECK(out_write_file("out/d", "d\n", 2) == 0 && is_kind("out/d", S_IFREG),
	      "a FIFO at the temporary's name: removed, the write succeeds without blocking");

	/* a stale temporary of an interrupted run: replaced */
	write_text("out/.e.ckpt-tmp", "partial, and longer than the new bytes");
	CHECK(out_write_file("out/e", "e\n", 2) == 0 && strcmp(text_of("out/e"), "e\n") == 0,
	      "a stale temporary: replaced");

	/* a directory: refused with a message naming both */
	CHECK(mkdir("out/.f.ckpt-tmp", 0777) == 0, "plant a directory");
	CHECK(out_write_file("out/f", "f\n", 2) < 0 &&
		      strcmp(err_last(), "out/f: cannot create its temporary file: out/.f.ckpt-tmp: a directory where a "
					 "temporary file goes") == 0,
	      "a directory at the temporary's name: refused (%s)", err_last());

	/* a symbolic link at the final name: the rename replaces the link itself */
	CHECK(symlink(victim, "out/g") == 0, "plant a link at the final name");
	CHECK(out_write_file("out/g", "g\n", 2) == 0 && is_kind("out/g", S_IFREG) &&
		      strcmp(text_of("victim"), "victim\n") == 0,
	      "a link at the final name: replaced by the file, the file it pointed to unchanged");

	/* a writer holds the temporary: a second one is refused, the first keeps its file */
	struct out *o, *o2;
	CHECK(out_open(&o, "out/h") == 0, "a writer of out/h");
	CHECK(out_open(&o2, "out/h") < 0 && strcmp(err_last(), "out/h: another process is writing this file") == 0,
	      "a second writer of the same name: refused (%s)", err_last());
	CHECK(out_write(o, "h\n", 2) == 0 && out_commit(o) == 0 && strcmp(text_of("out/h"), "h\n") == 0,
	      "... the first completes its file");

	/* out_remove_stale itself */
	CHECK(symlink(victim, "out/.i.ckpt-tmp") == 0 && out_remove_stale("out/.i.ckpt-tmp") == 0 &&
		      !is_kind("out/.i.ckpt-tmp", S_IFLNK) && strcmp(text_of("victim"), "victim\n") == 0,
	      "out_remove_stale: a link removed, its target kept");
	CHECK(out_remove_stale("out/.nothing.ckpt-tmp") == 0, "out_remove_stale: nothing there is free");
	CHECK(out_open(&o, "out/j") == 0 && out_remove_stale("out/.j.ckpt-tmp") == 1 && access("out/.j.ckpt-tmp", F_OK) == 0,
	      "out_remove_stale: a temporary in use is kept (1)");
	out_abort(o);
	free(victim);
	free(cwd);
}

static void directories(void)
{
	CHECK(mkdir("elsewhere", 0777) == 0 && symlink("../elsewhere", "out/linked") == 0, "plant a linked directory");
	CHECK(mkdir_inside("out", "linked/sub") < 0 &&
		      strcmp(err_last(), "out/linked: a symbolic link inside the output directory; not writing through "
					 "it") == 0,
	      "mkdir_inside: a link on the way refused (%s)", err_last());
	CHECK(access("elsewhere/sub", F_OK) != 0, "... nothing made through it");
	CHECK(mkdir_inside("out", "real/a/b") == 0 && is_kind("out/real/a/b", S_IFDIR), "mkdir_inside: real directories made");
	CHECK(mkdir_inside("out", "real/a/b") == 0, "... and accepted when they are there");
	CHECK(symlink("../../elsewhere", "out/real/deep") == 0 && mkdir_inside("out", "real/deep/x") < 0 &&
		      strcmp(err_last(), "out/real/deep: a symbolic link inside the output directory; not writing through "
					 "it") == 0,
	      "mkdir_inside: a link deeper down refused (%s)", err_last());
	write_text("out/plain", "x");
	CHECK(mkdir_inside("out", "plain/x") < 0 && strcmp(err_last(), "out/plain: not a directory") == 0,
	      "mkdir_inside: a file on the way (%s)", err_last());
	CHECK(symlink("out", "out-link") == 0 && mkdir_inside("out-link", "via") == 0 && is_kind("out/via", S_IFDIR),
	      "mkdir_inside: the output directory itself may be a link (the user's choice)");
}

static void expect_refused(const char *path, int flags, const char *want)
{
	int fd = file_open(path, flags, NULL);
	CHECK(fd < 0 && strcmp(err_last(), want) == 0, "file_open %s: refused, \"%s\" (got: %s)", path, want,
	      fd < 0 ? err_last() : "opened");
	if (fd >= 0)
		close(fd);
}

static void inputs(void)
{
	CHECK(mkfifo("fifo", 0666) == 0, "a FIFO");
	expect_refused("fifo", 0, "fifo: not a regular file (a FIFO)");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, "sock");
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0, "a socket");
	expect_refused("sock", 0, "sock: not a regular file (a socket)");
	close(s);
	expect_refused("/dev/zero", 0, "/dev/zero: not a regular file (a character device)");
	CHECK(symlink("/dev/zero", "zero") == 0, "a link to /dev/zero");
	expect_refused("zero", 0, "zero: not a regular file (a character device)");
	expect_refused("out", 0, "out: not a regular file (a directory)");
	write_text("plain", "plain\n");
	CHECK(symlink("plain", "to-plain") == 0, "a link to a regular file");
	expect_refused("to-plain", O_NOFOLLOW, "to-plain: not a regular file (a symbolic link)");
	expect_refused("missing", 0, "missing: No such file or directory");
	struct stat sb;
	int fd = file_open("to-plain", 0, &sb);
	CHECK(fd >= 0 && sb.st_size == 6 && !(fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
	      "file_open: a regular file through a link, blocking, close-on-exec, its stat");
	if (fd >= 0)
		close(fd);
	struct buf b = {0};
	CHECK(file_read("fifo", 100, "a test file", &b) < 0 && strcmp(err_last(), "fifo: not a regular file (a FIFO)") == 0,
	      "file_read: a FIFO refused");

	/* a stream (a manifest from a pipe): read to its end */
	int p[2];
	CHECK(pipe(p) == 0 && write(p[1], "abc\n", 4) == 4, "a pipe");
	close(p[1]);
	char name[64];
	snprintf(name, sizeof name, "/dev/fd/%d", p[0]);
	CHECK(file_read_stream(name, 100, &b) == 0 && strcmp(buf_str(&b), "abc\n") == 0,
	      "file_read_stream: a pipe read to its end");
	close(p[0]);
	buf_clear(&b);
	CHECK(pipe(p) == 0 && write(p[1], "0123456789", 10) == 10, "a pipe holding more than allowed");
	close(p[1]);
	snprintf(name, sizeof name, "/dev/fd/%d", p[0]);
	CHECK(file_read_stream(name, 5, &b) < 0 && strstr(err_last(), ": more than the 5 bytes expected"),
	      "file_read_stream: more than max refused (%s)", err_last());
	close(p[0]);
	buf_free(&b);
}

int main(void)
{
	err_init("test_out_plant");
	char dir[] = "plant.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir) < 0 || mkdir("out", 0777) < 0) {
		CHECK(0, "a directory for the test");
		return t_done();
	}
	alarm(60); /* a blocked open ends the test as a failure */
	temporaries();
	directories();
	inputs();
	return t_done();
}
