#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "held.h"
#include "json.h"
#include "jsonw.h"
#include "filemap.h"
#include "readfile.h"
#include "nameset.h"

_Static_assert(ST_MAX_HEADER <= JSON_MAX_TEXT, "the JSON reader must take every header");

struct st_priv {
	char *text;              /* tensor names and metadata strings, NUL-terminated (the
				    header's JSON tree is freed once read) */
	uint64_t *dims;
	struct nameset names;    /* of f->t */
	struct nameset keys;     /* of f->meta */
	size_t map_len;
	uint64_t held;           /* header bytes counted as held (lib/base/held.h) */
};

static const char *tensor_name(const void *items, size_t i, size_t *len)
{
	const char *s = ((const struct st_tensor *)items)[i].name;
	*len = strlen(s);
	return s;
}

static const char *meta_key(const void *items, size_t i, size_t *len)
{
	const char *s = ((const struct st_meta *)items)[i].key;
	*len = strlen(s);
	return s;
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	long i = nameset_find(&f->priv->names, name, strlen(name));
	return i < 0 ? NULL : &f->t[i];
}

const char *st_meta_get(const struct st_file *f, const char *key)
{
	long i = nameset_find(&f->priv->keys, key, strlen(key));
	return i < 0 ? NULL : f->meta[i].value;
}

/* A string of the header into the file's own text. */
static const char *keep(char **w, const char *s, size_t n)
{
	char *r = *w;
	memcpy(r, s, n);
	r[n] = 0;
	*w += n + 1;
	return r;
}

const char *st_shape_str(unsigned ndim, const uint64_t *shape, char *out, size_t size)
{
	size_t o = 0;
	o += (size_t)snprintf(out, size, "[");
	for (unsigned i = 0; i < ndim && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, i ? ", %" PRIu64 : "%" PRIu64, shape[i]);
	if (o < size)
		snprintf(out + o, size - o, "]");
	return out;
}

static int parse_metadata(struct st_file *f, const char *path, const struct json *m, char **w)
{
	char q[ERR_QUOTE], wh[JSON_WHAT];
	if (m->type == JSON_NULL)
		return 0; /* the reference reads null as "no metadata" */
	if (m->type != JSON_OBJECT)
		return err_set("%s: __metadata__ is %s, not a map of strings", path, json_what(m, wh));
	f->has_meta = true;
	f->meta = xcalloc(m->n, sizeof *f->meta);
	nameset_init(&f->priv->keys, m->n, meta_key, f->meta);
	for (const struct json *k = json_kid(m); k; k = json_next(k)) {
		const char *key = json_key(k), *kq = err_quoten(key, k->key_len, q);
		if (k->type != JSON_STRING)
			return err_set("%s: __metadata__ value for %s is %s, not a string", path, kq,
				       json_what(k, wh));
		/* C strings would silently cut these short */
		if (strlen(key) != k->key_len)
			return err_set("%s: __metadata__ key %s contains a NUL character", path, kq);
		if (strlen(json_str(k)) != k->len)
			return err_set("%s: __metadata__ value for %s contains a NUL character", path, kq);
		f->meta[f->nmeta].key = keep(w, key, k->key_len);
		f->meta[f->nmeta].value = keep(w, json_str(k), k->len);
		if (nameset_add(&f->priv->keys, f->nmeta) >= 0)
			return err_set("%s: __metadata__ has a duplicate key %s", path, kq);
		f->nmeta++;
	}
	return 0;
}

static int field_once(const char *path, const char *tq, const struct json **slot,
		      const struct json *v, const char *name)
{
	if (*slot)
		return err_set("%s: tensor %s: duplicate field \"%s\"", path, tq, name);
	*slot = v;
	return 0;
}

/* One of data_offsets' two numbers. */
static int offset(const char *path, const char *tq, const struct json *v, const char *which,
		  uint64_t *out)
{
	char w[JSON_WHAT];
	int rc = json_u64(v, out);
	if (rc == -2)
		return err_set("%s: tensor %s: data_offsets %s %s does not fit in 64 bits", path, tq, which,
			       json_what(v, w));
	if (rc)
		return err_set("%s: tensor %s: data_offsets %s is %s, not a non-negative integer", path, tq,
			       which, json_what(v, w));
	return 0;
}

/* dtype, shape and data_offsets of one tensor entry; other fields are ignored, as the
 * reference ignores them. */
