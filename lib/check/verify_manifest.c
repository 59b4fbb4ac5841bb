/* Manifests of a target's files: checked against one, or written. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "manifest.h"
#include "out.h"
#include "table.h"
#include "verify.h"
#include "names.h"

/* The files of a target, sorted by name, with their hashes once known. */
struct fileset {
	size_t n;
	struct mfile *f;
	uint8_t (*sha)[SHA256_LEN];
	char **err;              /* why a file could not be hashed */
	bool *hashed;
	const struct arc_file **af; /* an archive's: the file of each name */
};

static void fileset_free(struct fileset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->err[i]);
	mfiles_free(s->f, s->n);
	free(s->sha);
	free(s->err);
	free(s->hashed);
	free(s->af);
}

static int cmp_arc_file(const void *a, const void *b)
{
	return strcmp((*(const struct arc_file *const *)a)->name, (*(const struct arc_file *const *)b)->name);
}

/* Whether name is one of names (sorted). */
static bool named(const char *const *names, size_t n, const char *name)
{
	return name && name_find(names, n, sizeof *names, 0, name) >= 0;
}

/* skip: a file left out of a directory's listing (the manifest itself).  also: hidden
 * names (relative to the target) a manifest lists, taken when they are there; other
 * hidden files are not the checkpoint's (.git, .cache). */
static int fileset_of(struct fileset *s, const struct vtarget *t, const char *skip, const char *const *also,
		      size_t nalso)
{
	memset(s, 0, sizeof *s);
	if (t->archive) {
		s->af = xcalloc(t->arc.n + t->arc.nhidden + 1, sizeof *s->af);
		for (size_t i = 0; i < t->arc.n; i++)
			s->af[s->n++] = &t->arc.f[i];
		for (size_t i = 0; i < t->arc.nhidden; i++)
			if (named(also, nalso, t->arc.hidden[i].name))
				s->af[s->n++] = &t->arc.hidden[i];
		s->f = xcalloc(s->n ? s->n : 1, sizeof *s->f);
		if (s->n > 1)
			qsort(s->af, s->n, sizeof *s->af, cmp_arc_file);
		for (size_t i = 0; i < s->n; i++)
			s->f[i] = (struct mfile){.name = xstrdup(s->af[i]->name), .size = s->af[i]->size};
	} else if (t->single) {
		char *p = path_join(t->dir, t->single);
		struct stat sb;
		if (stat(p, &sb) < 0) {
			int rc = err_errno(p);
			free(p);
			return rc;
		}
		free(p);
		uint64_t size = (uint64_t)sb.st_size;
		s->n = 1;
		s->f = xcalloc(1, sizeof *s->f);
		s->f[0] = (struct mfile){.name = xstrdup(t->single), .size = size};
	} else if (manifest_list(t->dir, skip, also, nalso, &s->f, &s->n)) {
		return -1;
	}
	s->sha = xcalloc(s->n ? s->n : 1, sizeof *s->sha);
	s->err = xcalloc(s->n ? s->n : 1, sizeof *s->err);
	s->hashed = xcalloc(s->n ? s->n : 1, sizeof *s->hashed);
	return 0;
}

/* Hash the files whose want[i] is set (all when want is NULL): in parallel from a
 * directory, or taken from the archive's stream. */
static uint64_t fileset_hash(struct fileset *s, const struct vtarget *t, const bool *want, struct pool *p)
{
	uint64_t bytes = 0;
	if (t->archive) {
		for (size_t i = 0; i < s->n; i++) {
			if (want && !want[i])
				continue;
			const struct arc_file *f = s->af[i];
			if (f->hashed) {
				memcpy(s->sha[i], f->sha, SHA256_LEN);
				s->hashed[i] = true;
				bytes += f->size;
			} else {
				s->err[i] = xasprintf("%s: could not be read to its end", f->path);
			}
		}
		return bytes;
	}
	struct mfile *sel = xcalloc(s->n ? s->n : 1, sizeof *sel);
	size_t *at = xcalloc(s->n ? s->n : 1, sizeof *at), m = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!want || want[i]) {
			sel[m] = s->f[i];
			at[m++] = i;
		}
	uint8_t (*sha)[SHA256_LEN] = xcalloc(m ? m : 1, sizeof *sha);
	char **err = xcalloc(m ? m : 1, sizeof *err);
	manifest_hash(t->dir, sel, m, p, sha, err);
	for (size_t k = 0; k < m; k++) {
		size_t i = at[k];
		s->err[i] = err[k];
		if (!err[k]) {
			memcpy(s->sha[i], sha[k], SHA256_LEN);
			s->hashed[i] = true;
			bytes += s->f[i].size;
		}
	}
	free(err);
	free(sha);
	free(at);
	free(sel);
	return bytes;
}

