#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define OUT_BUF (1u << 20)

struct out {
	char *final, *tmp;
	int fd;
	int slot;               /* in the table of live temporaries, or -1 */
	uint64_t written;
	char *buf;
	size_t blen;
};

/* The temporaries now open, for the signal handler.  Signals are process-wide, so this is
 * the one process-wide table; fixed slots, so the handler only reads memory that stays
 * valid and takes no lock. */
#define LIVE_SLOTS 256
static char live_path[LIVE_SLOTS][PATH_MAX];
static atomic_int live_state[LIVE_SLOTS];   /* 0 free, 1 being filled, 2 live */

static int live_add(const char *path)
{
	if (strlen(path) >= PATH_MAX)
		return -1;
	for (int i = 0; i < LIVE_SLOTS; i++) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&live_state[i], &expect, 1)) {
			strcpy(live_path[i], path);
			atomic_store(&live_state[i], 2);
			return i;
		}
	}
	return -1; /* not tracked: only a signal would leave it behind */
}

static void live_remove(int slot)
{
	if (slot >= 0)
		atomic_store(&live_state[slot], 0);
}

/* Between creating a temporary and entering it in the table, a signal would leave the
 * file behind; so would another thread creating one while the table is being emptied.
 * Creation is therefore a window: the one emptying the table first closes the gate (no
 * thread enters a window after that; each one that would waits to die), then waits until
 * no thread is inside one.  Each side writes its own flag before it reads the other's
 * (sequentially consistent), so a window is either seen or never opened.  A signal taken
 * by a thread inside a window is put off until that thread leaves it. */
static atomic_int opening;              /* threads inside a window */
static atomic_int closing;              /* the gate: set once the process is dying */
static _Thread_local int in_window;
static _Thread_local volatile sig_atomic_t put_off;

void out_remove_temporaries(void)
{
	atomic_store(&closing, 1);
	/* a thread cannot wait for its own window; others hold no lock and leave theirs in
	 * microseconds (nothing in a window opens what could block, a FIFO under the
	 * temporary's name included), unless the file system hangs: then after two seconds
	 * the table is emptied anyway */
	for (int i = 0; i < 20000 && !in_window && atomic_load(&opening) > 0; i++) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < LIVE_SLOTS; i++)
		if (atomic_load(&live_state[i]) == 2)
			unlink(live_path[i]);
}

/* The files this process completed under their final names, for the message of one that
 * dies of a changed input (lib/base/filemap.c): how many, and the first few names.  Noted inside
 * a window (out_commit), so they stop changing once the gate is closed. */
#define DONE_NAMED 3
static atomic_size_t done_n;
static char done_path[DONE_NAMED][PATH_MAX];

static void note_done(const char *path)
{
	const char *base = strrchr(path, '/');
	if ((base ? base[1] : path[0]) == '.')
		return; /* bookkeeping (the run's record), not an output */
	size_t k = atomic_load(&done_n);
	if (k < DONE_NAMED && strlen(path) < PATH_MAX)
		strcpy(done_path[k], path);
	atomic_store(&done_n, k + 1);
}

