/* Names a checkpoint gives must stay inside its directory, symbolic links included.
 *
 * A shard the index maps tensors to, the index itself, config.json, a side file a
 * converter copies: each is a name inside the checkpoint directory, and a symbolic link
 * there leading elsewhere (to /etc/shadow, to another user's files) would otherwise be
 * read, or copied into the output.  Links are allowed when they resolve inside the
 * directory, and in one layout more: the Hugging Face hub cache, where the checkpoint
 * directory is .../models--ORG--NAME/snapshots/REV and every file in it is a link into
 * .../models--ORG--NAME/blobs/.  The environment variable CKPT_FOLLOW_SYMLINKS=1 lifts
 * the check, for directories assembled from links on purpose.  (A check, then an open: it
 * refuses what a checkpoint holds, not a link swapped in by someone racing the tool.) */
#ifndef CKPT_PATHGUARD_H
#define CKPT_PATHGUARD_H

#define PATHGUARD_ENV "CKPT_FOLLOW_SYMLINKS"

struct pathguard {
	char *root;              /* the checkpoint directory, resolved */
	char *blobs;             /* the hub cache's blobs directory, or NULL */
};

/* 0, or -1 and a message when dir cannot be resolved. */
int pathguard_init(struct pathguard *c, const char *dir);
/* 0 when path (a name under the directory) resolves inside it, or does not exist yet; else
 * -1 and "PATH: symbolic link to \"TARGET\" leads outside the checkpoint directory
 * (CKPT_FOLLOW_SYMLINKS=1 follows it)", or "PATH: leads outside the checkpoint directory
 * through a symbolic link (...)" when the link is a directory on its way. */
int pathguard_check(const struct pathguard *c, const char *path);
void pathguard_free(struct pathguard *c);

#endif
