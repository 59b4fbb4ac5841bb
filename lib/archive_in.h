/* A checkpoint inside an archive (tar, optionally compressed: gzip, xz, zstd, bzip2 ...,
 * whatever libarchive reads), read as one stream without extracting anything: each file
 * hashed on the fly, the safetensors header of each file parsed from its first 8 + N
 * bytes (st_parse, with the file's size from the archive), JSON side files kept (up to
 * JSON_MAX_FILE each).  Memory: the headers and the JSON files, never a tensor; together
 * within the limit of lib/held.h.
 *
 * The checkpoint's root is the archive's top directory when every file lies in the same
 * one ("tiny-v3/config.json" ...), else the archive's root; a leading "./" is ignored.
 * Names starting with "." (at any level) are skipped, as in a directory's manifest. */
#ifndef CKPT_ARCHIVE_IN_H
#define CKPT_ARCHIVE_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "hash.h"
#include "st.h"


struct arc_file {
	char *entry;             /* the name in the archive, without "./" */
	char *name;              /* relative to the checkpoint's root */
	char *path;              /* "ARCHIVE/entry", for messages */
	uint64_t size;
	bool hashed;             /* read to its end: sha is its SHA-256 */
	uint8_t sha[SHA256_LEN];
	struct st_file *st;      /* its header, when it parses as safetensors (not .json files) */
	char *error;             /* why it does not (or why it could not be read) */
	char *text;              /* a .json file's contents */
	size_t len;
	uint64_t held;           /* bytes of it counted as held (lib/held.h) */
};

struct arc {
	char *path;
	char *root;              /* the top directory, "" when none */
	char *dir;               /* "ARCHIVE" or "ARCHIVE/root": the checkpoint, for messages */
	char *format;            /* e.g. "GNU tar format" + ", gzip" */
	size_t n;
	struct arc_file *f;      /* in archive order */
	size_t nskipped;         /* entries that are not regular files, or hidden */
	char *error;             /* the stream broke (truncated, corrupt): the message; the
				    files before it are kept, the one it broke in is not hashed */
};

/* Whether the name says archive: .tar, .tar.*, .tgz, .tbz2, .txz, .tzst. */
bool arc_is_archive_name(const char *path);

/* Read the whole archive.  hash: compute each file's SHA-256.  -1 with a message when path
 * cannot be opened or is not an archive at all; a stream that breaks later is a->error. */
int arc_read(struct arc *a, const char *path, bool hash);
void arc_free(struct arc *a);

/* The checkpoint the archive holds (ckpt_open_files); it takes over the parsed headers. */
int arc_ckpt(struct arc *a, struct ckpt **out, int flags);

#endif
