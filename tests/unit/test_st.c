/* safetensors: every golden file read and written back byte for byte; reader details. */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "err.h"
#include "st.h"
#include "t.h"

static int roundtrip(const char *path, char *why, size_t whylen)
{
	struct st_file *f;
	if (st_open(&f, path)) {
		snprintf(why, whylen, "%s", err_last());
		return 0;
	}
	struct st_entry *e = calloc(f->n + 1, sizeof *e);
	for (size_t i = 0; i < f->n; i++)
		e[i] = (struct st_entry){f->t[i].name, f->t[i].dtype, f->t[i].ndim, f->t[i].shape};
	struct st_layout L;
	int ok = 0;
	if (st_layout(&L, e, f->n, f->has_meta ? f->meta : NULL, f->nmeta)) {
		snprintf(why, whylen, "layout: %s", err_last());
		goto out;
	}
	if (L.file_size != f->size || memcmp(L.header, f->map, L.header_size) != 0) {
		snprintf(why, whylen, "header differs (size %llu vs %llu)", (unsigned long long)L.file_size,
			 (unsigned long long)f->size);
		goto out_l;
	}
	/* the data in layout order must be the file's data as it stands */
	uint64_t off = L.header_size;
	for (size_t k = 0; k < L.n; k++) {
		const struct st_tensor *t = st_find(f, e[L.order[k]].name);
		if (memcmp(f->map + off, st_bytes(f, t), st_nbytes(t)) != 0) {
			snprintf(why, whylen, "data of %s differs", t->name);
			goto out_l;
		}
		off += st_nbytes(t);
	}
	ok = off == f->size;
out_l:
	st_layout_free(&L);
out:
	free(e);
	st_close(f);
	return ok;
}

static int walk(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	int bad = 0;
	if (!d)
		return 1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		struct stat sb;
		stat(p, &sb);
		if (S_ISDIR(sb.st_mode)) {
			bad += walk(p, count);
		} else if (strstr(de->d_name, ".safetensors") &&
			   strcmp(de->d_name + strlen(de->d_name) - 12, ".safetensors") == 0) {
			char why[1200] = "";
			int ok = roundtrip(p, why, sizeof why);
			CHECK(ok, "golden roundtrip %s %s", p + strlen(getenv("CKPT_GOLDEN") ? getenv("CKPT_GOLDEN") : ""), why);
			bad += !ok;
			(*count)++;
		}
	}
	closedir(d);
	return bad;
}

static void test_golden(void)
{
	int count = 0;
	if (!t_golden("golden roundtrip of every .safetensors file"))
		return;
	walk(getenv("CKPT_GOLDEN"), &count);
	CHECK(count >= 16, "all %d golden .safetensors files were found and checked", count);
}

static int parse_buf(const char *hdr, uint64_t data_len, struct st_file **f)
{
	size_t n = strlen(hdr);
	uint8_t *b = calloc(1, 8 + n + data_len);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)n >> (8 * i));
	memcpy(b + 8, hdr, n);
	int rc = st_parse(f, "mem", b, 8 + n + data_len, 8 + n + data_len);
	free(b);
	return rc;
}

