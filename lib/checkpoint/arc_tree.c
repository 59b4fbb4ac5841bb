#include "arc_tree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

/* Linux's limits: longer names fail in tar, and a lookup follows at most 40 links */
#define MAX_NAME 4095
#define MAX_COMPONENT 255
#define MAX_HOPS 40
/* Lookups allowed for the whole archive: a fixed amount and so many per entry.  A name or
 * link needs a few; links built to be slow (40 in a row, each of 2000 components, and
 * thousands of entries below them) would take billions. */
#define STEPS_FIXED (1u << 20)
#define STEPS_PER_ENTRY 256

enum { N_DIR, N_FILE, N_LINK };

/* A name in the tree: a directory, a file or a symbolic link, below its parent. */
struct anode {
	char *name;              /* the component */
	size_t len;
	uint64_t h;              /* of (parent, name) */
	long parent;             /* -1 for the top */
	size_t plen;             /* the length of its path */
	uint32_t content;        /* a file's */
	uint32_t nchild;         /* a directory's live entries */
	char *target;            /* a link's */
	char *entry;             /* a link's entry, as the archive spells it (messages) */
	uint8_t type;
	bool late;               /* a link tar makes after the last entry (its target has "..") */
	bool dead;               /* replaced */
};

struct atree {
	char *archive;
	struct anode *n;
	size_t nn, cap;
	uint32_t *slot;          /* open addressing: 1 + the index of the live node of a name */
	size_t nslot;
	struct buf canon, canon2;
	char *last;              /* atree_path */
	struct atree_file *files;
	size_t nfiles, nothers;
	uint64_t entries, steps; /* entries placed, lookups made */
};

static uint64_t key(long parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(parent + 1) * 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return h;
}

/* The slot of (parent, name): its node's, or the empty one where it would go. */
static size_t slot_of(const struct atree *t, uint64_t h, long parent, const char *name, size_t len)
{
	size_t m = t->nslot - 1;
	for (size_t i = h & m;; i = (i + 1) & m) {
		uint32_t s = t->slot[i];
		if (!s)
			return i;
		const struct anode *x = &t->n[s - 1];
		if (x->h == h && x->parent == parent && x->len == len && memcmp(x->name, name, len) == 0)
			return i;
	}
}

static long lookup(const struct atree *t, long parent, const char *name, size_t len)
{
	uint32_t s = t->slot[slot_of(t, key(parent, name, len), parent, name, len)];
	return s ? (long)s - 1 : -1;
}

static void grow_slots(struct atree *t)
{
	size_t old = t->nslot;
	uint32_t *o = t->slot;
	t->nslot = old ? 2 * old : 256;
	t->slot = xcalloc(t->nslot, sizeof *t->slot);
	for (size_t i = 0; i < old; i++)
		if (o[i]) {
			const struct anode *x = &t->n[o[i] - 1];
			t->slot[slot_of(t, x->h, x->parent, x->name, x->len)] = o[i];
		}
	free(o);
}

/* A new node (name) in directory parent, replacing the live one there. */
static long add(struct atree *t, long parent, const char *name, size_t len, int type)
{
	if (2 * (t->nn + 1) > t->nslot)
		grow_slots(t);
	if (t->nn == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->n = xreallocarray(t->n, t->cap, sizeof *t->n);
	}
	long i = (long)t->nn++;
	struct anode *x = &t->n[i];
	memset(x, 0, sizeof *x);
	x->name = xstrndup(name, len);
	x->len = len;
	x->parent = parent;
	x->h = key(parent, name, len);
	x->type = (uint8_t)type;
	x->plen = parent < 0 ? 0 : t->n[parent].plen + (t->n[parent].plen ? 1 : 0) + len;
	size_t s = slot_of(t, x->h, parent, name, len);
	if (t->slot[s])
		t->n[t->slot[s] - 1].dead = true;
	else if (parent >= 0)
		t->n[parent].nchild++;
	t->slot[s] = (uint32_t)i + 1;
	return i;
}

