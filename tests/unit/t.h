/* A minimal check harness: each check prints "ok - NAME" or "not ok - NAME (why)". */
#ifndef CKPT_T_H
#define CKPT_T_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_failures;

static void t_report(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void t_report(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf(ok ? "ok - " : "not ok - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		printf(" (%s:%d)", file, line);
		t_failures++;
	}
	printf("\n");
	fflush(stdout);
}

/* CHECK(cond, "name", ...): one check. */
#define CHECK(cond, ...) t_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int t_done(void) { return t_failures ? 1 : 0; }

/* Whether $CKPT_GOLDEN (../shared/golden) is here; when not, reports `what` as skipped. */
static inline int t_golden(const char *what)
{
	const char *g = getenv("CKPT_GOLDEN");
	FILE *f = g ? fopen(g, "r") : NULL;
	if (f) {
		fclose(f);
		return 1;
	}
	printf("ok - %s # SKIP no golden data at %s\n", what, g ? g : "(unset)");
	return 0;
}

/* Path of a data file: $CKPT_ROOT/<rel> or $CKPT_GOLDEN/<rel>. */
/* The unit tests run only through tests/run-all (make test), which gives each an empty
 * directory of its own and CKPT_ROOT: they write into their working directory, and some
 * link fixtures in (hard links) and then damage them on purpose, which run elsewhere would
 * damage the fixtures themselves. */
__attribute__((constructor)) static void t_guard(void)
{
	if (!getenv("CKPT_ROOT")) {
		fprintf(stderr, "run the unit tests through tests/run-all (make test): they write into the current "
				"directory\n");
		exit(2);
	}
}

static inline const char *t_path(const char *env, const char *rel)
{
	static char buf[4][4096];
	static int k;
	const char *base = getenv(env);
	char *b = buf[k++ % 4];
	snprintf(b, sizeof buf[0], "%s/%s", base ? base : ".", rel);
	return b;
}

/* dst as a hard link to src, else a copy: a symbolic link would lead outside the checkpoint
 * directory it is put in, and that is refused (lib/base/pathguard.h).  0, or -1 with a message. */
static inline int t_link_or_copy(const char *src, const char *dst)
{
	if (link(src, dst) == 0)
		return 0;
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	char b[65536];
	size_t n;
	int rc = in && out ? 0 : -1;
	while (!rc && (n = fread(b, 1, sizeof b, in)) > 0)
		rc = fwrite(b, 1, n, out) == n ? 0 : -1;
	if (in)
		fclose(in);
	if (out && fclose(out))
		rc = -1;
	if (rc)
		perror(dst);
	return rc;
}

#endif
