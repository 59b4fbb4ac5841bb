/* The Hugging Face hub cache, as huggingface_hub lays it out on disk:
 *
 *   models--ORG--NAME/
 *     blobs/HASH                 every file's bytes once, named by their hash: the SHA-256
 *                                for LFS files (the weights), the git blob SHA-1 for the
 *                                others; HASH.incomplete (HASH.XXXXXXXX.incomplete in
 *                                newer versions) while it downloads
 *     refs/BRANCH                the commit a branch or tag was last seen at (40 hex digits)
 *     snapshots/COMMIT/FILE      a relative symbolic link ../../blobs/HASH (one more ../
 *                                per subdirectory); a copy of the bytes instead where the
 *                                platform has no symbolic links (the blob then moved there
 *                                or was copied)
 *
 * What the names mean, nothing about checkpoints: lib/base/pathguard lets a snapshot's
 * links lead into blobs/, ckpt-verify checks a snapshot against its blob names. */
#ifndef CKPT_HUBCACHE_H
#define CKPT_HUBCACHE_H

#include <stdbool.h>

#include "hash.h"

#define HUB_REPO_PREFIX "models--"
#define HUB_DEFAULT_REVISION "main"

/* The repository directory (.../models--ORG--NAME, caller frees) when the resolved path is
 * one of its snapshots (.../models--ORG--NAME/snapshots/REV), else NULL. */
char *hub_repo_of_snapshot(const char *resolved);
/* Whether dir is a repository directory of the cache: named models--ORG--NAME, holding a
 * snapshots directory. */
bool hub_is_repo(const char *dir);
/* The snapshot directory (caller frees) of revision in repository repo: a commit (40 hex
 * digits) names it; anything else is a ref, read from refs/REVISION (NULL: "main"; the
 * only snapshot when there is no refs/main, as huggingface_hub's verify does).  *commit:
 * the commit's 40 hex digits (static storage of the caller, 41 bytes).  NULL and a message
 * naming the file: a revision that is not a name inside refs/, a ref that is missing, not
 * a regular file or not a commit, a commit without a snapshot. */
char *hub_snapshot(const char *repo, const char *revision, char commit[41]);
/* What a blob's name says its bytes hash to: 64 hex digits a SHA-256, 40 a git blob SHA-1.
 * 0 and *a, the hash in *sha (hash_len(*a) bytes); -1 for any other name. */
int hub_blob_name(const char *name, enum hash_algo *a, uint8_t sha[SHA256_LEN]);
/* Whether a blob's name is an unfinished download's (ends in ".incomplete"). */
bool hub_blob_incomplete(const char *name);

#endif