static char *put(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

size_t out_say_done(char *buf, size_t cap)
{
	char *p = buf, *end = buf + cap - 1, num[24];
	size_t n = atomic_load(&done_n);
	if (n == 0) {
		p = put(p, end, "nothing was written under a final name");
	} else {
		p = put(p, end, "only ");
		if (n > DONE_NAMED) {
			int i = (int)sizeof num;
			num[--i] = 0;
			for (size_t v = n; v || i == (int)sizeof num - 1; v /= 10)
				num[--i] = (char)('0' + v % 10);
			p = put(p, end, num + i);
			p = put(p, end, " files (");
		}
		for (size_t i = 0; i < n && i < DONE_NAMED; i++) {
			p = put(p, end, i ? ", " : "");
			p = put(p, end, done_path[i]);
		}
		p = put(p, end, n > DONE_NAMED ? ", ...)" : "");
		p = put(p, end, n == 1 ? " was completed under its final name: the same command run again keeps it"
				       : " were completed under their final names: the same command run again keeps them");
		p = put(p, end, " and writes the rest");
	}
	*p = 0;
	return (size_t)(p - buf);
}

static const char *interrupt_note;
static bool interrupt_tty;

void out_interrupt_note(const char *note)
{
	interrupt_note = note;
	interrupt_tty = isatty(STDERR_FILENO);
}

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t k = write(STDERR_FILENO, s, n);
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* Async-signal-safe: only write(2) of strings that do not change. */
static void say_interrupted(int sig)
{
	if (!interrupt_note)
		return;
	say(interrupt_tty ? "\r\033[K" : "");
	say(err_prog());
	say(sig == SIGINT ? ": interrupted (SIGINT): " : sig == SIGTERM ? ": interrupted (SIGTERM): " : sig == SIGHUP ? ": interrupted (SIGHUP): " : ": interrupted: ");
	say(interrupt_note);
	say("\n");
}

static void die_of(int sig)
{
	out_remove_temporaries();
	say_interrupted(sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The process is dying: by a signal this thread put off, or else by the thread that
 * closed the gate. */
static void wait_to_die(void)
{
	if (put_off)
		die_of(put_off);
	for (;;)
		pause();
}

static void on_signal(int sig)
{
	if (in_window) {
		put_off = sig;
		atomic_store(&closing, 1);
		return;
	}
	die_of(sig);
}

static void window_leave(void)
{
	atomic_fetch_sub(&opening, 1);
	in_window = 0;
	if (put_off || atomic_load(&closing))
		wait_to_die();
}

static void window_enter(void)
{
	in_window = 1;
	atomic_fetch_add(&opening, 1);
	if (atomic_load(&closing))
		window_leave(); /* the gate is closed: never returns */
}

void out_handle_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	if (n == 0)
		return xstrdup(name);
	return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

int path_is_contained(const char *name)
{
	if (!*name || name[0] == '/')
		return -1;
	for (const char *p = name; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -1;
		p += n + (e ? 1 : 0);
		if (e && !*p)
			return -1; /* trailing slash: not a file name */
	}
	return 0;
}

int mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			rc = err_errno(p);
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	if (!rc) {
		struct stat sb;
		if (stat(dir, &sb) < 0)
			rc = err_errno(dir);
		else if (!S_ISDIR(sb.st_mode))
			rc = err_set("%s: not a directory", dir);
	}
	free(p);
	return rc;
}

int mkdir_inside(const char *dir, const char *rel)
{
	char *p = path_join(dir, rel);
	size_t base = strlen(p) - strlen(rel);
	int rc = 0;
	for (char *s = p + base;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		struct stat sb;
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			rc = err_errno(p);
		else if (lstat(p, &sb) < 0)
			rc = err_errno(p);
		else if (S_ISLNK(sb.st_mode))
			rc = err_set("%s: a symbolic link inside the output directory; not writing through it", p);
		else if (!S_ISDIR(sb.st_mode))
			rc = err_set("%s: not a directory", p);
		*s = c;
		if (rc || !c)
			break;
	}
	free(p);
	return rc;
}

char *path_resolve(const char *path)
{
	char *abs;
	if (path[0] == '/') {
		abs = xstrdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);
		if (!cwd) {
			err_errno("current directory");
			return NULL;
		}
		abs = path_join(cwd, path);
		free(cwd);
	}
	/* the longest prefix that exists, resolved; the rest appended component by component */
	size_t cut = strlen(abs);
	char *res = NULL;
	for (;;) {
		char save = abs[cut];
		abs[cut] = 0;
		res = realpath(cut ? abs : "/", NULL);
		abs[cut] = save;
		if (res || cut == 0)
			break;
		while (cut > 0 && abs[cut - 1] == '/')
			cut--;
		while (cut > 0 && abs[cut - 1] != '/')
			cut--;
	}
	if (!res) {
		err_errno(path);
		free(abs);
		return NULL;
	}
	for (char *p = abs + cut; *p;) {
		char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(res, '/');
			if (slash == res)
				slash[1] = 0;
			else
				*slash = 0;
		} else if (n && !(n == 1 && p[0] == '.')) {
			char *comp = xstrndup(p, n), *next = path_join(res, comp);
			free(comp);
			free(res);
			res = next;
		}
		p += n + (e ? 1 : 0);
	}
	free(abs);
	return res;
}

int path_within(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (strncmp(a, b, n) != 0)
		return 0;
	return a[n] == 0 || a[n] == '/' || (n && b[n - 1] == '/');
}

char *out_tmp_name(const char *final_path)
{
	char *d = xstrdup(final_path), *b = xstrdup(final_path);
	char *name = xasprintf("%s/.%s.ckpt-tmp", dirname(d), basename(b));
	free(d);
	free(b);
	return name;
}

