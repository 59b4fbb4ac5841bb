/* Whole small files (JSON specs, side files) read into memory. */
#ifndef CKPT_READFILE_H
#define CKPT_READFILE_H

#include <stdint.h>

#include "buf.h"

/* Append the regular file's contents to out (NUL-terminated).  A file over max bytes is
 * refused before it is read: "PATH: N bytes, more than the 64 MiB limit for <what>".
 * Messages name the path. */
int file_read(const char *path, uint64_t max, const char *what, struct buf *out);

/* A limit for messages ("the ... limit"): "4 GiB", "64 MiB" for whole numbers of them, else "N-byte". */
const char *limit_text(uint64_t n, char out[32]);

#endif
