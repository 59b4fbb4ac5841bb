/* A growable byte buffer, for text built up piece by piece (JSON, reports, headers). */
#ifndef CKPT_BUF_H
#define CKPT_BUF_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_clear(struct buf *b);
void buf_free(struct buf *b);
/* NUL-terminated contents (the NUL is not counted in len). */
const char *buf_str(struct buf *b);

#endif
