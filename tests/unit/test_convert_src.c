/* The engine's ready-made byte sources (lib/engine/convert_src.h): gathers, transposes and rows of a
 * view give the bytes they describe whatever the chunking and thread count, and report
 * the input they read.  (The engine's ring under contention: test_convert_ring.c.) */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert_src.h"
#include "err.h"
#include "layout.h"
#include "out.h"
#include "t.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = xmalloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

/* The data section of a one-tensor file written by the engine. */
static uint8_t *run_one(struct cv_job *j, unsigned threads, const char *dir, size_t *len)
{
	struct cv_opts o = {.outdir = dir, .threads = threads, .force = true};
	if (cv_run(j, &o))
		return NULL;
	char *p = path_join(dir, j->files[0].name);
	size_t n;
	char *b = slurp(p, &n);
	free(p);
	if (!b)
		return NULL;
	uint8_t *d = xmalloc(n - j->files[0].L.header_size + 1);
	*len = n - j->files[0].L.header_size;
	memcpy(d, b + j->files[0].L.header_size, *len);
	free(b);
	return d;
}

/* The input ranges a tensor reports, as they come. */
struct rec {
	int n;
	const uint8_t *p[4];
	uint64_t len[4];
};

static void each(void *ctx, const uint8_t *p, uint64_t len)
{
	struct rec *r = ctx;
	if (r->n < 4) {
		r->p[r->n] = p;
		r->len[r->n++] = len;
	}
}

static void test_gather(const char *tmp)
{
	static uint8_t src[4096];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	struct cv_gather g = {0};
	cv_gather_add(&g, src + 100, 50);
	cv_gather_add(&g, src + 150, 30); /* follows the previous run: joined */
	cv_gather_add(&g, src, 20);
	cv_gather_add(&g, src + 4000, 0);
	cv_gather_add(&g, src + 4000, 96);
	CHECK(g.n == 3 && g.len == 196 && g.run[0].len == 80 && g.run[2].at == 100, "runs that follow each other are joined");
	uint8_t want[196];
	memcpy(want, src + 100, 80);
	memcpy(want + 80, src, 20);
	memcpy(want + 100, src + 4000, 96);
	/* fill at odd offsets directly, as chunks would */
	uint8_t got[196];
	int ok = 1;
	for (uint64_t step = 1; step <= 196; step += 13) {
		memset(got, 0, sizeof got);
		struct cv_tensor t = {0};
		cv_tensor_gather(&t, &g);
		for (uint64_t off = 0; off < 196; off += step) {
			uint64_t n = 196 - off < step ? 196 - off : step;
			t.fill.fn(t.fill.arg, off, n, got + off, NULL);
		}
		ok &= memcmp(got, want, sizeof want) == 0;
	}
	CHECK(ok, "a gather gives its runs' bytes in order, for any chunking");
	/* the inputs it reports for bytes [70, 110): the end of run 0, run 1, the start of run 2 */
	struct cv_tensor t = {0};
	cv_tensor_gather(&t, &g);
	struct rec r = {0};
	t.inputs(t.inputs_arg, 70, 40, CV_IN_DONE, each, &r);
	CHECK(r.n == 3 && r.p[0] == src + 170 && r.len[0] == 10 && r.p[1] == src && r.len[1] == 20 &&
		      r.p[2] == src + 4000 && r.len[2] == 10,
	      "a gather reports exactly the input bytes a chunk reads");
	struct cv_job j = {0};
	cv_tensor_gather(cv_add_tensor(cv_add_file(&j, "g.safetensors", 0), "g", DT_U8, 1, (uint64_t[]){196}), &g);
	size_t len = 0;
	uint8_t *d = run_one(&j, 2, tmp, &len);
	CHECK(d && len == 196 && memcmp(d, want, 196) == 0, "the engine writes a gather's bytes");
	free(d);
	cv_job_free(&j);
	cv_gather_free(&g);
}

