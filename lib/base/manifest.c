#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pathguard.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "readfile.h"
#include "names.h"

const char *manifest_name(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	if (!*name || path_is_contained(name))
		return NULL;
	return name;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mentry *)a)->name, ((const struct mentry *)b)->name);
}

static struct mentry *add_entry(struct manifest *m, const char *name, size_t len)
{
	if (m->n % 64 == 0)
		m->e = xreallocarray(m->e, m->n + 64, sizeof *m->e);
	struct mentry *e = &m->e[m->n++];
	memset(e, 0, sizeof *e);
	e->name = xstrndup(name, len);
	return e;
}

/* "HEX" or "sha256:HEX" */
static int parse_sha(const char *s, size_t len, uint8_t *out)
{
	if (len > 7 && memcmp(s, "sha256:", 7) == 0) {
		s += 7;
		len -= 7;
	}
	if (len != 2 * SHA256_LEN)
		return -1;
	char hex[2 * SHA256_LEN + 1];
	memcpy(hex, s, len);
	hex[len] = 0;
	return hex_decode(hex, out, SHA256_LEN);
}

/* The name of one sha256sum line, unescaped when the line started with a backslash. */
static int unescape(const char *s, size_t len, bool escaped, struct buf *out)
{
	buf_clear(out);
	for (size_t i = 0; i < len; i++) {
		if (!escaped || s[i] != '\\') {
			buf_addc(out, s[i]);
			continue;
		}
		if (++i == len)
			return -1;
		if (s[i] == '\\')
			buf_addc(out, '\\');
		else if (s[i] == 'n')
			buf_addc(out, '\n');
		else if (s[i] == 'r')
			buf_addc(out, '\r');
		else
			return -1;
	}
	return 0;
}

static bool white(char c) { return c == ' ' || c == '\t'; }

