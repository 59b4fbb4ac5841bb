/* Tar output (libarchive): a whole output directory as one tar stream, e.g. to a pipe.
 * Entries are written one at a time, front to back, each of a size declared up front. */
#ifndef CKPT_TARSTREAM_H
#define CKPT_TARSTREAM_H

#include <stddef.h>
#include <stdint.h>

struct tar;

/* A tar stream (POSIX pax) on fd; `what` names it in messages ("standard output"). */
int tar_open_fd(struct tar **t, int fd, const char *what);
/* Start a regular file entry of exactly `size` bytes. */
int tar_begin(struct tar *t, const char *name, uint64_t size);
int tar_write(struct tar *t, const void *p, size_t n);
/* End the entry: it must have received exactly its size. */
int tar_end(struct tar *t);
/* Write the end-of-archive blocks and free t (also on error). */
int tar_close(struct tar *t);
/* Free t without finishing the stream (after an error). Safe with NULL. */
void tar_free(struct tar *t);

#endif