static void test_transpose(const char *tmp)
{
	/* [3, 5, 7] elements of 1, 2, 4 and 8 bytes, aligned and not */
	int ok = 1;
	unsigned sizes[4] = {1, 2, 4, 8};
	for (int k = 0; k < 4; k++)
		for (int shift = 0; shift < 2; shift++) {
			unsigned es = sizes[k];
			uint64_t B = 3, R = 5, C = 7, n = B * R * C * es;
			uint8_t *src = xmalloc(n + 1), *got = xcalloc(n, 1);
			for (uint64_t i = 0; i < n; i++)
				src[i + shift] = (uint8_t)(i * 31 + 1);
			struct cv_transpose x = {src + shift, B, R, C, es};
			struct cv_tensor t = {0};
			cv_tensor_transpose(&t, &x);
			/* chunks of 1, 2 and 3 output rows */
			for (uint64_t rows = 1; rows <= 3; rows++) {
				memset(got, 0, n);
				for (uint64_t off = 0; off < n; off += rows * t.fill.unit) {
					uint64_t m = n - off < rows * t.fill.unit ? n - off : rows * t.fill.unit;
					t.fill.fn(t.fill.arg, off, m, got + off, NULL);
				}
				for (uint64_t b = 0; b < B; b++)
					for (uint64_t i = 0; i < R; i++)
						for (uint64_t c = 0; c < C; c++)
							ok &= memcmp(got + ((b * C + c) * R + i) * es,
								     src + shift + ((b * R + i) * C + c) * es, es) == 0;
			}
			free(src);
			free(got);
		}
	CHECK(ok, "a transpose swaps the last two dimensions for 1-8 byte elements, aligned or not, any chunking");
	/* inputs: output rows 0..9 of [3, 5, 7] (7 output rows per matrix) read matrices 0-1
	 * and finish matrix 0 */
	static uint8_t m[3 * 5 * 7];
	struct cv_transpose x = {m, 3, 5, 7, 1};
	struct cv_tensor t = {0};
	cv_tensor_transpose(&t, &x);
	struct rec r = {0}, d = {0};
	t.inputs(t.inputs_arg, 0, 10 * 5, CV_IN_READ, each, &r);
	t.inputs(t.inputs_arg, 0, 10 * 5, CV_IN_DONE, each, &d);
	CHECK(r.n == 1 && r.p[0] == m && r.len[0] == 70 && d.n == 1 && d.p[0] == m && d.len[0] == 35,
	      "a transpose reads the matrices it touches and is done with those it finishes");
	memset(&d, 0, sizeof d);
	t.inputs(t.inputs_arg, 10 * 5, 2 * 5, CV_IN_DONE, each, &d);
	CHECK(d.n == 0, "a chunk inside a matrix finishes none");

	/* through the engine, -j 1 and -j 3, from a mapped file as inputs are (the engine drops
	 * input pages it is done with: heap memory would be zeroed) */
	uint64_t B = 4, R = 3000, C = 700; /* 8.4 M elements of 2 bytes: several chunks */
	uint16_t *big = xmalloc(B * R * C * 2);
	for (uint64_t i = 0; i < B * R * C; i++)
		big[i] = (uint16_t)(i * 2654435761u >> 7);
	char *in = path_join(tmp, "transpose.in");
	FILE *fi = fopen(in, "wb");
	int written = fi && fwrite(big, 2, B * R * C, fi) == B * R * C;
	if (fi)
		fclose(fi);
	int fd = open(in, O_RDONLY);
	const uint8_t *map = written && fd >= 0 ? mmap(NULL, B * R * C * 2, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	free(in);
	if (map == MAP_FAILED) {
		CHECK(0, "cannot map the transpose input");
		free(big);
		return;
	}
	struct cv_transpose bx = {map, B, R, C, 2};
	struct cv_job j = {0};
	cv_tensor_transpose(cv_add_tensor(cv_add_file(&j, "t.safetensors", 0), "t", DT_BF16, 3, (uint64_t[]){B, C, R}), &bx);
	size_t l1 = 0, l3 = 0;
	uint8_t *d1 = run_one(&j, 1, tmp, &l1), *d3 = run_one(&j, 3, tmp, &l3);
	int same = d1 && d3 && l1 == B * R * C * 2 && l1 == l3 && memcmp(d1, d3, l1) == 0;
	for (uint64_t b = 0; same && b < B; b += 3)
		for (uint64_t i = 0; i < R; i += 7)
			for (uint64_t c = 0; c < C; c += 11)
				same &= memcmp(d1 + ((b * C + c) * R + i) * 2, &big[(b * R + i) * C + c], 2) == 0;
	CHECK(same, "the engine writes a 16.8 MB transpose, the same bytes with 1 and 3 threads");
	free(d1);
	free(d3);
	free(big);
	munmap((void *)map, B * R * C * 2);
	cv_job_free(&j);
}

/* Rows of the FP8 tiny checkpoint's view, with a permutation, stored as BF16 and F32. */
static void test_rows(const char *tmp)
{
	struct view *v;
	if (layout_open(&v, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0)) {
		CHECK(0, "view of fixtures/tiny-v3 (%s)", err_last());
		return;
	}
	const struct vtensor *q = view_find(v, "model.layers.0.self_attn.q_b_proj.weight");
	static const uint32_t perm[4] = {3, 0, 2, 1};
	enum dt outs[3] = {DT_F32, DT_BF16, DT_F16};
	int ok = 1;
	for (int k = 0; k < 3; k++) {
		struct cv_rows r;
		cv_rows_init(&r, q->cols, outs[k]);
		cv_rows_add(&r, q, 10, 4, perm);
		cv_rows_add(&r, q, 0, 2, NULL);
		struct cv_job j = {0};
		cv_tensor_rows(cv_add_tensor(cv_add_file(&j, "r.safetensors", 0), "r", outs[k], 2, (uint64_t[]){6, q->cols}),
			       &r);
		size_t len = 0;
		uint8_t *d = run_one(&j, 2, tmp, &len);
		float *want = xmalloc(q->cols * sizeof *want);
		uint64_t src_rows[6] = {13, 10, 12, 11, 0, 1};
		ok &= d && len == 6 * q->cols * dt_bits(outs[k]) / 8;
		for (int i = 0; ok && i < 6; i++) {
			view_read_f32(q, src_rows[i], 1, want);
			for (uint64_t c = 0; c < q->cols; c++) {
				float w = dt_bf16_to_f32(dt_f32_to_bf16(want[c])), g;
				if (outs[k] == DT_F32) {
					memcpy(&g, d + (i * q->cols + c) * 4, 4);
				} else {
					uint16_t h;
					memcpy(&h, d + (i * q->cols + c) * 2, 2);
					g = outs[k] == DT_BF16 ? dt_bf16_to_f32(h) : dt_f16_to_f32(h);
					w = outs[k] == DT_BF16 ? w : dt_f16_to_f32(dt_f32_to_f16(w));
				}
				ok &= dt_f32_bits(g) == dt_f32_bits(w);
			}
		}
		free(want);
		free(d);
		cv_job_free(&j);
		cv_rows_free(&r);
	}
	CHECK(ok, "rows of a view: dequantized, rounded to bf16, permuted and stored as F32, BF16 and F16");
	view_free(v);
}

int main(void)
{
	err_init("test_convert_src");
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir = xasprintf("%s/convert_src.%d", tmp, (int)getpid());
	mkdir(dir, 0777);
	test_gather(dir);
	test_transpose(dir);
	test_rows(dir);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	free(cmd);
	free(dir);
	return t_done();
}
