#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nameset.h"
#include "readfile.h"

_Static_assert(sizeof(struct json) == 28, "a value takes 28 bytes (json.h)");
_Static_assert(JSON_MAX_TEXT < 1u << 29 && JSON_MAX_TEXT / 2 * 30ull < 1ull << 32,
	       "offsets, key lengths and the distance from a value to the text fit their fields");

struct json_doc {
	char *mem;              /* the text (decoded in place), then the values */
	size_t text_size;       /* bytes before the first value */
};

struct parser {
	const char *s;          /* the source, read */
	size_t len, pos;
	int flags;
	char *mem;              /* the document being built: its text copy is written */
	size_t text_size;
	uint32_t n, cap;        /* values */
};

/* Value i: an index, for the block moves while it grows. */
static struct json *node(const struct parser *p, uint32_t i)
{
	return (struct json *)(p->mem + p->text_size) + i;
}

static uint32_t new_node(struct parser *p)
{
	if (p->n == p->cap) {
		p->cap *= 2;
		p->mem = xrealloc(p->mem, p->text_size + (size_t)p->cap * sizeof(struct json));
	}
	struct json *v = node(p, p->n);
	memset(v, 0, sizeof *v);
	v->text_off = (uint32_t)(p->text_size + (size_t)p->n * sizeof *v);
	return p->n++;
}

static int fail(struct parser *p, size_t at, const char *what)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < at && i < p->len; i++) {
		if (p->s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return err_set("%s at line %zu column %zu", what, line, col);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

int json_utf8_check(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned cp, min;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			*bad = i;
			return -1;
		}
		if (len - i <= n) {
			*bad = i;
			return -1;
		}
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return -1;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return -1;
		}
		i += n + 1;
	}
	return 0;
}

/* Decoded bytes of a string into the document's text, at *w: never past the source bytes
 * they come from, so that each string lies where its source does. */
static void put(struct parser *p, size_t *w, const char *c, size_t k)
{
	memcpy(p->mem + *w, c, k);
	*w += k;
}

static int hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		if (p->pos >= p->len)
			return fail(p, p->pos, "truncated \\u escape");
		char c = p->s[p->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, p->pos - 1, "invalid \\u escape");
	}
	*out = v;
	return 0;
}

/* At the opening quote; decodes in place into the text copy, NUL-terminated. */
static int parse_string(struct parser *p, uint32_t *out_len)
{
	size_t start = p->pos, w = start + 1;
	p->pos++;
	for (;;) {
		if (p->pos >= p->len)
			return fail(p, start, "unterminated string");
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			char what[64];
			snprintf(what, sizeof what, "unescaped control character 0x%02x in string", c);
			return fail(p, p->pos, what);
		}
		if (c != '\\') {
			/* copy a run of plain bytes at once */
			size_t j = p->pos;
			while (j < p->len && p->s[j] != '"' && p->s[j] != '\\' && (unsigned char)p->s[j] >= 0x20)
				j++;
			put(p, &w, p->s + p->pos, j - p->pos);
			p->pos = j;
			continue;
		}
		p->pos++;
		if (p->pos >= p->len)
			return fail(p, start, "unterminated string");
		char e = p->s[p->pos++], ch;
		switch (e) {
		case '"': ch = '"'; break;
		case '\\': ch = '\\'; break;
		case '/': ch = '/'; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(p, &cp))
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(p, p->pos - 6, "lone low surrogate in \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
					return fail(p, p->pos - 6, "lone high surrogate in \\u escape");
				p->pos += 2;
				if (hex4(p, &lo))
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(p, p->pos - 6, "invalid surrogate pair in \\u escape");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			char u[4];
			size_t k;
			if (cp < 0x80) {
				u[0] = (char)cp; k = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); k = 2;
			} else if (cp < 0x10000) {
				u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f)); k = 3;
			} else {
				u[0] = (char)(0xf0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
				u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); k = 4;
			}
			put(p, &w, u, k);
			continue;
		}
		default: {
			char what[64];
			if ((unsigned char)e > 0x20 && (unsigned char)e < 0x7f)
				snprintf(what, sizeof what, "invalid escape \\%c in string", e);
			else
				snprintf(what, sizeof what, "invalid escape in string (byte 0x%02x after \\)",
					 (unsigned char)e);
			return fail(p, p->pos - 2, what);
		}
		}
		put(p, &w, &ch, 1);
	}
	p->mem[w] = 0;
	*out_len = (uint32_t)(w - start - 1);
	return 0;
}

