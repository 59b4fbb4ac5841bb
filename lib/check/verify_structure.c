/* The structure check: what the safetensors reader, the checkpoint's index and its layout
 * found wrong while the target was opened leniently, plus the index's total_size. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "out.h"
#include "verify.h"

/* The data bytes of every tensor of every file; false when some file could not be read
 * (the sum would mean nothing). */
static bool file_bytes(const struct view *v, uint64_t *sum)
{
	*sum = 0;
	for (size_t i = 0; i < v->nfiles; i++) {
		const struct st_file *f = v->files[i].st;
		if (!f)
			return false;
		for (size_t k = 0; k < f->n; k++)
			*sum += st_nbytes(&f->t[k]);
	}
	return true;
}

void verify_structure(const struct vtarget *t, struct report *r)
{
	struct rcheck *k = report_check(r, "structure");
	size_t nf;
	const char **files = vtarget_files(t, &nf);
	const struct view *v = t->v;
	char *const *probs = v ? v->problems : NULL;
	size_t np = v ? v->nproblems : 0;
	bool seen = false;
	for (size_t i = 0; i < np; i++) {
		report_problem_msg(k, probs[i], files, nf);
		seen |= t->arc.error && strcmp(probs[i], t->arc.error) == 0;
	}
	/* a broken stream is also a problem of the shard it broke in: said once */
	if (t->archive && t->arc.error && !seen)
		report_problem_msg(k, t->arc.error, files, nf);
	if (t->error)
		report_problem_msg(k, t->error, files, nf);
	size_t nst = 0, ntensors = 0;
	for (size_t i = 0; t->files_only && i < t->arc.n; i++) {
		const struct arc_file *f = &t->arc.f[i];
		if (f->error && !(t->arc.error && strcmp(f->error, t->arc.error) == 0))
			report_problem_msg(k, f->error, files, nf);
		if (f->st) {
			nst++;
			ntensors += f->st->n;
		}
	}
	uint64_t bytes = 0;
	bool all = false;
	const struct idx *ix = v ? v->index : NULL;
	if (v) {
		for (size_t i = 0; i < v->nstray; i++) {
			char *p = path_join(v->dir, v->stray[i]);
			report_problem(k, p, NULL, "a .safetensors file that %s does not name", INDEX_NAME);
			free(p);
		}
		all = file_bytes(v, &bytes);
		if (ix && ix->has_total_size && all && ix->total_size != bytes)
			report_problem(k, v->index_path, NULL,
				       "metadata.total_size is %" PRIu64 ", but the tensors hold %" PRIu64 " bytes",
				       ix->total_size, bytes);
	}
	/* the summary: what was looked at */
	struct buf s = {0};
	if (v && v->layout == LAYOUT_HF) {
		size_t n;
		free(view_stored(v, &n));
		buf_printf(&s, "%zu %s, %zu %s", v->nfiles, v->nfiles == 1 ? "shard" : "shards", n,
			   n == 1 ? "tensor" : "tensors");
		if (ix)
			buf_printf(&s, "; index: %zu entries", ix->n);
		else
			buf_adds(&s, "; no index");
		if (ix && ix->has_total_size && all)
			buf_printf(&s, ", total_size %" PRIu64 "%s", ix->total_size,
				   ix->total_size == bytes ? " = tensor bytes" : "");
	} else if (t->files_only) {
		buf_printf(&s, "%zu .safetensors %s, %zu tensors, each file by the safetensors rules (a %s "
			   "checkpoint in an archive: extract it for the checks across files)",
			   nst, nst == 1 ? "file" : "files", ntensors, t->layout);
	} else if (v) {
		buf_printf(&s, "%zu tensors (layout %s)", v->n, t->layout);
	} else {
		buf_adds(&s, "the checkpoint could not be read");
	}
	if (t->archive) {
		buf_printf(&s, "; %s, %zu %s", t->arc.format ? t->arc.format : "archive", t->arc.n,
			   t->arc.n == 1 ? "file" : "files");
		if (t->arc.nskipped)
			buf_printf(&s, " (%zu other entries skipped)", t->arc.nskipped);
	}
	report_summary(k, "%s", buf_str(&s));
	buf_free(&s);
	free(files);
}
