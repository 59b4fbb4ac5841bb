/* The table of a checkpoint's tensors, as its view (lib/checkpoint/view.h) shows them under
 * their HF names: name, dtype, shape, bytes, optionally each tensor's statistics
 * (lib/check/stats.h), and where it is stored: its shard in the HF layout, else how it is
 * put together (whole, joined from pieces along rows or columns, copies elsewhere) and from
 * which files.  As aligned text or as a JSON array. */
#ifndef CKPT_TENSORTAB_H
#define CKPT_TENSORTAB_H

#include <stddef.h>

#include "buf.h"
#include "jsonw.h"
#include "stats.h"
#include "view.h"

/* ts: tensors of v (view_stored); st: NULL, or the statistics of ts[i] in st[i]. */
void tensortab_text(const struct view *v, const struct vtensor *const *ts, size_t n, const struct tstats *st,
		    struct buf *out);
void tensortab_json(const struct view *v, const struct vtensor *const *ts, size_t n, const struct tstats *st,
		    struct jw *w);

/* A statistic for people: %.6g, "nan", "inf" or "-" when there is no value. */
const char *stat_text(double v, char out[32]);

#endif
