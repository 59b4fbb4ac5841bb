/* A progress bar on stderr: bytes done of the total, rate and time left.  Redrawn in place
 * (at most ten times a second) when stderr is a terminal; when progress is asked for and
 * stderr is not a terminal, one plain line every few seconds instead. */
#ifndef CKPT_PROGRESS_H
#define CKPT_PROGRESS_H

#include <stdint.h>

enum progress_mode {
	PROGRESS_AUTO,   /* shown when stderr is a terminal */
	PROGRESS_ON,     /* always shown (--progress) */
	PROGRESS_OFF,    /* never (--quiet) */
};

struct progress;

/* NULL when nothing is to be shown; every function accepts NULL. */
struct progress *progress_new(enum progress_mode mode);
/* done of total bytes; `what` is the file being written.  Its signature fits
 * cv_opts.progress (lib/engine/convert.h).  Thread-safe. */
void progress_update(void *p, uint64_t done, uint64_t total, const char *what);
/* Draw the final state, end the line, free. */
void progress_end(struct progress *p);

/* "1.5 GiB", "812 MiB", "35 KiB", "17 B" into out (at least 16 bytes). */
const char *progress_bytes(uint64_t n, char *out);

#endif
