#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The only process-wide mutable state: set once at start-up. */
static const char *prog = "ckpt";
static _Thread_local char last[ERR_MAX];

void err_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	prog = slash ? slash + 1 : argv0;
}

const char *err_prog(void) { return prog; }

int err_setv(const char *fmt, va_list ap)
{
	/* formatted aside first: an argument may be err_last() itself */
	char msg[ERR_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	memcpy(last, msg, sizeof last);
	return -1;
}

int err_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_setv(fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(const char *fmt, ...)
{
	char head[ERR_MAX], old[ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, last, sizeof old);
	size_t h = strlen(head);
	memcpy(last, head, h);
	snprintf(last + h, sizeof last - h, "%.*s", (int)(sizeof old - 1), old);
	return -1;
}

int err_errno(const char *what)
{
	return err_set("%s: %s", what, strerror(errno));
}

const char *err_last(void) { return last; }
void err_clear(void) { last[0] = 0; }

const char *err_quote(const char *s, char *out)
{
	return err_quoten(s, strlen(s), out);
}

const char *err_quoten(const char *s, size_t n, char *out)
{
	size_t o = 0, max = ERR_QUOTE - 8;
	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n; p++) {
		if (o >= max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
			o += (size_t)snprintf(out + o, ERR_QUOTE - o, *p == '"' || *p == '\\' ? "\\%c" : "\\x%02x", *p);
			continue;
		}
		out[o++] = (char)*p;
	}
	out[o++] = '"';
	out[o] = 0;
	return out;
}

void err_print(void)
{
	fprintf(stderr, "%s: %s\n", prog, last[0] ? last : "unknown error");
}

void err_say(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void err_warn(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: warning: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void oom(size_t n)
{
	fprintf(stderr, "%s: out of memory (asked for %zu bytes)\n", prog, n);
	exit(EXIT_USAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		oom((size_t)-1);
	return xrealloc(p, n * size);
}

void *xgrow(void *p, size_t n, size_t size)
{
	/* the room is the power of two n reached: full when n is 0 or one of them */
	if (n & (n - 1))
		return p;
	return xreallocarray(p, n ? 2 * n : 1, size);
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