/* A node's path, into b (from the start). */
static const char *path_of(const struct atree *t, long i, struct buf *b)
{
	buf_clear(b);
	buf_reserve(b, t->n[i].plen + 1);
	b->len = t->n[i].plen;
	b->p[b->len] = 0;
	for (size_t end = b->len; i > 0; i = t->n[i].parent) {
		const struct anode *x = &t->n[i];
		end -= x->len;
		memcpy(b->p + end, x->name, x->len);
		if (end)
			b->p[--end] = '/';
	}
	return b->p;
}

struct atree *atree_new(const char *archive)
{
	struct atree *t = xcalloc(1, sizeof *t);
	t->archive = xstrdup(archive);
	add(t, -1, "", 0, N_DIR);
	return t;
}

void atree_free(struct atree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nn; i++) {
		free(t->n[i].name);
		free(t->n[i].target);
		free(t->n[i].entry);
	}
	for (size_t i = 0; i < t->nfiles; i++) {
		free((char *)t->files[i].path);
		free((char *)t->files[i].real);
	}
	free(t->files);
	free(t->n);
	free(t->slot);
	buf_free(&t->canon);
	buf_free(&t->canon2);
	free(t->last);
	free(t->archive);
	free(t);
}

/* ---- names ---- */

enum { C_OK, C_ABSOLUTE, C_OUT, C_DOTDOT, C_LONG };

/* Whether a path relative to the top climbs above it with "..". */
static bool climbs_out(const char *s)
{
	long depth = 0;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (n && !(n == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return true;
		p += n + (p[n] == '/');
	}
	return false;
}

/* s without empty and "." components into b ("" for the top), or why not. */
static int canon(const char *s, struct buf *b)
{
	buf_clear(b);
	buf_addc(b, 0);
	b->len = 0;
	if (s[0] == '/')
		return C_ABSOLUTE;
	if (strlen(s) > MAX_NAME)
		return C_LONG;
	bool dotdot = false;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			dotdot = true;
		else if (n > MAX_COMPONENT)
			return C_LONG;
		else if (n && !(n == 1 && p[0] == '.')) {
			if (b->len)
				buf_addc(b, '/');
			buf_add(b, p, n);
		}
		p += n + (p[n] == '/');
	}
	buf_str(b);
	return dotdot ? climbs_out(s) ? C_OUT : C_DOTDOT : C_OK;
}

/* The entry's name into t->canon; -1 with the message when it is refused. */
static int entry_name(struct atree *t, const char *name, bool top_ok)
{
	char q[ERR_QUOTE];
	switch (canon(name, &t->canon)) {
	case C_ABSOLUTE:
		return err_set("%s: entry %s is an absolute path", t->archive, err_quote(name, q));
	case C_OUT:
		return err_set("%s: entry %s leads outside the archive's directory", t->archive, err_quote(name, q));
	case C_DOTDOT:
		return err_set("%s: entry %s has a \"..\" component (extractors disagree on where it lands)",
			       t->archive, err_quote(name, q));
	case C_LONG:
		return err_set("%s: entry %s: a name over %d bytes or with a component over %d (tar cannot extract it)",
			       t->archive, err_quote(name, q), MAX_NAME, MAX_COMPONENT);
	}
	if (!t->canon.len && !top_ok)
		return err_set("%s: entry %s names the extraction directory itself", t->archive, err_quote(name, q));
	return 0;
}

/* ---- lookups, as the kernel makes them ---- */

enum { W_OK, W_MISSING, W_NOTDIR, W_LATE, W_DANGLING, W_LOOP, W_ESCAPE, W_SLOW };

