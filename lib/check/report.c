#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static char *vfmt(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	char *s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

void report_init(struct report *r, const char *path)
{
	memset(r, 0, sizeof *r);
	r->path = xstrdup(path);
}

void report_set_layout(struct report *r, const char *layout)
{
	free(r->layout);
	r->layout = layout ? xstrdup(layout) : NULL;
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rcheck *c = r->checks[i];
		for (size_t k = 0; k < c->n; k++) {
			free(c->items[k].file);
			free(c->items[k].tensor);
			free(c->items[k].msg);
		}
		if (c->details.free)
			c->details.free(c->details.data);
		free(c->items);
		free(c->summary);
		free(c->name);
		free(c);
	}
	free(r->checks);
	free(r->layout);
	free(r->note);
	free(r->path);
	memset(r, 0, sizeof *r);
}

struct rcheck *report_check(struct report *r, const char *name)
{
	struct rcheck *c = xcalloc(1, sizeof *c);
	c->name = xstrdup(name);
	r->checks = xreallocarray(r->checks, r->n + 1, sizeof *r->checks);
	r->checks[r->n++] = c;
	return c;
}

void report_note(struct report *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->note);
	r->note = vfmt(fmt, ap);
	va_end(ap);
}

void report_summary(struct rcheck *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(c->summary);
	c->summary = vfmt(fmt, ap);
	va_end(ap);
}

void report_skip(struct rcheck *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(c->summary);
	c->summary = vfmt(fmt, ap);
	va_end(ap);
	c->skipped = true;
}

void report_not_checked(struct rcheck *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *why = vfmt(fmt, ap);
	va_end(ap);
	report_skip(c, "%s", why);
	free(why);
	c->not_checked = true;
}

static void add_item(struct rcheck *c, enum rsev sev, const char *file, const char *tensor, char *msg)
{
	c->items = xgrow(c->items, c->n, sizeof *c->items);
	c->items[c->n++] = (struct ritem){sev, file ? xstrdup(file) : NULL, tensor ? xstrdup(tensor) : NULL, msg, false};
	if (sev == RSEV_PROBLEM)
		c->nproblems++;
	else
		c->nwarnings++;
}

void report_problem(struct rcheck *c, const char *file, const char *tensor, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_item(c, RSEV_PROBLEM, file, tensor, vfmt(fmt, ap));
	va_end(ap);
}

void report_warning(struct rcheck *c, const char *file, const char *tensor, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_item(c, RSEV_WARNING, file, tensor, vfmt(fmt, ap));
	va_end(ap);
}

/* The name err_quote quoted at the start of msg or after "tensor ", unescaped; NULL when
 * there is none or it was shortened. */
static char *quoted_tensor(const char *msg)
{
	const char *p = msg[0] == '"' ? msg : strstr(msg, "tensor \"");
	if (!p)
		return NULL;
	p = strchr(p, '"') + 1;
	struct buf b = {0};
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			buf_addc(&b, *p);
			continue;
		}
		if (p[1] == '"' || p[1] == '\\') {
			buf_addc(&b, *++p);
		} else if (p[1] == 'x' && p[2] && p[3]) {
			char hex[3] = {p[2], p[3], 0};
			buf_addc(&b, (char)strtol(hex, NULL, 16));
			p += 3;
		} else {
			break;
		}
	}
	/* err_quote ends a shortened name with ... */
	if (*p != '"' || (b.len >= 3 && memcmp(b.p + b.len - 3, "...", 3) == 0) || memchr(b.p ? b.p : "", 0, b.len)) {
		buf_free(&b);
		return NULL;
	}
	buf_addc(&b, 0);
	return b.p;
}

void report_problem_msg(struct rcheck *c, const char *msg, const char *const *files, size_t n)
{
	size_t best = 0;
	const char *file = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t k = files[i] ? strlen(files[i]) : 0;
		if (k > best && strncmp(msg, files[i], k) == 0 && msg[k] == ':' && msg[k + 1] == ' ') {
			best = k;
			file = files[i];
		}
	}
	const char *rest = file ? msg + best + 2 : msg;
	char *tensor = quoted_tensor(rest);
	add_item(c, RSEV_PROBLEM, file, tensor, xstrdup(rest));
	c->items[c->n - 1].tensor_in_msg = true;
	free(tensor);
}

void report_details(struct rcheck *c, const struct rdetails *d)
{
	if (c->details.free)
		c->details.free(c->details.data);
	c->details = *d;
}

size_t report_problems(const struct report *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->checks[i]->nproblems;
	return n;
}

size_t report_warnings(const struct report *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->checks[i]->nwarnings;
	return n;
}

bool report_failed(const struct report *r) { return report_problems(r) > 0; }

const char *rcheck_status(const struct rcheck *c)
{
	if (c->nproblems)
		return "FAILED";
	if (c->not_checked)
		return "not checked";
	return c->skipped ? "skipped" : "passed";
}

/* Control characters shown as \xNN: a hostile name cannot drive the terminal. */
static void add_printable(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			buf_printf(out, "\\x%02x", *p);
		else
			buf_addc(out, (char)*p);
	}
}

