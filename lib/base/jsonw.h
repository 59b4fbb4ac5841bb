/* A JSON writer with two spellings:
 *  - compact, escaping like serde_json (the safetensors header);
 *  - indented, escaping and spacing like Python's json.dumps(indent=N) with ensure_ascii,
 *    so index and config files look like the ones the Python tools write. */
#ifndef CKPT_JSONW_H
#define CKPT_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define JW_MAX_DEPTH 64

struct jw {
	struct buf *out;
	int indent;              /* 0: compact */
	bool ascii;              /* escape non-ASCII as \uXXXX (Python's ensure_ascii) */
	int depth;
	bool empty[JW_MAX_DEPTH];
	bool after_key;
};

void jw_init(struct jw *w, struct buf *out, int indent, bool ascii);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *k);
void jw_keyn(struct jw *w, const char *k, size_t n);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
/* Shortest round-trip spelling, as Python's repr(float); non-finite values become null. */
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A member: its key, then its value. */
void jw_kv_str(struct jw *w, const char *k, const char *v);
void jw_kv_u64(struct jw *w, const char *k, uint64_t v);
void jw_kv_i64(struct jw *w, const char *k, int64_t v);
void jw_kv_double(struct jw *w, const char *k, double v);
void jw_kv_bool(struct jw *w, const char *k, bool v);
/* A value spelled verbatim (e.g. a number kept as it was read). */
void jw_raw(struct jw *w, const char *s, size_t n);

/* A parsed value (lib/base/json.h) written again: keys and members in their order, numbers as
 * they were spelled, strings re-escaped.  Containers nested deeper than the writer allows
 * become null. */
struct json;
void jw_value(struct jw *w, const struct json *v);

/* Python repr() of a finite double into out (at least 32 bytes). */
void jw_fmt_double(double v, char *out);

#endif
