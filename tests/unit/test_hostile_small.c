/* Smaller hostile cases (issue 12, item 8) at the library's level: a mapped input truncated
 * while two threads of a conversion read it, after one output is complete.  Both threads
 * fault; one line is printed, naming the file and the output that is complete.  (The tools,
 * under strace: tests/cli/hostile-small.sh.) */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert.h"
#include "err.h"
#include "filemap.h"
#include "readfile.h"
#include "t.h"

enum { N = 1 << 20 };

static const uint8_t *in;
static pthread_barrier_t both;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void shrink(void)
{
	if (truncate("src.bin", 4096))
		_exit(8);
}

/* Every chunk waits for a second one, so that two threads read past the new end together. */
static int fill(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)arg;
	(void)scratch;
	pthread_barrier_wait(&both);
	pthread_once(&once, shrink);
	for (uint64_t i = 0; i < n; i++)
		dst[i] = in[N / 2 + off + i];
	return 0;
}

static void child(void)
{
	int e = open("two.err", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(e, 2);
	err_init("ckpt-test");
	int fd = open("src.bin", O_RDONLY);
	if (fd < 0 || !(in = map_file(fd, N, "src.bin")))
		_exit(9);
	pthread_barrier_init(&both, NULL, 2);
	struct cv_job j = {0};
	uint64_t half = N / 2;
	/* a.safetensors: the first half, copied, written and renamed first */
	cv_add_tensor(cv_add_file(&j, "a.safetensors", 0), "x", DT_U8, 1, &half)->copy = in;
	/* b.safetensors: the second half in small chunks, two threads at a time */
	struct cv_tensor *t = cv_add_tensor(cv_add_file(&j, "b.safetensors", 1), "y", DT_U8, 1, &half);
	t->fill = (struct cv_fill){fill, NULL, 1, 0};
	t->chunk = 4096;
	struct cv_opts o = {.outdir = "tout", .threads = 2};
	cv_run(&j, &o);
	_exit(0); /* not reached: the read past the end ends the process */
}

static void test_two_threads_fault(int round)
{
	FILE *f = fopen("src.bin", "wb");
	for (int i = 0; i < N; i++)
		fputc(i & 255, f);
	fclose(f);
	system("rm -rf tout");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child();
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "round %d: truncated under two threads: exit 2 (status %#x)",
	      round, status);
	struct buf b = {0};
	file_read("two.err", 1 << 20, "a message", &b);
	bool one_line = b.len && b.p[b.len - 1] == '\n' && !memchr(b.p, '\n', b.len - 1);
	if (one_line)
		b.len--;
	CHECK(one_line && strcmp(buf_str(&b), "ckpt-test: src.bin: truncated while being read (changed by another "
				  "program); only tout/a.safetensors was completed under its final name: the same "
				  "command run again keeps it and writes the rest") == 0,
	      "round %d: ... one line, naming the file and the output completed: %s", round, buf_str(&b));
	buf_free(&b);
	struct stat sb;
	CHECK(stat("tout/a.safetensors", &sb) == 0 && access("tout/b.safetensors", F_OK) != 0 &&
		      access("tout/.b.safetensors.ckpt-tmp", F_OK) != 0,
	      "round %d: ... a.safetensors there, b.safetensors and its temporary not", round);
	unlink("src.bin");
	unlink("two.err");
}

int main(void)
{
	/* a race: a few rounds */
	for (int r = 1; r <= 5; r++)
		test_two_threads_fault(r);
	return t_done();
}
