/* Write-behind for an output file: the caller fills one buffer while a thread writes the
 * other to the out (lib/out.h), so making bytes and writing them overlap.  Buffers are
 * written in the order they were put. */
#ifndef CKPT_OUTQ_H
#define CKPT_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "out.h"

struct outq;

/* Start the writer thread; o stays the caller's (commit or abort it after outq_finish). */
int outq_new(struct outq **q, struct out *o);
/* A buffer of at least n bytes to fill (waits while both buffers are still being written). */
uint8_t *outq_buf(struct outq *q, size_t n);
/* Queue the first n bytes of the buffer outq_buf returned.  -1 with its message when an
 * earlier write failed. */
int outq_put(struct outq *q, size_t n);
/* Wait until everything queued is written, stop the thread, free q (NULL is fine).  -1 with
 * the first write error's message. */
int outq_finish(struct outq *q);

#endif