static char *file_path(const struct vtarget *t, const char *name)
{
	return path_join(t->dir, name);
}

/* The path of dir inside root ("" when the same), or NULL when it is not inside. */
static char *relative_to(const char *dir, const char *root)
{
	char *d = realpath(dir, NULL), *r = realpath(root, NULL), *out = NULL;
	if (d && r) {
		size_t n = strlen(r);
		if (strcmp(d, r) == 0)
			out = xstrdup("");
		else if (strncmp(d, r, n) == 0 && (d[n] == '/' || (n == 1 && r[0] == '/')))
			out = xstrdup(d + n + (d[n] == '/'));
	}
	free(d);
	free(r);
	return out;
}

static const struct mfile *set_find(const struct fileset *s, const char *name, size_t *at)
{
	ptrdiff_t i = NAME_FIND(s->f, s->n, name, name);
	if (i < 0)
		return NULL;
	*at = (size_t)i;
	return &s->f[i];
}

/* Nothing listed was found: names written one directory up ("tiny-v3/config.json") are
 * the usual reason; say how to read them. */
static void hint_root(struct buf *b, const struct vtarget *t, const struct manifest *m)
{
	char *real = realpath(t->dir, NULL);
	if (!real)
		return;
	const char *base = strrchr(real, '/');
	base = base && base[1] ? base + 1 : real;
	size_t n = strlen(base);
	for (size_t i = 0; i < m->n; i++)
		if (strncmp(m->e[i].name, base, n) == 0 && m->e[i].name[n] == '/') {
			buf_printf(b, " (the manifest's names start with \"%s/\": see --manifest-root)", base);
			break;
		}
	free(real);
}

