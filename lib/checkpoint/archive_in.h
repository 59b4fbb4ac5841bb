/* A checkpoint inside an archive (tar, optionally compressed: gzip, xz, zstd, bzip2 ...,
 * whatever libarchive reads), read as one stream without extracting anything: each file
 * hashed on the fly, the safetensors header of each file parsed from its first 8 + N
 * bytes (st_parse, with the file's size from the archive), JSON side files kept (up to
 * JSON_MAX_FILE each).  Memory: the headers and the JSON files, never a tensor; together
 * within the limit of lib/base/held.h.
 *
 * The files are those `tar x` would leave (lib/checkpoint/arc_tree.h): every entry is placed in a model
 * of the extracted tree, in archive order, and what that refuses (a name or link leading
 * outside, what tar fails on, device nodes, FIFOs and sockets) fails the whole read.  A
 * later entry replaces an earlier one of the same path; a hard link holds its target's
 * bytes, a symbolic link to a file inside the bytes of the file it resolves to; a sparse
 * file is read with its holes as zeros, up to its full size.
 *
 * The checkpoint's root is the top directory when every file lies in the same one
 * ("tiny-v3/config.json" ...), else the archive's root.  Names starting with "." (at any
 * level) are left out, as in a directory's manifest: kept apart, hashed, for a manifest
 * that names them (.gitattributes). */
#ifndef CKPT_ARCHIVE_IN_H
#define CKPT_ARCHIVE_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "json.h"
#include "st.h"

/* JSON files larger than this are not kept (an index of the 671B model is ~8 MB). */
#define ARC_MAX_JSON JSON_MAX_FILE
/* Other files up to this size are kept too: a link named .json may lead to one (a
 * config.json is 2 kB). */
#define ARC_MAX_LINKED_JSON (64u << 10)
/* The most bytes of sparse files' holes hashed (as zeros) in one archive: more is refused
 * rather than spending minutes on bytes the archive does not hold (4 GiB: ~3 s). */
#define ARC_MAX_HOLES (4ull << 30)

struct arc_file {
	char *entry;             /* its path in the extracted tree ("a", not "./a" or "d/../a") */
	char *name;              /* relative to the checkpoint's root */
	char *path;              /* "ARCHIVE/entry", for messages */
	uint64_t size;
	bool hashed;             /* read to its end: sha is its SHA-256 */
	uint8_t sha[SHA256_LEN];
	struct st_file *st;      /* its header, when it parses as safetensors (not .json files) */
	char *error;             /* why it does not (or why it could not be read) */
	char *text;              /* a .json file's contents */
	size_t len;
	uint64_t held;           /* bytes of it counted as held (lib/base/held.h) */
};

struct arc {
	char *path;
	char *root;              /* the top directory, "" when none */
	char *dir;               /* "ARCHIVE" or "ARCHIVE/root": the checkpoint, for messages */
	char *format;            /* e.g. "GNU tar format" + ", gzip" */
	size_t n;
	struct arc_file *f;      /* in the order extraction makes them */
	size_t nskipped;         /* the other non-directories left: hidden names, links to
				    directories or to nothing */
	size_t nhidden;
	struct arc_file *hidden; /* the hidden files: hashed, nothing else, for a manifest that
				    names them; name NULL when outside the root */
	uint64_t holes;          /* bytes of sparse files' holes */
	char *error;             /* the stream broke (truncated, corrupt): the message; the
				    files before it are kept, the one it broke in is not hashed */
};

/* Whether the name says archive: .tar, .tar.*, .tgz, .tbz2, .txz, .tzst. */
bool arc_is_archive_name(const char *path);

/* Read the whole archive.  hash: compute each file's SHA-256.  -1 with a message when path
 * cannot be opened, is not an archive at all, or holds an entry that is refused; a stream
 * that breaks later is a->error (the entries before it are placed, the links checked). */
int arc_read(struct arc *a, const char *path, bool hash);
/* The same for an archive in memory; name stands for its path. */
int arc_read_mem(struct arc *a, const char *name, const void *p, size_t n, bool hash);
void arc_free(struct arc *a);


#endif
