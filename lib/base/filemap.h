/* Read-only mappings of input files.  Another program that truncates a file while it is
 * mapped turns the next read past the new end into SIGBUS: without a handler, a crash that
 * names nothing.  Mappings made here are remembered with their file's name, and a SIGBUS
 * inside one is reported as "PROG: FILE: truncated while being read (...); " and what is
 * complete under a final name (out_say_done), the temporary files removed (lib/base/out.h),
 * exit status 2.  Threads that fault together print one line, the first's. */
#ifndef CKPT_FILEMAP_H
#define CKPT_FILEMAP_H

#include <stddef.h>

/* Map size bytes of fd read-only, shared; NULL with the error set (naming path). */
const void *map_file(int fd, size_t size, const char *path);
void unmap_file(const void *p, size_t size);

#endif