struct walk {
	long at;                 /* the node reached: a directory while walking on */
	bool final;              /* the final tree: links made at the end are links, not placeholders */
	bool broken;             /* (final) past a name that is missing or no directory: the result
				    is nothing, but ".." is still followed, to see where it leads */
	long virt;               /* (broken) how many names below `at` the walk is */
	int hops;
	long stop;               /* the node in the way (W_NOTDIR, W_LATE, W_DANGLING, W_LOOP) */
	long via;                /* the last link followed that the path itself names */
	int depth;               /* links being followed */
	const char *rest;        /* W_MISSING: the first name not there, and what follows it */
	uint64_t steps, budget;  /* lookups made, and allowed (W_SLOW past them) */
};

static void walk_init(const struct atree *t, struct walk *w, long at, bool final)
{
	uint64_t allowed = STEPS_FIXED + STEPS_PER_ENTRY * t->entries;
	*w = (struct walk){.at = at, .final = final, .stop = -1, .via = -1,
			   .budget = t->steps < allowed ? allowed - t->steps : 0};
}

static int too_slow(const struct atree *t, const char *raw)
{
	char q[ERR_QUOTE];
	return err_set("%s: entry %s: resolving names through symbolic links takes too many lookups (more than "
		       "%d per entry)",
		       t->archive, err_quote(raw, q), STEPS_PER_ENTRY);
}

/* Walk s[0..n) from w->at.  follow_last: a link as the last name is followed. */
static int walk(const struct atree *t, struct walk *w, const char *s, size_t n, bool follow_last)
{
	const char *end = s + n;
	while (s < end) {
		const char *c = s, *slash = memchr(s, '/', (size_t)(end - s));
		size_t k = slash ? (size_t)(slash - s) : (size_t)(end - s);
		bool last = !slash;
		s = slash ? slash + 1 : end;
		if (++w->steps > w->budget)
			return W_SLOW;
		if (k == 0 || (k == 1 && c[0] == '.'))
			continue;
		if (k == 2 && c[0] == '.' && c[1] == '.') {
			if (w->virt)
				w->virt--;
			else if (t->n[w->at].parent < 0)
				return W_ESCAPE;
			else
				w->at = t->n[w->at].parent;
			continue;
		}
		if (w->virt) {
			w->virt++;
			continue;
		}
		long i = lookup(t, w->at, c, k);
		if (i < 0) {
			if (!w->final) {
				w->rest = c;
				return W_MISSING;
			}
			w->broken = true;
			w->virt = 1;
			continue;
		}
		const struct anode *x = &t->n[i];
		if (x->type == N_LINK && (!last || follow_last)) {
			if (x->late && !w->final) {
				w->stop = i;
				return W_LATE;
			}
			if (++w->hops > MAX_HOPS) {
				w->stop = i;
				return W_LOOP;
			}
			if (!w->depth)
				w->via = i;
			w->depth++;
			int r = walk(t, w, x->target, strlen(x->target), true);
			w->depth--;
			if (r == W_MISSING) {
				w->stop = i;
				return W_DANGLING;
			}
			if (r != W_OK)
				return r;
			if (w->virt)
				continue;
		} else {
			w->at = i;
		}
		if (!last && t->n[w->at].type != N_DIR) {
			if (!w->final) {
				w->stop = w->at;
				return W_NOTDIR;
			}
			/* nothing is below a file: a name after it is missing */
			w->broken = true;
		}
	}
	return W_OK;
}

/* The live node an entry's name replaces (-1: none), in *at; its directory in *dir, made
 * as tar makes it. */