int verify_manifest(const struct vtarget *t, const char *manifest, const char *root, struct pool *p,
		    struct report *r)
{
	struct manifest m;
	struct fileset s;
	char *prefix = NULL;
	if (root && t->archive)
		return err_set("%s: --manifest-root applies to directories, not to archives", t->path);
	if (root && !(prefix = relative_to(t->dir, root)))
		return err_set("%s is not inside %s (--manifest-root)", t->dir, root);
	if (manifest_load(&m, manifest)) {
		free(prefix);
		return -1;
	}
	size_t plen = prefix ? strlen(prefix) : 0, nalso = 0;
	/* the manifest's names, relative to the target, sorted as the manifest is */
	const char **rel = xcalloc(m.n + 1, sizeof *rel), **also = xcalloc(m.n + 1, sizeof *also);
	for (size_t i = 0; i < m.n; i++) {
		const char *name = m.e[i].name;
		if (plen)
			name = strncmp(name, prefix, plen) == 0 && name[plen] == '/' ? name + plen + 1 : NULL;
		if (name && t->single && strcmp(name, t->single) != 0)
			name = NULL;
		rel[i] = name;
		if (name && manifest_hidden(name))
			also[nalso++] = name;
	}
	/* the manifest is left out of the listing when it is one of the files: "-" by what
	 * standard input is */
	int rc = fileset_of(&s, t, strcmp(manifest, "-") == 0 ? "/dev/stdin" : manifest, also, nalso);
	free(also);
	if (rc) {
		free(rel);
		free(prefix);
		manifest_free(&m);
		return -1;
	}
	struct rcheck *k = report_check(r, "manifest");
	size_t ignored = 0, listed = 0, missing = 0, unlisted = 0;
	size_t differ = 0, unhashed = 0;
	/* per file of the set: the manifest entry that names it */
	const struct mentry **ent = xcalloc(s.n ? s.n : 1, sizeof *ent);
	bool *want = xcalloc(s.n ? s.n : 1, sizeof *want);
	for (size_t i = 0; i < m.n; i++) {
		const char *name = rel[i];
		if (!name) {
			ignored++;
			continue;
		}
		listed++;
		size_t at;
		if (!set_find(&s, name, &at)) {
			char *fp = file_path(t, name);
			report_problem(k, fp, NULL, "listed in the manifest, but missing");
			free(fp);
			missing++;
			continue;
		}
		ent[at] = &m.e[i];
	}
	for (size_t i = 0; i < s.n; i++) {
		char *fp = file_path(t, s.f[i].name);
		if (!ent[i]) {
			report_problem(k, fp, NULL, "not in the manifest");
			unlisted++;
		} else if (ent[i]->has_size && ent[i]->size != s.f[i].size) {
			report_problem(k, fp, NULL, "%" PRIu64 " bytes, the manifest says %" PRIu64, s.f[i].size,
				       ent[i]->size);
			differ++;
		} else if (ent[i]->has_sha) {
			want[i] = true;
		} else {
			unhashed++;
		}
		free(fp);
	}
	uint64_t bytes = fileset_hash(&s, t, want, p);
	size_t hashed = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (!want[i])
			continue;
		char *fp = file_path(t, s.f[i].name);
		if (s.err[i]) {
			report_problem_msg(k, s.err[i], (const char *const *)&fp, 1);
			differ++;
		} else if (memcmp(s.sha[i], ent[i]->sha, SHA256_LEN) != 0) {
			char got[SHA256_HEX], want_hex[SHA256_HEX];
			hex_encode(s.sha[i], SHA256_LEN, got);
			hex_encode(ent[i]->sha, SHA256_LEN, want_hex);
			report_problem(k, fp, NULL, "SHA-256 is %s, the manifest says %s", got, want_hex);
			differ++;
			hashed++;
		} else {
			hashed++;
		}
		free(fp);
	}
	struct buf b = {0};
	char hb[32];
	buf_printf(&b, "%zu %s listed, %zu hashed (%s)", listed, listed == 1 ? "file" : "files", hashed,
		   human_bytes(bytes, hb));
	if (!differ && !missing && !unlisted)
		buf_adds(&b, listed ? ": all match" : "");
	if (differ)
		buf_printf(&b, "; %zu %s", differ, differ == 1 ? "differs" : "differ");
	if (missing)
		buf_printf(&b, "; %zu missing", missing);
	if (unlisted)
		buf_printf(&b, "; %zu not in the manifest", unlisted);
	if (unhashed)
		buf_printf(&b, "; %zu without a SHA-256 in the manifest (presence checked)", unhashed);
	if (ignored)
		buf_printf(&b, "; %zu %s outside the checkpoint ignored", ignored, ignored == 1 ? "entry" : "entries");
	if (listed && missing == listed && !root && !t->archive)
		hint_root(&b, t, &m);
	report_summary(k, "%s", buf_str(&b));
	buf_free(&b);
	free(want);
	free(ent);
	free(rel);
	fileset_free(&s);
	manifest_free(&m);
	free(prefix);
	return 0;
}

int verify_write_manifest(const struct vtarget *t, const char *out, struct pool *p, struct report *r)
{
	struct fileset s;
	if (fileset_of(&s, t, out, NULL, 0))
		return -1;
	uint64_t bytes = fileset_hash(&s, t, NULL, p);
	int rc = 0;
	for (size_t i = 0; i < s.n && rc == 0; i++)
		if (s.err[i])
			rc = err_set("%s", s.err[i]);
	if (rc == 0) {
		struct buf b = {0};
		for (size_t i = 0; i < s.n; i++)
			manifest_line(&b, s.f[i].name, s.sha[i]);
		rc = out_write_file(out, b.p ? b.p : "", b.len);
		buf_free(&b);
	}
	if (rc == 0) {
		char hb[32];
		struct rcheck *k = report_check(r, "manifest-write");
		report_summary(k, "%s: %zu %s, %s hashed", out, s.n, s.n == 1 ? "file" : "files", human_bytes(bytes, hb));
	}
	fileset_free(&s);
	return rc;
}
