#include "jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void jw_init(struct jw *w, struct buf *out, int indent, bool ascii)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->indent = indent;
	w->ascii = ascii;
}

static void newline(struct jw *w)
{
	buf_addc(w->out, '\n');
	for (int i = 0; i < w->depth * w->indent; i++)
		buf_addc(w->out, ' ');
}

/* Separator and indentation before a value or key at the current depth. */
static void before_item(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	if (!w->empty[w->depth])
		buf_addc(w->out, ',');
	w->empty[w->depth] = false;
	if (w->indent)
		newline(w);
}

static void open_container(struct jw *w, char c)
{
	before_item(w);
	buf_addc(w->out, c);
	w->depth++;
	w->empty[w->depth] = true;
}

static void close_container(struct jw *w, char c)
{
	bool was_empty = w->empty[w->depth];
	w->depth--;
	if (w->indent && !was_empty)
		newline(w);
	buf_addc(w->out, c);
}

void jw_obj(struct jw *w) { open_container(w, '{'); }
void jw_obj_end(struct jw *w) { close_container(w, '}'); }
void jw_arr(struct jw *w) { open_container(w, '['); }
void jw_arr_end(struct jw *w) { close_container(w, ']'); }

static void put_u(struct buf *b, unsigned cp)
{
	buf_printf(b, "\\u%04x", cp);
}

static void string(struct jw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_addc(w->out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned c = p[i];
		switch (c) {
		case '"': buf_adds(w->out, "\\\""); continue;
		case '\\': buf_adds(w->out, "\\\\"); continue;
		case '\n': buf_adds(w->out, "\\n"); continue;
		case '\r': buf_adds(w->out, "\\r"); continue;
		case '\t': buf_adds(w->out, "\\t"); continue;
		case '\b': buf_adds(w->out, "\\b"); continue;
		case '\f': buf_adds(w->out, "\\f"); continue;
		}
		if (c < 0x20 || (w->ascii && c == 0x7f)) {
			put_u(w->out, c);
			continue;
		}
		if (c < 0x80 || !w->ascii) {
			buf_addc(w->out, (char)c);
			continue;
		}
		/* ensure_ascii: decode one UTF-8 sequence (input is valid UTF-8) */
		size_t k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
		unsigned cp = c & (0x3f >> k);
		for (size_t j = 1; j <= k && i + j < n; j++)
			cp = (cp << 6) | (p[i + j] & 0x3f);
		i += k;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put_u(w->out, 0xd800 + (cp >> 10));
			put_u(w->out, 0xdc00 + (cp & 0x3ff));
		} else {
			put_u(w->out, cp);
		}
	}
	buf_addc(w->out, '"');
}

void jw_keyn(struct jw *w, const char *k, size_t n)
{
	before_item(w);
	string(w, k, n);
	buf_adds(w->out, w->indent ? ": " : ":");
	w->after_key = true;
}

void jw_key(struct jw *w, const char *k) { jw_keyn(w, k, strlen(k)); }

void jw_strn(struct jw *w, const char *s, size_t n)
{
	before_item(w);
	string(w, s, n);
}

void jw_str(struct jw *w, const char *s) { jw_strn(w, s, strlen(s)); }

void jw_raw(struct jw *w, const char *s, size_t n)
{
	before_item(w);
	buf_add(w->out, s, n);
}

void jw_u64(struct jw *w, uint64_t v)
{
	before_item(w);
	buf_printf(w->out, "%" PRIu64, v);
}

void jw_i64(struct jw *w, int64_t v)
{
	before_item(w);
	buf_printf(w->out, "%" PRId64, v);
}

void jw_bool(struct jw *w, bool v)
{
	before_item(w);
	buf_adds(w->out, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	before_item(w);
	buf_adds(w->out, "null");
}

void jw_fmt_double(double v, char *out)
{
	char e[40];
	int prec;
	/* the fewest significant digits that read back as the same double */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e is "-d.ddde[+-]XX": split digits and exponent */
	char digits[24];
	size_t nd = 0;
	const char *p = e;
	bool neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	int exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	char *o = out;
	if (neg)
		*o++ = '-';
	if (exp >= -4 && exp < 16) {
		if (exp < 0) {
			*o++ = '0';
			*o++ = '.';
			for (int i = -1; i > exp; i--)
				*o++ = '0';
			memcpy(o, digits, nd);
			o += nd;
		} else {
			for (int i = 0; i <= exp; i++)
				*o++ = (size_t)i < nd ? digits[i] : '0';
			*o++ = '.';
			if ((size_t)exp + 1 < nd) {
				memcpy(o, digits + exp + 1, nd - (size_t)exp - 1);
				o += nd - (size_t)exp - 1;
			} else {
				*o++ = '0';
			}
		}
		*o = 0;
	} else {
		*o++ = digits[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, nd - 1);
			o += nd - 1;
		}
		sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	}
}

void jw_double(struct jw *w, double v)
{
	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	char s[40];
	jw_fmt_double(v, s);
	before_item(w);
	buf_adds(w->out, s);
}

void jw_value(struct jw *w, const struct json *v)
{
	switch (v->type) {
	case JSON_NULL: jw_null(w); return;
	case JSON_FALSE: jw_bool(w, false); return;
	case JSON_TRUE: jw_bool(w, true); return;
	case JSON_NUMBER: jw_raw(w, json_str(v), v->len); return;
	case JSON_STRING: jw_strn(w, json_str(v), v->len); return;
	case JSON_ARRAY:
	case JSON_OBJECT:
		break;
	}
	if (w->depth + 1 >= JW_MAX_DEPTH) {
		jw_null(w);
		return;
	}
	bool obj = v->type == JSON_OBJECT;
	obj ? jw_obj(w) : jw_arr(w);
	for (const struct json *k = json_kid(v); k; k = json_next(k)) {
		if (obj)
			jw_keyn(w, json_key(k), k->key_len);
		jw_value(w, k);
	}
	obj ? jw_obj_end(w) : jw_arr_end(w);
}

void jw_kv_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void jw_kv_u64(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_u64(w, v);
}

void jw_kv_i64(struct jw *w, const char *k, int64_t v)
{
	jw_key(w, k);
	jw_i64(w, v);
}

void jw_kv_double(struct jw *w, const char *k, double v)
{
	jw_key(w, k);
	jw_double(w, v);
}

void jw_kv_bool(struct jw *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}
