/* Whole small files (JSON specs, side files) read into memory. */
#ifndef CKPT_READFILE_H
#define CKPT_READFILE_H

#include <stdint.h>

#include "buf.h"

/* Append the regular file's contents to out (NUL-terminated); refuse files over max bytes.
 * Messages name the path. */
int file_read(const char *path, uint64_t max, struct buf *out);

#endif
