/* The tree `tar x` leaves, worked out from an archive's entries without extracting them, so
 * that ckpt-verify checks the files a user gets, not the entries the archive lists.  The
 * model is GNU tar's default extraction (1.34, as root or not; permissions, owners and
 * times aside), entry by entry in archive order:
 *
 * - a name is a path, however spelt ("a", "./a", "d//a", "d/./a" are one); a later entry
 *   replaces what an earlier one left there, and the directories above a name are made;
 * - a hard link names the CONTENT its target has at that point (tar never writes into an
 *   existing file: a later entry of the target's name is a new file, the link keeps the
 *   old bytes); a hard link to a symbolic link is that symbolic link again;
 * - a symbolic link whose target has no ".." is made at once, and later entries below it
 *   are written through it; one whose target has ".." is made only after the last entry
 *   (tar puts an empty placeholder there first);
 * - in the final tree, links resolve as the kernel resolves them.
 *
 * Refused, with one line "ARCHIVE: entry "NAME" ...": what could land outside the
 * extraction directory, what tar fails on, and what leaves a tree that depends on tar's
 * version or the file system: absolute names; ".." in a name or a hard link's target
 * (GNU tar strips or skips them, other extractors follow them); symbolic links to absolute
 * targets or whose target leads outside, directly or through other links, when made or
 * in the final tree; links that loop; entries below a file, a dangling link or a link tar
 * makes at the end; hard links to a directory or to nothing; an entry replacing a
 * non-empty directory or a link tar makes at the end; names over 4095 bytes or with a
 * component over 255. */
#ifndef CKPT_ARC_TREE_H
#define CKPT_ARC_TREE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct atree;

/* archive: its name, for messages. */
struct atree *atree_new(const char *archive);
void atree_free(struct atree *t);

/* One entry each, in archive order; 0, or -1 with the message when it is refused. */
int atree_dir(struct atree *t, const char *name);
/* A regular file whose bytes the caller knows as `content`. */
int atree_file(struct atree *t, const char *name, uint32_t content);
int atree_symlink(struct atree *t, const char *name, const char *target);
int atree_hardlink(struct atree *t, const char *name, const char *target);

/* Where the last atree_file put its file: the path in the extracted tree. */
const char *atree_path(const struct atree *t);

/* After the last entry (or where the stream broke): every link checked in the final tree,
 * 0 or -1 with the message. */
int atree_finish(struct atree *t);

/* The files a reader of the extracted directory sees (lib/base/manifest.h's listing): regular
 * files, and symbolic links that resolve to one (with its content); names with a
 * component starting with "." marked hidden (a manifest may name them: .gitattributes).
 * In the order they were made.  Valid after atree_finish, until atree_free. */
struct atree_file {
	const char *path;        /* in the extracted tree, "/"-separated, no "." or ".." */
	uint32_t content;
	const char *real;        /* a symbolic link: the path of the file it leads to, else NULL */
	bool hidden;
};
const struct atree_file *atree_files(const struct atree *t, size_t *n);
/* The other non-directories left: hidden names (also in atree_files), links to
 * directories or to nothing. */
size_t atree_others(const struct atree *t);

#endif