static bool hex64(const char *s, size_t len)
{
	if (len != 2 * SHA256_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')))
			return false;
	return true;
}

/* The lines sha256sum -c reads, read as it reads them (coreutils' split_3), so that what it
 * accepts is accepted here and what it calls improperly formatted (a warning; an error with
 * --strict) is refused: blanks before the hash; a backslash first when the name is escaped
 * (\\, \n, \r); "SHA256 (NAME) = HASH", the blank before "(" and those around "=" optional,
 * NAME up to the last ")"; or HASH, one blank, then " " or "*" and NAME -- or, on a line
 * whose blank is not followed by " " or "*" (md5 -r's "HASH NAME"), NAME right after the
 * blank, a form that a manifest may not mix with the other (*reversed: -1 none yet, 0, 1). */
static int parse_line(struct manifest *m, const char *path, size_t lineno, const char *s, size_t len,
		      struct buf *name, int *reversed)
{
	size_t i = 0, nlen;
	const char *hex, *nm;
	while (i < len && white(s[i]))
		i++;
	bool escaped = i < len && s[i] == '\\';
	i += escaped;
	if (len - i >= 6 && memcmp(s + i, "SHA256", 6) == 0) {
		i += 6;
		i += i < len && s[i] == ' ';
		if (i == len || s[i] != '(' || ++i == len)
			goto bad;
		size_t k = len - 1;
		while (k > i && s[k] != ')')
			k--;
		if (s[k] != ')')
			goto bad;
		nm = s + i;
		nlen = k - i;
		for (k++; k < len && white(s[k]); k++)
			;
		if (k == len || s[k] != '=')
			goto bad;
		for (k++; k < len && white(s[k]); k++)
			;
		hex = s + k;
		if (!hex64(hex, len - k))
			goto bad;
	} else {
		if (len - i < 2 * SHA256_LEN + 2 + (size_t)(i < len && s[i] == '\\'))
			goto bad;
		hex = s + i;
		i += 2 * SHA256_LEN;
		if (!white(s[i++]) || !hex64(hex, 2 * SHA256_LEN))
			goto bad;
		if (len - i == 1 || (s[i] != ' ' && s[i] != '*')) {
			if (*reversed == 0)
				return err_set("%s: line %zu is \"SHA256 NAME\" with one blank, after lines of \"SHA256  "
					       "NAME\" (sha256sum refuses the mix)",
					       path, lineno);
			*reversed = 1;
		} else if (*reversed != 1) {
			*reversed = 0;
			i++;
		}
		nm = s + i;
		nlen = len - i;
	}
	uint8_t sha[SHA256_LEN];
	if (parse_sha(hex, 2 * SHA256_LEN, sha) || unescape(nm, nlen, escaped, name) ||
	    memchr(name->p ? name->p : "", 0, name->len))
		goto bad;
	const char *n = manifest_name(buf_str(name));
	if (!n) {
		char q[ERR_QUOTE];
		return err_set("%s: line %zu: %s is not a name inside the checkpoint", path, lineno,
			       err_quoten(name->p ? name->p : "", name->len, q));
	}
	struct mentry *e = add_entry(m, n, strlen(n));
	e->has_sha = true;
	memcpy(e->sha, sha, SHA256_LEN);
	return 0;
bad:
	return err_set("%s: line %zu is not \"SHA256  NAME\" (sha256sum's format)", path, lineno);
}

static int parse_text(struct manifest *m, const char *path, const char *text, size_t len)
{
	struct buf name = {0};
	size_t lineno = 0;
	int rc = 0, reversed = -1;
	for (size_t i = 0; i < len && rc == 0;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len, n = end - i;
		lineno++;
		if (n && text[i + n - 1] == '\r')
			n--; /* written on Windows */
		/* as sha256sum: "#" first on the line is a comment; an empty line is skipped, a
		 * line of blanks is not */
		if (n && text[i] != '#')
			rc = parse_line(m, path, lineno, text + i, n, &name, &reversed);
		i = end + 1;
	}
	buf_free(&name);
	if (rc == 0 && m->n == 0)
		rc = err_set("%s: no checksum lines (sha256sum's format), only comments and blank lines", path);
	return rc;
}

/* A value of a JSON manifest: "HEX", or an object with "sha256" or "oid", "size", or "lfs". */
static int json_entry(struct mentry *e, const struct json *v, bool need_sha)
{
	if (v->type == JSON_STRING)
		return (e->has_sha = parse_sha(json_str(v), v->len, e->sha) == 0) ? 0 : -1;
	if (v->type != JSON_OBJECT)
		return -1;
	const struct json *sha = json_get(v, "sha256"), *size = json_get(v, "size"), *lfs = json_get(v, "lfs");
	if (!sha)
		sha = json_get(v, "oid");
	if (size && json_u64(size, &e->size))
		return -1;
	e->has_size = size != NULL;
	if (sha) {
		if (sha->type != JSON_STRING || parse_sha(json_str(sha), sha->len, e->sha))
			return -1;
		e->has_sha = true;
	} else if (lfs && lfs->type == JSON_OBJECT) {
		return json_entry(e, lfs, true);
	} else if (need_sha) {
		return -1;
	}
	return 0;
}

static int parse_json(struct manifest *m, const char *path, const char *text, size_t len)
{
	struct json_doc *d;
	char q[ERR_QUOTE];
	int rc = -1;
	if (json_parse(&d, text, len, 0))
		return err_prefix("%s: invalid JSON: ", path);
	const struct json *root = json_root(d), *sib = json_get(root, "siblings");
	if (root->type != JSON_OBJECT) {
		err_set("%s: a JSON manifest must be an object of file names", path);
		goto out;
	}
	if (sib && sib->type == JSON_ARRAY) {
		/* the Hugging Face API's model info: LFS files carry their sha256 */
		size_t i = 0;
		for (const struct json *s = json_kid(sib); s; s = json_next(s), i++) {
			const struct json *fn = json_get(s, "rfilename");
			if (!fn || fn->type != JSON_STRING || !manifest_name(json_str(fn))) {
				err_set("%s: siblings[%zu] has no usable \"rfilename\"", path, i);
				goto out;
			}
			const char *n = manifest_name(json_str(fn));
			struct mentry *e = add_entry(m, n, strlen(n));
			if (json_entry(e, s, false)) {
				err_set("%s: siblings[%zu] (%s): unusable \"lfs\", \"sha256\" or \"size\"", path, i,
					err_quote(n, q));
				goto out;
			}
		}
	} else {
		for (const struct json *k = json_kid(root); k; k = json_next(k)) {
			const char *n = strlen(json_key(k)) == k->key_len ? manifest_name(json_key(k)) : NULL;
			if (!n) {
				err_set("%s: %s is not a name inside the checkpoint", path, err_quoten(json_key(k), k->key_len, q));
				goto out;
			}
			struct mentry *e = add_entry(m, n, strlen(n));
			if (json_entry(e, k, true)) {
				err_set("%s: the entry for %s is not a SHA-256 (64 hex digits, or an object with "
					"\"sha256\")",
					path, err_quote(n, q));
				goto out;
			}
		}
	}
	rc = 0;
out:
	json_free(d);
	return rc;
}

int manifest_parse(struct manifest *m, const char *path, const char *text, size_t len)
{
	size_t i = 0;
	memset(m, 0, sizeof *m);
	m->path = xstrdup(path);
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	int rc = i < len && text[i] == '{' ? parse_json(m, path, text, len) : parse_text(m, path, text, len);
	if (rc)
		goto fail;
	if (m->n > 1)
		qsort(m->e, m->n, sizeof *m->e, cmp_entry);
	for (size_t k = 1; k < m->n; k++)
		if (strcmp(m->e[k - 1].name, m->e[k].name) == 0) {
			char q[ERR_QUOTE];
			err_set("%s: %s is listed twice", path, err_quote(m->e[k].name, q));
			goto fail;
		}
	return 0;
fail:
	manifest_free(m);
	return -1;
}

int manifest_load(struct manifest *m, const char *path)
{
	struct buf b = {0};
	memset(m, 0, sizeof *m);
	/* a manifest of a million files is about 100 MB; a pipe is read as sha256sum -c reads it */
	if (file_read_stream(path, 1ull << 30, &b)) {
		buf_free(&b);
		return -1;
	}
	int rc = manifest_parse(m, strcmp(path, "-") == 0 ? "standard input" : path, b.p ? b.p : "", b.len);
	buf_free(&b);
	return rc;
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].name);
	free(m->e);
	free(m->path);
	memset(m, 0, sizeof *m);
}

