/* Seeded mutations of valid safetensors headers and index files: st_parse and idx_load must
 * never crash, read out of bounds (each mutant sits in a buffer of exactly its size, so ASan
 * sees any overread) or leak; what they accept must be a consistent file; what they refuse
 * must come with one line naming the input.  Deterministic: the same seeds every run. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "err.h"
#include "index.h"
#include "out.h"
#include "st.h"
#include "t.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void reserve(struct bytes *b, size_t extra)
{
	if (b->len + extra > b->cap) {
		b->cap = (b->len + extra) * 2;
		b->p = realloc(b->p, b->cap);
	}
}

static void insert(struct bytes *b, size_t at, const void *p, size_t n)
{
	reserve(b, n);
	memmove(b->p + at + n, b->p + at, b->len - at);
	memcpy(b->p + at, p, n);
	b->len += n;
}

static void erase(struct bytes *b, size_t at, size_t n)
{
	memmove(b->p + at, b->p + at + n, b->len - at - n);
	b->len -= n;
}

/* Bytes that matter to the grammar, and numbers at the edges. */
static const char *const tokens[] = {
	"{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "\\ud800", "\\u0000", "0", "1", "-1", "1.5", "1e3",
	"18446744073709551615", "18446744073709551616", "4294967296", "null", "true", "\"F4\"", "\"BOOL\"",
	"\"U64\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "[]", "{}", " ", "\n",
	"\xff", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xe2\x82", "\0",
};

