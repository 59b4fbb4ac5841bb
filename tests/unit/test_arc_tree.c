/* The tree `tar x` leaves (lib/checkpoint/arc_tree.h), entry by entry: what is modelled and what is
 * refused.  tests/cli/hostile-archives.sh checks the same shapes against the real tar. */
#include <string.h>

#include "arc_tree.h"
#include "buf.h"
#include "err.h"
#include "t.h"

enum { END = 0, DIR_, FILE_, SYM, HARD };

struct ent {
	int kind;
	const char *name, *arg; /* FILE_: arg is the content's number as text */
};

/* Run the entries; the listing as "path=content" (or "path=content@real"), space-separated,
 * then "+N" for the others; or "!" and the message of the refusal. */
static const char *tree_of(const struct ent *e)
{
	static struct buf out;
	buf_clear(&out);
	struct atree *t = atree_new("x.tar");
	int rc = 0;
	for (; e->kind != END && rc == 0; e++) {
		switch (e->kind) {
		case DIR_:
			rc = atree_dir(t, e->name);
			break;
		case FILE_:
			rc = atree_file(t, e->name, (uint32_t)atoi(e->arg));
			break;
		case SYM:
			rc = atree_symlink(t, e->name, e->arg);
			break;
		case HARD:
			rc = atree_hardlink(t, e->name, e->arg);
			break;
		}
	}
	if (rc == 0)
		rc = atree_finish(t);
	if (rc) {
		buf_printf(&out, "!%s", err_last());
	} else {
		size_t n;
		const struct atree_file *f = atree_files(t, &n);
		for (size_t i = 0; i < n; i++)
			buf_printf(&out, "%s%s%s=%u%s%s%s", i ? " " : "", f[i].hidden ? "[" : "", f[i].path, f[i].content,
				   f[i].real ? "@" : "", f[i].real ? f[i].real : "", f[i].hidden ? "]" : "");
		buf_printf(&out, " +%zu", atree_others(t));
	}
	atree_free(t);
	return buf_str(&out);
}

#define TREE(want, ...)                                                                                 \
	do {                                                                                            \
		const struct ent e_[] = {__VA_ARGS__, {END, NULL, NULL}};                               \
		const char *got_ = tree_of(e_);                                                         \
		CHECK(strcmp(got_, want) == 0, "%s: %s", want, strcmp(got_, want) == 0 ? "" : got_);   \
	} while (0)

