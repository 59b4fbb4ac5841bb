/* Whole small files (JSON specs, side files) read into memory. */
#ifndef CKPT_READFILE_H
#define CKPT_READFILE_H

#include <stdint.h>

#include "buf.h"

/* Append the regular file's contents to out (NUL-terminated); refuse files over max bytes.
 * Messages name the path. */
int file_read(const char *path, uint64_t max, struct buf *out);

/* The same from a file that may also be a pipe, read to its end (a manifest given as
 * <(sha256sum ...), /dev/stdin, or "-": standard input); a directory is refused, and so is
 * more than max bytes. */
int stream_read(const char *path, uint64_t max, struct buf *out);

#endif
