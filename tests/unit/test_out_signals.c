/* A SIGTERM at any moment leaves no temporary behind, also when it comes while a
 * temporary is being created and locked (the window before it is in the signal handler's
 * table), and also when another thread takes the signal.  Children that open and abandon
 * temporaries in a loop on two threads are killed at random moments; each must die of
 * the signal with its directory empty. */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>

#include "err.h"
#include "out.h"
#include "t.h"

#define ROUNDS 300

static void *churn(void *arg)
{
	const char *name = arg;
	for (;;) {
		struct out *o;
		if (out_open(&o, name) == 0) {
			out_write(o, "x", 1);
			out_abort(o);
		}
	}
	return NULL;
}

static int entries(const char *dir, char *first, size_t n)
{
	DIR *d = opendir(dir);
	int count = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (count++ == 0)
			snprintf(first, n, "%s", e->d_name);
	}
	if (d)
		closedir(d);
	return count;
}

int main(void)
{
	err_init("test_out_signals");
	char dir[] = "sigs.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "a directory for the test");
		return t_done();
	}
	char *a = path_join(dir, "a.bin"), *b = path_join(dir, "b.bin");
	int died = 0, clean = 0;
	char left[256] = "";
	srand(7);
	for (int r = 0; r < ROUNDS; r++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(20); /* a child that hangs fails the check instead of the suite */
			out_handle_signals();
			pthread_t t;
			pthread_create(&t, NULL, churn, b);
			churn(a);
		}
		struct timespec ts = {0, 200000 + rand() % 2000000};
		nanosleep(&ts, NULL);
		kill(pid, SIGTERM);
		int status = 0;
		waitpid(pid, &status, 0);
		died += WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
		char first[256] = "";
		if (entries(dir, first, sizeof first) == 0)
			clean++;
		else if (!left[0])
			snprintf(left, sizeof left, "%s", first);
		char *ta = out_tmp_name(a), *tb = out_tmp_name(b);
		unlink(ta);
		unlink(tb);
		free(ta);
		free(tb);
	}
	CHECK(died == ROUNDS, "SIGTERM at random moments: each child dies of it (%d of %d)", died, ROUNDS);
	CHECK(clean == ROUNDS, "... and leaves no temporary (%d of %d clean%s%s)", clean, ROUNDS,
	      left[0] ? "; left: " : "", left);
	rmdir(dir);
	free(a);
	free(b);
	return t_done();
}
