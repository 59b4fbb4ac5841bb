/* The conversion engine every converter uses: a converter describes its output files as
 * tensors whose bytes come from a source (a plain copy of stored bytes, or a function that
 * fills byte ranges), and the engine writes them.
 *
 *  - Files are laid out exactly as the safetensors reference writes them (lib/tensor/st.h).
 *  - Bytes stream through a bounded ring of chunk buffers: worker threads fill chunks in
 *    parallel, one writer appends them in order, so memory stays at about
 *    2 x threads x CV_CHUNK whatever the file sizes, and the bytes never depend on -j.
 *  - Input pages already consumed are dropped from the process (MADV_DONTNEED), so the
 *    resident set stays flat however large the shards.
 *  - The files of one group are written in a single pass, in lockstep (model-parallel
 *    ranks read their input once); groups are written one after another.
 *  - Outputs appear under their final names only when complete (lib/base/out.h).  Their
 *    SHA-256 is computed as they are written and recorded beside the record of the run
 *    (lib/engine/runsums.h); a file that is already there with exactly the planned header
 *    and size, and whose bytes hash to the recorded sum, is kept (resume), unless forced,
 *    and so is a side file already there with exactly its bytes: a run with nothing left
 *    to do writes nothing.
 *  - An output directory is claimed by a record of the conversion (CV_RECORD: tool, version,
 *    input, options): a non-empty directory without the same record is refused unless
 *    forced, so a re-run resumes only its own work, and many processes (GNU parallel, one
 *    file each with cv_opts.only) can share one directory.
 *  - Or everything goes out as one tar stream (files one after another, groups split).
 */
#ifndef CKPT_CONVERT_H
#define CKPT_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st.h"

#define CV_CHUNK (8u << 20)

struct cv_fill {
	/* Write bytes [off, off + n) of the output tensor to dst.  off and n are multiples of
	 * `unit` except at the tensor's end.  Runs on worker threads, concurrently for other
	 * chunks: it must only read shared state.  0, or -1 with err_set(). */
	int (*fn)(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch);
	const void *arg;
	uint64_t unit;          /* indivisible byte unit, e.g. one block row of output */
	size_t scratch;         /* scratch bytes each call needs */
};

struct cv_tensor {
	const char *name;
	enum dt dtype;
	unsigned ndim;
	uint64_t shape[ST_MAX_DIMS];
	/* the bytes: copy[0 .. nbytes) when copy is set, else produced by fill */
	const uint8_t *copy;
	struct cv_fill fill;
	/* the input bytes this tensor reads, dropped from memory once written (may be NULL);
	 * they must be pages of a mapped file (dropped pages are read again from it: dropped
	 * heap memory would be lost) */
	const uint8_t *in;
	uint64_t in_len;
	/* Or, for inputs not read front to back in proportion (gathers, transposes): the input
	 * byte ranges behind output bytes [off, off + n), each passed to each(ctx, p, len):
	 * with CV_IN_READ all that the chunk reads (to be read ahead), with CV_IN_DONE those
	 * that no later chunk of the tensor reads (to be dropped once written).  Runs on the
	 * writer thread; used instead of in / in_len when set. */
	void (*inputs)(const void *arg, uint64_t off, uint64_t n, int what,
		       void (*each)(void *ctx, const uint8_t *p, uint64_t len), void *ctx);
	const void *inputs_arg;
	/* Output bytes per chunk of a fill (0: CV_CHUNK; rounded down to fill.unit), e.g. less
	 * for a gather that reads its input sparsely, so that the input pages one chunk maps
	 * stay about CV_CHUNK. */
	uint64_t chunk;
};

enum { CV_IN_READ, CV_IN_DONE };

struct cv_file {
	char *name;             /* relative to the output directory */
	size_t n, cap;
	struct cv_tensor *t;
	bool has_meta;
	struct st_meta meta[4];
	size_t nmeta;
	int group;              /* files of one group are written in one pass */
	bool skip;              /* set by the engine: already complete, kept */
	struct st_layout L;     /* set by the engine */
};

struct cv_side {
	char *name;             /* relative to the output directory */
	char *src;              /* copy this file, or */
	char *bytes;            /* write these bytes */
	size_t len;
	bool skip;              /* set by the engine: already there with these bytes, kept */
};

struct cv_job {
	size_t nfiles;
	struct cv_file *files;
	size_t nside;
	struct cv_side *side;
};

/* The record of the conversion an output directory holds. */
#define CV_RECORD ".ckpt-run.json"

struct cv_opts {
	const char *outdir;
	unsigned threads;       /* 0: all CPUs */
	bool force;             /* rewrite complete files; write into a foreign non-empty outdir */
	bool quiet;             /* no warnings (a kept file found changed, written again) */
	bool no_side;           /* write no side files */
	bool only_side;         /* write only the side files */
	/* Called from the writer thread after each chunk: data bytes written so far of the
	 * total this run writes (files kept from an earlier run are not counted). */
	void (*progress)(void *arg, uint64_t done, uint64_t total, const char *file);
	void *progress_arg;
	/* Tar: every file, then every side file, as one tar stream on tar_fd (outdir unused;
	 * no resume, no record).  tar_what names the stream in messages. */
	bool tar;
	int tar_fd;
	const char *tar_what;
	/* Per-unit mode: write only the file of this name (no side files)... */
	const char *only;
	/* ...and once all are written: check that every file is complete, write side files. */
	bool finalize;
	/* The input: an outdir equal to it or inside it is refused.  When set, the outdir is
	 * claimed with a record naming the tool, its version, this input and `options` (the
	 * options that change the output). */
	const char *input;
	const char *options;
};

/* Where a converter's output goes: out, a directory claimed for input, or with tar (OUTPUT_DIR
 * -, see cli_tar_output) one tar stream on standard output. */
void cv_opts_output(struct cv_opts *o, const char *out, bool tar, const char *input);

struct cv_file *cv_add_file(struct cv_job *j, const char *name, int group);
/* A tensor of the file; shape copied. */
struct cv_tensor *cv_add_tensor(struct cv_file *f, const char *name, enum dt dtype, unsigned ndim,
				const uint64_t *shape);
void cv_set_meta(struct cv_file *f, const char *key, const char *value);
void cv_add_side_bytes(struct cv_job *j, const char *name, const void *bytes, size_t len);
void cv_add_side_copy(struct cv_job *j, const char *name, const char *src);
/* Copies of every regular file under dir (symbolic links followed, names starting with a
 * dot left out, sorted), under the same relative names, for which keep(rel) says yes.  A
 * file to copy or a directory to walk that leads outside dir through a symbolic link is
 * an error (lib/base/pathguard.h). */
int cv_add_side_tree(struct cv_job *j, const char *dir, bool (*keep)(const char *rel, void *arg),
		     void *arg);
void cv_job_free(struct cv_job *j);

/* Lay out every file (fills each file's L); done by cv_run, callable earlier to know sizes. */
int cv_plan(struct cv_job *j);
/* Whether path holds exactly what file f will be: same size and same header bytes. */
bool cv_file_complete(const struct cv_file *f, const char *path);
/* Write everything.  On error nothing partial is left under a final name.  Refusals
 * (outdir inside input, foreign outdir, not enough space) are errors like any other. */
int cv_run(struct cv_job *j, const struct cv_opts *o);
/* Bytes of all files and side files as planned (after cv_plan). */
uint64_t cv_job_bytes(const struct cv_job *j);
/* A side file's bytes (its source's size now for a copy; 0 when it cannot be read). */
uint64_t cv_side_bytes(const struct cv_side *s);

#endif