static int parse_number(struct parser *p, uint32_t vi)
{
	size_t i = p->pos;
	const char *s = p->s;
	if (i < p->len && s[i] == '-')
		i++;
	if (i >= p->len || s[i] < '0' || s[i] > '9')
		return fail(p, p->pos, i > p->pos ? "invalid number: no digit after '-'" : "expected a value");
	if (s[i] == '0') {
		i++;
		if (i < p->len && s[i] >= '0' && s[i] <= '9')
			return fail(p, i - 1, "invalid number: leading zero");
	} else {
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->len && s[i] == '.') {
		i++;
		if (i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(p, i, "invalid number: no digit after the decimal point");
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(p, i, "invalid number: no digit in the exponent");
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	struct json *v = node(p, vi);
	v->type = JSON_NUMBER;
	v->len = (uint32_t)(i - p->pos);
	memcpy(p->mem + p->pos, s + p->pos, i - p->pos);
	p->mem[i] = 0; /* over a separator, or the byte after the end */
	p->pos = i;
	return 0;
}

struct members {
	const struct parser *p;
	uint32_t *v;
};

static const char *member_name(const void *items, size_t i, size_t *len)
{
	const struct members *m = items;
	const struct json *k = node(m->p, m->v[i]);
	*len = k->key_len;
	return m->p->mem + k->key_begin + 1;
}

static int dup_at(struct parser *p, const struct json *later)
{
	char q[ERR_QUOTE], what[ERR_QUOTE + 32];
	snprintf(what, sizeof what, "duplicate key %s",
		 err_quoten(p->mem + later->key_begin + 1, later->key_len, q));
	return fail(p, later->key_begin, what);
}

/* The members of object oi, in order: none may share a name.  Linear in their number. */
static int check_dups(struct parser *p, uint32_t oi)
{
	uint32_t n = node(p, oi)->n;
	if (n < 2)
		return 0;
	struct members m = {p, xmalloc(n * sizeof *m.v)};
	struct nameset set;
	int rc = 0;
	m.v[0] = oi + 1;
	for (uint32_t i = 1; i < n; i++)
		m.v[i] = m.v[i - 1] + node(p, m.v[i - 1])->next_off;
	nameset_init(&set, n, member_name, &m);
	for (uint32_t i = 0; i < n && !rc; i++)
		if (nameset_add(&set, i) >= 0)
			rc = dup_at(p, node(p, m.v[i]));
	nameset_free(&set);
	free(m.v);
	return rc;
}

static int parse_value(struct parser *p, uint32_t vi, int depth);

static int parse_container(struct parser *p, uint32_t vi, int depth, char close)
{
	bool obj = close == '}';
	uint32_t prev = 0;
	node(p, vi)->type = obj ? JSON_OBJECT : JSON_ARRAY;
	/* serde_json counts the outermost container too: the 128th nested one fails */
	if (depth + 1 >= JSON_MAX_DEPTH)
		return fail(p, p->pos, "more than 127 nested arrays and objects");
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		uint32_t k = new_node(p);
		skip_ws(p);
		if (obj) {
			uint32_t key_len;
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, p->pos, "expected a string key");
			node(p, k)->key_begin = (uint32_t)p->pos;
			if (parse_string(p, &key_len))
				return -1;
			node(p, k)->key_len = key_len;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, p->pos, "expected ':'");
			p->pos++;
			skip_ws(p);
		}
		if (parse_value(p, k, depth + 1))
			return -1;
		if (prev)
			node(p, prev)->next_off = k - prev;
		prev = k;
		node(p, vi)->n++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			break;
		}
		return fail(p, p->pos, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	if (obj && !(p->flags & JSON_KEEP_DUPS))
		return check_dups(p, vi);
	return 0;
}

static int literal(struct parser *p, const char *word, enum json_type t, uint32_t vi)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, p->pos, "expected a value");
	p->pos += n;
	node(p, vi)->type = t;
	return 0;
}

static int parse_value(struct parser *p, uint32_t vi, int depth)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, p->pos, "unexpected end of input");
	node(p, vi)->begin = (uint32_t)p->pos;
	int rc;
	switch (p->s[p->pos]) {
	case '{': rc = parse_container(p, vi, depth, '}'); break;
	case '[': rc = parse_container(p, vi, depth, ']'); break;
	case '"': {
		uint32_t len;
		node(p, vi)->type = JSON_STRING;
		rc = parse_string(p, &len);
		node(p, vi)->len = len;
		break;
	}
	case 't': rc = literal(p, "true", JSON_TRUE, vi); break;
	case 'f': rc = literal(p, "false", JSON_FALSE, vi); break;
	case 'n': rc = literal(p, "null", JSON_NULL, vi); break;
	default: rc = parse_number(p, vi); break;
	}
	node(p, vi)->end = (uint32_t)p->pos;
	return rc;
}