int main(void)
{
	err_init("test_arc_tree");

	/* ---- modelled ---- */
	TREE("a=2 +0", {FILE_, "a", "0"}, {FILE_, "./a", "1"}, {FILE_, ".//a", "2"});
	TREE("d/a=3 +0", {FILE_, "d/a", "0"}, {FILE_, "d//a", "1"}, {FILE_, "./d/./a", "2"}, {FILE_, "./d//a", "3"});
	TREE("p/q/x=1 +0", {FILE_, "p/q/x", "1"});
	/* a hard link holds the content its target had */
	TREE("h=0 a=1 +0", {FILE_, "a", "0"}, {HARD, "h", "a"}, {FILE_, "a", "1"});
	TREE("a=0 +0", {FILE_, "a", "0"}, {HARD, "a", "./a"});
	TREE("[.keep=0] a=0 +1", {FILE_, "a", "0"}, {HARD, ".keep", "a"}, {FILE_, "a", "1"}, {HARD, "a", ".keep"});
	/* a symbolic link to a file reads as the file; to a directory or nowhere it is no file */
	TREE("d/x=0 d/l=0@d/x +0", {FILE_, "d/x", "0"}, {SYM, "d/l", "x"});
	TREE("d/x=0 l=0@d/x +0", {FILE_, "d/x", "0"}, {SYM, "l", "d/../d/x"});
	TREE("d/x=0 +2", {FILE_, "d/x", "0"}, {SYM, "l", "d"}, {SYM, "m", "nowhere"});
	TREE("x=0 l=0@x +1", {FILE_, "x", "0"}, {SYM, "k", "x"}, {HARD, "l", "k"}, {FILE_, "k", "1"}, {SYM, "k", "."});
	/* later entries are written through a link made at once */
	TREE("sub/x=5 +1", {DIR_, "sub", NULL}, {SYM, "d", "sub"}, {FILE_, "d/x", "5"});
	TREE("sub/x=5 +2", {DIR_, "sub", NULL}, {SYM, "d", "sub"}, {SYM, "e", "d"}, {FILE_, "e/x", "5"});
	TREE("sub/x=5 +1", {DIR_, "sub", NULL}, {SYM, ".w", "sub"}, {FILE_, ".w/x", "5"});
	/* a directory entry replaces a file or a link made at once, a file an empty directory */
	TREE("d/x=1 +0", {FILE_, "d", "0"}, {DIR_, "d", NULL}, {FILE_, "d/x", "1"});
	TREE("sub/y=0 d/x=1 +0", {FILE_, "sub/y", "0"}, {SYM, "d", "sub"}, {DIR_, "d/", NULL}, {FILE_, "d/x", "1"});
	TREE("d=1 +0", {DIR_, "d", NULL}, {FILE_, "d", "1"});
	TREE("d/x=0 +0", {DIR_, "./d", NULL}, {FILE_, "d/x", "0"}, {DIR_, "d//", NULL});
	/* hidden names are marked (a manifest may name them: [NAME]) and counted as others */
	TREE("a=0 [.h=1] [d/.x/y=2] +2", {FILE_, "a", "0"}, {FILE_, ".h", "1"}, {FILE_, "d/.x/y", "2"});
	TREE("[.h=1] x=1@.h +1", {FILE_, ".h", "1"}, {SYM, "x", ".h"});

	/* ---- refused ---- */
	TREE("!x.tar: entry \"/a\" is an absolute path", {FILE_, "/a", "0"});
	TREE("!x.tar: entry \"../a\" leads outside the archive's directory", {FILE_, "../a", "0"});
	TREE("!x.tar: entry \"d/../a\" has a \"..\" component (extractors disagree on where it lands)",
	     {FILE_, "d/../a", "0"});
	TREE("!x.tar: entry \".\" names the extraction directory itself", {FILE_, ".", "0"});
	TREE("!x.tar: entry \"d/l\" is a symbolic link to \"../..\", outside the archive's directory",
	     {SYM, "d/l", "../.."});
	TREE("!x.tar: entry \"l\" is a symbolic link to \"/etc\", outside the archive's directory", {SYM, "l", "/etc"});
	TREE("!x.tar: entry \"l\" is a symbolic link to nothing (tar fails on it)", {SYM, "l", ""});
	TREE("!x.tar: entry \"d/c\" is a symbolic link to \"b/..\", which leads outside the archive's directory "
	     "through the symbolic link \"d/b\"",
	     {SYM, "d/b", ".."}, {SYM, "d/c", "b/.."});
	/* inside when made, outside once the other one is there: found in the final tree */
	TREE("!x.tar: entry \"d/c\" is a symbolic link to \"b/..\", which leads outside the archive's directory "
	     "through the symbolic link \"d/b\"",
	     {SYM, "d/c", "b/.."}, {SYM, "d/b", ".."});
	/* a missing name does not hide where ".." leads */
	TREE("!x.tar: entry \"l\" is a symbolic link to \"no/../..\", outside the archive's directory",
	     {SYM, "l", "no/../.."});
	TREE("!x.tar: entry \"h\" is a symbolic link to \"../x\", outside the archive's directory",
	     {SYM, "d/l", "../x"}, {HARD, "h", "d/l"});
	TREE("!x.tar: entry \"a\" is a symbolic link to \"b\": links that loop (more than 40 in a row)",
	     {SYM, "a", "b"}, {SYM, "b", "a"});
	TREE("!x.tar: entry \"l\" is a symbolic link to \"a\": links that loop (more than 40 in a row)",
	     {FILE_, "a", "0"}, {SYM, "l", "a"}, {HARD, "a", "l"});
	TREE("!x.tar: entry \"a/x\" lies below \"a\", which is not a directory (tar fails on it)",
	     {FILE_, "a", "0"}, {FILE_, "a/x", "1"});
	TREE("!x.tar: entry \"l/x\" lies below \"a\", which is not a directory (tar fails on it)",
	     {FILE_, "a", "0"}, {SYM, "l", "a"}, {FILE_, "l/x", "1"});
	TREE("!x.tar: entry \"q/d/x\" lies below the symbolic link \"q/d\", which tar makes only after the last "
	     "entry (tar fails on it)",
	     {DIR_, "sub", NULL}, {SYM, "q/d", "../sub"}, {FILE_, "q/d/x", "0"});
	TREE("!x.tar: entry \"e/x\" lies below the symbolic link \"d\", which tar makes only after the last "
	     "entry (tar fails on it)",
	     {DIR_, "sub", NULL}, {SYM, "d", "q/../sub"}, {SYM, "e", "d"}, {FILE_, "e/x", "0"});
	TREE("!x.tar: entry \"l/y/x\" lies below the symbolic link \"l\", which leads to nothing (tar fails on it)",
	     {SYM, "l", "sub"}, {FILE_, "l/y/x", "0"});
	TREE("!x.tar: entry \"l/x\" lies below the symbolic link \"l\", which loops", {SYM, "l", "l"}, {FILE_, "l/x", "0"});
	TREE("!x.tar: entry \"d\" replaces the directory \"d\", which is not empty (tar fails on it)",
	     {FILE_, "d/x", "0"}, {SYM, "d", "x"});
	TREE("!x.tar: entry \"l\" replaces the symbolic link \"l\", which tar makes only after the last entry "
	     "(what is left there depends on the file system)",
	     {FILE_, "a", "0"}, {SYM, "l", "x/../a"}, {FILE_, "l", "1"});
	TREE("!x.tar: entry \"l\" replaces the symbolic link \"l\", which tar makes only after the last entry "
	     "(what is left there depends on the file system)",
	     {SYM, "l", "d/.."}, {DIR_, "l", NULL});
	TREE("!x.tar: entry \"h\" is a hard link to \"a\", which is not there at that point (tar fails on it)",
	     {HARD, "h", "a"}, {FILE_, "a", "0"});
	TREE("!x.tar: entry \"h\" is a hard link to \"d/\", which is not there at that point (tar fails on it)",
	     {FILE_, "d", "0"}, {HARD, "h", "d/"});
	TREE("!x.tar: entry \"h\" is a hard link to the directory \"d\" (tar fails on it)", {DIR_, "d", NULL}, {HARD, "h", "d"});
	TREE("!x.tar: entry \"h\" is a hard link to the directory \"./\" (tar fails on it)", {HARD, "h", "./"});
	TREE("!x.tar: entry \"h\" is a hard link to \"/a\", outside the archive's directory", {HARD, "h", "/a"});
	TREE("!x.tar: entry \"h\" is a hard link to \"d/../a\", a name with a \"..\" component (extractors disagree "
	     "on where it leads)",
	     {FILE_, "a", "0"}, {HARD, "h", "d/../a"});

	/* names tar cannot make: too long, directly or through links */
	char longname[4200], comp[300], deep[4100], through[400];
	memset(longname, 'a', 4096);
	longname[4096] = 0;
	memset(comp, 'b', 256);
	comp[256] = 0;
	char want[1024], q[ERR_QUOTE];
	snprintf(want, sizeof want, "!x.tar: entry %s: a name over 4095 bytes or with a component over 255 (tar cannot "
		 "extract it)", err_quote(longname, q));
	TREE(want, {FILE_, longname, "0"});
	snprintf(want, sizeof want, "!x.tar: entry %s: a name over 4095 bytes or with a component over 255 (tar cannot "
		 "extract it)", err_quote(comp, q));
	TREE(want, {FILE_, comp, "0"});
	snprintf(want, sizeof want, "!x.tar: entry \"h\" is a hard link to a name over 4095 bytes or with a component "
		 "over 255 (tar fails on it)");
	TREE(want, {HARD, "h", comp});
	/* 16 directories of 250 bytes, then a link to them: a name below the link lands deeper than 4095 */
	size_t k = 0;
	for (int i = 0; i < 16; i++) {
		memset(deep + k, 'c' + i % 20, 250);
		k += 250;
		deep[k++] = '/';
	}
	deep[--k] = 0;
	snprintf(through, sizeof through, "l/%0100d", 0);
	TREE("!x.tar: entry \"l/0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	     "000000000\" lands at a path over 4095 bytes (through links)",
	     {DIR_, deep, NULL}, {SYM, "l", deep}, {FILE_, through, "0"});

	/* links built to be slow: 40 in a row, each of 2000 components: refused, not followed
	 * for minutes */
	static char targets[40][4200];
	struct ent slow[41];
	static char names[40][16];
	for (int i = 0; i < 40; i++) {
		int n = i ? snprintf(targets[i], sizeof targets[i], "l%d/", i - 1) : 0;
		for (int j = 0; j < 2000; j++, n += 2)
			memcpy(targets[i] + n, "./", 3);
		snprintf(names[i], sizeof names[i], "l%d", i);
		slow[i] = (struct ent){SYM, names[i], targets[i]};
	}
	slow[40] = (struct ent){END, NULL, NULL};
	const char *got = tree_of(slow);
	CHECK(strcmp(got, "!x.tar: entry \"l32\": resolving names through symbolic links takes too many lookups "
			  "(more than 256 per entry)") == 0,
	      "a chain of links built to be slow: refused (%s)", got);
	return t_done();
}
