/* A view (lib/checkpoint/view.h) for people and scripts: a summary of its canonical tensors and a table
 * of them, each with how it is assembled (whole, joined from pieces along rows or columns,
 * copies elsewhere) and from which files.  The counterpart of summary.h and tensortab.h for
 * layouts that are not plain HF. */
#ifndef CKPT_VIEWTAB_H
#define CKPT_VIEWTAB_H

#include <stddef.h>

#include "buf.h"
#include "jsonw.h"
#include "table.h"
#include "view.h"

/* Rows "key  value" of the summary into t (a two-column table): layout, tensors,
 * parameters, bytes (stored once, and in copies), problems. */
void viewsum_rows(const struct view *v, struct table *t);
/* The same as members of the JSON object being written. */
void viewsum_json(const struct view *v, struct jw *w);

void viewtab_text(const struct vtensor *const *ts, size_t n, struct buf *out);
void viewtab_json(const struct vtensor *const *ts, size_t n, struct jw *w);

#endif