static int parse_tensor(const char *path, const struct json *e,
			struct st_tensor *t, uint64_t **dims)
{
	char tq[ERR_QUOTE], sh[ST_SHAPE_LEN], w[JSON_WHAT];
	const struct json *dtype = NULL, *shape = NULL, *offs = NULL;
	err_quote(t->name, tq);
	/* (the reference would also take a [dtype, shape, data_offsets] array; nobody writes one) */
	if (e->type != JSON_OBJECT)
		return err_set("%s: tensor %s: entry is %s, not an object", path, tq, json_what(e, w));
	/* keys compared with their lengths: "shape\u0000" is an unknown field, as in the
	 * reference, not a second shape (tests/fuzz/fuzz_st found the overflow that made) */
	for (const struct json *k = json_kid(e); k; k = json_next(k)) {
		int rc = 0;
		if (json_key_is(k, "dtype"))
			rc = field_once(path, tq, &dtype, k, "dtype");
		else if (json_key_is(k, "shape"))
			rc = field_once(path, tq, &shape, k, "shape");
		else if (json_key_is(k, "data_offsets"))
			rc = field_once(path, tq, &offs, k, "data_offsets");
		if (rc)
			return rc;
	}
	if (!dtype)
		return err_set("%s: tensor %s: missing \"dtype\"", path, tq);
	if (!shape)
		return err_set("%s: tensor %s: missing \"shape\"", path, tq);
	if (!offs)
		return err_set("%s: tensor %s: missing \"data_offsets\"", path, tq);
	if (dtype->type != JSON_STRING)
		return err_set("%s: tensor %s: dtype is %s, not a string", path, tq, json_what(dtype, w));
	if (dt_parse(json_str(dtype), dtype->len, &t->dtype)) {
		char dq[ERR_QUOTE];
		return err_set("%s: tensor %s: unknown dtype %s", path, tq, err_quoten(json_str(dtype), dtype->len, dq));
	}
	if (shape->type != JSON_ARRAY)
		return err_set("%s: tensor %s: shape is %s, not an array", path, tq, json_what(shape, w));
	if (shape->n > ST_MAX_DIMS)
		return err_set("%s: tensor %s: %zu dimensions, more than the %d this tool reads", path, tq,
			       (size_t)shape->n, ST_MAX_DIMS);
	t->ndim = (unsigned)shape->n;
	t->shape = *dims;
	unsigned d = 0;
	for (const struct json *k = json_kid(shape); k; k = json_next(k), d++) {
		int rc = json_u64(k, &(*dims)[d]);
		if (rc == -2)
			return err_set("%s: tensor %s: shape dimension %u (%s) does not fit in 64 bits", path, tq,
				       d, json_what(k, w));
		if (rc)
			return err_set("%s: tensor %s: shape dimension %u is %s, not a non-negative integer",
				       path, tq, d, json_what(k, w));
	}
	*dims += t->ndim;
	if (offs->type != JSON_ARRAY)
		return err_set("%s: tensor %s: data_offsets is %s, not an array [begin, end]", path, tq,
			       json_what(offs, w));
	if (offs->n != 2)
		return err_set("%s: tensor %s: data_offsets has %zu element%s, not two [begin, end]", path, tq,
			       (size_t)offs->n, offs->n == 1 ? "" : "s");
	if (offset(path, tq, json_kid(offs), "begin", &t->begin) ||
	    offset(path, tq, json_next(json_kid(offs)), "end", &t->end))
		return -1;
	if (t->end < t->begin)
		return err_set("%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
			       path, tq, t->begin, t->end);
	t->nelem = 1;
	for (unsigned i = 0; i < t->ndim; i++)
		if (__builtin_mul_overflow(t->nelem, t->shape[i], &t->nelem))
			return err_set("%s: tensor %s: element count of shape %s overflows 64 bits", path, tq,
				       st_shape_str(t->ndim, t->shape, sh, sizeof sh));
	/* the reference counts bits in 64 bits: its limit is 2^64 bits, not bytes */
	uint64_t bits, need;
	if (__builtin_mul_overflow(t->nelem, (uint64_t)dt_bits(t->dtype), &bits))
		return err_set("%s: tensor %s: size of %" PRIu64 " elements of %s overflows 64 bits (counted in bits)",
			       path, tq, t->nelem, dt_name(t->dtype));
	if (bits % 8)
		return err_set("%s: tensor %s: %" PRIu64 " elements of %s do not fill whole bytes", path, tq,
			       t->nelem, dt_name(t->dtype));
	need = bits / 8;
	if (t->end - t->begin != need)
		return err_set("%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
			       " bytes but shape %s of %s needs %" PRIu64, path, tq, t->begin, t->end,
			       t->end - t->begin, st_shape_str(t->ndim, t->shape, sh, sizeof sh),
			       dt_name(t->dtype), need);
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int check_layout(struct st_file *f, const char *path)
{
	char q1[ERR_QUOTE], q2[ERR_QUOTE];
	uint64_t pos = 0, data_len = f->size - 8 - f->header_len;
	qsort(f->t, f->n, sizeof *f->t, by_offset);
	for (size_t i = 0; i < f->n; i++) {
		const struct st_tensor *t = &f->t[i];
		if (t->begin < pos)
			return err_set("%s: tensor %s: data [%" PRIu64 ", %" PRIu64 ") overlaps tensor %s [%" PRIu64
				       ", %" PRIu64 ")", path, err_quote(t->name, q1), t->begin, t->end,
				       err_quote(f->t[i - 1].name, q2), f->t[i - 1].begin, f->t[i - 1].end);
		if (t->begin > pos) {
			if (i == 0)
				return err_set("%s: tensor %s: data begins at byte %" PRIu64
					       ", leaving a hole at the start of the data section", path,
					       err_quote(t->name, q1), t->begin);
			return err_set("%s: tensor %s: data begins at byte %" PRIu64 ", leaving a hole of %" PRIu64
				       " bytes after tensor %s", path, err_quote(t->name, q1), t->begin,
				       t->begin - pos, err_quote(f->t[i - 1].name, q2));
		}
		pos = t->end;
	}
	if (pos > data_len)
		return err_set("%s: file is truncated: the header describes %" PRIu64
			       " bytes of tensor data, the file holds %" PRIu64, path, pos, data_len);
	if (pos < data_len && f->n == 0)
		return err_set("%s: %" PRIu64 " bytes of data, but the header lists no tensors", path, data_len);
	if (pos < data_len)
		return err_set("%s: %" PRIu64 " bytes after the last tensor's data belong to no tensor",
			       path, data_len - pos);
	return 0;
}

/* The header's JSON tree into f: tensors, their shapes, metadata (copied: the tree goes). */
static int read_tree(struct st_file *f, const char *path, const struct json *root)
{
	char q[ERR_QUOTE], w[JSON_WHAT];
	struct st_priv *p = f->priv;
	if (root->type != JSON_OBJECT)
		return err_set("%s: header is %s, not a JSON object", path, json_what(root, w));
	size_t ntensors = 0, ndims = 0, ntext = 0;
	const struct json *meta = NULL;
	for (const struct json *k = json_kid(root); k; k = json_next(k)) {
		if (json_key_is(k, "__metadata__")) {
			if (meta)
				return err_set("%s: duplicate key \"__metadata__\"", path);
			meta = k;
			for (const struct json *m = k->type == JSON_OBJECT ? json_kid(k) : NULL; m; m = json_next(m))
				ntext += m->key_len + 1 + (m->type == JSON_STRING ? m->len + 1 : 0);
			continue;
		}
		if (strlen(json_key(k)) != k->key_len)
			return err_set("%s: tensor name %s contains a NUL character", path,
				       err_quoten(json_key(k), k->key_len, q));
		ntensors++;
		ntext += k->key_len + 1;
		/* room for every member parse_tensor could take as the shape */
		for (const struct json *m = k->type == JSON_OBJECT ? json_kid(k) : NULL; m; m = json_next(m))
			if (json_key_is(m, "shape") && m->type == JSON_ARRAY)
				ndims += m->n;
	}
	if (ntensors > UINT32_MAX - 1)
		return err_set("%s: too many tensors", path);
	char *text = p->text = xmalloc(ntext ? ntext : 1);
	if (meta && parse_metadata(f, path, meta, &text))
		return -1;
	f->t = xcalloc(ntensors, sizeof *f->t);
	p->dims = xcalloc(ndims, sizeof *p->dims);
	nameset_init(&p->names, ntensors, tensor_name, f->t);
	uint64_t *dims = p->dims;
	for (const struct json *k = json_kid(root); k; k = json_next(k)) {
		if (k == meta)
			continue;
		struct st_tensor *t = &f->t[f->n];
		t->name = keep(&text, json_key(k), k->key_len);
		if (nameset_add(&p->names, f->n) >= 0)
			return err_set("%s: duplicate tensor name %s", path, err_quote(t->name, q));
		f->n++;
		if (parse_tensor(path, k, t, &dims))
			return -1;
	}
	if (check_layout(f, path))
		return -1;
	/* sorting moved the tensors: the names again */
	nameset_clear(&p->names);
	for (size_t i = 0; i < f->n; i++)
		nameset_add(&p->names, i);
	return 0;
}

static int parse(struct st_file *f, const char *path, const uint8_t *buf, size_t avail)
{
	if (f->size < 8)
		return err_set("%s: file is %" PRIu64 " bytes, too short for the 8-byte header length",
			       path, f->size);
	/* a caller that read less than the length field (st_parse) must not be read past */
	if (avail < 8)
		return err_set("%s: only %zu bytes of the 8-byte header length were read", path, avail);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | buf[i];
	/* a length no header has: the file is something else (text, a pickle, a zip: their
	 * first bytes read as a length of petabytes); a Git LFS pointer is named, being what
	 * a clone without git-lfs leaves in place of every shard */
	static const char lfs[] = "version https://git-lfs";
	if (n > ST_MAX_HEADER && avail >= sizeof lfs - 1 && memcmp(buf, lfs, sizeof lfs - 1) == 0)
		return err_set("%s: not a safetensors file but a Git LFS pointer to one (git lfs pull fetches it)", path);
	if (n > ST_MAX_HEADER)
		return err_set("%s: not a safetensors file (header length %" PRIu64 " is over the limit of %llu bytes)",
			       path, n, ST_MAX_HEADER);
	if (8 + n > f->size)
		return err_set("%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)",
			       path, n, f->size);
	if (avail < 8 + n)
		return err_set("%s: only %zu bytes of the %" PRIu64 "-byte header were read", path, avail, 8 + n);
	f->header_len = n;
	const char *h = (const char *)buf + 8;
	size_t bad;
	if (json_utf8_check(h, n, &bad))
		return err_set("%s: header is not valid UTF-8 (byte %zu of the header)", path, bad);
	/* before the tree is built: what it takes for a while is a multiple of n */
	if (held_take(path, "header", n))
		return -1;
	f->priv->held = n;
	struct json_doc *doc;
	if (json_parse(&doc, h, n, JSON_KEEP_DUPS))
		return err_prefix("%s: header is not valid JSON: ", path);
	int rc = read_tree(f, path, json_root(doc));
	json_free(doc);
	return rc;
}

static struct st_file *new_file(const char *path, uint64_t size)
{
	struct st_file *f = xcalloc(1, sizeof *f);
	f->priv = xcalloc(1, sizeof *f->priv);
	f->path = xstrdup(path);
	f->size = size;
	return f;
}

int st_parse(struct st_file **out, const char *name, const uint8_t *buf, size_t avail,
	     uint64_t file_size)
{
	struct st_file *f = new_file(name, file_size);
	*out = NULL;
	if (parse(f, name, buf, avail)) {
		st_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

int st_open(struct st_file **out, const char *path)
{
	*out = NULL;
	struct stat sb;
	int fd = file_open(path, 0, &sb);
	if (fd < 0)
		return -1;
	struct st_file *f = new_file(path, (uint64_t)sb.st_size);
	if (f->size >= 8) {
		const void *m = map_file(fd, (size_t)f->size, path);
		if (!m) {
			close(fd);
			st_close(f);
			return -1;
		}
		f->map = m;
		f->priv->map_len = (size_t)f->size;
	}
	close(fd);
	if (parse(f, path, f->map, (size_t)f->size)) {
		st_close(f);
		return -1;
	}
	f->data = f->map + 8 + f->header_len;
	/* the header is read: its pages need not stay in the process while the file is open
	 * (they are read again from the file if touched) */
	size_t page = (size_t)sysconf(_SC_PAGESIZE), whole = (8 + f->header_len) / page * page;
	if (whole)
		madvise((void *)f->map, whole, MADV_DONTNEED);
	*out = f;
	return 0;
}

void st_close(struct st_file *f)
{
	if (!f)
		return;
	if (f->map)
		unmap_file(f->map, f->priv->map_len);
	held_give(f->priv->held);
	free(f->priv->text);
	free(f->priv->dims);
	nameset_free(&f->priv->names);
	nameset_free(&f->priv->keys);
	free(f->priv);
	free(f->meta);
	free(f->t);
	free(f->path);
	free(f);
}

/* ---- writing ---- */

struct sort_ctx {
	const struct st_entry *e;
	size_t i;
};

static int by_dtype_then_name(const void *a, const void *b)
{
	const struct sort_ctx *x = a, *y = b;
	if (x->e->dtype != y->e->dtype)
		return x->e->dtype > y->e->dtype ? -1 : 1;
	return strcmp(x->e->name, y->e->name);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_unique(const struct st_entry *e, size_t n)
{
	const char **names = xcalloc(n, sizeof *names);
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		names[i] = e[i].name;
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 1; i < n && !rc; i++)
		if (strcmp(names[i - 1], names[i]) == 0) {
			char q[ERR_QUOTE];
			rc = err_set("duplicate tensor name %s", err_quote(names[i], q));
		}
	free(names);
	return rc;
}

static void header_entry(struct jw *w, const struct st_entry *t, uint64_t begin, uint64_t end)
{
	jw_key(w, t->name);
	jw_obj(w);
	jw_kv_str(w, "dtype", dt_name(t->dtype));
	jw_key(w, "shape");
	jw_arr(w);
	for (unsigned d = 0; d < t->ndim; d++)
		jw_u64(w, t->shape[d]);
	jw_arr_end(w);
	jw_key(w, "data_offsets");
	jw_arr(w);
	jw_u64(w, begin);
	jw_u64(w, end);
	jw_arr_end(w);
	jw_obj_end(w);
}

int st_layout(struct st_layout *L, const struct st_entry *e, size_t n,
	      const struct st_meta *meta, size_t nmeta)
{
	memset(L, 0, sizeof *L);
	if (check_unique(e, n))
		return -1;
	struct sort_ctx *s = xcalloc(n, sizeof *s);
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sort_ctx){&e[i], i};
	qsort(s, n, sizeof *s, by_dtype_then_name);
	L->n = n;
	L->order = xcalloc(n, sizeof *L->order);
	L->begin = xcalloc(n, sizeof *L->begin);
	L->nbytes = xcalloc(n, sizeof *L->nbytes);
	char q[ERR_QUOTE];
	struct buf b = {0};
	struct jw w;
	buf_add(&b, "\0\0\0\0\0\0\0\0", 8);
	jw_init(&w, &b, 0, false);
	jw_obj(&w);
	if (meta) {
		jw_key(&w, "__metadata__");
		jw_obj(&w);
		for (size_t i = 0; i < nmeta; i++) {
			jw_kv_str(&w, meta[i].key, meta[i].value);
		}
		jw_obj_end(&w);
	}
	uint64_t off = 0;
	for (size_t k = 0; k < n; k++) {
		const struct st_entry *t = s[k].e;
		size_t i = s[k].i;
		uint64_t nelem = 1, nb;
		if (t->ndim > ST_MAX_DIMS) {
			err_set("tensor %s: %u dimensions, more than the %d this tool writes", err_quote(t->name, q),
				t->ndim, ST_MAX_DIMS);
			goto fail;
		}
		for (unsigned d = 0; d < t->ndim; d++)
			if (__builtin_mul_overflow(nelem, t->shape[d], &nelem)) {
				err_set("tensor %s: element count overflows 64 bits", err_quote(t->name, q));
				goto fail;
			}
		int rc = dt_nbytes(t->dtype, nelem, &nb);
		if (rc == -2) {
			err_set("tensor %s: %" PRIu64 " elements of %s do not fill whole bytes",
				err_quote(t->name, q), nelem, dt_name(t->dtype));
			goto fail;
		}
		if (rc || off + nb < off) {
			err_set("tensor %s: byte size overflows 64 bits", err_quote(t->name, q));
			goto fail;
		}
		L->order[k] = i;
		L->begin[i] = off;
		L->nbytes[i] = nb;
		header_entry(&w, t, off, off + nb);
		off += nb;
	}
	jw_obj_end(&w);
	while ((b.len - 8) % 8)
		buf_addc(&b, ' ');
	uint64_t hn = b.len - 8;
	if (hn > ST_MAX_HEADER) {
		err_set("header of %" PRIu64 " bytes is over the limit of %llu", hn, ST_MAX_HEADER);
		goto fail;
	}
	for (int i = 0; i < 8; i++)
		b.p[i] = (char)(hn >> (8 * i));
	L->header = (uint8_t *)b.p;
	L->header_size = b.len;
	L->data_size = off;
	L->file_size = b.len + off;
	free(s);
	return 0;
fail:
	buf_free(&b);
	free(s);
	st_layout_free(L);
	return -1;
}

void st_layout_free(struct st_layout *L)
{
	free(L->order);
	free(L->begin);
	free(L->nbytes);
	free(L->header);
	memset(L, 0, sizeof *L);
}