static int place(struct atree *t, const char *raw, long *dir, long *at)
{
	const char *c = t->canon.p;
	const char *slash = strrchr(c, '/');
	size_t dn = slash ? (size_t)(slash - c) : 0;
	struct walk w;
	walk_init(t, &w, 0, false);
	int r = walk(t, &w, c, dn, true);
	t->steps += w.steps;
	if (r == W_SLOW)
		return too_slow(t, raw);
	if (r == W_OK && t->n[w.at].type != N_DIR) {
		r = W_NOTDIR;
		w.stop = w.at;
	}
	if (r == W_MISSING) {
		/* the directories tar makes: the names from the first one missing on */
		for (const char *p = w.rest; p < c + dn;) {
			size_t k = strcspn(p, "/");
			w.at = add(t, w.at, p, k, N_DIR);
			if (t->n[w.at].plen > MAX_NAME)
				break;
			p += k + 1;
		}
		r = W_OK;
	}
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	if (r != W_OK) {
		struct buf b = {0};
		const char *a = t->archive, *e = err_quote(raw, q);
		const char *in = err_quote(w.stop >= 0 ? path_of(t, w.stop, &b) : "", q2);
		if (r == W_NOTDIR)
			err_set("%s: entry %s lies below %s, which is not a directory (tar fails on it)", a, e, in);
		else if (r == W_LATE)
			err_set("%s: entry %s lies below the symbolic link %s, which tar makes only after the last "
				"entry (tar fails on it)",
				a, e, in);
		else if (r == W_DANGLING)
			err_set("%s: entry %s lies below the symbolic link %s, which leads to nothing (tar fails on it)",
				a, e, in);
		else if (r == W_LOOP)
			err_set("%s: entry %s lies below the symbolic link %s, which loops", a, e, in);
		else
			err_set("%s: entry %s leads outside the archive's directory", a, e);
		buf_free(&b);
		return -1;
	}
	const char *leaf = slash ? slash + 1 : c;
	*dir = w.at;
	*at = lookup(t, w.at, leaf, strlen(leaf));
	size_t plen = t->n[w.at].plen + (t->n[w.at].plen ? 1 : 0) + strlen(leaf);
	if (plen > MAX_NAME)
		return err_set("%s: entry %s lands at a path over %d bytes (through links)", t->archive,
			       err_quote(raw, q), MAX_NAME);
	return 0;
}

/* Whether tar replaces node `at` with a new one of `type`; -1 with the message when not. */
static int replaceable(const struct atree *t, const char *raw, long at, int type)
{
	if (at < 0)
		return 0;
	const struct anode *x = &t->n[at];
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	struct buf b = {0};
	int rc = 0;
	if (x->type == N_LINK && x->late)
		rc = err_set("%s: entry %s replaces the symbolic link %s, which tar makes only after the last entry "
			     "(what is left there depends on the file system)",
			     t->archive, err_quote(raw, q), err_quote(path_of(t, at, &b), q2));
	else if (x->type == N_DIR && type != N_DIR && x->nchild)
		rc = err_set("%s: entry %s replaces the directory %s, which is not empty (tar fails on it)", t->archive,
			     err_quote(raw, q), err_quote(path_of(t, at, &b), q2));
	buf_free(&b);
	return rc;
}

/* Where link i leads in the final tree (or now, for a link just made): -1 with the message
 * when outside, or (at_end) into a loop. */
static int check_link(struct atree *t, long i, bool at_end)
{
	const struct anode *x = &t->n[i];
	struct walk w;
	walk_init(t, &w, x->parent, true);
	int r = walk(t, &w, x->target, strlen(x->target), true);
	t->steps += w.steps;
	if (r == W_SLOW)
		return too_slow(t, x->entry);
	char q[ERR_QUOTE], q2[ERR_QUOTE], q3[ERR_QUOTE];
	struct buf b = {0};
	int rc = 0;
	if (r == W_ESCAPE && w.via < 0)
		rc = err_set("%s: entry %s is a symbolic link to %s, outside the archive's directory", t->archive,
			     err_quote(x->entry, q), err_quote(x->target, q2));
	else if (r == W_ESCAPE)
		rc = err_set("%s: entry %s is a symbolic link to %s, which leads outside the archive's directory "
			     "through the symbolic link %s",
			     t->archive, err_quote(x->entry, q), err_quote(x->target, q2),
			     err_quote(path_of(t, w.via, &b), q3));
	else if (r == W_LOOP && at_end)
		rc = err_set("%s: entry %s is a symbolic link to %s: links that loop (more than %d in a row)",
			     t->archive, err_quote(x->entry, q), err_quote(x->target, q2), MAX_HOPS);
	buf_free(&b);
	return rc;
}

