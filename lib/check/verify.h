/* ckpt-verify's checks.  A target is what was named on the command line: a checkpoint
 * directory, an index file, one .safetensors file or an archive holding a checkpoint, in
 * any layout formats/ knows.  It is opened leniently: whatever is wrong with it becomes a
 * problem of a check (exit status 1), and only a path that is not a checkpoint at all
 * fails the opening (exit status 2).  Each check adds its findings to a report
 * (lib/check/report.h). */
#ifndef CKPT_VERIFY_H
#define CKPT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "ds_config.h"
#include "archive_in.h"
#include "compare.h"
#include "pool.h"
#include "report.h"
#include "view.h"

struct vtarget {
	char *path;              /* as given */
	char *dir;               /* where its files are: PATH, or the directory holding PATH */
	char *single;            /* PATH is one safetensors file: its name in dir */
	bool archive;
	struct arc arc;          /* the archive's files, when archive */
	const char *layout;      /* the layout's name */
	struct view *v;          /* the checkpoint as its layout reads it: its files, side files
				    and tensors under canonical names (opened VIEW_LENIENT), or
				    NULL when it could not be read at all */
	char *error;             /* why v could not be opened (a structure problem) */
	char *hub_repo;          /* PATH is a snapshot of the Hugging Face hub cache (or its
				    repository, dir then the snapshot of the revision asked
				    for): the repository directory, models--ORG--NAME */
	char commit[41];         /* with hub_repo: the snapshot's commit, when PATH was the
				    repository */
	bool files_only;         /* an archive of a layout other than HF: its files are read
				    one by one (each against the safetensors rules, hashed), but
				    no view is built: the checks across files are not made */
};

/* Open path in the named layout (NULL: detect it).  hash: an archive's files are hashed
 * as they stream past (for manifests).  A repository directory of the hub cache
 * (lib/base/hubcache.h) is read as its snapshot of revision (NULL: main); revision is
 * refused for anything else.  -1 with a message when path is not a checkpoint at all:
 * missing, neither a file nor a directory, a directory without an index or any
 * .safetensors file, an archive that cannot be read, an unknown layout, a revision the
 * cache does not hold. */
int vtarget_open(struct vtarget *t, const char *path, const char *layout, bool hash, const char *revision);
/* The same for an archive already read (arc_read, arc_read_mem), which t takes over (a is
 * emptied, also on failure). */
int vtarget_open_arc(struct vtarget *t, struct arc *a, const char *layout);
void vtarget_close(struct vtarget *t);

/* "structure": every shard against the safetensors rules, the index against the shards
 * (each entry in the file it names and nowhere else, no shard missing or unreferenced, no
 * tensor outside the index, total_size), and what the layout itself requires. */
void verify_structure(const struct vtarget *t, struct report *r);

/* "model": the exact tensors a DeepSeek-V3 checkpoint of config.json holds (formats/hf.h),
 * with shapes and dtypes, and every FP8 weight with a scale of the right shape. */
void verify_model(const struct vtarget *t, struct report *r);

/* "hub": a snapshot of the hub cache (t->hub_repo) against its blobs' names, offline: every
 * file's bytes hashed (SHA-256 or git blob SHA-1, as the name says; the threads of p);
 * links that dangle, are absolute or lead outside the repository's blobs/, blobs whose
 * names are no hash, unfinished downloads in blobs/, files the index names that the
 * snapshot lacks.  Copies instead of links (the hub's no-symlink mode) have no name to be
 * checked by: the check is then "not checked" for them. */
void verify_hub(const struct vtarget *t, struct pool *p, struct report *r);

/* "manifest": the SHA-256 of every file of the target against a manifest (lib/base/manifest.h).
 * root: the directory the manifest's names are relative to (NULL: the checkpoint's own
 * directory, or the archive's root); entries naming files outside the checkpoint are then
 * ignored.  -1 with a message when the manifest cannot be read (an input error). */
int verify_manifest(const struct vtarget *t, const char *manifest, const char *root, struct pool *p,
		    struct report *r);

/* Write the manifest of the target's files to out (sha256sum's format); "manifest-write"
 * in the report.  -1 with a message when a file cannot be read or out cannot be written. */
int verify_write_manifest(const struct vtarget *t, const char *out, struct pool *p, struct report *r);

/* "scan": every value read (FP8 dequantized): NaN and infinity counts per tensor (problems),
 * all-zero tensors (warnings), and the copies of replicated tensors compared with each
 * other.  Not for archives. */
void verify_scan(const struct vtarget *t, struct pool *p, struct report *r);

/* "against": a and b hold the same model, tensor by tensor under canonical names, compared
 * as lib/check/compare.h says. */
void verify_against(const struct vtarget *a, const struct vtarget *b, const struct cmp_opts *o,
		    struct pool *p, struct report *r);

/* The files that messages about t may start with (shards, index, config, directory), for
 * report_problem_msg; caller frees the array, not the strings. */
const char **vtarget_files(const struct vtarget *t, size_t *n);

#endif
