/* Manifests: the SHA-256 of every file of a checkpoint.
 *
 * Read: sha256sum's format ("HEX  NAME", "HEX *NAME", a leading backslash for names with
 * escaped backslashes or newlines, and the --tag form "SHA256 (NAME) = HEX"), or a JSON
 * object as model hubs publish: {"NAME": "HEX"}, {"NAME": {"sha256": "HEX", "size": N}}
 * (also "oid": "sha256:HEX", or those two inside "lfs"), or the Hugging Face API's
 * {"siblings": [{"rfilename": NAME, "lfs": {"sha256": HEX, "size": N}}]} where files that
 * are not in LFS carry no hash (only their presence is checked).
 * Written: sha256sum's format, names sorted, so `sha256sum -c` reads it too.
 *
 * Names are relative to a root directory, "/"-separated, and must stay inside it. */
#ifndef CKPT_MANIFEST_H
#define CKPT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "hash.h"
#include "pool.h"

struct mentry {
	char *name;
	bool has_sha;
	uint8_t sha[SHA256_LEN];
	bool has_size;
	uint64_t size;
};

struct manifest {
	char *path;
	size_t n;
	struct mentry *e;        /* sorted by name */
};

/* Read and check a manifest (a file, a pipe, or "-": standard input): a malformed line or
 * entry, a name that leaves the root, or a name listed twice is an error naming the file
 * (and line). */
int manifest_load(struct manifest *m, const char *path);
/* The same from text in memory; path is used in messages. */
int manifest_parse(struct manifest *m, const char *path, const char *text, size_t len);
void manifest_free(struct manifest *m);
const struct mentry *manifest_find(const struct manifest *m, const char *name);

/* One line as sha256sum writes it. */
void manifest_line(struct buf *out, const char *name, const uint8_t sha[SHA256_LEN]);

/* A directory's files: every regular file below it (symbolic links to files followed when
 * they stay inside dir, an error when they lead out: lib/base/pathguard.h; names starting with
 * "." skipped at every level, .git and the like), as sorted names relative to dir, with
 * their sizes.  skip: a path (as the user spelt it, may be NULL) that is left out when it
 * is one of these files, e.g. the manifest itself.  also: hidden names taken by the same
 * rules when they are there (a manifest that names .gitattributes). */
struct mfile {
	char *name;
	uint64_t size;
	enum hash_algo algo;     /* what manifest_hash computes (SHA-256 unless set) */
};
int manifest_list(const char *dir, const char *skip, const char *const *also, size_t nalso, struct mfile **out,
		  size_t *n);
/* Every entry below dir, depth first, directories entered only when real (a link to one
 * could make a loop): visit(ctx, path, rel, &lstat) for each entry that is not a directory
 * (rel: its name relative to dir).  hidden: names starting with "." visited too (else
 * skipped at every level).  Stops at the first non-zero visit, returned; -1 with a message
 * when a directory cannot be read or nests more than 64 deep. */
int manifest_walk(const char *dir, bool hidden,
		  int (*visit)(void *ctx, const char *path, const char *rel, const struct stat *ls), void *ctx);
/* Whether some component of the name starts with "." */
bool manifest_hidden(const char *name);
void mfiles_free(struct mfile *f, size_t n);

/* Hash files root/names[i] in parallel, largest first, each as its algo says: sha[i] (the
 * first hash_len bytes), or err[i] set to the message (caller frees) when it could not be
 * read. */
void manifest_hash(const char *root, const struct mfile *f, size_t n, struct pool *p,
		   uint8_t (*sha)[SHA256_LEN], char **err);

/* A name with leading "./" components removed, or NULL when it is not a name inside the
 * root (empty, absolute, "..", empty component). */
const char *manifest_name(const char *name);

#endif