/* ---- entries ---- */

int atree_dir(struct atree *t, const char *name)
{
	long dir, at;
	t->entries++;
	if (entry_name(t, name, true))
		return -1;
	if (!t->canon.len)
		return 0;
	if (place(t, name, &dir, &at))
		return -1;
	if (at >= 0 && t->n[at].type == N_DIR)
		return 0;
	if (replaceable(t, name, at, N_DIR))
		return -1;
	const char *leaf = strrchr(t->canon.p, '/');
	leaf = leaf ? leaf + 1 : t->canon.p;
	add(t, dir, leaf, strlen(leaf), N_DIR);
	return 0;
}

/* A new node of `type` for the entry whose name is in t->canon: its index, or -1. */
static long make(struct atree *t, const char *raw, int type)
{
	long dir, at;
	if (place(t, raw, &dir, &at) || replaceable(t, raw, at, type))
		return -1;
	const char *leaf = strrchr(t->canon.p, '/');
	leaf = leaf ? leaf + 1 : t->canon.p;
	return add(t, dir, leaf, strlen(leaf), type);
}

int atree_file(struct atree *t, const char *name, uint32_t content)
{
	t->entries++;
	if (entry_name(t, name, false))
		return -1;
	long i = make(t, name, N_FILE);
	if (i < 0)
		return -1;
	t->n[i].content = content;
	struct buf b = {0};
	free(t->last);
	t->last = xstrdup(path_of(t, i, &b));
	buf_free(&b);
	return 0;
}

const char *atree_path(const struct atree *t)
{
	return t->last ? t->last : "";
}

static long add_link(struct atree *t, const char *raw, const char *target, bool late)
{
	long i = make(t, raw, N_LINK);
	if (i < 0)
		return -1;
	t->n[i].target = xstrdup(target);
	t->n[i].entry = xstrdup(raw);
	t->n[i].late = late;
	/* one that leads out already is refused now, with what lies around it now */
	return check_link(t, i, false) ? -1 : i;
}

int atree_symlink(struct atree *t, const char *name, const char *target)
{
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	t->entries++;
	if (entry_name(t, name, false))
		return -1;
	if (!target || !*target)
		return err_set("%s: entry %s is a symbolic link to nothing (tar fails on it)", t->archive,
			       err_quote(name, q));
	if (target[0] == '/')
		return err_set("%s: entry %s is a symbolic link to %s, outside the archive's directory", t->archive,
			       err_quote(name, q), err_quote(target, q2));
	if (strlen(target) > MAX_NAME)
		return err_set("%s: entry %s is a symbolic link to a target over %d bytes (tar fails on it)",
			       t->archive, err_quote(name, q), MAX_NAME);
	/* GNU tar makes a link whose target has ".." only after the last entry, so that no
	 * later entry is written through it */
	bool late = false;
	for (const char *p = target; *p && !late;) {
		size_t n = strcspn(p, "/");
		late = n == 2 && p[0] == '.' && p[1] == '.';
		p += n + (p[n] == '/');
	}
	return add_link(t, name, target, late) < 0 ? -1 : 0;
}

