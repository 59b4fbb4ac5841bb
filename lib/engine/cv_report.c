#include "cv_report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "progress.h"

/* The tensor files this run was about: its one file with cv_opts.only, none when it only
 * writes side files; with finalize, every file (checked complete, kept). */
static bool file_in_run(const struct cv_opts *o, const struct cv_file *f)
{
	if (o->only_side)
		return false;
	return !o->only || strcmp(f->name, o->only) == 0;
}

static bool file_kept(const struct cv_opts *o, const struct cv_file *f)
{
	return !o->tar && (o->finalize || f->skip);
}

static bool sides_in_run(const struct cv_opts *o) { return !o->no_side && !o->only; }

void cv_tally(const struct cv_job *j, const struct cv_opts *o, struct cv_tally *t)
{
	memset(t, 0, sizeof *t);
	for (size_t i = 0; i < j->nfiles; i++) {
		const struct cv_file *f = &j->files[i];
		if (!file_in_run(o, f))
			continue;
		if (file_kept(o, f)) {
			t->kept++;
		} else {
			t->written++;
			t->bytes_written += f->L.file_size;
		}
	}
	for (size_t i = 0; i < j->nside && sides_in_run(o); i++) {
		if (j->side[i].skip && !o->tar) {
			t->kept++;
		} else {
			t->written++;
			t->bytes_written += cv_side_bytes(&j->side[i]);
		}
	}
}

/* "0.21 s", "42.0 s", "3 min 07 s", "2 h 05 min" */
static const char *duration(double s, char *out, size_t n)
{
	uint64_t whole = s > 0 ? (uint64_t)(s + 0.5) : 0;
	if (s < 10)
		snprintf(out, n, "%.2f s", s < 0 ? 0 : s);
	else if (s < 60)
		snprintf(out, n, "%.1f s", s);
	else if (whole < 3600)
		snprintf(out, n, "%" PRIu64 " min %02" PRIu64 " s", whole / 60, whole % 60);
	else
		snprintf(out, n, "%" PRIu64 " h %02" PRIu64 " min", whole / 3600, whole / 60 % 60);
	return out;
}

void cv_report_line(struct buf *b, const struct cv_job *j, const struct cv_opts *o, double seconds,
		    const char *note)
{
	struct cv_tally t;
	char size[16], took[32];
	cv_tally(j, o, &t);
	if (!t.written && !o->tar) {
		buf_printf(b, "%s: nothing to do: its %zu file%s %s complete (--force writes %s again)\n", o->outdir,
			   t.kept, t.kept == 1 ? "" : "s", t.kept == 1 ? "is" : "are",
			   t.kept == 1 ? "it" : "them");
		return;
	}
	buf_printf(b, "wrote %zu file%s (%s) ", t.written, t.written == 1 ? "" : "s", progress_bytes(t.bytes_written, size));
	if (o->tar)
		buf_printf(b, "as a tar stream to %s", o->tar_what ? o->tar_what : "standard output");
	else
		buf_printf(b, "to %s", o->outdir);
	buf_printf(b, " in %s", duration(seconds, took, sizeof took));
	if (t.kept)
		buf_printf(b, "; kept %zu complete from an earlier run", t.kept);
	if (note && *note)
		buf_printf(b, "; %s", note);
	buf_addc(b, '\n');
}

void cv_report_files(struct buf *b, const struct cv_job *j, const struct cv_opts *o)
{
	for (size_t i = 0; i < j->nfiles; i++) {
		const struct cv_file *f = &j->files[i];
		if (file_in_run(o, f))
			buf_printf(b, "%s: %zu tensors, %" PRIu64 " bytes, %s\n", f->name, f->n, f->L.file_size,
				   file_kept(o, f) ? "kept (already complete)" : "written");
	}
	for (size_t i = 0; i < j->nside && sides_in_run(o); i++)
		buf_printf(b, "%s: %" PRIu64 " bytes, %s\n", j->side[i].name, cv_side_bytes(&j->side[i]),
			   j->side[i].skip && !o->tar ? "kept (already complete)" : "written");
}

void cv_report_json(struct jw *w, const struct cv_job *j, const struct cv_opts *o, double seconds)
{
	struct cv_tally t;
	cv_tally(j, o, &t);
	jw_kv_str(w, "output", o->tar ? "-" : o->outdir);
	jw_key(w, "files");
	jw_arr(w);
	for (size_t i = 0; i < j->nfiles; i++) {
		const struct cv_file *f = &j->files[i];
		if (!file_in_run(o, f))
			continue;
		jw_obj(w);
		jw_kv_str(w, "name", f->name);
		jw_kv_u64(w, "tensors", f->n);
		jw_kv_u64(w, "bytes", f->L.file_size);
		jw_kv_bool(w, "kept", file_kept(o, f));
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "other_files");
	jw_arr(w);
	for (size_t i = 0; i < j->nside && sides_in_run(o); i++) {
		jw_obj(w);
		jw_kv_str(w, "name", j->side[i].name);
		jw_kv_u64(w, "bytes", cv_side_bytes(&j->side[i]));
		jw_kv_bool(w, "kept", j->side[i].skip && !o->tar);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kv_u64(w, "files_written", t.written);
	jw_kv_u64(w, "files_kept", t.kept);
	jw_kv_u64(w, "bytes_written", t.bytes_written);
	/* milliseconds are what a run's time means; more digits are noise */
	char ms[32];
	int n = snprintf(ms, sizeof ms, "%.3f", seconds < 0 ? 0 : seconds);
	jw_key(w, "seconds");
	jw_raw(w, ms, (size_t)n);
	jw_kv_bool(w, "nothing_to_do", !t.written && !o->tar);
}

void cv_say(const struct cv_job *j, const struct cv_opts *o, double seconds, const struct cv_say *s)
{
	struct buf b = {0};
	if (s->json) {
		struct jw w;
		jw_init(&w, &b, 2, true);
		jw_obj(&w);
		cv_report_json(&w, j, o, seconds);
		if (s->json_extra)
			s->json_extra(&w, s->arg);
		jw_obj_end(&w);
		buf_addc(&b, '\n');
		fwrite(b.p, 1, b.len, stdout);
	} else if (!s->quiet) {
		if (s->verbose)
			cv_report_files(&b, j, o);
		cv_report_line(&b, j, o, seconds, s->note);
		if (o->tar) {
			/* line by line, each as the tool's message */
			for (char *p = b.p, *nl; p && *p; p = nl + 1) {
				nl = strchr(p, '\n');
				fprintf(stderr, "%s: %.*s\n", err_prog(), (int)(nl - p), p);
			}
		} else {
			fwrite(b.p, 1, b.len, stdout);
		}
	}
	buf_free(&b);
}