int json_parse(struct json_doc **out, const char *src, size_t len, int flags)
{
	struct parser p = {.s = src, .len = len, .flags = flags};
	size_t bad;
	*out = NULL;
	if (len > JSON_MAX_TEXT)
		return err_set("text of %zu bytes is more than the %u MiB the JSON reader takes", len,
			       JSON_MAX_TEXT >> 20);
	if (json_utf8_check(src, len, &bad))
		return fail(&p, bad, "invalid UTF-8");
	/* room for a value per 16 bytes of text to start with: real documents need less */
	p.text_size = (len + 1 + 7) & ~(size_t)7;
	p.cap = (uint32_t)(len / 16 + 16);
	p.mem = xmalloc(p.text_size + (size_t)p.cap * sizeof(struct json));
	new_node(&p);
	if (parse_value(&p, 0, 0))
		goto fail;
	skip_ws(&p);
	if (p.pos != len) {
		fail(&p, p.pos, "trailing characters after the JSON value");
		goto fail;
	}
	struct json_doc *d = xmalloc(sizeof *d);
	d->text_size = p.text_size;
	d->mem = xrealloc(p.mem, p.text_size + (size_t)p.n * sizeof(struct json));
	*out = d;
	return 0;
fail:
	free(p.mem);
	return -1;
}

const struct json *json_root(const struct json_doc *d) { return (const struct json *)(d->mem + d->text_size); }

void json_free(struct json_doc *d)
{
	if (!d)
		return;
	free(d->mem);
	free(d);
}

int json_load(struct json_doc **out, const char *path, int flags)
{
	struct buf text = {0};
	if (file_read(path, JSON_MAX_FILE, "a JSON file", &text)) {
		buf_free(&text);
		return -1;
	}
	int rc = json_parse(out, text.p, text.len, flags);
	buf_free(&text);
	if (rc)
		return err_prefix("%s: invalid JSON: ", path);
	return 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json *k = json_kid(obj); k; k = json_next(k))
		if (json_key_is(k, key))
			return k;
	return NULL;
}

bool json_key_is(const struct json *k, const char *name)
{
	size_t n = strlen(name);
	return k->key_begin && k->key_len == n && memcmp(json_key(k), name, n) == 0;
}

const char *json_type_name(enum json_type t)
{
	static const char *names[] = {"null", "false", "true", "number", "string", "array", "object"};
	return names[t];
}

const char *json_what(const struct json *v, char *out)
{
	switch (v->type) {
	case JSON_STRING: return "a string";
	case JSON_ARRAY: return "an array";
	case JSON_OBJECT: return "an object";
	case JSON_NUMBER:
		if (v->len > 40)
			snprintf(out, JSON_WHAT, "the number %.30s...", json_str(v));
		else
			snprintf(out, JSON_WHAT, "%s", json_str(v));
		return out;
	default: return json_type_name(v->type);
	}
}

/* The digits s[0..n) as an integer: 0, -1 when not all digits, -2 when over 64 bits. */
static int digits_u64(const char *s, size_t n, uint64_t *out)
{
	/* a fraction or exponent makes it no integer, however large */
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(s[i] - '0'), &x))
			return -2;
	*out = x;
	return 0;
}

int json_u64(const struct json *v, uint64_t *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -1;
	const char *s = json_str(v);
	return s[0] == '-' ? -1 : digits_u64(s, v->len, out);
}

int json_i64(const struct json *v, int64_t *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -1;
	const char *s = json_str(v);
	bool neg = s[0] == '-';
	uint64_t u;
	int rc = digits_u64(s + neg, v->len - neg, &u);
	if (rc)
		return rc;
	if (u > (uint64_t)INT64_MAX + neg)
		return -2;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

int json_double(const struct json *v, double *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -1;
	const char *s = json_str(v);
	errno = 0;
	char *end;
	double d = strtod(s, &end);
	if (end != s + v->len)
		return -1;
	if (errno == ERANGE && (d > 1 || d < -1))
		return -2;
	*out = d;
	return 0;
}