void ritem_line(const struct ritem *it, struct buf *out)
{
	if (it->file) {
		add_printable(out, it->file);
		buf_adds(out, ": ");
	}
	if (it->tensor && !it->tensor_in_msg) {
		char q[ERR_QUOTE];
		buf_adds(out, "tensor ");
		buf_adds(out, err_quote(it->tensor, q));
		buf_adds(out, ": ");
	}
	add_printable(out, it->msg);
}

static const char *plural(size_t n, const char *one, const char *many) { return n == 1 ? one : many; }

void report_text(const struct report *r, struct buf *out, bool quiet)
{
	if (quiet) {
		for (size_t i = 0; i < r->n; i++)
			for (size_t k = 0; k < r->checks[i]->n; k++)
				if (r->checks[i]->items[k].sev == RSEV_PROBLEM) {
					ritem_line(&r->checks[i]->items[k], out);
					buf_addc(out, '\n');
				}
		return;
	}
	size_t w = strlen("checkpoint");
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->checks[i]->name) > w)
			w = strlen(r->checks[i]->name);
	buf_printf(out, "%-*s  ", (int)w, "checkpoint");
	add_printable(out, r->path);
	if (r->layout)
		buf_printf(out, " (layout %s)", r->layout);
	buf_addc(out, '\n');
	for (size_t i = 0; i < r->n; i++) {
		const struct rcheck *c = r->checks[i];
		buf_printf(out, "%-*s  ", (int)w, c->name);
		if (c->summary) {
			buf_printf(out, "%-7s  ", rcheck_status(c));
			add_printable(out, c->summary);
		} else {
			buf_adds(out, rcheck_status(c));
		}
		buf_addc(out, '\n');
		for (size_t k = 0; k < c->n; k++) {
			buf_adds(out, c->items[k].sev == RSEV_PROBLEM ? "  " : "  warning: ");
			ritem_line(&c->items[k], out);
			buf_addc(out, '\n');
		}
		if (c->details.text)
			c->details.text(c->details.data, out);
	}
	size_t np = report_problems(r), nw = report_warnings(r), nf = 0;
	for (size_t i = 0; i < r->n; i++)
		nf += r->checks[i]->nproblems > 0;
	if (np)
		buf_printf(out, "result: FAILED, %zu %s in %zu %s", np, plural(np, "problem", "problems"), nf,
			   plural(nf, "check", "checks"));
	else
		buf_adds(out, "result: passed");
	const char *sep = np ? "; not checked: " : ", except what was not checked: ";
	for (size_t i = 0; i < r->n; i++)
		if (r->checks[i]->not_checked && !r->checks[i]->nproblems) {
			buf_printf(out, "%s%s", sep, r->checks[i]->name);
			sep = ", ";
		}
	if (r->note) {
		buf_adds(out, "; ");
		add_printable(out, r->note);
	}
	if (nw)
		buf_printf(out, " (%zu %s)", nw, plural(nw, "warning", "warnings"));
	buf_addc(out, '\n');
}

static void json_items(const struct rcheck *c, struct jw *w, enum rsev sev)
{
	jw_arr(w);
	for (size_t k = 0; k < c->n; k++) {
		const struct ritem *it = &c->items[k];
		if (it->sev != sev)
			continue;
		jw_obj(w);
		jw_key(w, "file");
		if (it->file)
			jw_str(w, it->file);
		else
			jw_null(w);
		jw_key(w, "tensor");
		if (it->tensor)
			jw_str(w, it->tensor);
		else
			jw_null(w);
		jw_kv_str(w, "message", it->msg);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void report_json(const struct report *r, struct jw *w)
{
	jw_obj(w);
	jw_kv_str(w, "path", r->path);
	jw_key(w, "layout");
	if (r->layout)
		jw_str(w, r->layout);
	else
		jw_null(w);
	jw_kv_bool(w, "passed", !report_failed(r));
	jw_kv_u64(w, "problems", report_problems(r));
	jw_kv_u64(w, "warnings", report_warnings(r));
	/* (false when a check could not be done: "passed" then speaks only of the others) */
	bool complete = true;
	for (size_t i = 0; i < r->n; i++)
		complete = complete && !(r->checks[i]->not_checked && !r->checks[i]->nproblems);
	jw_kv_bool(w, "complete", complete);
	jw_key(w, "checks");
	jw_arr(w);
	for (size_t i = 0; i < r->n; i++) {
		const struct rcheck *c = r->checks[i];
		jw_obj(w);
		jw_kv_str(w, "name", c->name);
		jw_kv_str(w, "status", c->nproblems ? "failed" : c->not_checked ? "not_checked" : c->skipped ? "skipped" : "passed");
		jw_key(w, "summary");
		if (c->summary)
			jw_str(w, c->summary);
		else
			jw_null(w);
		jw_key(w, "problems");
		json_items(c, w, RSEV_PROBLEM);
		jw_key(w, "warnings");
		json_items(c, w, RSEV_WARNING);
		if (c->details.json)
			c->details.json(c->details.data, w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}