static void test_reader(void)
{
	struct st_file *f;
	int rc = parse_buf("{\"__metadata__\":null,\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8],\"x\":[1]},"
			   "\"a\":{\"dtype\":\"U8\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
			   "\"c\":{\"dtype\":\"F4\",\"shape\":[2,4],\"data_offsets\":[0,4]}}", 8, &f);
	CHECK(rc == 0, "null __metadata__, scalars, zero-size tensors and unknown fields are accepted (%s)", rc ? err_last() : "");
	if (rc == 0) {
		CHECK(f->n == 3 && !f->has_meta && strcmp(f->t[0].name, "a") == 0 && strcmp(f->t[1].name, "c") == 0 &&
		      strcmp(f->t[2].name, "b") == 0 && f->t[2].ndim == 0 && f->t[2].nelem == 1,
		      "tensors come in data order; a scalar has one element");
		CHECK(st_find(f, "b") == &f->t[2] && st_find(f, "zz") == NULL, "tensors are found by name");
		st_close(f);
	}
	rc = parse_buf("{\"t\":{\"dtype\":\"U8\",\"shape\":[2305843009213693951],\"data_offsets\":[0,2305843009213693951]}}", 0, &f);
	CHECK(rc && strstr(err_last(), "file is truncated"), "offsets past the end are a truncated file: %s", err_last());
	rc = parse_buf("{\"t\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,1]}}", 1, &f);
	CHECK(rc && strstr(err_last(), "does not fit in 64 bits"), "dimensions beyond 64 bits are refused: %s", err_last());
	rc = parse_buf("{\"t\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, &f);
	CHECK(rc && strstr(err_last(), "not a non-negative integer"), "a dimension spelled 1.0 is refused, as serde does: %s", err_last());
}

static void test_writer(void)
{
	uint64_t s1[] = {2, 3}, s2[] = {4};
	struct st_entry e[] = {{"zeta", DT_BF16, 2, s1}, {"alpha", DT_F32, 1, s2}, {"beta", DT_BF16, 1, s2},
			       {"q\"\n\x01", DT_U8, 0, NULL}};
	struct st_layout L;
	struct st_meta m = {"format", "pt"};
	CHECK(st_layout(&L, e, 4, &m, 1) == 0, "layout of four tensors");
	const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"alpha\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
			   "\"beta\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]},"
			   "\"zeta\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[24,36]},"
			   "\"q\\\"\\n\\u0001\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[36,37]}}";
	size_t n = strlen(want), padded = (n + 7) / 8 * 8;
	CHECK(L.header_size == 8 + padded && memcmp(L.header + 8, want, n) == 0 && L.header[8 + padded - 1] == ' ' &&
	      L.header[0] == (uint8_t)padded, "dtype-descending then name order, serde escapes, space padding");
	CHECK(L.order[0] == 1 && L.order[1] == 2 && L.order[2] == 0 && L.begin[0] == 24 && L.nbytes[3] == 1,
	      "layout order and offsets");
	st_layout_free(&L);
	struct st_entry d[] = {{"x", DT_F32, 1, s2}, {"x", DT_BF16, 1, s2}};
	CHECK(st_layout(&L, d, 2, NULL, 0) == -1 && strstr(err_last(), "duplicate tensor name \"x\""),
	      "a duplicate name is refused even across dtypes");
}

static void test_ckpt(void)
{
	struct ckpt *c;
	const char *dir = t_path("CKPT_ROOT", "fixtures/tiny-v3");
	int rc = ckpt_open(&c, dir, 0);
	CHECK(rc == 0, "open the tiny checkpoint directory (%s)", rc ? err_last() : "");
	if (rc)
		return;
	CHECK(c->index && c->nshards == 3 && c->n == c->index->n && c->config, "three shards through the index, config.json read");
	const struct ckpt_tensor *t = ckpt_find(c, "model.layers.1.mlp.experts.0.down_proj.weight_scale_inv");
	CHECK(t && strcmp(t->shard->name, "model-00002-of-00003.safetensors") == 0,
	      "a scale stored in another shard than its weight is found through the index");
	CHECK(c->index->has_total_size && c->index->total_size == ckpt_tensor_bytes(c), "total_size equals the sum of tensor bytes");
	ckpt_close(c);
	rc = ckpt_open(&c, t_path("CKPT_ROOT", "fixtures/tiny-v3/model-00003-of-00003.safetensors"), 0);
	CHECK(rc == 0 && c->nshards == 1 && !c->index, "open a single shard file");
	ckpt_close(c);
}

/* st_parse on a buffer shorter than what it says: found by tests/fuzz/fuzz_st (a read of
 * the length field past a 0-byte buffer), now refused with a message. */
static void test_short_buffers(void)
{
	struct st_file *f;
	static const uint8_t hdr[] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
	int rc = st_parse(&f, "mem", hdr, 0, 134217728);
	CHECK(rc == -1 && strcmp(err_last(), "mem: only 0 bytes of the 8-byte header length were read") == 0,
	      "no bytes read of a large file: refused (%s)", err_last());
	rc = st_parse(&f, "mem", hdr, 5, 10);
	CHECK(rc == -1 && strcmp(err_last(), "mem: only 5 bytes of the 8-byte header length were read") == 0,
	      "part of the length field read: refused (%s)", err_last());
	rc = st_parse(&f, "mem", hdr, 9, 10);
	CHECK(rc == -1 && strcmp(err_last(), "mem: only 9 bytes of the 10-byte header were read") == 0,
	      "part of the header read: refused (%s)", err_last());
	rc = st_parse(&f, "mem", hdr, 10, 10);
	CHECK(rc == 0 && f->n == 0, "the whole header read: parsed");
	if (rc == 0)
		st_close(f);
}

int main(void)
{
	err_init("test_st");
	test_golden();
	test_reader();
	test_writer();
	test_ckpt();
	test_short_buffers();
	return t_done();
}