const struct mentry *manifest_find(const struct manifest *m, const char *name)
{
	ptrdiff_t i = NAME_FIND(m->e, m->n, name, name);
	return i < 0 ? NULL : &m->e[i];
}

void manifest_line(struct buf *out, const char *name, const uint8_t sha[SHA256_LEN])
{
	char hex[SHA256_HEX];
	hex_encode(sha, SHA256_LEN, hex);
	bool esc = strpbrk(name, "\\\n\r") != NULL;
	if (esc)
		buf_addc(out, '\\');
	buf_adds(out, hex);
	buf_adds(out, "  ");
	for (const char *p = name; *p; p++) {
		if (esc && *p == '\\')
			buf_adds(out, "\\\\");
		else if (esc && *p == '\n')
			buf_adds(out, "\\n");
		else if (esc && *p == '\r')
			buf_adds(out, "\\r");
		else
			buf_addc(out, *p);
	}
	buf_addc(out, '\n');
}

/* ---- listing ---- */

struct lister {
	struct mfile *f;
	size_t n;
	dev_t skip_dev;
	ino_t skip_ino;
	bool has_skip;
	struct pathguard conf;     /* links to files must stay inside the directory listed */
};

static int cmp_mfile(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

/* The entry at p (lstat: *ls), named *rel: taken (and *rel with it) when it is a regular
 * file or a link to one that stays inside. */
static int add_file(struct lister *L, const char *p, char **rel, const struct stat *ls)
{
	struct stat sb;
	if (S_ISLNK(ls->st_mode) && pathguard_check(&L->conf, p))
		return -1;
	if (stat(p, &sb) < 0 || S_ISDIR(sb.st_mode))
		return 0;
	if (L->has_skip && sb.st_dev == L->skip_dev && sb.st_ino == L->skip_ino)
		return 0;
	/* a FIFO would block the hashing; left out, it would pass unseen */
	if (file_regular(p, &sb))
		return -1;
	if (L->n % 64 == 0)
		L->f = xreallocarray(L->f, L->n + 64, sizeof *L->f);
	L->f[L->n++] = (struct mfile){.name = *rel, .size = (uint64_t)sb.st_size};
	*rel = NULL;
	return 0;
}

struct walker {
	bool hidden;
	int (*visit)(void *ctx, const char *path, const char *rel, const struct stat *ls);
	void *ctx;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in byte order, whatever order the file system keeps them in: what is reported while
 * walking (a dangling link, a FIFO) comes out the same on every machine. */
static int walk(const struct walker *W, const char *dir, const char *rel, int depth)
{
	if (depth > 64)
		return err_set("%s: directories nested more than 64 deep", dir);
	DIR *d = opendir(dir);
	if (!d)
		return err_errno(dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!W->hidden || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0))
			continue;
		if (n % 64 == 0)
			names = xreallocarray(names, n + 64, sizeof *names);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_name);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			char *p = path_join(dir, names[i]);
			char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
			struct stat ls;
			if (lstat(p, &ls) < 0)
				rc = err_errno(p);
			else if (S_ISDIR(ls.st_mode))
				rc = walk(W, p, r, depth + 1);
			else
				rc = W->visit(W->ctx, p, r, &ls);
			free(r);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int manifest_walk(const char *dir, bool hidden,
		  int (*visit)(void *ctx, const char *path, const char *rel, const struct stat *ls), void *ctx)
{
	struct walker W = {hidden, visit, ctx};
	return walk(&W, dir, "", 0);
}

static int list_visit(void *ctx, const char *path, const char *rel, const struct stat *ls)
{
	char *r = xstrdup(rel);
	int rc = add_file(ctx, path, &r, ls);
	free(r);
	return rc;
}

/* A hidden name the caller asked for, by walk's rules: every directory on its way a real
 * one, the file itself regular or a link to one inside. */
static int add_named(struct lister *L, const char *dir, const char *name)
{
	char *p = path_join(dir, name), *r = NULL;
	struct stat ls;
	bool there = true;
	int rc = 0;
	for (char *s = p + strlen(p) - strlen(name); there && (s = strchr(s, '/')); *s++ = '/') {
		*s = 0;
		there = lstat(p, &ls) == 0 && S_ISDIR(ls.st_mode);
	}
	if (there && lstat(p, &ls) == 0 && !S_ISDIR(ls.st_mode)) {
		r = xstrdup(name);
		rc = add_file(L, p, &r, &ls);
	}
	free(r);
	free(p);
	return rc;
}

bool manifest_hidden(const char *name)
{
	for (const char *p = name;; p++) {
		if (*p == '.')
			return true;
		if (!(p = strchr(p, '/')))
			return false;
	}
}

int manifest_list(const char *dir, const char *skip, const char *const *also, size_t nalso, struct mfile **out,
		  size_t *n)
{
	struct lister L = {0};
	int rc = 0;
	struct stat sb;
	if (skip && stat(skip, &sb) == 0) {
		L.has_skip = true;
		L.skip_dev = sb.st_dev;
		L.skip_ino = sb.st_ino;
	}
	if (pathguard_init(&L.conf, dir))
		return -1;
	rc = manifest_walk(dir, false, list_visit, &L);
	for (size_t i = 0; rc == 0 && i < nalso; i++)
		if (manifest_hidden(also[i]))
			rc = add_named(&L, dir, also[i]);
	if (rc) {
		pathguard_free(&L.conf);
		mfiles_free(L.f, L.n);
		return -1;
	}
	pathguard_free(&L.conf);
	if (L.n > 1)
		qsort(L.f, L.n, sizeof *L.f, cmp_mfile);
	*out = L.f;
	*n = L.n;
	return 0;
}

void mfiles_free(struct mfile *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].name);
	free(f);
}

