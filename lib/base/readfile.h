/* Opening input files, and whole small files (JSON specs, side files) read into memory.
 *
 * Every input a tool reads is opened by file_open: a FIFO, a socket or a device under an
 * input's name (config.json, the index, a shard, a side file) is refused by name instead
 * of blocking the tool forever or being read as an endless stream. */
#ifndef CKPT_READFILE_H
#define CKPT_READFILE_H

#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"

/* What a file of this mode is, for messages: "a FIFO", "a socket", "a character device",
 * "a block device", "a directory", "a symbolic link". */
const char *file_kind(mode_t mode);
/* 0 when sb is a regular file's, else -1 and "PATH: not a regular file (a FIFO)". */
int file_regular(const char *path, const struct stat *sb);
/* Open a regular file for reading, without ever blocking on anything else: a FIFO with
 * no writer, a device.  Refused with file_regular's message; flags adds open flags
 * (O_NOFOLLOW: a symbolic link is refused too).  The descriptor, blocking, close-on-exec,
 * with its stat in *sb when sb is not NULL; or -1 and a message naming the path. */
int file_open(const char *path, int flags, struct stat *sb);

/* Append the regular file's contents to out (NUL-terminated).  A file over max bytes is
 * refused before it is read: "PATH: N bytes, more than the 64 MiB limit for <what>".
 * Messages name the path. */
int file_read(const char *path, uint64_t max, const char *what, struct buf *out);
/* The same for a stream read to its end, as sha256sum reads a list of sums: any file that
 * can be read, a pipe included (<(sha256sum ...), /dev/stdin), and "-" standard input; a
 * directory is refused ("PATH: Is a directory"), and so is more than max bytes. */
int file_read_stream(const char *path, uint64_t max, struct buf *out);


/* A limit for messages ("the ... limit"): "4 GiB", "64 MiB" for whole numbers of them, else "N-byte". */
const char *limit_text(uint64_t n, char out[32]);

#endif
