/* A model-parallel directory described for reports: its ranks, how experts are spread, and
 * the record of the sharding when there is one. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dsmp.h"
#include "err.h"
#include "table.h"

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

void dsmp_info_rows(const struct view *v, struct table *t)
{
	const struct dsmp_info *d = dsmp_info(v);
	char h[32];
	struct buf b = {0};
	table_add(t, "model parallel");
	table_addf(t, "%u rank%s", d->mp, d->mp == 1 ? "" : "s");
	table_add(t, "experts");
	table_addf(t, "%" PRIu64 ", %" PRIu64 " per rank (from %s)", d->n_experts, d->n_experts / d->mp, d->experts_from);
	struct table r;
	table_init(&r, "rlrrr");
	table_add(&r, "RANK");
	table_add(&r, "FILE");
	table_add(&r, "TENSORS");
	table_add(&r, "BYTES");
	table_add(&r, "");
	for (unsigned i = 0; i < d->mp; i++) {
		const struct st_file *f = d->ranks[i];
		table_addf(&r, "%u", i);
		if (!f) {
			char *name = dsmp_file_name(i, d->mp);
			table_add(&r, name);
			free(name);
			table_add(&r, "-");
			table_add(&r, "-");
			table_add(&r, "unreadable");
			continue;
		}
		table_add(&r, base_name(f->path));
		table_addf(&r, "%zu", f->n);
		table_addf(&r, "%" PRIu64, f->size);
		table_add(&r, human_bytes(f->size, h));
	}
	table_add_lines(t, "ranks", &r);
	table_free(&r);
	table_add(t, "record");
	if (!d->has_record) {
		table_addf(t, "none (no %s)", DSMP_RECORD);
		return;
	}
	buf_printf(&b, "%s: %s from %s", DSMP_RECORD, d->rec.tool, d->rec.source);
	table_add(t, b.p);
	if (d->rec.nlayers_left_out) {
		buf_clear(&b);
		layer_ranges(d->rec.layers_left_out, d->rec.nlayers_left_out, &b);
		table_add(t, "");
		table_addf(t, "MTP layers left out: %s (%" PRIu64 " tensors)", b.p, d->rec.tensors_left_out);
	}
	buf_free(&b);
}

void dsmp_info_json(const struct view *v, struct jw *w)
{
	const struct dsmp_info *d = dsmp_info(v);
	jw_kv_u64(w, "model_parallel", d->mp);
	jw_kv_u64(w, "n_experts", d->n_experts);
	jw_kv_str(w, "experts_from", d->experts_from);
	jw_key(w, "ranks");
	jw_arr(w);
	for (unsigned i = 0; i < d->mp; i++) {
		char *name = dsmp_file_name(i, d->mp);
		jw_obj(w);
		jw_kv_u64(w, "rank", i);
		jw_kv_str(w, "file", name);
		jw_key(w, "tensors");
		d->ranks[i] ? jw_u64(w, d->ranks[i]->n) : jw_null(w);
		jw_key(w, "bytes");
		d->ranks[i] ? jw_u64(w, d->ranks[i]->size) : jw_null(w);
		jw_obj_end(w);
		free(name);
	}
	jw_arr_end(w);
	jw_key(w, "record");
	if (!d->has_record) {
		jw_null(w);
		return;
	}
	jw_obj(w);
	jw_kv_str(w, "tool", d->rec.tool);
	jw_kv_str(w, "source", d->rec.source);
	jw_key(w, "num_hidden_layers");
	d->rec.num_hidden_layers >= 0 ? jw_i64(w, d->rec.num_hidden_layers) : jw_null(w);
	jw_key(w, "layers_left_out");
	jw_arr(w);
	for (size_t i = 0; i < d->rec.nlayers_left_out; i++)
		jw_u64(w, d->rec.layers_left_out[i]);
	jw_arr_end(w);
	jw_kv_u64(w, "tensors_left_out", d->rec.tensors_left_out);
	jw_obj_end(w);
}