/* ---- hashing ---- */

struct hash_run {
	const char *root;
	const struct mfile *f;
	const size_t *order;
	uint8_t (*sha)[SHA256_LEN];
	char **err;
};

static void hash_one(void *ctx, size_t i, unsigned worker)
{
	struct hash_run *h = ctx;
	size_t k = h->order[i];
	(void)worker;
	char *p = path_join(h->root, h->f[k].name);
	if (hash_file(p, h->f[k].algo, h->sha[k]))
		h->err[k] = xstrdup(err_last());
	free(p);
}

static int by_size_desc(const void *a, const void *b, void *base)
{
	const struct mfile *f = base, *x = &f[*(const size_t *)a], *y = &f[*(const size_t *)b];
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return strcmp(x->name, y->name);
}

void manifest_hash(const char *root, const struct mfile *f, size_t n, struct pool *p,
		   uint8_t (*sha)[SHA256_LEN], char **err)
{
	size_t *order = xcalloc(n ? n : 1, sizeof *order);
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		err[i] = NULL;
	}
	/* largest first, so the last file to start is a small one */
	if (n > 1)
		qsort_r(order, n, sizeof *order, by_size_desc, (void *)f);
	struct hash_run h = {root, f, order, sha, err};
	pool_for(p, n, hash_one, &h);
	free(order);
}
