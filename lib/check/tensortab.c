#include "tensortab.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "table.h"

const char *stat_text(double v, char out[32])
{
	if (isnan(v))
		snprintf(out, 32, "-");
	else
		snprintf(out, 32, "%.6g", v);
	return out;
}

void tensortab_text(const struct ckpt_tensor *const *ts, size_t n, const struct tstats *st,
		    struct buf *out)
{
	struct table t;
	char sh[ST_SHAPE_LEN], v[32];
	table_init(&t, st ? "lllrlrrrrrrrl" : "lllrl");
	table_add(&t, "NAME");
	table_add(&t, "DTYPE");
	table_add(&t, "SHAPE");
	table_add(&t, "BYTES");
	if (st) {
		table_add(&t, "VALUES");
		table_add(&t, "MIN");
		table_add(&t, "MAX");
		table_add(&t, "MEAN");
		table_add(&t, "STD");
		table_add(&t, "ABSMAX");
		table_add(&t, "NAN");
		table_add(&t, "INF");
	}
	table_add(&t, "SHARD");
	for (size_t i = 0; i < n; i++) {
		const struct st_tensor *x = ts[i]->t;
		table_add(&t, ts[i]->name);
		table_add(&t, dt_name(x->dtype));
		table_add(&t, st_shape_str(x->ndim, x->shape, sh, sizeof sh));
		table_addf(&t, "%" PRIu64, st_nbytes(x));
		if (st) {
			const struct tstats *s = &st[i];
			table_add(&t, !s->valid ? "none" : s->dequantized ? "scaled" : "stored");
			table_add(&t, stat_text(s->min, v));
			table_add(&t, stat_text(s->max, v));
			table_add(&t, stat_text(s->mean, v));
			table_add(&t, stat_text(s->std, v));
			table_add(&t, stat_text(s->absmax, v));
			table_addf(&t, "%" PRIu64, s->nan);
			table_addf(&t, "%" PRIu64, s->inf);
		}
		table_add(&t, ts[i]->shard->name);
	}
	table_render(&t, out, "");
	table_free(&t);
}

void tensortab_json(const struct ckpt_tensor *const *ts, size_t n, const struct tstats *st,
		    struct jw *w)
{
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct st_tensor *x = ts[i]->t;
		jw_obj(w);
		jw_kv_str(w, "name", ts[i]->name);
		jw_kv_str(w, "dtype", dt_name(x->dtype));
		jw_key(w, "shape");
		jw_arr(w);
		for (unsigned d = 0; d < x->ndim; d++)
			jw_u64(w, x->shape[d]);
		jw_arr_end(w);
		jw_kv_u64(w, "parameters", x->nelem);
		jw_kv_u64(w, "bytes", st_nbytes(x));
		jw_kv_str(w, "shard", ts[i]->shard->name);
		jw_key(w, "data_offsets");
		jw_arr(w);
		jw_u64(w, x->begin);
		jw_u64(w, x->end);
		jw_arr_end(w);
		if (st) {
			const struct tstats *s = &st[i];
			jw_key(w, "stats");
			if (!s->valid) {
				jw_null(w);
			} else {
				jw_obj(w);
				jw_kv_str(w, "values", s->dequantized ? "scaled" : "stored");
				jw_kv_u64(w, "count", s->count);
				jw_kv_double(w, "min", s->min);
				jw_kv_double(w, "max", s->max);
				jw_kv_double(w, "mean", s->mean);
				jw_kv_double(w, "std", s->std);
				jw_kv_double(w, "absmax", s->absmax);
				jw_kv_u64(w, "nan", s->nan);
				jw_kv_u64(w, "inf", s->inf);
				jw_obj_end(w);
			}
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
}
