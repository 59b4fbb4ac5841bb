/* What a converter says once its job has run: one line (or, with --json, one JSON
 * document) of what it wrote, where, how many files and bytes, in how long; a re-run that
 * found every file complete says there was nothing to do.  Read from the job after cv_run
 * (the files' and side files' skip flags) and the options it ran with. */
#ifndef CKPT_CV_REPORT_H
#define CKPT_CV_REPORT_H

#include "buf.h"
#include "convert.h"
#include "jsonw.h"

/* What an interrupted converter says (out_interrupt_note, lib/base/out.h): a directory
 * resumes, a tar stream does not. */
#define CV_RESUME_NOTE "run the same command again to resume (complete files are kept)"
#define CV_TAR_NOTE "the tar stream on standard output is incomplete"

struct cv_tally {
	size_t written, kept;           /* files of the run, side files included */
	uint64_t bytes_written;
};
void cv_tally(const struct cv_job *j, const struct cv_opts *o, struct cv_tally *t);

/* One line, ending in a newline:
 *   "wrote 9 files (14.7 MiB) to out in 0.21 s"
 *   "wrote 2 files (5.12 MiB) to out in 0.08 s; kept 7 complete from an earlier run"
 *   "out: nothing to do: its 9 files are complete (--force writes them again)"
 *   "wrote 9 files (14.7 MiB) as a tar stream to standard output in 0.21 s"
 * with "; NOTE" after the time when note is given (what the tool did besides). */
void cv_report_line(struct buf *b, const struct cv_job *j, const struct cv_opts *o, double seconds,
		    const char *note);
/* One line per file of the run (--verbose): "NAME: 115 tensors, 2892416 bytes, written",
 * "..., kept (already complete)"; side files as "NAME: 1234 bytes, written". */
void cv_report_files(struct buf *b, const struct cv_job *j, const struct cv_opts *o);
/* The summary's members, into the object w is writing: "output", "files" [{"name",
 * "tensors", "bytes", "kept"}], "other_files" [{"name", "bytes", "kept"}],
 * "files_written", "files_kept", "bytes_written", "seconds", "nothing_to_do". */
void cv_report_json(struct jw *w, const struct cv_job *j, const struct cv_opts *o, double seconds);

/* All of it, as a converter ends a run that succeeded: nothing with quiet (unless json);
 * the JSON document (its members, then the tool's own from json_extra) on standard
 * output; else the files (verbose), then the line: on standard output, or on standard
 * error ("TOOL: wrote ...") when standard output carries the tar stream.  A write error on
 * standard output is the exit status's business (lib/base/cli.h). */
struct cv_say {
	bool quiet, json, verbose;
	const char *note;
	void (*json_extra)(struct jw *w, const void *arg);
	const void *arg;
};
void cv_say(const struct cv_job *j, const struct cv_opts *o, double seconds, const struct cv_say *s);

#endif
