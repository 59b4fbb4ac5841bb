/* Output files that appear under their final name only when complete: written to a
 * temporary name beside it (".NAME.ckpt-tmp", locked against a second writer), flushed
 * with fsync, then renamed, and the directory fsynced. */
#ifndef CKPT_OUT_H
#define CKPT_OUT_H

#include <stddef.h>
#include <stdint.h>

struct out;

int out_open(struct out **o, const char *final_path);
int out_write(struct out *o, const void *p, size_t n);
uint64_t out_written(const struct out *o);
const char *out_path(const struct out *o);     /* the final name */
/* Flush, fsync, rename into place; frees o whatever happens. */
int out_commit(struct out *o);
/* Remove the temporary file; frees o.  Safe with NULL. */
void out_abort(struct out *o);

/* A whole small file, atomically. */
int out_write_file(const char *path, const void *p, size_t n);

/* The temporary name used for final_path (caller frees). */
char *out_tmp_name(const char *final_path);
/* Remove what is at temporary name tmp unless a writer holds it: a stale temporary, or
 * anything else planted there (a symbolic link is removed, never followed; a FIFO never
 * opened).  0 when the name is free, 1 when a writer holds it, -1 and a message when it
 * cannot be removed (a directory). */
int out_remove_stale(const char *tmp);

/* Paths. */
char *path_join(const char *dir, const char *name);
/* A name that stays inside its directory: relative, no "." or ".." component, no empty
 * component.  Returns 0 or -1 (no message). */
int path_is_contained(const char *name);
/* Create a directory and its parents (mode 0777 & ~umask). */
int mkdir_p(const char *dir);
/* The directories of the relative path rel inside the existing directory dir, as mkdir_p
 * does, but none may be a symbolic link: an output is never written through a link
 * planted inside its directory ("PATH: a symbolic link inside the output directory; not
 * writing through it").  The directory itself is the user's choice, links and all.  (A
 * check, then the writes: it refuses what the directory holds, not a link swapped in by
 * someone racing the tool.) */
int mkdir_inside(const char *dir, const char *rel);
/* An absolute path without symbolic links, "." or "..", also for a path whose last
 * components do not exist yet (they are appended as given).  NULL and a message on error. */
char *path_resolve(const char *path);
/* Whether resolved path a is b or lies inside it. */
int path_within(const char *a, const char *b);

/* Signals: on SIGINT, SIGTERM or SIGHUP remove every temporary file still open, then die
 * of the signal as usual; SIGPIPE and SIGXFSZ are ignored so that a closed pipe or a file
 * size limit is a write error with a message, not a silent death (a tar stream cut short;
 * a listing or report cut short still ends the tool as SIGPIPE does, lib/base/cli.h).  Call
 * once, early. */
void out_handle_signals(void);
/* What a tool that writes says when SIGINT, SIGTERM or SIGHUP ends it, once its
 * temporaries are removed: "TOOL: interrupted (SIGINT): NOTE" on standard error (after
 * clearing a progress bar's line on a terminal).  note must live as long as the process;
 * NULL (the default): nothing is said. */
void out_interrupt_note(const char *note);
/* Unlink every temporary file still open; async-signal-safe (for signal handlers).  It
 * also closes the gate: no file is created or completed after it. */
void out_remove_temporaries(void);
/* What this process completed under final names, for a dying process's message (after
 * out_remove_temporaries): "nothing was written under a final name", or "only A, B were
 * completed under their final names: the same command run again keeps them and writes the
 * rest" ("only N files (A, B, C, ...)" past three).  Async-signal-safe; into buf (cap
 * bytes, NUL-terminated, cut short to fit); returns the length. */
size_t out_say_done(char *buf, size_t cap);

#endif