int atree_hardlink(struct atree *t, const char *name, const char *target)
{
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	const char *a = t->archive;
	t->entries++;
	switch (canon(target, &t->canon2)) {
	case C_ABSOLUTE:
	case C_OUT:
		return err_set("%s: entry %s is a hard link to %s, outside the archive's directory", a,
			       err_quote(name, q), err_quote(target, q2));
	case C_DOTDOT:
		return err_set("%s: entry %s is a hard link to %s, a name with a \"..\" component (extractors "
			       "disagree on where it leads)",
			       a, err_quote(name, q), err_quote(target, q2));
	case C_LONG:
		return err_set("%s: entry %s is a hard link to a name over %d bytes or with a component over %d "
			       "(tar fails on it)",
			       a, err_quote(name, q), MAX_NAME, MAX_COMPONENT);
	}
	/* the target as it is now: the last name not followed (link(2) links to a link) */
	struct walk w;
	walk_init(t, &w, 0, false);
	int r = walk(t, &w, t->canon2.p, t->canon2.len, false);
	t->steps += w.steps;
	if (r == W_SLOW)
		return too_slow(t, name);
	if (r == W_OK && t->n[w.at].type == N_DIR)
		return err_set("%s: entry %s is a hard link to the directory %s (tar fails on it)", a,
			       err_quote(name, q), err_quote(target, q2));
	if (r == W_OK && target[strlen(target) - 1] == '/')
		r = W_NOTDIR; /* "file/" is no file */
	if (r == W_ESCAPE)
		return err_set("%s: entry %s is a hard link to %s, outside the archive's directory", a,
			       err_quote(name, q), err_quote(target, q2));
	if (r != W_OK)
		return err_set("%s: entry %s is a hard link to %s, which is not there at that point (tar fails on it)",
			       a, err_quote(name, q), err_quote(target, q2));
	long from = w.at;
	if (entry_name(t, name, false))
		return -1;
	long dir, at;
	if (place(t, name, &dir, &at))
		return -1;
	if (at == from)
		return 0; /* a link to itself: tar leaves it */
	const struct anode *x = &t->n[from];
	if (x->type == N_FILE) {
		uint32_t content = x->content;
		long i = make(t, name, N_FILE);
		if (i < 0)
			return -1;
		t->n[i].content = content;
		return 0;
	}
	char *to = xstrdup(x->target);
	bool late = x->late;
	long i = add_link(t, name, to, late);
	free(to);
	return i < 0 ? -1 : 0;
}

/* ---- the final tree ---- */

static bool hidden(const char *path)
{
	for (const char *p = path; *p;) {
		if (*p == '.')
			return true;
		const char *s = strchr(p, '/');
		if (!s)
			break;
		p = s + 1;
	}
	return false;
}

int atree_finish(struct atree *t)
{
	for (size_t i = 1; i < t->nn; i++)
		if (!t->n[i].dead && t->n[i].type == N_LINK && check_link(t, (long)i, true))
			return -1;
	struct buf b = {0}, b2 = {0};
	for (size_t i = 1; i < t->nn; i++) {
		const struct anode *x = &t->n[i];
		if (x->dead || x->type == N_DIR)
			continue;
		const char *p = path_of(t, (long)i, &b);
		long file = (long)i;
		bool hid = hidden(p);
		if (x->type == N_LINK) {
			struct walk w;
			walk_init(t, &w, x->parent, true);
			int r = walk(t, &w, x->target, strlen(x->target), true);
			t->steps += w.steps;
			if (r == W_SLOW) {
				buf_free(&b);
				buf_free(&b2);
				return too_slow(t, x->entry);
			}
			file = r == W_OK && !w.broken && t->n[w.at].type == N_FILE ? w.at : -1;
		}
		if (hid || file < 0)
			t->nothers++;
		if (file < 0)
			continue;
		if (t->nfiles % 64 == 0)
			t->files = xreallocarray(t->files, t->nfiles + 64, sizeof *t->files);
		t->files[t->nfiles++] = (struct atree_file){
			xstrdup(p), t->n[file].content, file == (long)i ? NULL : xstrdup(path_of(t, file, &b2)), hid};
	}
	buf_free(&b);
	buf_free(&b2);
	return 0;
}

const struct atree_file *atree_files(const struct atree *t, size_t *n)
{
	*n = t->nfiles;
	return t->files;
}

size_t atree_others(const struct atree *t)
{
	return t->nothers;
}