/* One mutation of the header text h (the length field is handled by the caller). */
static void mutate(struct bytes *h)
{
	size_t at = below(h->len + 1);
	switch (below(9)) {
	case 0: /* flip a bit */
		if (h->len)
			h->p[below(h->len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* a random byte */
		if (h->len)
			h->p[below(h->len)] = (uint8_t)rnd();
		break;
	case 2: { /* a grammar token in place of a byte, or inserted */
		const char *t = tokens[below(sizeof tokens / sizeof *tokens)];
		size_t n = t[0] ? strlen(t) : 1;
		if (h->len && below(2))
			erase(h, at < h->len ? at : h->len - 1, 1), at = at < h->len ? at : h->len;
		insert(h, at, t, n);
		break;
	}
	case 3: /* cut the tail */
		h->len = below(h->len + 1);
		break;
	case 4: /* delete a range */
		if (at < h->len)
			erase(h, at, 1 + below(h->len - at < 16 ? h->len - at : 16));
		break;
	case 5: { /* duplicate a range elsewhere */
		if (!h->len)
			break;
		size_t from = below(h->len), n = 1 + below(h->len - from < 64 ? h->len - from : 64);
		uint8_t tmp[64];
		memcpy(tmp, h->p + from, n);
		insert(h, below(h->len + 1), tmp, n);
		break;
	}
	case 6: /* change a digit */
		for (size_t k = 0; k < h->len; k++) {
			size_t i = (at + k) % h->len;
			if (h->p[i] >= '0' && h->p[i] <= '9') {
				h->p[i] = (uint8_t)('0' + below(10));
				break;
			}
		}
		break;
	case 7: /* swap two bytes */
		if (h->len) {
			size_t i = below(h->len), j = below(h->len);
			uint8_t c = h->p[i];
			h->p[i] = h->p[j];
			h->p[j] = c;
		}
		break;
	case 8: /* change a letter of a name or dtype */
		for (size_t k = 0; k < h->len; k++) {
			size_t i = (at + k) % h->len;
			if (h->p[i] >= 'a' && h->p[i] <= 'z') {
				h->p[i] = (uint8_t)('a' + below(26));
				break;
			}
		}
		break;
	}
}

/* What an accepted file must satisfy. */
static int consistent(const struct st_file *f, uint64_t data_len)
{
	uint64_t pos = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct st_tensor *t = &f->t[i];
		uint64_t need;
		if (t->begin != pos || t->end < t->begin || dt_nbytes(t->dtype, t->nelem, &need) || need != t->end - t->begin)
			return 0;
		if (st_find(f, t->name) != t)
			return 0;
		pos = t->end;
	}
	return pos == data_len;
}

struct tally {
	unsigned runs, accepted, refused, bad_message, inconsistent;
	unsigned why[6];  /* refusals by stage, to show the mutants reach every check */
};

static const char *const stages[] = {"length", "UTF-8", "JSON", "entry", "size", "layout"};

static unsigned stage(const char *m)
{
	if (strstr(m, "header length") || strstr(m, "too short") || strstr(m, "bytes of the"))
		return 0;
	if (strstr(m, "UTF-8"))
		return 1;
	if (strstr(m, "not valid JSON") || strstr(m, "duplicate key"))
		return 2;
	if (strstr(m, "overlaps") || strstr(m, "hole") || strstr(m, "truncated") || strstr(m, "belong to no") ||
	    strstr(m, "lists no tensors"))
		return 5;
	if (strstr(m, "hold") || strstr(m, "overflows") || strstr(m, "whole bytes"))
		return 4;
	return 3;
}

/* With CKPT_DUMP_MUTANTS=DIR every header mutant is also written there as a file of its
 * claimed size, with the verdict in its name, to compare with another reader. */
static void dump(const uint8_t *buf, size_t avail, uint64_t size, bool ok)
{
	static unsigned seq;
	const char *dir = getenv("CKPT_DUMP_MUTANTS");
	if (!dir || size > avail + (1u << 20))
		return;
	char p[4096];
	snprintf(p, sizeof p, "%s/%06u.%s", dir, seq++, ok ? "ok" : "bad");
	FILE *f = fopen(p, "wb");
	if (!f)
		return;
	fwrite(buf, 1, size < avail ? (size_t)size : avail, f);
	for (uint64_t i = avail; i < size; i++)
		fputc(0, f);
	fclose(f);
}

/* Parse one mutant; the header (with its length field) sits in a buffer of exactly its size. */
static void run(struct tally *c, const struct bytes *h, uint64_t hlen, uint64_t data_len)
{
	size_t avail = 8 + h->len;
	uint8_t *buf = malloc(avail);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(hlen >> (8 * i));
	memcpy(buf + 8, h->p, h->len);
	/* a file as long as the header it has plus the data it claims, or a shorter one */
	uint64_t size = avail + data_len;
	if (below(16) == 0)
		size = below(avail + 1);
	struct st_file *f = NULL;
	err_clear();
	c->runs++;
	int rc = st_parse(&f, "mut", buf, avail, size);
	dump(buf, avail, size, rc == 0);
	if (rc == 0) {
		c->accepted++;
		if (!consistent(f, size - 8 - f->header_len))
			c->inconsistent++;
		st_close(f);
	} else {
		c->refused++;
		const char *m = err_last();
		if (strncmp(m, "mut: ", 5) != 0 || strchr(m, '\n') || f)
			c->bad_message++;
		c->why[stage(m)]++;
	}
	free(buf);
}

static void mutate_header(const char *name, const uint8_t *hdr, size_t n, uint64_t data_len, unsigned count,
			  uint64_t seed)
{
	struct tally c = {0};
	struct bytes h = {0};
	rng_state = seed;
	for (unsigned it = 0; it < count; it++) {
		h.len = 0;
		reserve(&h, n);
		memcpy(h.p, hdr, n);
		h.len = n;
		unsigned k = (unsigned)below(5); /* none: only the length field or the data change */
		for (unsigned j = 0; j < k; j++)
			mutate(&h);
		uint64_t hlen = h.len, dl = data_len;
		switch (below(12)) {
		case 0: hlen = rnd(); break;                      /* anything */
		case 1: hlen = h.len + 1 + below(8); break;       /* past the text */
		case 2: hlen = h.len ? below(h.len) : 0; break;   /* inside the text */
		case 3: hlen = ST_MAX_HEADER + below(2); break;   /* at the limit */
		case 4: dl = data_len + 1 + below(8); break;      /* trailing bytes */
		case 5: dl = data_len ? below(data_len) : 0; break; /* truncated data */
		}
		run(&c, &h, hlen, dl);
	}
	free(h.p);
	printf("#   %s refused at:", name);
	for (unsigned i = 0; i < 6; i++)
		printf(" %s %u%s", stages[i], c.why[i], i < 5 ? "," : "\n");
	CHECK(c.bad_message == 0 && c.inconsistent == 0,
	      "%s: %u mutants, %u accepted (all consistent: %s), %u refused (each with one line naming the input: %s)",
	      name, c.runs, c.accepted, c.inconsistent ? "no" : "yes", c.refused, c.bad_message ? "no" : "yes");
}

/* The header of a file on disk, and the length of its data section. */
static uint8_t *read_header(const char *path, size_t *n, uint64_t *data_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t len[8];
	uint64_t hlen = 0;
	struct stat sb;
	if (fread(len, 1, 8, f) != 8 || fstat(fileno(f), &sb) < 0) {
		fclose(f);
		return NULL;
	}
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | len[i];
	uint8_t *h = malloc(hlen ? hlen : 1);
	if (hlen > (uint64_t)sb.st_size || fread(h, 1, hlen, f) != hlen) {
		free(h);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*n = (size_t)hlen;
	*data_len = (uint64_t)sb.st_size - 8 - hlen;
	return h;
}

static void test_synthetic(void)
{
	static const struct {
		const char *name, *h;
		uint64_t data;
	} s[] = {
		{"one tensor", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16},
		{"metadata and three tensors",
		 "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
		 "\"s\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,1],\"data_offsets\":[6,8]},"
		 "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8},
		{"sub-byte and scalar",
		 "{\"f\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]},\"g\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],"
		 "\"data_offsets\":[2,5]},\"h\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[5,13]},\"\\u00e9\":{\"dtype\":\"BOOL\","
		 "\"shape\":[1,1,1],\"data_offsets\":[13,14]}}", 14},
		{"empty", "{}", 0},
		{"null metadata", "{\"__metadata__\":null}", 0},
	};
	struct st_file *f;
	int ok = st_parse(&f, "mut", (const uint8_t *)"", 0, 0) == -1;
	CHECK(ok && strcmp(err_last(), "mut: file is 0 bytes, too short for the 8-byte header length") == 0,
	      "an empty buffer is refused");
	for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
		mutate_header(s[i].name, (const uint8_t *)s[i].h, strlen(s[i].h), s[i].data, 6000, 1000 + i);
	}
}

static void test_tiny(void)
{
	for (int k = 1; k <= 3; k++) {
		char rel[128];
		snprintf(rel, sizeof rel, "fixtures/tiny-v3/model-0000%d-of-00003.safetensors", k);
		size_t n;
		uint64_t dl;
		uint8_t *h = read_header(t_path("CKPT_ROOT", rel), &n, &dl);
		CHECK(h != NULL, "read the header of %s", rel);
		if (!h)
			continue;
		mutate_header(rel, h, n, dl, 700, 2000 + (uint64_t)k);
		free(h);
	}
}

/* Mutated model.safetensors.index.json files through idx_load (cwd is a scratch dir). */
static void test_index(void)
{
	FILE *f = fopen(t_path("CKPT_ROOT", "fixtures/tiny-v3/" INDEX_NAME), "rb");
	CHECK(f != NULL, "read the tiny index");
	if (!f)
		return;
	struct bytes orig = {0};
	reserve(&orig, 1 << 16);
	orig.len = fread(orig.p, 1, orig.cap, f);
	fclose(f);
	/* the index is mostly weight_map lines: mutate a short one so that mutants reach past it */
	const char *short_idx = "{\n  \"metadata\": {\n    \"total_size\": 12\n  },\n  \"weight_map\": {\n"
				"    \"a\": \"model-00001-of-00002.safetensors\",\n    \"b\": \"sub/b.safetensors\"\n  }\n}\n";
	struct tally c = {0};
	struct bytes h = {0};
	rng_state = 3000;
	for (unsigned it = 0; it < 1200; it++) {
		const uint8_t *src = it % 4 ? (const uint8_t *)short_idx : orig.p;
		size_t n = it % 4 ? strlen(short_idx) : orig.len;
		h.len = 0;
		reserve(&h, n);
		memcpy(h.p, src, n);
		h.len = n;
		for (unsigned j = 1 + (unsigned)below(3); j > 0; j--)
			mutate(&h);
		FILE *o = fopen(INDEX_NAME, "wb");
		fwrite(h.p, 1, h.len, o);
		fclose(o);
		struct idx *x = NULL;
		c.runs++;
		err_clear();
		if (idx_load(&x, INDEX_NAME) == 0) {
			c.accepted++;
			for (size_t i = 0; i < x->n; i++)
				if (path_is_contained(x->e[i].file) != 0)
					c.inconsistent++;
			idx_free(x);
		} else {
			c.refused++;
			if (strncmp(err_last(), INDEX_NAME ": ", strlen(INDEX_NAME) + 2) != 0 || strchr(err_last(), '\n'))
				c.bad_message++;
		}
	}
	remove(INDEX_NAME);
	free(h.p);
	free(orig.p);
	CHECK(c.bad_message == 0 && c.inconsistent == 0,
	      "index: %u mutants, %u accepted (every file name inside the directory: %s), %u refused (each with one line naming the file: %s)",
	      c.runs, c.accepted, c.inconsistent ? "no" : "yes", c.refused, c.bad_message ? "no" : "yes");
}

int main(void)
{
	err_init("test_st_mutate");
	test_synthetic();
	test_tiny();
	test_index();
	return t_done();
}