int out_remove_stale(const char *tmp)
{
	struct stat a, b;
	if (lstat(tmp, &a) < 0)
		return errno == ENOENT ? 0 : err_errno(tmp);
	if (S_ISDIR(a.st_mode))
		return err_set("%s: a directory where a temporary file goes", tmp);
	/* anything but a regular file (a symbolic link planted there, a FIFO) is removed
	 * unopened: unlink removes the link itself, never what it points to */
	if (!S_ISREG(a.st_mode))
		return unlink(tmp) < 0 && errno != ENOENT ? err_errno(tmp) : 0;
	int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : err_errno(tmp); /* replaced since: again */
	int rc = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		rc = 1;
	else if (fstat(fd, &a) == 0 && lstat(tmp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
		 unlink(tmp) < 0 && errno != ENOENT)
		rc = err_errno(tmp);
	close(fd);
	return rc;
}

/* Creates and locks o->tmp and enters it in the table of live temporaries.  The name is
 * created afresh (O_EXCL, O_NOFOLLOW): whatever was there is never opened for writing, so
 * a link planted at the name cannot redirect the write, nor a FIFO block it. */
static int claim_tmp(struct out *o)
{
	for (int tries = 0;; tries++) {
		if (tries == 10) {
			err_set("%s: its temporary file keeps being removed or recreated", o->final);
			return -1;
		}
		o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0666);
		if (o->fd < 0 && errno == EEXIST) {
			int r = out_remove_stale(o->tmp);
			if (r == 1) {
				err_set("%s: another process is writing this file", o->final);
				return -1;
			}
			if (r < 0) {
				err_prefix("%s: cannot create its temporary file: ", o->final);
				return -1;
			}
			continue;
		}
		if (o->fd < 0) {
			/* named by the file the user asked for (the temporary name is ours), or,
			 * where the directory takes no file at all, by the directory */
			int e = errno;
			if (e == EACCES || e == EPERM || e == EROFS) {
				char *d = xstrdup(o->final);
				err_set("%s: cannot write here: %s", dirname(d), strerror(e));
				free(d);
			} else {
				err_set("%s: cannot create its temporary file: %s", o->final, strerror(e));
			}
			return -1;
		}
		/* our new file is locked by another only while a cleaner looks whether it is
		 * stale; and a cleaner may have removed it between our open and our lock: then
		 * the name is no longer ours, and we start again */
		struct stat a, b;
		int locked = flock(o->fd, LOCK_EX | LOCK_NB) == 0 ? 0 : errno;
		bool same = fstat(o->fd, &a) == 0 && lstat(o->tmp, &b) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino;
		if (!locked && same) {
			o->slot = live_add(o->tmp);
			return 0;
		}
		if (locked && locked != EWOULDBLOCK) {
			if (same)
				unlink(o->tmp);
			close(o->fd);
			o->fd = -1;
			err_set("%s: cannot lock its temporary file: %s", o->final, strerror(locked));
			return -1;
		}
		close(o->fd);
		o->fd = -1;
	}
}

int out_open(struct out **op, const char *final_path)
{
	struct out *o = xcalloc(1, sizeof *o);
	*op = NULL;
	o->final = xstrdup(final_path);
	o->tmp = out_tmp_name(final_path);
	o->slot = -1;
	window_enter();
	int claimed = claim_tmp(o);
	window_leave();
	if (claimed < 0) {
		free(o->final);
		free(o->tmp);
		free(o);
		return -1;
	}
	o->buf = xmalloc(OUT_BUF);
	*op = o;
	return 0;
}

static int write_all(struct out *o, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t r = write(o->fd, c, n > (1u << 30) ? (1u << 30) : n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set("%s: write failed: %s", o->final, strerror(errno));
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int flush(struct out *o)
{
	int rc = write_all(o, o->buf, o->blen);
	o->blen = 0;
	return rc;
}

int out_write(struct out *o, const void *p, size_t n)
{
	o->written += n;
	if (o->blen + n <= OUT_BUF) {
		memcpy(o->buf + o->blen, p, n);
		o->blen += n;
		return 0;
	}
	if (flush(o))
		return -1;
	if (n >= OUT_BUF)
		return write_all(o, p, n);
	memcpy(o->buf, p, n);
	o->blen = n;
	return 0;
}

uint64_t out_written(const struct out *o) { return o->written; }
const char *out_path(const struct out *o) { return o->final; }

static void out_free(struct out *o)
{
	live_remove(o->slot);
	if (o->fd >= 0)
		close(o->fd);
	free(o->buf);
	free(o->final);
	free(o->tmp);
	free(o);
}

static int fsync_dir_of(const char *path)
{
	char *d = xstrdup(path);
	int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd >= 0) {
		/* some file systems refuse fsync on a directory; the rename is still done */
		if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
			rc = err_errno(d);
		close(fd);
	}
	free(d);
	return rc;
}

int out_commit(struct out *o)
{
	if (flush(o))
		goto fail;
	if (fsync(o->fd) < 0) {
		err_set("%s: fsync failed: %s", o->final, strerror(errno));
		goto fail;
	}
	/* in a window: a process dying meanwhile says whether this file is complete */
	window_enter();
	int renamed = rename(o->tmp, o->final), e = errno;
	if (renamed == 0)
		note_done(o->final);
	window_leave();
	if (renamed < 0) {
		err_set("%s: rename from %s failed: %s", o->final, o->tmp, strerror(e));
		goto fail;
	}
	int rc = fsync_dir_of(o->final);
	out_free(o);
	return rc;
fail:
	out_abort(o);
	return -1;
}

void out_abort(struct out *o)
{
	if (!o)
		return;
	unlink(o->tmp);
	out_free(o);
}

int out_write_file(const char *path, const void *p, size_t n)
{
	struct out *o;
	if (out_open(&o, path))
		return -1;
	if (out_write(o, p, n)) {
		out_abort(o);
		return -1;
	}
	return out_commit(o);
}
