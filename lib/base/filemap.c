#include "filemap.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "out.h"

/* The live mappings, for the handler: fixed slots read without a lock.  A slot's base is
 * published last and cleared first, so the handler never sees a half-made slot; a fault
 * inside a mapping means the mapping is still in use, so its name is not freed under the
 * handler.  A mapping that finds no free slot still works, but a SIGBUS in it is left to
 * crash, as any fault outside the table is. */
#define MAP_SLOTS 1024
static struct {
	_Atomic uintptr_t base;
	size_t size;
	char *path;
} slot[MAP_SLOTS];

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	uintptr_t a = (uintptr_t)si->si_addr;
	const char *path = NULL;
	for (int i = 0; i < MAP_SLOTS && !path; i++) {
		uintptr_t b = atomic_load(&slot[i].base);
		if (b && a >= b && a - b < slot[i].size)
			path = slot[i].path;
	}
	if (!path) {
		/* not one of our mappings: a fault of another kind, left to crash as it would */
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
		return;
	}
	/* threads reading the same file fault together: the first one speaks, the others wait
	 * for it to end the process */
	static atomic_flag reported = ATOMIC_FLAG_INIT;
	if (atomic_flag_test_and_set(&reported))
		for (;;)
			pause();
	/* first: once the temporaries are gone no file is completed, so what is said holds */
	out_remove_temporaries();
	static char done[3 * 4096 + 256];
	out_say_done(done, sizeof done);
	say(err_prog());
	say(": ");
	say(path);
	say(": truncated while being read (changed by another program); ");
	say(done);
	say("\n");
	_exit(EXIT_USAGE);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

const void *map_file(int fd, size_t size, const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install);
	void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err_errno(path);
		return NULL;
	}
	for (int i = 0; i < MAP_SLOTS; i++) {
		uintptr_t zero = 0;
		/* claim with a sentinel that no address equals, then fill, then publish */
		if (atomic_compare_exchange_strong(&slot[i].base, &zero, UINTPTR_MAX)) {
			slot[i].size = size;
			slot[i].path = xstrdup(path);
			atomic_store(&slot[i].base, (uintptr_t)m);
			break;
		}
	}
	return m;
}

void unmap_file(const void *p, size_t size)
{
	if (!p)
		return;
	for (int i = 0; i < MAP_SLOTS; i++) {
		if (atomic_load(&slot[i].base) == (uintptr_t)p) {
			char *path = slot[i].path;
			atomic_store(&slot[i].base, UINTPTR_MAX); /* out of the handler's sight */
			slot[i].path = NULL;
			free(path);
			atomic_store(&slot[i].base, 0);
			break;
		}
	}
	munmap((void *)p, size);
}
