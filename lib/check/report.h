/* The report of a verification: a list of checks, each passed, failed or skipped, with a
 * one-line summary and the problems it found, each naming the file and the tensor it is
 * about.  Written as text for people or as JSON for CI.
 *
 * Any check can use it (structure, manifest, scan, comparison, forward pass ...):
 *
 *   struct report r;
 *   report_init(&r, path);
 *   struct rcheck *c = report_check(&r, "model");
 *   report_problem(c, file, tensor, "shape %s, config.json says %s", ...);
 *   report_summary(c, "%zu tensors as config.json describes", n);
 *   ...
 *   report_text(&r, &out, false);   or   report_json(&r, &w);
 *   exit(report_failed(&r) ? EXIT_CHECK : EXIT_OK);
 *
 * A check that found problems has failed; warnings are listed but fail nothing.  A check
 * may attach its own details (e.g. a per-tensor table) through callbacks that write them
 * as text and as members of the check's JSON object. */
#ifndef CKPT_REPORT_H
#define CKPT_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "jsonw.h"

enum rsev { RSEV_PROBLEM, RSEV_WARNING };

struct ritem {
	enum rsev sev;
	char *file;              /* the file it is about, as shown to the user; may be NULL */
	char *tensor;            /* the tensor it is about; may be NULL */
	char *msg;
	bool tensor_in_msg;      /* msg names the tensor itself (a library message) */
};

struct rdetails {
	void *data;
	/* Lines after the check's summary (each starting with two spaces); may be NULL. */
	void (*text)(const void *data, struct buf *out);
	/* Members of the check's JSON object (key, value ...); may be NULL. */
	void (*json)(const void *data, struct jw *w);
	void (*free)(void *data);
};

struct rcheck {
	char *name;
	char *summary;           /* one line, may be NULL */
	bool skipped;
	bool not_checked;         /* skipped for want of knowledge, not by design (status
				    "not checked"): the report never calls the input checked */
	size_t nproblems, nwarnings;
	size_t n;
	struct ritem *items;     /* in the order found */
	struct rdetails details;
};

struct report {
	char *path;              /* what was verified */
	char *layout;            /* its layout's name, or NULL */
	char *note;              /* what the result line adds (what was proven), or NULL */
	size_t n;
	struct rcheck **checks;  /* in the order they were started */
};

void report_init(struct report *r, const char *path);
void report_free(struct report *r);
void report_set_layout(struct report *r, const char *layout);
/* A few words the result line ends with ("result: passed; NOTE"), e.g. what a check proved. */
void report_note(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Start a check (names are short words: "structure", "model", "manifest" ...). */
struct rcheck *report_check(struct report *r, const char *name);
void report_summary(struct rcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The check did not run; fmt says why (it fails nothing). */
void report_skip(struct rcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The check could not be done because ckpt lacks what it needs (a model it does not
 * know): status "not checked", and the result says so (text and JSON). */
void report_not_checked(struct rcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* file and tensor may be NULL. */
void report_problem(struct rcheck *c, const char *file, const char *tensor, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void report_warning(struct rcheck *c, const char *file, const char *tensor, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A library message "FILE: what is wrong": split into file and message when it starts with
 * one of files[0..n) followed by ": " (the longest that does), else kept whole.  A tensor
 * the message names (quoted as err_quote does, after "tensor " or first thing) becomes the
 * item's tensor too. */
void report_problem_msg(struct rcheck *c, const char *msg, const char *const *files, size_t n);
/* Take ownership of details (freed with the report). */
void report_details(struct rcheck *c, const struct rdetails *d);

bool report_failed(const struct report *r);
size_t report_problems(const struct report *r);
size_t report_warnings(const struct report *r);
/* "passed", "FAILED" or "skipped" */
const char *rcheck_status(const struct rcheck *c);

/* One item as a line: "FILE: tensor NAME: message" (parts that are NULL left out). */
void ritem_line(const struct ritem *it, struct buf *out);

/* The report for people.  Each check: "NAME  STATUS  summary", its problems and warnings
 * indented below it, its details; then "result: ...".  quiet: only the problem lines,
 * unindented (nothing at all when every check passed). */
void report_text(const struct report *r, struct buf *out, bool quiet);
/* The report as one JSON object (man/ckpt-verify.1 describes its members). */
void report_json(const struct report *r, struct jw *w);

#endif
