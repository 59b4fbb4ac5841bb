/* One error style for every tool: "ckpt-<tool>: FILE: what is wrong".
 *
 * A library function that fails records its message with err_set() and returns a
 * negative value; the tool prints it with err_print().  The message is kept per thread,
 * like errno, so worker threads can fail independently and hand the text back. */
#ifndef CKPT_ERR_H
#define CKPT_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Exit codes shared by all tools. */
enum {
	EXIT_OK = 0,      /* success */
	EXIT_CHECK = 1,   /* a check found problems */
	EXIT_USAGE = 2,   /* usage, input or output error */
};

#define ERR_MAX 1024

void err_init(const char *argv0);      /* the program name, shown first on every line */
const char *err_prog(void);

/* Record the message; always returns -1 so callers can `return err_set(...)`. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int err_setv(const char *fmt, va_list ap);
/* Prefix the recorded message with more context ("FILE: " + old message). */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record "what: strerror(errno)". */
int err_errno(const char *what);
const char *err_last(void);
void err_clear(void);

/* A name quoted for a one-line message: "name" with control characters escaped and long
 * names shortened; out must hold ERR_QUOTE bytes. */
#define ERR_QUOTE 200
const char *err_quote(const char *s, char *out);
/* The same for n bytes that may hold NULs (shown as \x00). */
const char *err_quoten(const char *s, size_t n, char *out);

/* "prog: <last message>\n" on stderr. */
void err_print(void);
/* "prog: <formatted>\n" on stderr; for messages that are not failures of a call. */
void err_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void err_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that cannot fail: out of memory ends the program with a clear message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
/* Room for one more item in p, an array of n items of `size` bytes that grows only through
 * here: doubled when full (from 1), so that appending costs amortized constant time however
 * many items an input makes (growing by a constant copies the array once per step), and an
 * array of one item holds one: each tensor of a view has its array of pieces, and room for
 * 16 a tensor was 2 KB each, 200 MB for the 671B model's 92k tensors. */
void *xgrow(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
