/* The SHA-256 of every file a conversion wrote into its output directory, kept beside the
 * record of the run (CV_RECORD) in sha256sum's format (CV_SUMS), so that a re-run keeps
 * only files whose bytes are still the ones written, and `sha256sum -c` reads it too.
 *
 * The sums are computed as the bytes go out (lib/engine/convert.c), never by reading an
 * output back; an entry is added once its file is complete under its final name.  Several
 * processes converting into one directory (one file each) update the file in turn, under
 * the directory's lock, each replacing it atomically. */
#ifndef CKPT_RUNSUMS_H
#define CKPT_RUNSUMS_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "manifest.h"

#define CV_SUMS ".ckpt-run.sha256"

/* The sums an output directory holds.  None (an empty manifest, 0 returned) when the file
 * is missing, is not a regular file of the directory, or cannot be read or parsed: what
 * cannot be read vouches for nothing, and the files it would have covered are written
 * again. */
void runsums_load(const char *outdir, struct manifest *m);
/* Add or replace the sums of n files (names relative to outdir). */
int runsums_record(const char *outdir, const char *const *names, const uint8_t (*sha)[SHA256_LEN], size_t n);
/* Remove the sums (a new conversion claims the directory).  Called with the directory
 * locked by the caller. */
int runsums_forget(const char *outdir);

#endif
