/* The table of a checkpoint's tensors: name, dtype, shape, bytes, shard, and optionally
 * each tensor's statistics (lib/check/stats.h), as aligned text or as a JSON array. */
#ifndef CKPT_TENSORTAB_H
#define CKPT_TENSORTAB_H

#include <stddef.h>

#include "buf.h"
#include "ckpt.h"
#include "jsonw.h"
#include "stats.h"

/* st: NULL, or the statistics of ts[i] in st[i]. */
void tensortab_text(const struct ckpt_tensor *const *ts, size_t n, const struct tstats *st,
		    struct buf *out);
void tensortab_json(const struct ckpt_tensor *const *ts, size_t n, const struct tstats *st,
		    struct jw *w);

/* A statistic for people: %.6g, "nan", "inf" or "-" when there is no value. */
const char *stat_text(double v, char out[32]);

#endif
