#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "readfile.h"

/* Nodes and strings live in an arena of chunks that never move. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

struct json_doc {
	struct chunk *chunks;
	struct json *root;
};

struct parser {
	struct json_doc *doc;
	const char *s;
	size_t len, pos;
	int flags;
	char *tmp;          /* scratch for decoding strings */
	size_t tmp_cap;
};

static void *arena_alloc(struct json_doc *d, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = d->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		c = xmalloc(sizeof *c + cap);
		c->next = d->chunks;
		c->used = 0;
		c->cap = cap;
		d->chunks = c;
	}
	void *p = c->mem + c->used;
	c->used += n;
	return p;
}

static char *arena_str(struct json_doc *d, const char *s, size_t n)
{
	char *p = arena_alloc(d, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
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

static void tmp_put(struct parser *p, size_t *n, const char *c, size_t k)
{
	if (*n + k > p->tmp_cap) {
		p->tmp_cap = (*n + k) * 2 + 64;
		p->tmp = xrealloc(p->tmp, p->tmp_cap);
	}
	memcpy(p->tmp + *n, c, k);
	*n += k;
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

/* At the opening quote; decodes into the arena. */
static int parse_string(struct parser *p, const char **out, size_t *out_len)
{
	size_t n = 0, start = p->pos;
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
			tmp_put(p, &n, p->s + p->pos, j - p->pos);
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
			tmp_put(p, &n, u, k);
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
		tmp_put(p, &n, &ch, 1);
	}
	*out = arena_str(p->doc, p->tmp ? p->tmp : "", n);
	*out_len = n;
	return 0;
}

static int parse_number(struct parser *p, struct json *v)
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
	v->type = JSON_NUMBER;
	v->s = arena_str(p->doc, s + p->pos, i - p->pos);
	v->len = i - p->pos;
	p->pos = i;
	return 0;
}

static int keycmp(const void *a, const void *b)
{
	const struct json *x = *(const struct json *const *)a, *y = *(const struct json *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int check_dups(struct parser *p, struct json *obj)
{
	if (obj->n < 2)
		return 0;
	struct json **v = xmalloc(obj->n * sizeof *v);
	size_t i = 0;
	for (struct json *k = obj->kid; k; k = k->next)
		v[i++] = k;
	qsort(v, obj->n, sizeof *v, keycmp);
	int rc = 0;
	for (i = 1; i < obj->n; i++)
		if (keycmp(&v[i - 1], &v[i]) == 0) {
			struct json *later = v[i]->key_begin > v[i - 1]->key_begin ? v[i] : v[i - 1];
			char q[ERR_QUOTE], what[ERR_QUOTE + 32];
			snprintf(what, sizeof what, "duplicate key %s", err_quoten(later->key, later->key_len, q));
			fail(p, later->key_begin, what);
			rc = -1;
			break;
		}
	free(v);
	return rc;
}

static int parse_value(struct parser *p, struct json *v, int depth);

static int parse_container(struct parser *p, struct json *v, int depth, char close)
{
	bool obj = close == '}';
	struct json **link = &v->kid;
	v->type = obj ? JSON_OBJECT : JSON_ARRAY;
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
		struct json *k = arena_alloc(p->doc, sizeof *k);
		memset(k, 0, sizeof *k);
		skip_ws(p);
		if (obj) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, p->pos, "expected a string key");
			k->key_begin = p->pos;
			if (parse_string(p, &k->key, &k->key_len))
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, p->pos, "expected ':'");
			p->pos++;
			skip_ws(p);
		}
		if (parse_value(p, k, depth + 1))
			return -1;
		*link = k;
		link = &k->next;
		v->n++;
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
		return check_dups(p, v);
	return 0;
}

static int literal(struct parser *p, const char *word, enum json_type t, struct json *v)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, p->pos, "expected a value");
	p->pos += n;
	v->type = t;
	return 0;
}

static int parse_value(struct parser *p, struct json *v, int depth)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, p->pos, "unexpected end of input");
	v->begin = p->pos;
	int rc;
	switch (p->s[p->pos]) {
	case '{': rc = parse_container(p, v, depth, '}'); break;
	case '[': rc = parse_container(p, v, depth, ']'); break;
	case '"':
		v->type = JSON_STRING;
		rc = parse_string(p, &v->s, &v->len);
		break;
	case 't': rc = literal(p, "true", JSON_TRUE, v); break;
	case 'f': rc = literal(p, "false", JSON_FALSE, v); break;
	case 'n': rc = literal(p, "null", JSON_NULL, v); break;
	default: rc = parse_number(p, v); break;
	}
	v->end = p->pos;
	return rc;
}

int json_parse(struct json_doc **out, const char *src, size_t len, int flags)
{
	struct json_doc *d = xcalloc(1, sizeof *d);
	struct parser p = {.doc = d, .s = src, .len = len, .flags = flags};
	size_t bad;
	*out = NULL;
	if (json_utf8_check(src, len, &bad)) {
		fail(&p, bad, "invalid UTF-8");
		goto fail;
	}
	d->root = arena_alloc(d, sizeof *d->root);
	memset(d->root, 0, sizeof *d->root);
	if (parse_value(&p, d->root, 0))
		goto fail;
	skip_ws(&p);
	if (p.pos != len) {
		fail(&p, p.pos, "trailing characters after the JSON value");
		goto fail;
	}
	free(p.tmp);
	*out = d;
	return 0;
fail:
	free(p.tmp);
	json_free(d);
	return -1;
}

const struct json *json_root(const struct json_doc *d) { return d->root; }

void json_free(struct json_doc *d)
{
	if (!d)
		return;
	for (struct chunk *c = d->chunks, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(d);
}

int json_load(struct json_doc **out, const char *path, int flags)
{
	struct buf text = {0};
	/* JSON side files are small; refuse the absurd rather than allocate it */
	if (file_read(path, (uint64_t)1 << 30, &text)) {
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
	size_t n = strlen(key);
	for (const struct json *k = obj->kid; k; k = k->next)
		if (k->key_len == n && memcmp(k->key, key, n) == 0)
			return k;
	return NULL;
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
			snprintf(out, JSON_WHAT, "the number %.30s...", v->s);
		else
			snprintf(out, JSON_WHAT, "%s", v->s);
		return out;
	default: return json_type_name(v->type);
	}
}

int json_u64(const struct json *v, uint64_t *out)
{
	if (!v || v->type != JSON_NUMBER || v->s[0] == '-')
		return -1;
	/* a fraction or exponent makes it no integer, however large */
	for (size_t i = 0; i < v->len; i++)
		if (v->s[i] < '0' || v->s[i] > '9')
			return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < v->len; i++)
		if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(v->s[i] - '0'), &x))
			return -2;
	*out = x;
	return 0;
}

int json_i64(const struct json *v, int64_t *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -1;
	bool neg = v->s[0] == '-';
	struct json pos = *v;
	pos.s += neg;
	pos.len -= neg;
	uint64_t u;
	int rc = json_u64(&pos, &u);
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
	errno = 0;
	char *end;
	double d = strtod(v->s, &end);
	if (end != v->s + v->len)
		return -1;
	if (errno == ERANGE && (d > 1 || d < -1))
		return -2;
	*out = d;
	return 0;
}
